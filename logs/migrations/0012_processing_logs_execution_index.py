"""processing_logs: the execution index also holds each row's status and processing type,
(execution_name, status, processing_type), instead of execution_name alone.

- The seed's 6.2 (one execution's rows counted by status and type) and the execution page's
  counts read the index only; its failed cells are an index condition, not a filter over the
  run's every row.
- A run's rows share six keys at most (three statuses, two types), so B-tree deduplication
  keeps the index about as small as the one it replaces.

Built like 0011's: the parent's index ON ONLY, each partition's CONCURRENTLY (plainly inside a
transaction) and attached, a stopped build finished by running the migration again; then the
old index is dropped.
"""

from django.db import migrations, models

PARENT_INDEX = "plogs_execution_status_idx"
COLUMNS = "(execution_name, status, processing_type)"


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


def execution_index_create(apps, schema_editor) -> None:
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    concurrently = "" if connection.in_atomic_block else "CONCURRENTLY"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {PARENT_INDEX} ON ONLY processing_logs {COLUMNS}"
        )
        for partition in _partitions(cursor):
            if _attached(cursor, partition):
                continue
            index = f"{partition}_execution_status_idx"
            cursor.execute(f"DROP INDEX {concurrently} IF EXISTS {quote(index)}")
            cursor.execute(
                f"CREATE INDEX {concurrently} {quote(index)} ON {quote(partition)} {COLUMNS}"
            )
            cursor.execute(f"ALTER INDEX {PARENT_INDEX} ATTACH PARTITION {quote(index)}")
        cursor.execute("DROP INDEX IF EXISTS plogs_execution_idx")


def execution_index_drop(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS plogs_execution_idx ON processing_logs (execution_name)"
        )
        cursor.execute(f"DROP INDEX IF EXISTS {PARENT_INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("logs", "0011_processing_logs_time_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="processinglog", name="plogs_execution_idx"),
                migrations.AddIndex(
                    model_name="processinglog",
                    index=models.Index(
                        fields=["execution_name", "status", "processing_type"], name=PARENT_INDEX
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(execution_index_create, execution_index_drop)
            ],
        ),
    ]
