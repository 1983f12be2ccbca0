"""processing_logs: one index on (processed_at, log_id, status) instead of (processed_at) and
(status).

- The log list (newest first: processed_at DESC, log_id DESC) reads its page straight from the
  index instead of sorting a whole run's rows (every row of a run shares its processed_at).
- A status filter over a date window is an index condition, not a heap filter.
- The seed's 6.3 (count by day and status since a date) is an index-only scan.
- The status index alone served none of the pages: one index fewer for every import to fill.

Built the way a live table needs (``_partitioned_index``): each partition's index
CONCURRENTLY and attached to the parent's, a stopped build finished by running it again.
"""

from django.db import migrations, models

from logs.migrations._partitioned_index import partitioned_index_build

PARENT_INDEX = "plogs_time_idx"
COLUMNS = "(processed_at, log_id, status)"


def time_index_create(apps, schema_editor) -> None:
    partitioned_index_build(
        schema_editor,
        parent=PARENT_INDEX,
        columns=COLUMNS,
        suffix="time_idx",
        replaces=("plogs_processed_at_idx", "plogs_status_idx"),
    )


def time_index_drop(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("CREATE INDEX IF NOT EXISTS plogs_status_idx ON processing_logs (status)")
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS plogs_processed_at_idx ON processing_logs (processed_at)"
        )
        cursor.execute(f"DROP INDEX IF EXISTS {PARENT_INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("logs", "0010_processing_log_counts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="processinglog", name="plogs_status_idx"),
                migrations.RemoveIndex(model_name="processinglog", name="plogs_processed_at_idx"),
                migrations.AddIndex(
                    model_name="processinglog",
                    index=models.Index(
                        fields=["processed_at", "log_id", "status"], name=PARENT_INDEX
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(time_index_create, time_index_drop)],
        ),
    ]
