"""processing_logs: one index on (processed_at, log_id, status) instead of (processed_at) and
(status).

- The log list (newest first: processed_at DESC, log_id DESC) reads its page straight from the
  index instead of sorting a whole run's rows (every row of a run shares its processed_at).
- A status filter over a date window is an index condition, not a heap filter.
- The seed's 6.3 (count by day and status since a date) is an index-only scan.
- The status index alone served none of the pages: one index fewer for every import to fill.

Built the way a live table needs: the parent's index first (ON ONLY, invalid), then each
partition's CONCURRENTLY (imports keep writing) and attached; once every partition's is attached
the parent's is valid and new partitions get it like the others. A build stopped half way
leaves an invalid index, dropped and made again when the migration runs again. Inside a
transaction (a test migrating in one) the partitions' indexes are built plainly.
"""

from django.db import migrations, models

PARENT_INDEX = "plogs_time_idx"
COLUMNS = "(processed_at, log_id, status)"


def _partitions(cursor) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'processing_logs'::regclass ORDER BY c.relname"
    )
    return [name for (name,) in cursor.fetchall()]


def _attached(cursor, partition: str) -> bool:
    """Whether the partition's table has an index attached to the parent's."""
    cursor.execute(
        "SELECT 1 FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass AND x.indrelid = %s::regclass",
        [PARENT_INDEX, partition],
    )
    return cursor.fetchone() is not None


def time_index_create(apps, schema_editor) -> None:
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    # CONCURRENTLY as migrate runs it; plainly when run inside a transaction (a test's).
    concurrently = "" if connection.in_atomic_block else "CONCURRENTLY"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {PARENT_INDEX} ON ONLY processing_logs {COLUMNS}"
        )
        for partition in _partitions(cursor):
            if _attached(cursor, partition):
                continue
            index = f"{partition}_time_idx"
            cursor.execute(f"DROP INDEX {concurrently} IF EXISTS {quote(index)}")
            cursor.execute(
                f"CREATE INDEX {concurrently} {quote(index)} ON {quote(partition)} {COLUMNS}"
            )
            cursor.execute(f"ALTER INDEX {PARENT_INDEX} ATTACH PARTITION {quote(index)}")
        cursor.execute("DROP INDEX IF EXISTS plogs_processed_at_idx")
        cursor.execute("DROP INDEX IF EXISTS plogs_status_idx")


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
