"""The indexes of processing_logs: every partition, however it was made, has the parent's, and
migration 0011 builds the time index on a live table, again after a build stopped half way."""

import importlib
from datetime import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from logs.months import Month, business_tz
from logs.services.partitions import partition_create, partitions_ensure

TIME_INDEX = importlib.import_module("logs.migrations.0011_processing_logs_time_index")
PARENT_INDEXES = {
    "processing_logs_pkey": "(log_id, processed_at)",
    "plogs_execution_status_idx": "(execution_name, status, processing_type)",
    "plogs_user_time_idx": "(user_id, processed_at DESC)",
    "plogs_time_idx": "(processed_at, log_id, status)",
}


def _parent_indexes() -> dict[str, str]:
    """Index name → its column list, of the partitioned table itself, valid ones only."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(x.indexrelid), x.indisvalid FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid "
            "WHERE x.indrelid = 'processing_logs'::regclass"
        )
        rows = cursor.fetchall()
    return {name: ddl[ddl.index("(") :] for name, ddl, valid in rows if valid}


def _partition_indexes() -> dict[str, set[str]]:
    """Partition → the parent indexes its own indexes are attached to."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, parent.relname
            FROM pg_inherits p
            JOIN pg_class t ON t.oid = p.inhrelid
            LEFT JOIN pg_index x ON x.indrelid = t.oid
            LEFT JOIN pg_inherits ip ON ip.inhrelid = x.indexrelid
            LEFT JOIN pg_class parent ON parent.oid = ip.inhparent
            WHERE p.inhparent = 'processing_logs'::regclass
            """
        )
        attached: dict[str, set[str]] = {}
        for table, index in cursor.fetchall():
            attached.setdefault(table, set()).add(index)
    return attached


@pytest.mark.django_db
def test_every_partition_has_the_parents_indexes(make_logs):
    """DEFAULT, months made ahead and a month filled from DEFAULT (LIKE, then ATTACH) all get
    the four indexes, the time and execution ones included; the status, processed_at and bare
    execution_name ones are gone."""
    make_logs([{"processed_at": datetime(2011, 3, 5, tzinfo=business_tz())}])  # into DEFAULT
    partitions_ensure(months_ahead=1)  # makes 2011-03 from DEFAULT, and the months ahead
    assert _parent_indexes() == PARENT_INDEXES
    partitions = _partition_indexes()
    assert {"processing_logs_default", Month(2011, 3).partition_name} <= set(partitions)
    assert Month.current().partition_name in partitions
    assert all(indexes == set(PARENT_INDEXES) for indexes in partitions.values()), partitions


@pytest.mark.django_db(transaction=True)
def test_migrations_build_the_indexes_again_after_a_stopped_build():
    """Migrating back to 0010 restores the three old indexes; builds of 0011 and 0012 stopped
    half way (0011's attached on one partition, another's left unattached under the name the
    migration gives it; 0012's only a stray partition index) are finished by running the
    migrations again: the parent indexes valid and attached on every partition, old ones
    dropped."""
    partition_create(month=Month(2011, 3))
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([("logs", "0010_processing_log_counts")])
        indexes = _parent_indexes()
        assert {"plogs_status_idx", "plogs_processed_at_idx", "plogs_execution_idx"} <= set(indexes)
        assert "plogs_time_idx" not in indexes and "plogs_execution_status_idx" not in indexes
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE INDEX plogs_time_idx ON ONLY processing_logs {TIME_INDEX.COLUMNS}"
            )
            cursor.execute(
                "CREATE INDEX processing_logs_default_time_idx ON processing_logs_default "
                f"{TIME_INDEX.COLUMNS}"
            )
            cursor.execute(
                "ALTER INDEX plogs_time_idx ATTACH PARTITION processing_logs_default_time_idx"
            )
            cursor.execute(
                "CREATE INDEX processing_logs_2011_03_time_idx ON processing_logs_2011_03 (log_id)"
            )
            # 0012's build stopped the same way, before its parent index was even made.
            cursor.execute(
                "CREATE INDEX processing_logs_default_execution_status_idx "
                "ON processing_logs_default (user_id)"
            )
        assert "plogs_time_idx" not in _parent_indexes()  # not valid while a partition lacks it
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes("logs"))
        assert _parent_indexes() == PARENT_INDEXES
        assert all(indexes == set(PARENT_INDEXES) for indexes in _partition_indexes().values())
    finally:  # committed DDL: leave no expired month behind for other tests
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS processing_logs_2011_03")
