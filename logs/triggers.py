"""The append-only tables of the audit trail: their protect triggers, declared once here.

``ProcessingLog.Meta.triggers`` is ``processing_log_triggers()``. UPDATE and DELETE are refused
by row triggers, which PostgreSQL clones to every partition. TRUNCATE is refused by a statement
trigger, which it does not clone: ``truncate_guard_sql`` gives a partition the parent's one.
The only code that lifts a guard is ``log_deletion_allowed``.

``access_logs`` (who read whose data) and ``month_seals`` are append-only the same way
(``append_only_triggers``); access rows leave only by their retention,
``access_log_deletion_allowed``, and seals never.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pgtrigger
from django.apps import apps
from psycopg import sql

LOG_MODEL = "logs.ProcessingLog"
ACCESS_LOG_MODEL = "logs.AccessLog"
PROTECT_UPDATE = "protect_update"
PROTECT_DELETE = "protect_delete"
PROTECT_TRUNCATE = "protect_truncate"


def trigger_uri(name: str) -> str:
    """The pgtrigger URI of one of the protect triggers (what ``pgtrigger.ignore`` takes)."""
    return f"{LOG_MODEL}:{name}"


def append_only_triggers(*, table: str) -> list[pgtrigger.Trigger]:
    """UPDATE, DELETE and TRUNCATE of ``table`` refused, for every role."""
    return [
        pgtrigger.Protect(name=PROTECT_UPDATE, operation=pgtrigger.Update),
        pgtrigger.Protect(name=PROTECT_DELETE, operation=pgtrigger.Delete),
        # Statement triggers are not cloned to partitions: partitions get theirs on creation.
        pgtrigger.Trigger(
            name=PROTECT_TRUNCATE,
            operation=pgtrigger.Truncate,
            level=pgtrigger.Statement,
            when=pgtrigger.Before,
            func=f"RAISE EXCEPTION '{truncate_refused(table=table)}';",
        ),
    ]


def truncate_refused(*, table: str) -> str:
    """The error a TRUNCATE of an append-only table raises."""
    return f"{table} is append-only: TRUNCATE is refused"


def processing_log_triggers() -> list[pgtrigger.Trigger]:
    """The triggers of ``ProcessingLog.Meta``: UPDATE, DELETE and TRUNCATE refused."""
    return append_only_triggers(table="processing_logs")


def truncate_guard_pgid() -> str:
    """Name of the parent's TRUNCATE trigger, and of its function, in the database."""
    model = apps.get_model(LOG_MODEL)
    trigger = next(t for t in model._meta.triggers if t.name == PROTECT_TRUNCATE)
    return trigger.get_pgid(model)


def truncate_guard_sql(*, table: str) -> str:
    """The statement giving one partition the parent's TRUNCATE guard.

    Same trigger name and function as the parent's, so ``pgtrigger.ignore`` works the same on
    every partition.
    """
    pgid = sql.Identifier(truncate_guard_pgid())
    return (
        sql.SQL(
            "CREATE TRIGGER {pgid} BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION {pgid}()"
        )
        .format(pgid=pgid, table=sql.Identifier(table))
        .as_string(None)
    )


@contextlib.contextmanager
def log_deletion_allowed() -> Iterator[None]:
    """Lift the DELETE guard of processing_logs (and its partitions) for this block only.

    The one way any code removes log rows. Its users, tests aside, and no others:

    - ``logs.services.partitions.partition_create``: moves a new month's rows out of DEFAULT
      into the month's table (DELETE … RETURNING, INSERT) in one transaction;
    - ``logs.services.retention.partition_drop``: drops an expired, summarized (and archived)
      month. DROP TABLE fires no row trigger, so there the block lifts nothing; it marks the
      drop as the other place log rows go;
    - the B4 benchmark's baseline (``bench/b4_retention.py``), deleting rows in batches.

    UPDATE and TRUNCATE stay refused; outside this block DELETE is refused for every role.
    """
    with pgtrigger.ignore(trigger_uri(PROTECT_DELETE)):
        yield


@contextlib.contextmanager
def access_log_deletion_allowed() -> Iterator[None]:
    """Lift the DELETE guard of access_logs for this block only: the one way access rows go,
    used by their retention alone (``logs.services.access.access_logs_purge``)."""
    with pgtrigger.ignore(f"{ACCESS_LOG_MODEL}:{PROTECT_DELETE}"):
        yield
