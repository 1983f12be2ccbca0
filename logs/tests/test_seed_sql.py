"""Every SQL statement of the design note that must run verbatim against our schema."""

import pytest
from django.db import connection

from logs.models import ProcessingLog, ProcessingLogSummary

pytestmark = pytest.mark.django_db

SEED_4_1 = """
INSERT INTO processing_logs (
    execution_name, 
    user_id, 
    processing_type, 
    old_value, 
    new_value, 
    status
) VALUES (
    'user-log-20250802-093000',
    'U00001',
    'login_update',
    10,  -- 前回のログイン回数
    12,  -- 新しいログイン回数（+2）
    'success'
);
"""

SEED_4_2 = """
INSERT INTO processing_logs (
    execution_name,
    user_id,
    processing_type,
    old_value,
    new_value,
    status,
    error_message
) VALUES (
    'user-log-20250802-093000',
    'U99999',
    'login_update',
    NULL,
    5,
    'failed',
    'User not found in users table'
);
"""

SEED_6_1 = """
SELECT * FROM processing_logs 
WHERE user_id = 'U00001' 
ORDER BY processed_at DESC;
"""

SEED_6_2 = """
SELECT 
    status,
    COUNT(*) as count,
    processing_type
FROM processing_logs 
WHERE execution_name = 'user-log-20250802-093000'
GROUP BY status, processing_type;
"""

SEED_6_3 = """
SELECT 
    DATE(processed_at) as process_date,
    COUNT(*) as total_processed,
    COUNT(CASE WHEN status = 'success' THEN 1 END) as success_count,
    COUNT(CASE WHEN status = 'failed' THEN 1 END) as failed_count
FROM processing_logs
WHERE processed_at >= CURRENT_DATE - INTERVAL '7 days'
GROUP BY DATE(processed_at)
ORDER BY process_date DESC;
"""

SEED_8_3_2 = """
CREATE TABLE processing_logs_2025_h1 PARTITION OF processing_logs
FOR VALUES FROM ('2025-01-01') TO ('2025-07-01');
"""

SEED_8_3_3_INSERT = """
INSERT INTO processing_logs_summary
SELECT 
    DATE_TRUNC('month', processed_at),
    execution_name,
    COUNT(*),
    COUNT(CASE WHEN status = 'success' THEN 1 END),
    COUNT(CASE WHEN status = 'failed' THEN 1 END)
FROM processing_logs
WHERE processed_at < CURRENT_DATE - INTERVAL '1 year'
GROUP BY DATE_TRUNC('month', processed_at), execution_name;
"""


def _run(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _insert_log(**fields) -> None:
    columns = ", ".join(fields)
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO processing_logs ({columns}) VALUES ({placeholders})",
            list(fields.values()),
        )


def test_seed_4_1_success_insert():
    """Seed 4.1 inserts a success row with generated log_id and processed_at."""
    _run(SEED_4_1)
    row = ProcessingLog.objects.get()
    assert (row.execution_name, row.user_id, row.processing_type) == (
        "user-log-20250802-093000",
        "U00001",
        "login_update",
    )
    assert (row.old_value, row.new_value, row.status, row.error_message) == (
        10,
        12,
        "success",
        None,
    )
    assert row.log_id is not None and row.processed_at is not None


def test_seed_4_2_failed_insert_for_unknown_user():
    """Seed 4.2 logs U99999, who is not in users: there is no foreign key to refuse it."""
    _run(SEED_4_2)
    row = ProcessingLog.objects.get()
    assert (row.user_id, row.old_value, row.new_value, row.status) == ("U99999", None, 5, "failed")
    assert row.error_message == "User not found in users table"


def test_seed_6_1_user_history_newest_first():
    """Seed 6.1 returns one user's rows, newest first, with the seed's columns in order."""
    _insert_log(
        execution_name="a",
        user_id="U00001",
        status="success",
        processed_at="2026-11-01T10:00:00+09:00",
    )
    _insert_log(
        execution_name="b",
        user_id="U00001",
        status="failed",
        processed_at="2026-11-02T10:00:00+09:00",
    )
    _insert_log(
        execution_name="c",
        user_id="U00002",
        status="success",
        processed_at="2026-11-03T10:00:00+09:00",
    )
    with connection.cursor() as cursor:
        cursor.execute(SEED_6_1)
        columns = [column.name for column in cursor.description]
        rows = cursor.fetchall()
    assert columns == [
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
    assert [row[1] for row in rows] == ["b", "a"]


def test_seed_6_2_counts_per_status_and_type():
    """Seed 6.2 groups one execution's rows by status and processing_type."""
    _run(SEED_4_1)
    _run(SEED_4_1)
    _run(SEED_4_2)
    _insert_log(
        execution_name="other", user_id="U00001", processing_type="login_update", status="success"
    )
    rows = sorted(_run(SEED_6_2))
    assert rows == [("failed", 1, "login_update"), ("success", 2, "login_update")]


def test_seed_6_3_daily_counts_last_week():
    """Seed 6.3 counts per day of the last 7 days, with success and failed columns."""
    _run(SEED_4_1)
    _run(SEED_4_2)
    _insert_log(
        execution_name="old",
        user_id="U00001",
        status="success",
        processed_at="2020-01-15T00:00:00Z",
    )
    rows = _run(SEED_6_3)
    assert len(rows) == 1
    process_date, total, success, failed = rows[0]
    assert (total, success, failed) == (2, 1, 1)


def test_seed_8_3_3_summary_insert_select():
    """Seed 8.3.3's positional INSERT … SELECT fills the summary table's first five columns."""
    _insert_log(
        execution_name="user-log-20200115-000000",
        user_id="U00001",
        status="success",
        processed_at="2020-01-15T12:00:00Z",
    )
    _insert_log(
        execution_name="user-log-20200115-000000",
        user_id="U00002",
        status="failed",
        processed_at="2020-01-16T12:00:00Z",
    )
    _insert_log(
        execution_name="user-log-20200115-000000",
        user_id="U00003",
        status="skipped",
        processed_at="2020-01-17T12:00:00Z",
    )
    _run(SEED_4_1)  # recent: not summarized
    _run(SEED_8_3_3_INSERT)
    summary = ProcessingLogSummary.objects.get()
    assert summary.execution_name == "user-log-20200115-000000"
    assert str(summary.summary_date) == "2020-01-01"
    assert (summary.total_processed, summary.success_count, summary.failed_count) == (3, 1, 1)
    assert summary.skipped_count == 0  # extra column after the seed's five takes its default


def test_seed_8_3_2_half_year_partition():
    """Seed 8.3.2's half-year partition can be attached; its rows route there, not to DEFAULT."""
    _run(SEED_8_3_2)
    _insert_log(
        execution_name="h1", user_id="U00001", status="success", processed_at="2025-03-01T12:00:00Z"
    )
    assert _run("SELECT count(*) FROM processing_logs_2025_h1") == [(1,)]
    assert _run("SELECT count(*) FROM processing_logs_default") == [(0,)]
