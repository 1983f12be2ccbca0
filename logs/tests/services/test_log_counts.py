"""The dashboard's rollup (processing_log_counts): every run counts its rows in its own
transaction, so the daily counts read from it equal seed 6.3 over the rows themselves."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from logs.models import ProcessingLog, ProcessingLogCount
from logs.months import Month, business_tz
from logs.selectors import daily_counts
from logs.services.corrections import counter_adjust, execution_reverse
from logs.services.ingest import execution_create, execution_run, ingest_preview
from logs.services.log_counts import log_counts_rebuild
from logs.services.partitions import partition_create, partitions_ensure
from logs.services.retention import partition_drop
from logs.services.summaries import summary_month_upsert
from logs.tests.test_seed_sql import SEED_6_3

pytestmark = pytest.mark.django_db


def _seed_6_3(days: int) -> list[tuple]:
    """The seed's query verbatim (window widened to ``days``), in the business time zone."""
    sql = SEED_6_3.replace("INTERVAL '7 days'", f"INTERVAL '{days} days'")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [str(business_tz())])
        cursor.execute(sql)
        return cursor.fetchall()


def _counted_from_rows() -> set[tuple]:
    """(execution, processed_at, total, success, failed, skipped) counted over the rows now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT execution_name, processed_at, count(*), "
            "count(*) FILTER (WHERE status = 'success'), "
            "count(*) FILTER (WHERE status = 'failed'), "
            "count(*) FILTER (WHERE status = 'skipped') "
            "FROM processing_logs GROUP BY 1, 2"
        )
        return set(cursor.fetchall())


def _recorded() -> set[tuple]:
    return set(
        ProcessingLogCount.objects.values_list(
            "execution_name",
            "processed_at",
            "total",
            "success_count",
            "failed_count",
            "skipped_count",
        )
    )


def _import(tmp_path: Path, name: str, content: str):
    path = tmp_path / f"{name}.csv"
    path.write_text("user_id,login_count,post_count\n" + content)
    result = execution_run(execution=execution_create(file_name=path.name, source=str(path)))
    assert result.execution is not None and not result.rejected, result.message
    return result.execution


def test_imports_and_corrections_count_their_rows_as_seed_6_3(service_users, tmp_path):
    """Imports (success, failed, skipped cells), a reversal with a cell refused below zero and
    a refused adjustment each record exactly their rows; the daily counts read from the
    rollup equal seed 6.3 over the rows, skipped included."""
    partitions_ensure(months_ahead=0)
    first = _import(
        tmp_path, "user-log-20260101-090000", "U00001,3,1\nU00002,0,x\nU99999,1,1\nU00003,,2\n"
    )
    _import(tmp_path, "user-log-20260102-090000", "U00001,2,0\nU00004,5,-1\n")
    counter_adjust(
        user_id="U00001", column="login_count", amount=-1, set_to=False, reason="fix a typo"
    )
    counter_adjust(
        user_id="U00002", column="post_count", amount=-5, set_to=False, reason="goes below 0"
    )
    execution_reverse(execution_name=first.name, reason="wrong file")
    statuses = set(ProcessingLog.objects.values_list("status", flat=True))
    assert statuses == {"success", "failed", "skipped"}

    assert _recorded() == _counted_from_rows()
    assert ProcessingLogCount.objects.count() == 5  # two imports, two adjustments, a reversal
    for days in (7, 30):
        seed = _seed_6_3(days)
        ours = daily_counts(days=days)
        assert [(c.day, c.total, c.success, c.failed) for c in ours] == seed
        skipped = ProcessingLog.objects.filter(status="skipped").count()
        assert sum(c.skipped for c in ours) == skipped > 0


def test_dry_runs_and_rejected_files_record_nothing(service_users, tmp_path):
    """A preview, a reversal's dry run and a rejected file write no rows and no counts."""
    partitions_ensure(months_ahead=0)
    done = _import(tmp_path, "user-log-20260101-090000", "U00001,3,1\n")
    before = _recorded()
    path = tmp_path / "user-log-20260103-090000.csv"
    path.write_text("user_id,login_count\nU00001,4\n")
    assert not ingest_preview(path=path, file_name=path.name).rejected
    execution_reverse(execution_name=done.name, reason="just looking", dry_run=True)
    empty = tmp_path / "user-log-20260104-090000.csv"
    empty.write_bytes(b"")
    rejected = execution_run(execution=execution_create(file_name=empty.name, source=str(empty)))
    assert rejected.rejected
    assert _recorded() == before == _counted_from_rows()


def test_rebuild_counts_rows_written_without_the_engine(make_logs):
    """Rows inserted directly are counted from the rows, per execution and processed_at, and a
    second rebuild of the same executions replaces their counts instead of adding to them."""
    partitions_ensure(months_ahead=0)
    now = timezone.now()
    rows = [
        {"execution_name": "run-a", "status": "success", "processed_at": now},
        {"execution_name": "run-a", "status": "failed", "processed_at": now},
        {"execution_name": "run-a", "status": "skipped", "processed_at": now - timedelta(hours=1)},
        {"execution_name": "run-b", "status": "success", "processed_at": now},
    ]
    make_logs(rows)  # the factory rebuilds the counts of what it inserted
    assert _recorded() == _counted_from_rows()
    assert log_counts_rebuild(execution_names=["run-a", "run-a"]) == 2
    assert _recorded() == _counted_from_rows()
    assert ProcessingLogCount.objects.filter(execution_name="run-a").count() == 2


def test_dropping_a_month_forgets_its_counts_only(make_logs):
    """Retention's drop of an expired month removes that month's counts with its rows; the
    counts of other months stay."""
    old = Month.current().add(-14)
    partition_create(month=old)
    partitions_ensure(months_ahead=0)
    make_logs(
        [
            {"execution_name": "old-run", "processed_at": old.start + timedelta(days=3)},
            {"execution_name": "old-run", "processed_at": old.end - timedelta(seconds=1)},
            {"execution_name": "new-run", "processed_at": timezone.now()},
        ]
    )
    summary_month_upsert(month=old)
    assert partition_drop(table=old.partition_name, month=old) == 2
    assert set(ProcessingLogCount.objects.values_list("execution_name", flat=True)) == {"new-run"}
    assert _recorded() == _counted_from_rows()


def test_migration_counts_the_rows_already_written(make_logs):
    """Migrating to 0010 counts every row already in processing_logs, across days and months,
    so the dashboard is right from the first request after the upgrade."""
    partitions_ensure(months_ahead=0)
    today = timezone.localdate(timezone=business_tz())
    partitions_ensure(
        months_ahead=0, today=datetime.combine(today - timedelta(days=40), time(12), business_tz())
    )
    make_logs(
        [
            {
                "execution_name": f"run-{offset}",
                "status": ("success", "failed", "skipped")[offset % 3],
                "processed_at": datetime.combine(
                    today - timedelta(days=offset), time(offset % 24), business_tz()
                ),
            }
            for offset in range(0, 40, 3)
        ]
    )
    ProcessingLogCount.objects.all().delete()
    executor = MigrationExecutor(connection)
    executor.migrate([("logs", "0009_corrections")])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("logs"))
    assert _recorded() == _counted_from_rows() != set()
    seed = _seed_6_3(30)
    assert [(c.day, c.total, c.success, c.failed) for c in daily_counts(days=30)] == seed
