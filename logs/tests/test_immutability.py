"""processing_logs is append-only in the database itself, for the table owner too.

Each refusal is matched on the guard's own message, naming the table the guard fired on: a
missing partition, a typo in the statement or any other database error does not pass for one.
"""

import re

import pytest
from django.db import DatabaseError, connection, transaction

from logs.models import ProcessingLog
from logs.months import Month
from logs.triggers import log_deletion_allowed

pytestmark = pytest.mark.django_db


def _current_partition() -> str:
    return Month.current().partition_name


@pytest.fixture
def log_row() -> ProcessingLog:
    return ProcessingLog.objects.create(
        execution_name="user-log-20261127-090000",
        user_id="U00001",
        processing_type="login_update",
        old_value=1,
        new_value=2,
        status="success",
    )


# pgtrigger's Protect triggers (row level, cloned to every partition) and our statement-level
# TRUNCATE guard (added to each partition; its RAISE text is in logs/triggers.py).
TRUNCATE_REFUSED = "processing_logs is append-only: TRUNCATE is refused"


def _refused(operation: str, *tables: str) -> str:
    """The Protect trigger's message for ``operation`` fired on one of ``tables``."""
    names = "|".join(re.escape(table) for table in tables)
    return rf"^pgtrigger: Cannot {operation} rows from ({names}) table\b"


def _execute(sql: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


@pytest.mark.parametrize(
    ("sql", "operation"),
    [
        ("UPDATE {table} SET new_value = 99", "update"),
        ("DELETE FROM {table}", "delete"),
        ("TRUNCATE {table}", "truncate"),
    ],
    ids=["update", "delete", "truncate"],
)
@pytest.mark.parametrize("target", ["parent", "partition", "default"])
def test_owner_cannot_change_logs(log_row, sql, operation, target):
    """UPDATE, DELETE and TRUNCATE are refused on the table, a month partition and DEFAULT."""
    ProcessingLog.objects.create(
        execution_name="stray", status="success", processed_at="2019-05-01T00:00:00Z"
    )  # no partition for that month: this row sits in DEFAULT
    table = {
        "parent": "processing_logs",
        "partition": _current_partition(),
        "default": "processing_logs_default",
    }[target]
    # Row triggers fire on the partition holding the row: through the parent, on either one.
    holders = (_current_partition(), "processing_logs_default") if target == "parent" else (table,)
    message = (
        f"^{re.escape(TRUNCATE_REFUSED)}$"
        if operation == "truncate"
        else _refused(operation, *holders)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, pg_get_userbyid(relowner) FROM pg_class WHERE relname = %s",
            [table],
        )
        current_user, owner = cursor.fetchone()
    assert current_user == owner  # we are the owner, and still refused
    with pytest.raises(DatabaseError, match=re.compile(message, re.MULTILINE)):
        _execute(sql.format(table=table))
    log_row.refresh_from_db()
    assert log_row.new_value == 2
    assert ProcessingLog.objects.count() == 2


def test_orm_update_and_delete_refused(log_row):
    """The ORM path is refused the same way."""
    partition = _current_partition()
    with pytest.raises(DatabaseError, match=_refused("update", partition)), transaction.atomic():
        ProcessingLog.objects.filter(pk=log_row.pk).update(new_value=5)
    with pytest.raises(DatabaseError, match=_refused("delete", partition)), transaction.atomic():
        ProcessingLog.objects.filter(pk=log_row.pk).delete()
    assert ProcessingLog.objects.filter(pk=log_row.pk, new_value=2).exists()


def test_delete_allowed_inside_retention_context(log_row):
    """Only log_deletion_allowed lifts the DELETE guard, and nothing else."""
    refused = _refused("update", _current_partition())
    with log_deletion_allowed():
        with pytest.raises(DatabaseError, match=refused), transaction.atomic():
            ProcessingLog.objects.filter(pk=log_row.pk).update(new_value=5)
        deleted, _ = ProcessingLog.objects.filter(pk=log_row.pk).delete()
    assert deleted == 1
    assert not ProcessingLog.objects.exists()


def test_guard_back_after_retention_context(log_row):
    """Leaving log_deletion_allowed restores the DELETE guard."""
    with log_deletion_allowed():
        pass
    refused = _refused("delete", _current_partition())
    with pytest.raises(DatabaseError, match=refused), transaction.atomic():
        ProcessingLog.objects.filter(pk=log_row.pk).delete()
