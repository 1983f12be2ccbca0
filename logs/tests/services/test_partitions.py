"""Monthly partitions in the business time zone, DEFAULT as a safety net."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import DatabaseError, connection, transaction

from logs.models import JobRun, ProcessingLog
from logs.months import Month
from logs.selectors import default_partition_rows, partitions_list
from logs.services import partitions
from logs.services.job_runs import JobFailed, JobRefused
from logs.services.partitions import partitions_ensure, partitions_maintain
from logs.tests.support import fail_at_call

pytestmark = pytest.mark.django_db
TOKYO = ZoneInfo("Asia/Tokyo")


def _rows_in(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def test_current_month_and_three_ahead_exist_after_migrate():
    """migrate leaves the current month and the three next ones partitioned, plus DEFAULT."""
    names = {partition.name for partition in partitions_list()}
    current = Month.current()
    for offset in range(4):
        assert current.add(offset).partition_name in names
    assert "processing_logs_default" in names


def test_months_are_business_time_zone_months():
    """00:30 JST on the 1st belongs to that month, though it is still the previous month in UTC."""
    month = Month.current().add(1)
    moment = datetime(month.year, month.month, 1, 0, 30, tzinfo=TOKYO)
    ProcessingLog.objects.create(execution_name="tz", status="success", processed_at=moment)
    assert _rows_in(month.partition_name) == 1
    assert _rows_in(month.add(-1).partition_name) == 0


def test_row_for_unpartitioned_month_lands_in_default():
    """A row for a month with no partition is kept in DEFAULT, not refused."""
    ProcessingLog.objects.create(
        execution_name="old", status="success", processed_at=datetime(2019, 5, 3, tzinfo=TOKYO)
    )
    assert default_partition_rows() == 1


def test_ensure_moves_default_rows_into_their_partition():
    """partitions_ensure creates the missing month and moves DEFAULT's rows into it, all of them."""
    for day in (1, 15, 31):
        ProcessingLog.objects.create(
            execution_name="stray",
            user_id="U00001",
            status="success",
            processed_at=datetime(2019, 5, day, 12, tzinfo=TOKYO),
        )
    result = partitions_ensure(months_ahead=3)
    assert result.created == ["processing_logs_2019_05"]
    assert result.rows_moved == 3
    assert result.default_rows == 0
    assert _rows_in("processing_logs_2019_05") == 3
    assert ProcessingLog.objects.filter(execution_name="stray").count() == 3
    # the new partition is guarded like the others
    with pytest.raises(DatabaseError, match="TRUNCATE"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE processing_logs_2019_05")


def test_a_partition_filled_from_default_has_planner_statistics():
    """The month made out of DEFAULT rows is analyzed at once (its row estimate is its rows),
    and so is DEFAULT, now empty: the planner does not wait for autovacuum to see them."""
    ProcessingLog.objects.bulk_create(
        [
            ProcessingLog(
                execution_name="stray",
                user_id=f"U{n:05d}",
                status="success",
                processed_at=datetime(2019, 6, 1 + n % 28, 12, tzinfo=TOKYO),
            )
            for n in range(40)
        ]
    )
    partitions_ensure(months_ahead=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class "
            "WHERE relname IN ('processing_logs_2019_06', 'processing_logs_default')"
        )
        estimates = dict(cursor.fetchall())
    assert estimates == {"processing_logs_2019_06": 40, "processing_logs_default": 0}


def test_ensure_is_idempotent():
    """A second run creates nothing."""
    partitions_ensure(months_ahead=5)
    assert partitions_ensure(months_ahead=5).created == []


def test_month_parse_rejects_garbage():
    """--month values other than YYYY-MM are refused with a clear message."""
    assert Month.parse("2026-02") == Month(2026, 2)
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse("2026-13")


def test_partitions_job_records_what_it_did():
    """The job makes the months ahead, moves DEFAULT's rows and says so in its JobRun."""
    for day in (2, 28):
        ProcessingLog.objects.create(
            execution_name="stray",
            status="failed",
            processed_at=datetime(2019, 5, day, tzinfo=TOKYO),
        )
    today = datetime(2031, 1, 15, tzinfo=TOKYO)
    run = partitions_maintain(months_ahead=2, today=today)
    assert run.job == JobRun.Job.PARTITIONS and run.status == JobRun.Status.SUCCEEDED
    assert run.partitions_created == [
        "processing_logs_2019_05",
        "processing_logs_2031_01",
        "processing_logs_2031_02",
        "processing_logs_2031_03",
    ]
    assert run.rows_moved == 2
    assert run.details == {"months_ahead": 2, "default_rows": 0}
    assert _rows_in("processing_logs_2019_05") == 2
    again = partitions_maintain(months_ahead=2, today=today)
    assert (again.partitions_created, again.rows_moved) == ([], 0)


def test_partitions_job_default_comes_from_settings(settings):
    """Without --months-ahead the job keeps PARTITION_MONTHS_AHEAD months ready."""
    settings.PARTITION_MONTHS_AHEAD = 5
    run = partitions_maintain(today=datetime(2031, 1, 15, tzinfo=TOKYO))
    assert run.partitions_created[-1] == "processing_logs_2031_06"
    assert len(run.partitions_created) == 6


def test_partitions_job_refuses_negative_months():
    """A negative number of months ahead is refused before any JobRun."""
    with pytest.raises(JobRefused, match="0 or more"):
        partitions_maintain(months_ahead=-1)
    assert not JobRun.objects.exists()


def test_partitions_job_failure_keeps_what_was_made(monkeypatch):
    """A run failing half-way is failed, and still lists the partitions it did make."""
    fail_at_call(monkeypatch, partitions, "partition_create", 3, OSError("out of disk"))
    with pytest.raises(JobFailed, match="out of disk"):
        partitions_maintain(months_ahead=3, today=datetime(2031, 1, 15, tzinfo=TOKYO))
    run = JobRun.objects.get()
    assert run.status == JobRun.Status.FAILED
    assert run.partitions_created == ["processing_logs_2031_01", "processing_logs_2031_02"]
