"""B2: rows/s of our ingest vs a plain django-import-export resource doing the same work.

The resource reads each user's counters, adds the row's increments, saves them and writes one
processing log row per statistic — row by row through the ORM, as import-export does. Both run
on the same 5,000-row sample over the same users, in one run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

ROWS = 5_000


def _resource_class():
    from import_export import fields, resources, widgets

    from logs.models import ProcessingLog
    from users.models import ServiceUser, UserStatistics
    from users.statistics import STATISTICS

    class ActivityResource(resources.ModelResource):
        """A plain import-export resource: one row at a time, ORM reads and saves."""

        user = fields.Field(
            attribute="user",
            column_name="user_id",
            widget=widgets.ForeignKeyWidget(ServiceUser, "user_id"),
        )

        class Meta:
            model = UserStatistics
            import_id_fields = ("user",)
            fields = ("user", "login_count", "post_count")
            use_transactions = True
            skip_diff = True

        def before_import_row(self, row, **kwargs):
            current = UserStatistics.objects.filter(user_id=row["user_id"]).first()
            self._changes = []
            for statistic in STATISTICS:
                old = getattr(current, statistic.column, 0) if current else 0
                new = old + int(row[statistic.column])
                row[statistic.column] = new
                self._changes.append((statistic.processing_type, old, new))

        def after_save_instance(self, instance, row, **kwargs):
            for processing_type, old, new in self._changes:
                ProcessingLog.objects.create(
                    execution_name="import-export",
                    user_id=row["user_id"],
                    processing_type=processing_type,
                    old_value=old,
                    new_value=new,
                    status="success" if new != old else "skipped",
                )

    return ActivityResource


def main(quick: bool = False) -> dict:
    from bench._setup import django_bench_db

    django_bench_db("auditsite_bench_b2")
    import tablib

    from bench._data import csv_write, users_create
    from logs.models import ProcessingLog
    from logs.services.ingest import execution_create, execution_run

    rows = 1_000 if quick else ROWS
    users_create(rows)
    with tempfile.TemporaryDirectory() as directory:
        path = csv_write(Path(directory) / "sample.csv", rows=rows, users=rows)
        dataset = tablib.Dataset().load(path.read_text(), format="csv")

        started = time.perf_counter()
        outcome = _resource_class()().import_data(dataset, dry_run=False, raise_errors=True)
        baseline_seconds = time.perf_counter() - started
        assert not outcome.has_errors()
        assert ProcessingLog.objects.filter(execution_name="import-export").count() == 2 * rows

        started = time.perf_counter()
        result = execution_run(
            execution=execution_create(file_name=path.name, source=str(path), force=True)
        )
        ours_seconds = time.perf_counter() - started
        assert result.log_rows == 2 * rows
    baseline_rate = rows / baseline_seconds
    ours_rate = rows / ours_seconds
    return {
        "benchmark": "B2 rows/s vs a plain django-import-export resource",
        "csv_rows": rows,
        "import_export_seconds": round(baseline_seconds, 3),
        "import_export_rows_per_second": round(baseline_rate),
        "ours_seconds": round(ours_seconds, 3),
        "ours_rows_per_second": round(ours_rate),
        "ratio": round(ours_rate / baseline_rate, 1),
        "target": ">= 30",
        "met": ours_rate / baseline_rate >= 30,
    }
