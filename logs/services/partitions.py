"""Monthly partitions of ``processing_logs`` (months in the business time zone)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from logs.models import JobRun
from logs.services.job_runs import JobRefused, job_run_record

PARENT_TABLE = "processing_logs"
DEFAULT_PARTITION = "processing_logs_default"
_NAME_RE = re.compile(r"^processing_logs_(\d{4})_(\d{2})$")


def business_tz() -> ZoneInfo:
    """The time zone whose calendar months and days the product counts in."""
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in the business time zone."""

    year: int
    month: int

    @classmethod
    def of(cls, moment: datetime) -> Month:
        local = timezone.localtime(moment, business_tz()) if timezone.is_aware(moment) else moment
        return cls(local.year, local.month)

    @classmethod
    def current(cls) -> Month:
        return cls.of(timezone.now())

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``."""
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            msg = f"invalid month {text!r}: expected YYYY-MM"
            raise ValueError(msg)
        return cls(int(match.group(1)), int(match.group(2)))

    def add(self, months: int) -> Month:
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=business_tz())

    @property
    def end(self) -> datetime:
        return self.add(1).start

    @property
    def partition_name(self) -> str:
        return f"{PARENT_TABLE}_{self.year:04d}_{self.month:02d}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class PartitionInfo:
    name: str
    month: Month | None  # None for DEFAULT and for partitions not named by month
    is_default: bool
    bounds: str
    estimated_rows: int


@dataclass
class EnsureResult:
    created: list[str] = field(default_factory=list)
    rows_moved: int = 0
    default_rows: int = 0  # rows left in DEFAULT after the run (should be 0)


def partition_month(name: str) -> Month | None:
    """The month a ``processing_logs_YYYY_MM`` table holds, or None for any other name."""
    match = _NAME_RE.match(name)
    return Month(int(match.group(1)), int(match.group(2))) if match else None


def partitions_list(*, using: str = DEFAULT_DB_ALIAS) -> list[PartitionInfo]:
    """Every partition of processing_logs with its bounds and planner row estimate."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname, pg_get_expr(child.relpartbound, child.oid),
                   GREATEST(child.reltuples, 0)::bigint
            FROM pg_inherits
            JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE parent.relname = %s
            ORDER BY child.relname
            """,
            [PARENT_TABLE],
        )
        rows = cursor.fetchall()
    result = []
    for name, bounds, estimate in rows:
        result.append(
            PartitionInfo(
                name=name,
                month=partition_month(name),
                is_default=bounds == "DEFAULT",
                bounds=bounds,
                estimated_rows=estimate,
            )
        )
    return result


def _quote(connection, name: str) -> str:
    return connection.ops.quote_name(name)


def partition_create(*, month: Month, using: str = DEFAULT_DB_ALIAS) -> tuple[bool, int]:
    """Create the partition of ``month`` if missing, moving its rows out of DEFAULT.

    Returns ``(created, rows_moved)``. One transaction: the rows are in DEFAULT or in the new
    partition, never in both or neither.
    """
    from logs.services.retention import log_deletion_allowed

    connection = connections[using]
    name = month.partition_name
    table = _quote(connection, name)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False, 0
        # Serialize partition creation; concurrent inserts keep going.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('processing_logs partitions'))")
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False, 0
        bounds = [month.start, month.end]
        cursor.execute(
            f"SELECT count(*) FROM {DEFAULT_PARTITION} "  # noqa: S608 - constant identifier
            "WHERE processed_at >= %s AND processed_at < %s",
            bounds,
        )
        strays = cursor.fetchone()[0]
        if strays == 0:
            cursor.execute(
                f"CREATE TABLE {table} PARTITION OF {PARENT_TABLE} FOR VALUES FROM (%s) TO (%s)",
                bounds,
            )
        else:
            cursor.execute(
                f"CREATE TABLE {table} "
                f"(LIKE {PARENT_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
            with log_deletion_allowed():
                cursor.execute(
                    f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "  # noqa: S608
                    "WHERE processed_at >= %s AND processed_at < %s RETURNING *) "
                    f"INSERT INTO {table} SELECT * FROM moved",
                    bounds,
                )
            cursor.execute(
                f"ALTER TABLE {PARENT_TABLE} ATTACH PARTITION {table} FOR VALUES FROM (%s) TO (%s)",
                bounds,
            )
        _guard_truncate(cursor, connection, name)
    return True, strays


def _truncate_guard_pgid() -> str:
    from logs.models import ProcessingLog

    trigger = next(t for t in ProcessingLog._meta.triggers if t.name == "protect_truncate")
    return trigger.get_pgid(ProcessingLog)


def _guard_truncate(cursor, connection, name: str) -> None:
    """Give one partition the parent's TRUNCATE guard (same trigger name and function).

    Statement-level triggers are not cloned to partitions; using the parent's pgtrigger
    function keeps ``pgtrigger.ignore`` working the same on every partition.
    """
    pgid = _truncate_guard_pgid()
    cursor.execute(
        f"CREATE TRIGGER {pgid} BEFORE TRUNCATE ON {_quote(connection, name)} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {pgid}()"
    )


def partitions_guard_truncate(*, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Add the TRUNCATE guard to every partition lacking it (e.g. one made by hand)."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname
            FROM pg_inherits
            JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE parent.relname = %s
              AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                              WHERE t.tgrelid = child.oid AND t.tgname = %s)
            ORDER BY child.relname
            """,
            [PARENT_TABLE, _truncate_guard_pgid()],
        )
        missing = [row[0] for row in cursor.fetchall()]
        for name in missing:
            _guard_truncate(cursor, connection, name)
    return missing


def default_partition_months(*, using: str = DEFAULT_DB_ALIAS) -> list[Month]:
    """Months (business time zone) of the rows sitting in the DEFAULT partition."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT date_trunc('month', processed_at AT TIME ZONE %s) "  # noqa: S608
            f"FROM {DEFAULT_PARTITION} ORDER BY 1",
            [settings.TIME_ZONE],
        )
        return [Month(row[0].year, row[0].month) for row in cursor.fetchall()]


def default_partition_rows(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Exact number of rows in DEFAULT (kept empty by maintenance, so this is cheap)."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")  # noqa: S608
        return cursor.fetchone()[0]


def partitions_ensure(
    *,
    months_ahead: int,
    today: datetime | None = None,
    using: str = DEFAULT_DB_ALIAS,
    job_run: JobRun | None = None,
) -> EnsureResult:
    """Keep the current month and ``months_ahead`` months ready; move stray rows out of DEFAULT.

    With ``job_run``, each partition made is recorded on it in the transaction that made it, so
    the run's record stays true however far a crashed run got.
    """
    if months_ahead < 0:
        msg = "months_ahead must be 0 or more"
        raise ValueError(msg)
    current = Month.of(today) if today else Month.current()
    result = EnsureResult()
    partitions_guard_truncate(using=using)
    wanted = [current.add(offset) for offset in range(months_ahead + 1)]
    for month in sorted(set(wanted) | set(default_partition_months(using=using))):
        with transaction.atomic(using=using):
            created, moved = partition_create(month=month, using=using)
            if created and job_run is not None:
                job_run.partitions_created.append(month.partition_name)
                job_run.rows_moved += moved
                job_run.save(using=using, update_fields=["partitions_created", "rows_moved"])
        if created:
            result.created.append(month.partition_name)
        result.rows_moved += moved
    result.default_rows = default_partition_rows(using=using)
    return result


def partitions_maintain(
    *, months_ahead: int | None = None, today: datetime | None = None
) -> JobRun:
    """The partitions job: current month + ``months_ahead`` ready, DEFAULT emptied, one JobRun."""
    if months_ahead is None:
        months_ahead = settings.PARTITION_MONTHS_AHEAD
    if months_ahead < 0:
        msg = f"--months-ahead must be 0 or more, not {months_ahead}"
        raise JobRefused(msg)
    with job_run_record(job=JobRun.Job.PARTITIONS) as run:
        result = partitions_ensure(months_ahead=months_ahead, today=today, job_run=run)
        # Rows still in DEFAULT can only be rows inserted while this job ran: reported, and the
        # next run moves them.
        run.details = {"months_ahead": months_ahead, "default_rows": result.default_rows}
    return run
