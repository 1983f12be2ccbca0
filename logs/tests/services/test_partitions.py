"""Monthly partitions in the business time zone, DEFAULT as a safety net."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import DatabaseError, connection, transaction

from logs.models import ProcessingLog
from logs.services.partitions import (
    Month,
    default_partition_rows,
    partitions_ensure,
    partitions_list,
)

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


def test_ensure_is_idempotent():
    """A second run creates nothing."""
    partitions_ensure(months_ahead=5)
    assert partitions_ensure(months_ahead=5).created == []


def test_month_parse_rejects_garbage():
    """--month values other than YYYY-MM are refused with a clear message."""
    assert Month.parse("2026-02") == Month(2026, 2)
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse("2026-13")
