"""processing_logs: the execution index also holds each row's status and processing type,
(execution_name, status, processing_type), instead of execution_name alone.

- The seed's 6.2 (one execution's rows counted by status and type) and the execution page's
  counts read the index only; its failed cells are an index condition, not a filter over the
  run's every row.
- A run's rows share six keys at most (three statuses, two types), so B-tree deduplication
  keeps the index about as small as the one it replaces.

Built like 0011's (``_partitioned_index``); then the old index is dropped.
"""

from django.db import migrations, models

from logs.migrations._partitioned_index import partitioned_index_build

PARENT_INDEX = "plogs_execution_status_idx"
COLUMNS = "(execution_name, status, processing_type)"


def execution_index_create(apps, schema_editor) -> None:
    partitioned_index_build(
        schema_editor,
        parent=PARENT_INDEX,
        columns=COLUMNS,
        suffix="execution_status_idx",
        replaces=("plogs_execution_idx",),
    )


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
