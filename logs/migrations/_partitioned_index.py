"""Building an index of the partitioned ``processing_logs`` the way a live table needs, for the
migrations that replace one of its indexes (0011, 0012).

The parent's index first (ON ONLY, invalid), then each partition's CONCURRENTLY (imports keep
writing) and attached; once every partition's is attached the parent's is valid and new
partitions get it like the others. A build stopped half way leaves an invalid index, dropped and
made again when the migration runs again. Inside a transaction (a test migrating in one) the
partitions' indexes are built plainly. (The migration loader skips modules named with ``_``.)
"""


def _partitions(cursor) -> list[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'processing_logs'::regclass ORDER BY c.relname"
    )
    return [name for (name,) in cursor.fetchall()]


def _attached(cursor, *, parent: str, partition: str) -> bool:
    """Whether the partition's table has an index attached to the parent's."""
    cursor.execute(
        "SELECT 1 FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass AND x.indrelid = %s::regclass",
        [parent, partition],
    )
    return cursor.fetchone() is not None


def partitioned_index_build(
    schema_editor, *, parent: str, columns: str, suffix: str, replaces: tuple[str, ...]
) -> None:
    """Make ``parent`` on ``columns`` (each partition's named ``<partition>_<suffix>``), then
    drop the indexes it ``replaces``."""
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    concurrently = "" if connection.in_atomic_block else "CONCURRENTLY"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX IF NOT EXISTS {parent} ON ONLY processing_logs {columns}")
        for partition in _partitions(cursor):
            if _attached(cursor, parent=parent, partition=partition):
                continue
            index = f"{partition}_{suffix}"
            cursor.execute(f"DROP INDEX {concurrently} IF EXISTS {quote(index)}")
            cursor.execute(
                f"CREATE INDEX {concurrently} {quote(index)} ON {quote(partition)} {columns}"
            )
            cursor.execute(f"ALTER INDEX {parent} ATTACH PARTITION {quote(index)}")
        for old in replaces:
            cursor.execute(f"DROP INDEX IF EXISTS {old}")
