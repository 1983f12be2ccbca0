"""Integrity of the audit trail: per-execution digests over the log rows."""

from __future__ import annotations

from django.db import connection

# One line per log row, fields in column order, NULL as \N, time in UTC to the microsecond;
# lines joined by "\n" in log_id order, then sha256. Changing this invalidates stored digests.
LOG_DIGEST_EXPRESSION = """
encode(sha256(convert_to(coalesce(string_agg(concat_ws('|',
    log_id, execution_name, coalesce(user_id, '\\N'), coalesce(processing_type, '\\N'),
    coalesce(old_value::text, '\\N'), coalesce(new_value::text, '\\N'),
    coalesce(status, '\\N'), coalesce(error_message, '\\N'),
    to_char(processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')),
  E'\\n' ORDER BY log_id), ''), 'UTF8')), 'hex')
"""


def execution_digest(*, execution_name: str) -> str:
    """sha256 over the log rows of one execution, in log_id order, as stored now."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {LOG_DIGEST_EXPRESSION} FROM processing_logs WHERE execution_name = %s",  # noqa: S608
            [execution_name],
        )
        return cursor.fetchone()[0]
