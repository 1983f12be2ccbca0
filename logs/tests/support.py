"""Helpers of the logs tests: generated log history, the seed's aggregation, archive readers."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection

from logs.models import ProcessingLog
from logs.services.partitions import Month

TOKYO = ZoneInfo("Asia/Tokyo")
# "Now" of the generated history, years before the real clock, so the partitions migrate made
# for the real current month are in this history's future and never in its way.
TODAY = datetime(2024, 6, 15, 12, 0, tzinfo=TOKYO)
ARCHIVE_BUCKET = "auditsite-archive-test"
LOG_FIELDS = [
    "log_id",
    "execution_name",
    "user_id",
    "processing_type",
    "old_value",
    "new_value",
    "status",
    "error_message",
    "processed_at",
]

# The design note's §8.3.3 aggregation, with its month taken in the business time zone.
SEED_8_3_3_SELECT = """
SELECT
    DATE_TRUNC('month', processed_at AT TIME ZONE %(tz)s)::date,
    execution_name,
    COUNT(*),
    COUNT(CASE WHEN status = 'success' THEN 1 END),
    COUNT(CASE WHEN status = 'failed' THEN 1 END)
FROM processing_logs
WHERE processed_at < %(before)s
GROUP BY DATE_TRUNC('month', processed_at AT TIME ZONE %(tz)s), execution_name
"""


def month_logs(month: Month) -> list[ProcessingLog]:
    """A few rows of ``month``: two executions, every status, and both edges of the month in JST.

    The first rows are at 00:30 JST on the 1st (still the previous month in UTC) and the last at
    23:30 JST on the last day; the count varies by month so months cannot be mixed up unseen.
    """
    stamp = f"{month.year:04d}{month.month:02d}"
    first, second = f"user-log-{stamp}01-003000", f"user-log-{stamp}15-120000"
    start = month.start
    middle = start + timedelta(days=14, hours=12)
    rows = [
        ProcessingLog(
            execution_name=first,
            user_id="U00001",
            processing_type="login_update",
            old_value=1,
            new_value=2,
            status="success",
            processed_at=start + timedelta(minutes=30),
        ),
        ProcessingLog(
            execution_name=first,
            user_id="U99999",
            processing_type="login_update",
            new_value=5,
            status="failed",
            error_message="User not found in users table",
            processed_at=start + timedelta(minutes=31),
        ),
        ProcessingLog(
            execution_name=first,
            user_id="U00002",
            processing_type="post_update",
            old_value=3,
            new_value=3,
            status="skipped",
            processed_at=start + timedelta(minutes=32),
        ),
        ProcessingLog(
            execution_name=second,
            user_id="U00003",
            processing_type="post_update",
            old_value=0,
            status="failed",
            error_message='post_count: "7,\nx" is not an integer',  # quotes, comma, newline
            processed_at=middle,
        ),
        ProcessingLog(
            execution_name=second,
            status="failed",
            error_message="missing user_id",
            processed_at=month.end - timedelta(minutes=30),
        ),
    ]
    rows += [
        ProcessingLog(
            execution_name=second,
            user_id=f"U{extra + 1:05d}",
            processing_type="login_update",
            old_value=extra,
            new_value=extra + 1,
            status="success",
            processed_at=middle + timedelta(minutes=extra),
        )
        for extra in range(month.month % 4)
    ]
    return rows


@dataclass(frozen=True)
class LogHistory:
    """Generated logs, one partition per month, from ``months[0]`` to the month of ``today``."""

    today: datetime
    months: list[Month]


def seed_summary(*, before: datetime) -> set[tuple]:
    """The seed's §8.3.3 aggregation (business time zone) of the rows before ``before``."""
    from django.conf import settings

    with connection.cursor() as cursor:
        cursor.execute(SEED_8_3_3_SELECT, {"tz": settings.TIME_ZONE, "before": before})
        return set(cursor.fetchall())


def table_exists(name: str) -> bool:
    """Whether a table of that name exists (attached or not)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def orm_rows(queryset) -> list[tuple]:
    """Log rows as tuples of LOG_FIELDS, ordered by log_id."""
    return list(queryset.order_by("log_id").values_list(*LOG_FIELDS))


def archive_rows(s3, key: str, bucket: str = ARCHIVE_BUCKET) -> list[tuple]:
    """An archive's CSV rows, parsed back into the types of LOG_FIELDS (empty cell → None)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    reader = csv.reader(io.StringIO(gzip.decompress(body).decode("utf-8"), newline=""))
    assert next(reader) == LOG_FIELDS
    parsed = []
    for record in reader:
        values = [value if value != "" else None for value in record]
        for index in (0, 4, 5):
            values[index] = int(values[index]) if values[index] is not None else None
        values[8] = datetime.fromisoformat(values[8])
        parsed.append(tuple(values))
    return parsed


def s3_keys(s3, bucket: str = ARCHIVE_BUCKET) -> list[str]:
    """Every object key of the bucket, sorted."""
    listing = s3.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))
