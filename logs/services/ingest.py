"""CSV ingestion: every cell of an activity file becomes exactly one processing log row.

The file is parsed once in Python (row-level problems and each value's syntax are judged there)
and streamed with ``COPY`` into a temporary staging table; everything else is set-based SQL in
ONE transaction per Execution. One statement classifies each cell (SPEC §4), with running totals
by a window function when a user is on several rows, keeps the failed cells and the counts,
inserts the log rows with one ``INSERT … SELECT`` in (row, registry) order and streams them back
for the digest; a second statement updates ``user_statistics`` (and creates the rows of users
that had none). No loop over rows touches the database.

Concurrency: before reading any counter, the run locks the ``users`` rows of the file's users in
``user_id`` order (``FOR NO KEY UPDATE``), so two imports over the same users serialize per user,
never deadlock, and never lose an update.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from auditsite.db import cursor_copy
from logs.models import Execution
from logs.services import error_store
from logs.services.integrity import LOG_COLUMNS, digest_copy, execution_digest
from logs.services.sources import FileFacts, SourceError, inspect_file, local_copy, stored_copy
from users.statistics import STATISTICS, STATISTICS_BY_COLUMN, Statistic

logger = logging.getLogger(__name__)

MAX_COUNTER = 2_147_483_647
MAX_NAME_LENGTH = 80
PROBLEMS_SHOWN = 100
PROGRESS_EVERY_ROWS = 20_000
_STATUSES = ("success", "failed", "skipped")  # of a log row
_GENERATED_NAME_RE = re.compile(r"^user-log-\d{8}-\d{6}$")

Progress = Callable[[str, int, int], None]  # (phase, rows staged, bytes read)


class ExecutionNotPending(Exception):
    """execution_run was asked to run an Execution that is not pending (any more)."""


class IngestRejected(Exception):
    """A file-level rejection (SPEC §4); the message is meant for the person who sent the file."""

    def __init__(self, message: str, execution: Execution | None = None) -> None:
        super().__init__(message)
        self.execution = execution


@dataclass
class CellProblem:
    row_number: int  # line of the file where the row ends
    user_id: str | None
    processing_type: str | None
    message: str


@dataclass
class IngestResult:
    execution: Execution | None  # None for a dry run
    execution_name: str
    dry_run: bool
    rejected: bool = False
    message: str = ""
    rows_total: int = 0
    log_rows: int = 0
    success_count: int = 0
    failed_count: int = 0
    skipped_count: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problems: list[CellProblem] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_total / self.elapsed_seconds if self.elapsed_seconds else 0.0


@dataclass(frozen=True)
class Header:
    width: int
    user_id_position: int
    statistics: tuple[Statistic, ...]  # the registry columns present, in registry order
    positions: tuple[int, ...]  # position of each of those columns in a row
    warnings: tuple[str, ...]


def header_parse(fields: list[str]) -> Header:
    """Validate a header row (trimmed, case-insensitive); raises SourceError with the reason."""
    names = [name.strip().lower() for name in fields]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0].lstrip("\ufeff")
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        msg = f"repeated column in header: {', '.join(repeated)}"
        raise SourceError(msg)
    if "user_id" not in names:
        msg = "the header has no user_id column"
        raise SourceError(msg)
    present = tuple(statistic for statistic in STATISTICS if statistic.column in names)
    if not present:
        expected = ", ".join(statistic.column for statistic in STATISTICS)
        msg = f"the header has no statistic column (expected at least one of: {expected})"
        raise SourceError(msg)
    unknown = [name for name in names if name != "user_id" and name not in STATISTICS_BY_COLUMN]
    warnings = tuple(
        f"unknown column ignored: {name!r}" if name else "a column with an empty name was ignored"
        for name in unknown
    )
    return Header(
        width=len(names),
        user_id_position=names.index("user_id"),
        statistics=present,
        positions=tuple(names.index(statistic.column) for statistic in present),
        warnings=warnings,
    )


# --- execution names ---------------------------------------------------------------------


def _name_in_use(name: str) -> Execution | None:
    return (
        Execution.objects.filter(name=name, status__in=Execution.ACTIVE_STATUSES)
        .order_by("-created_at")
        .first()
    )


def _explicit_name_problem(name: str) -> str | None:
    if not name.strip():
        return "the execution name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the execution name is longer than {MAX_NAME_LENGTH} characters"
    holder = _name_in_use(name)
    if holder is None:
        return None
    if holder.status == Execution.Status.COMPLETED:
        return f"execution name {name!r} is already used by a completed run"
    return f"execution name {name!r} is in use by a run that is {holder.status}"


def _generated_name_base(file_name: str) -> str:
    stem = Path(file_name).stem
    if _GENERATED_NAME_RE.match(stem):
        return stem
    return "user-log-" + timezone.localtime().strftime("%Y%m%d-%H%M%S")


def _generated_name_candidates(file_name: str):
    base = _generated_name_base(file_name)
    yield base
    suffix = 2
    while True:
        yield f"{base}-{suffix}"
        suffix += 1


def _free_generated_name(file_name: str) -> str:
    for candidate in _generated_name_candidates(file_name):
        if _name_in_use(candidate) is None:
            return candidate
    raise AssertionError  # unreachable: the candidates never end


# --- executions ------------------------------------------------------------------------


def _reject(execution: Execution, message: str) -> None:
    execution.status = Execution.Status.REJECTED
    execution.error_message = message
    execution.finished_at = timezone.now()
    execution.progress_phase = "done"
    execution.save()
    error_store.error_record_file(execution=execution, message=message)


def execution_create(
    *,
    file_name: str,
    source: str = "",
    stored_file: str | None = None,
    path: Path | None = None,
    uploaded_by=None,
    execution_name: str | None = None,
    force: bool = False,
) -> Execution:
    """A pending Execution for one file, ready for ``execution_run``.

    An explicit name that is too long or already used is a rejection known before running:
    the rejected Execution is recorded and ``IngestRejected`` raised.
    """
    fields = {
        "file_name": file_name,
        "source": source or (str(path) if path else stored_file or ""),
        "uploaded_by": uploaded_by,
        "force": force,
    }
    if stored_file:
        fields["file"] = stored_file
    if execution_name is not None:
        problem = _explicit_name_problem(execution_name)
        if problem is None:
            try:
                with transaction.atomic():
                    return Execution.objects.create(name=execution_name, **fields)
            except IntegrityError:  # taken between the check and the insert
                problem = f"execution name {execution_name!r} is in use by another run"
        rejected = Execution.objects.create(
            name=execution_name[:MAX_NAME_LENGTH], status=Execution.Status.REJECTED, **fields
        )
        _reject(rejected, problem)
        raise IngestRejected(problem, rejected)
    while True:
        name = _free_generated_name(file_name)
        try:
            with transaction.atomic():
                return Execution.objects.create(name=name, **fields)
        except IntegrityError:  # another run took it meanwhile: take the next suffix
            continue


class _ProgressWriter:
    """Publishes progress on a connection of its own, so others see it during the long
    transaction of the run; throttled, and never fatal to the import."""

    def __init__(self, execution: Execution, extra: Progress | None) -> None:
        self._execution_id = execution.pk
        self._extra = extra
        self._last = 0.0
        self._phase = ""
        self._conn = None
        try:
            self._conn = connection.get_new_connection(connection.get_connection_params())
            self._conn.autocommit = True
        except Exception:  # noqa: BLE001 - progress is a courtesy; the import goes on without it
            self._conn = None

    def __call__(self, phase: str, rows: int, bytes_read: int) -> None:
        if self._extra:
            self._extra(phase, rows, bytes_read)
        now = time.monotonic()
        if self._conn is None or (phase == self._phase and now - self._last < 0.5):
            return
        self._phase, self._last = phase, now
        try:
            self._conn.execute(
                "UPDATE executions SET progress_phase = %s, progress_rows = %s, "
                "progress_bytes = %s WHERE id = %s",
                (phase, rows, bytes_read, self._execution_id),
            )
        except Exception:  # noqa: BLE001 - see above
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def execution_run(*, execution: Execution, progress: Progress | None = None) -> IngestResult:
    """Run a pending Execution in one transaction; a file-level rejection is recorded and
    returned (``rejected=True``), any other failure marks the Execution failed and re-raises."""
    started = time.monotonic()
    claimed = Execution.objects.filter(pk=execution.pk, status=Execution.Status.PENDING).update(
        status=Execution.Status.RUNNING, started_at=timezone.now(), progress_phase="reading"
    )
    if not claimed:  # run already, or being run by another worker: never apply twice
        execution.refresh_from_db()
        msg = f"execution {execution.name!r} is {execution.status}, not pending"
        raise ExecutionNotPending(msg)
    execution.refresh_from_db()
    reporter = _ProgressWriter(execution, progress)
    try:
        opener = (
            stored_copy(execution.file.name) if execution.file else local_copy(execution.source)
        )
        with transaction.atomic():
            _hold_run_lock(execution)  # from here on, the run is visibly alive
            if not Execution.objects.filter(
                pk=execution.pk, status=Execution.Status.RUNNING
            ).exists():  # declared abandoned while starting: leave it failed
                msg = f"execution {execution.name!r} was marked failed before it started"
                raise ExecutionNotPending(msg)
            with opener as path:
                facts = inspect_file(path)
                execution.size_bytes, execution.sha256 = facts.size, facts.sha256
                tally = _ingest(
                    path,
                    facts,
                    execution_name=execution.name,
                    execution=execution,
                    force=execution.force,
                    progress=reporter,
                )
    except SourceError as exc:
        _reject(execution, str(exc))
        return IngestResult(
            execution=execution,
            execution_name=execution.name,
            dry_run=False,
            rejected=True,
            message=str(exc),
            elapsed_seconds=time.monotonic() - started,
        )
    except ExecutionNotPending:
        raise
    except BaseException as exc:
        Execution.objects.filter(pk=execution.pk).update(
            status=Execution.Status.FAILED,
            error_message=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    finally:
        reporter.close()
    execution.refresh_from_db()
    try:
        error_store.errors_export_cells(execution=execution)
    except Exception as exc:  # noqa: BLE001 - the import is committed; its log keeps the cells
        logger.exception("copying failed cells of %s to the error store failed", execution.name)
        execution.warnings = [
            *execution.warnings,
            f"failed cells could not be copied to the error store ({exc}); "
            "they remain in the processing logs",
        ]
        execution.save(update_fields=["warnings"])
    return tally.result(execution=execution, dry_run=False, started=started)


_RUN_LOCK_NAMESPACE = 0x1A5D  # pg_advisory_xact_lock(namespace, execution id)


def _hold_run_lock(execution: Execution) -> None:
    """Held by the transaction applying ``execution``; gone the moment that transaction ends,
    whether it commits, rolls back or its worker is killed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_RUN_LOCK_NAMESPACE, execution.pk])


def execution_run_lock_try(*, execution_id: int) -> bool:
    """Inside a transaction: True when no live transaction is applying the Execution (its run
    lock is free; this transaction then holds it until it ends), False while a run is alive."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)", [_RUN_LOCK_NAMESPACE, execution_id]
        )
        return cursor.fetchone()[0]


def execution_fail_if_abandoned(*, execution: Execution) -> bool:
    """Mark a ``running`` Execution ``failed`` when no transaction is applying it any more
    (its worker died); returns whether it did. A run still in progress is left alone."""
    with transaction.atomic():
        if not execution_run_lock_try(execution_id=execution.pk):
            return False
        return bool(
            Execution.objects.filter(pk=execution.pk, status=Execution.Status.RUNNING).update(
                status=Execution.Status.FAILED,
                error_message="the worker running this import stopped; nothing was applied",
                finished_at=timezone.now(),
            )
        )


def ingest_preview(
    *, path: Path, file_name: str, execution_name: str | None = None, force: bool = False
) -> IngestResult:
    """Dry run: exactly the counts and problems a real run would have now; writes nothing."""
    started = time.monotonic()
    if execution_name is not None:
        name = execution_name
        problem = _explicit_name_problem(execution_name)
    else:
        name, problem = _free_generated_name(file_name), None
    try:
        if problem:
            raise SourceError(problem)
        facts = inspect_file(path)
        with transaction.atomic():
            tally = _ingest(path, facts, execution_name=name, execution=None, force=force)
            transaction.set_rollback(True)
    except SourceError as exc:
        return IngestResult(
            execution=None,
            execution_name=name,
            dry_run=True,
            rejected=True,
            message=str(exc),
            elapsed_seconds=time.monotonic() - started,
        )
    return tally.result(execution=None, dry_run=True, started=started)


# --- the engine ------------------------------------------------------------------------


@dataclass
class _Tally:
    execution_name: str
    rows_total: int
    counts: dict[str, dict[str, int]]
    warnings: list[str]
    problems: list[CellProblem]

    def result(self, *, execution: Execution | None, dry_run: bool, started: float):
        by_status = _status_totals(self.counts)
        return IngestResult(
            execution=execution,
            execution_name=self.execution_name,
            dry_run=dry_run,
            rows_total=self.rows_total,
            log_rows=sum(by_status.values()),
            success_count=by_status["success"],
            failed_count=by_status["failed"],
            skipped_count=by_status["skipped"],
            counts=self.counts,
            warnings=self.warnings,
            problems=self.problems,
            elapsed_seconds=time.monotonic() - started,
        )


def _duplicate_of(sha256: str, execution: Execution | None) -> Execution | None:
    earlier = Execution.objects.filter(sha256=sha256, status=Execution.Status.COMPLETED)
    if execution is not None:
        earlier = earlier.exclude(pk=execution.pk)
    return earlier.order_by("created_at").first()


def _ingest(
    path: Path,
    facts: FileFacts,
    *,
    execution_name: str,
    execution: Execution | None,
    force: bool,
    progress: Progress | None = None,
) -> _Tally:
    """Stage, classify and (with an execution) apply one file. Runs inside a transaction."""
    apply = execution is not None
    with connection.cursor() as cursor:
        # ON COMMIT DROP does not fire when this transaction is only a savepoint of a longer one.
        cursor.execute(_DROP_STAGING)
        # Sorts and hashes of a whole file stay in memory instead of spilling to disk.
        cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.INGEST_WORK_MEM])
        # Same content twice at once: the second waits here, then sees the first as completed.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [facts.sha256])
        if not force and (earlier := _duplicate_of(facts.sha256, execution)) is not None:
            msg = (
                f"the same file (sha256 {facts.sha256[:12]}…) was already processed as "
                f"{earlier.name!r}; use force to process it again"
            )
            raise SourceError(msg)
        staged = _stage(cursor, path, facts.encoding, progress)
        header, rows_total = staged.header, staged.rows
        if progress:
            progress("applying", rows_total, facts.size)
        if apply:
            _lock_users(cursor)
        users_repeat = staged.users_repeat
        fixed = _overflow_fix(cursor, header, users_repeat=users_repeat)
        _work_tables_create(cursor, header)
        warnings = list(header.warnings)
        if rows_total == 0:
            warnings.append("the file has a header but no data rows")
        if apply:
            digest = _apply(
                cursor,
                header,
                execution_name=execution_name,
                users_repeat=users_repeat,
                fixed=fixed,
            )
        else:
            _preview(cursor, header, users_repeat=users_repeat, fixed=fixed)
        counts = _counts(cursor)
        problems = _problems(cursor)
        if apply:
            error_store.errors_record_staged_cells(execution=execution)
            _complete(execution, rows_total, counts, warnings, digest)
        cursor.execute(_DROP_STAGING)
    return _Tally(execution_name, rows_total, counts, warnings, problems)


_DROP_STAGING = (
    "DROP TABLE IF EXISTS ingest_rows, ingest_fixes, ingest_failed, ingest_counts, ingest_finals"
)


def _is_blank(fields: list[str]) -> bool:
    return len(fields) <= 1 and (not fields or not fields[0].strip())


_INTEGER = re.compile(r"[+-]?[0-9]+").fullmatch
_INT4_MIN = -MAX_COUNTER - 1
_EMPTY_CELL = ("empty", None, None)
_ZERO_CELL = ("zero", 0, None)


def _value_cell(raw: str) -> tuple[str, int | None, str | None]:
    """(value kind, the value if it fits an integer column, raw text kept for the message).

    The syntax of a value is judged here, while the row is in hand; whether its user exists and
    what the counter becomes are decided in SQL.
    """
    if raw.isdigit() and raw.isascii() and len(raw) < 10:  # the usual case: 0 … 999,999,999
        number = int(raw)
        return ("add", number, None) if number else _ZERO_CELL
    if not raw:
        return _EMPTY_CELL
    if not _INTEGER(raw):
        return "not_integer", None, raw
    digits = raw.lstrip("+-").lstrip("0")
    if len(digits) > 10:  # beyond any 32-bit value (and Python's int() digit limit)
        return ("negative" if raw[0] == "-" else "too_big"), None, raw
    number = int(raw)
    fits = number if _INT4_MIN <= number <= MAX_COUNTER else None
    if number < 0:
        return "negative", fits, raw
    if number == 0:
        return "zero", 0, None
    if number > MAX_COUNTER:
        return "too_big", None, raw
    return "add", number, None


def _row_cells(positions: tuple[int, ...]) -> Callable[[list[str]], tuple]:
    """The staged cells of a well-formed row: ``_value_cell`` of each statistic's field, in
    registry order. Files repeat the same few values, so results are kept for recent ones."""
    pick = itemgetter(*positions)
    single = len(positions) == 1  # itemgetter then gives the field itself, not a tuple

    @functools.lru_cache(maxsize=4096)
    def cells_of(values) -> tuple:
        values = (values,) if single else values
        return tuple(value for raw in values for value in _value_cell(raw.strip()))

    return lambda fields: cells_of(pick(fields))


def _user_id_problem(user_id: str) -> str | None:
    """The row-level kind of a well-formed row's user_id: None when it can be looked up."""
    if not user_id:
        return "missing_user"
    if len(user_id) > 10:
        return "long_user"
    return None


@dataclass(frozen=True)
class _Staged:
    header: Header
    rows: int
    users_repeat: bool  # some user_id is on several well-formed rows


def _stage(cursor, path: Path, encoding: str, progress: Progress | None) -> _Staged:
    """Parse the file once and COPY its rows into the ``ingest_rows`` temporary table."""
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        # strict: an unterminated quote is an error, not a cell that swallows the next rows
        reader = csv.reader(text, strict=True)
        try:
            fields = next((row for row in reader if not _is_blank(row)), None)
            if fields is None:
                msg = "the file has no header row"
                raise SourceError(msg)
            header = header_parse(fields)
            value_columns = [
                f"{prefix}{index}"
                for index in range(len(header.statistics))
                for prefix in ("k", "n", "v")
            ]
            column_types = {"k": "text", "n": "integer", "v": "text"}
            cursor.execute(
                "CREATE TEMPORARY TABLE ingest_rows (row_no integer, line_no integer, "
                "field_count integer, row_kind text, user_id text, "
                + ", ".join(f"{column} {column_types[column[0]]}" for column in value_columns)
                + ") ON COMMIT DROP"
            )
            width, uid = header.width, header.user_id_position
            row_cells = _row_cells(header.positions)
            malformed_cells = _EMPTY_CELL * len(header.positions)
            row_no = 0
            with cursor_copy(
                cursor,
                "COPY ingest_rows (row_no, line_no, field_count, row_kind, user_id, "
                + ", ".join(value_columns)
                + ") FROM STDIN",
            ) as copy:
                write = copy.write_row
                for fields in reader:
                    if len(fields) <= 1 and _is_blank(fields):
                        continue
                    row_no += 1
                    count = len(fields)
                    if count == width:
                        cells = row_cells(fields)
                        user_id = fields[uid].strip()
                        row_kind = None if 0 < len(user_id) <= 10 else _user_id_problem(user_id)
                    else:
                        cells = malformed_cells
                        user_id = fields[uid].strip() if uid < count else ""
                        row_kind = "malformed"
                    write((row_no, reader.line_num, count, row_kind, user_id, *cells))
                    if progress and row_no % PROGRESS_EVERY_ROWS == 0:
                        progress("staging", row_no, raw.tell())
        except csv.Error as exc:
            msg = f"line {reader.line_num}: the CSV cannot be parsed ({exc})"
            raise SourceError(msg) from exc
    _analyze(cursor, "ingest_rows")
    # Cells chain only when a user_id is on several well-formed rows.
    cursor.execute(
        "SELECT EXISTS (SELECT FROM ingest_rows WHERE row_kind IS NULL "
        "GROUP BY user_id HAVING count(*) > 1)"
    )
    return _Staged(header=header, rows=row_no, users_repeat=cursor.fetchone()[0])


def _analyze(cursor, table: str) -> None:
    """Planner statistics for a staging table (hash joins, not nested loops); a small sample
    is enough for row counts and distinct users."""
    cursor.execute("SET LOCAL default_statistics_target = 10")
    cursor.execute(f"ANALYZE {table}")
    cursor.execute("RESET default_statistics_target")


def _lock_users(cursor) -> None:
    """Lock the file's users in user_id order: concurrent imports wait, never deadlock."""
    cursor.execute(
        "SELECT count(*) FROM (SELECT 1 FROM users "
        "WHERE user_id IN (SELECT user_id FROM ingest_rows) "
        'ORDER BY user_id COLLATE "C" FOR NO KEY UPDATE) AS locked'
    )


def _overflow_message(column: str, current, value: str, result=None) -> str:
    shown = value if len(value) <= 40 else value[:40] + "…"
    total = f" = {result}" if result is not None else ""
    return f"{column}: {current} + {shown}{total} is above the maximum {MAX_COUNTER}"


# Cells of known users, which carry the counter's chain (malformed rows and unknown users don't).
_CHAINED_KINDS = "('add', 'empty', 'zero', 'not_integer', 'negative', 'too_big')"


def _shown(expression: str) -> str:
    """SQL: the first 40 characters of a raw text, with an ellipsis when cut."""
    return f"left({expression}, 40) || CASE WHEN length({expression}) > 40 THEN '…' ELSE '' END"


def _cells_sql(
    header: Header, *, users_repeat: bool, fixed: bool = False, replay: bool = False
) -> str:
    """A query with one row per (data row, statistic present): its log row's values, and what the
    counters, counts and problems are made of (with ``replay``, also what ``_overflow_fix``
    replays a chain from). Parameter ``%(width)s``: the header's width.

    A cell's counter before the file (``base``) plus the increments of the user's cells up to and
    including it (a running total, when users repeat) is ``after``. An increment that takes
    ``after`` past 2,147,483,647 fails; when later cells of the same chain follow, their values
    come from ``ingest_fixes`` (``fixed``), made by ``_overflow_fix``.
    """
    increment = "CASE WHEN kind = 'add' THEN number ELSE 0 END"
    if users_repeat:
        # Running total per (user, statistic) in row order: each old_value is the previous
        # new_value. Byte order ("C") sorts fastest and the order of users does not matter.
        running_total = (
            f'sum({increment}) OVER (PARTITION BY raw_user_id COLLATE "C", idx '
            "ORDER BY row_no ROWS UNBOUNDED PRECEDING)"
        )
    else:  # one row per user: no chain, no sort
        running_total = increment
    present = list(enumerate(header.statistics))
    statistics = ", ".join(
        f"({index}, '{statistic.processing_type}', '{statistic.column}')"
        for index, statistic in present
    )

    def pick(template: str) -> str:  # the value of this cell's statistic, from its row
        cases = " ".join(
            f"WHEN {index} THEN {template.format(index=index, column=statistic.column)}"
            for index, statistic in present
        )
        return f"CASE s.idx {cases} END"

    fits = f"after <= {MAX_COUNTER}"

    def fixable(column: str, expression: str) -> str:
        if not fixed:
            return f"{expression} AS {column}"
        return f"CASE WHEN f.row_no IS NULL THEN {expression} ELSE f.{column} END AS {column}"

    # Each CASE tests the usual kinds first. OFFSET 0 keeps each level a subquery of its own, so
    # a cell's kind and running total are computed once, not in every expression that reads them.
    return f"""
        SELECT c.row_no, c.line_no, c.idx, processing_type, raw_user_id, raw, has_counters,
               {"kind, number, base, after, column_name," if replay else ""}
               CASE
                   WHEN row_kind IS NULL THEN raw_user_id
                   WHEN row_kind = 'malformed' AND raw_user_id <> ''
                        AND length(raw_user_id) <= 10 THEN raw_user_id
               END::varchar(10) AS user_id,
               {
        fixable(
            "old_value",
            f'''CASE
                   WHEN kind = 'add' THEN after - number
                   WHEN kind IN {_CHAINED_KINDS} THEN after
               END''',
        )
    },
               {
        fixable(
            "new_value",
            f'''CASE
                   WHEN kind = 'add' THEN CASE WHEN {fits} THEN after END
                   WHEN kind IN ('empty', 'zero') THEN after
                   WHEN kind = 'unknown_user' THEN number
               END''',
        )
    },
               {
        fixable(
            "status",
            f'''CASE
                   WHEN kind = 'add' THEN CASE WHEN {fits} THEN 'success' ELSE 'failed' END
                   WHEN kind IN ('empty', 'zero') THEN 'skipped'
                   ELSE 'failed'
               END''',
        )
    },
               {
        fixable(
            "error_message",
            f'''CASE kind
                   WHEN 'add' THEN CASE WHEN NOT ({fits}) THEN format(
                       '%%s: %%s + %%s = %%s is above the maximum {MAX_COUNTER}', column_name,
                       after - number, number, after) END
                   WHEN 'zero' THEN NULL
                   WHEN 'empty' THEN NULL
                   WHEN 'unknown_user' THEN 'User not found in users table'
                   WHEN 'not_integer' THEN format(
                       '%%s: not an integer: "%%s"', column_name, {_shown("raw")})
                   WHEN 'negative' THEN format(
                       '%%s: negative value %%s (increments are never below 0)', column_name,
                       {_shown("raw")})
                   WHEN 'too_big' THEN format(
                       '%%s: %%s + %%s is above the maximum {MAX_COUNTER}', column_name, after,
                       {_shown("raw")})
                   WHEN 'malformed' THEN format(
                       'malformed row: %%s fields where the header has %%s', field_count,
                       %(width)s)
                   WHEN 'missing_user' THEN 'missing user_id'
                   WHEN 'long_user' THEN format(
                       'user_id longer than 10 characters: "%%s"', {_shown("raw_user_id")})
               END''',
        )
    }
        FROM (
            SELECT cells.*, base::bigint + {running_total} AS after
            FROM (
                SELECT r.row_no, r.line_no, r.field_count, r.row_kind, s.idx, s.processing_type,
                       s.column_name, r.user_id AS raw_user_id,
                       {pick("r.n{index}")} AS number, {pick("r.v{index}")} AS raw,
                       COALESCE(r.row_kind, CASE WHEN u.user_id IS NULL THEN 'unknown_user' END,
                                {pick("r.k{index}")}) AS kind,
                       COALESCE({pick("st.{column}")}, 0) AS base,
                       st.user_id IS NOT NULL AS has_counters
                FROM ingest_rows r
                CROSS JOIN (VALUES {statistics}) AS s(idx, processing_type, column_name)
                LEFT JOIN users u ON u.user_id = r.user_id
                LEFT JOIN user_statistics st ON st.user_id = u.user_id
                OFFSET 0
            ) cells
            OFFSET 0
        ) c
        {"LEFT JOIN ingest_fixes f ON f.row_no = c.row_no AND f.idx = c.idx" if fixed else ""}
    """


def _chains_may_overflow(cursor, header: Header) -> bool:
    """A cheap bound, enough for nearly every file: no chain can pass 2,147,483,647 when, for
    each statistic, the largest counter among the file's users plus all the file's increments
    stays within it."""
    present = list(enumerate(header.statistics))
    largest = ", ".join(f"max(st.{statistic.column}) AS m{index}" for index, statistic in present)
    added = ", ".join(
        f"sum(n{index}) FILTER (WHERE k{index} = 'add') AS a{index}" for index, _ in present
    )
    beyond = " OR ".join(
        f"COALESCE(m{index}, 0) + COALESCE(a{index}, 0) > {MAX_COUNTER}" for index, _ in present
    )
    cursor.execute(
        f"SELECT {beyond} FROM "
        f"(SELECT {largest} FROM user_statistics st "
        "WHERE st.user_id IN (SELECT user_id FROM ingest_rows)) counters, "
        f"(SELECT {added} FROM ingest_rows) increments"
    )
    return cursor.fetchone()[0]


def _overflow_fix(cursor, header: Header, *, users_repeat: bool) -> bool:
    """When a chain of several cells passes 2,147,483,647, replay it cell by cell (rare): the
    cell that would overflow fails and the chain goes on from the last good value. The replayed
    values go to ``ingest_fixes``; returns whether there are any."""
    if not users_repeat:  # a single cell per chain: the cell query decides it exactly
        return False
    if not _chains_may_overflow(cursor, header):
        return False
    cells = _cells_sql(header, users_repeat=True, replay=True)
    cursor.execute(
        f"""
        WITH cells AS MATERIALIZED ({cells})
        SELECT raw_user_id, idx, row_no, kind, number, base, column_name, raw, error_message
        FROM cells
        WHERE kind IN {_CHAINED_KINDS} AND (raw_user_id, idx) IN (
            SELECT raw_user_id, idx FROM cells WHERE kind = 'add' AND after > {MAX_COUNTER})
        ORDER BY raw_user_id, idx, row_no
        """,
        {"width": header.width},
    )
    rows = cursor.fetchall()
    if not rows:
        return False
    fixes: list[tuple] = []
    chain_key, current = None, 0
    for user_id, idx, row_no, kind, number, base, column, raw, message in rows:
        if (user_id, idx) != chain_key:
            chain_key, current = (user_id, idx), base
        if kind == "add":
            result = current + number
            if result > MAX_COUNTER:
                message = _overflow_message(column, current, str(number), result)
                fixes.append((row_no, idx, current, None, "failed", message))
            else:
                fixes.append((row_no, idx, current, result, "success", None))
                current = result
        elif kind in ("empty", "zero"):
            fixes.append((row_no, idx, current, current, "skipped", None))
        elif kind == "too_big":
            fixes.append(
                (row_no, idx, current, None, "failed", _overflow_message(column, current, raw))
            )
        else:  # not_integer / negative: failed, with the message of the cell query
            fixes.append((row_no, idx, current, None, "failed", message))
    cursor.execute(
        "CREATE TEMPORARY TABLE ingest_fixes (row_no integer, idx integer, old_value bigint, "
        "new_value bigint, status text, error_message text, PRIMARY KEY (row_no, idx)) "
        "ON COMMIT DROP"
    )
    with cursor_copy(cursor, "COPY ingest_fixes FROM STDIN") as copy:
        for fix in fixes:
            copy.write_row(fix)
    _analyze(cursor, "ingest_fixes")
    return True


def _work_tables_create(cursor, header: Header) -> None:
    """Where the statements of a run leave their results: the failed cells (for problems and the
    error store), the counts, and the counters' final values."""
    counters = ", ".join(f"{statistic.column} integer" for statistic in header.statistics)
    cursor.execute(
        "CREATE TEMPORARY TABLE ingest_failed (row_no integer, line_no integer, idx integer, "
        "user_id text, raw_user_id text, processing_type text, raw text, error_message text) "
        "ON COMMIT DROP; "
        "CREATE TEMPORARY TABLE ingest_counts (processing_type text, status text, n bigint) "
        "ON COMMIT DROP; "
        f"CREATE TEMPORARY TABLE ingest_finals (user_id text, has_counters boolean, {counters}) "
        "ON COMMIT DROP"
    )


def _classified_sql(header: Header, *, users_repeat: bool, fixed: bool) -> str:
    """The common head of the apply and preview statements: the ``cells`` query, its failed
    cells copied to ``ingest_failed`` and its counts to ``ingest_counts``."""
    cells = _cells_sql(header, users_repeat=users_repeat, fixed=fixed)
    return f"""
        WITH cells AS MATERIALIZED ({cells}),
        failed AS (
            INSERT INTO ingest_failed (row_no, line_no, idx, user_id, raw_user_id,
                                       processing_type, raw, error_message)
            SELECT row_no, line_no, idx, user_id, raw_user_id, processing_type, raw,
                   error_message
            FROM cells WHERE status = 'failed'
        ),
        counted AS (
            INSERT INTO ingest_counts (processing_type, status, n)
            SELECT processing_type, status, count(*) FROM cells GROUP BY 1, 2
        )
    """


def _counts(cursor) -> dict[str, dict[str, int]]:
    cursor.execute("SELECT processing_type, status, n FROM ingest_counts ORDER BY 1, 2")
    counts: dict[str, dict[str, int]] = {}
    for processing_type, status, count in cursor.fetchall():
        counts.setdefault(processing_type, dict.fromkeys(_STATUSES, 0))[status] = count
    return counts


def _status_totals(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    """Cells per status over all statistics."""
    return {status: sum(per_type[status] for per_type in counts.values()) for status in _STATUSES}


def _problems(cursor) -> list[CellProblem]:
    cursor.execute(
        "SELECT line_no, coalesce(user_id, nullif(left(raw_user_id, 40), '')), processing_type, "
        "error_message FROM ingest_failed ORDER BY row_no, idx LIMIT %s",
        [PROBLEMS_SHOWN],
    )
    return [CellProblem(*row) for row in cursor.fetchall()]


def _preview(cursor, header: Header, *, users_repeat: bool, fixed: bool) -> None:
    """Classify the cells into ``ingest_failed`` and ``ingest_counts``; writes nothing else."""
    cursor.execute(
        _classified_sql(header, users_repeat=users_repeat, fixed=fixed) + "SELECT 1",
        {"width": header.width},
    )


def _apply(cursor, header: Header, *, execution_name: str, users_repeat: bool, fixed: bool) -> str:
    """Write log rows and counters (users already locked); return the digest of the log rows.

    One statement classifies the cells, inserts the log rows and streams them back for the
    digest as they are written, so hashing them here overlaps the database's work. The last
    success of each (user, statistic) is its largest new_value: those go to ``ingest_finals``
    first, so the counters' update is planned on real row counts.
    """
    present = [statistic.column for statistic in header.statistics]
    finals = ", ".join(
        f"max(new_value) FILTER (WHERE idx = {index})::integer" for index in range(len(present))
    )
    columns = ", ".join(present)
    digest = digest_copy(
        cursor,
        _classified_sql(header, users_repeat=users_repeat, fixed=fixed)
        + f"""
        , finals AS (
            INSERT INTO ingest_finals (user_id, has_counters, {columns})
            SELECT raw_user_id, bool_or(has_counters), {finals}
            FROM cells WHERE status = 'success' GROUP BY raw_user_id
        ),
        inserted AS (
            INSERT INTO processing_logs (execution_name, user_id, processing_type, old_value,
                                         new_value, status, error_message)
            SELECT %(execution_name)s, user_id, processing_type, old_value::integer,
                   new_value::integer, status, error_message
            FROM cells ORDER BY row_no, idx
            RETURNING {LOG_COLUMNS}
        )
        SELECT * FROM inserted
        """,
        {"width": header.width, "execution_name": execution_name},
    )
    if digest is None:  # the rows came back out of log_id order: read them back in order
        digest = execution_digest(execution_name=execution_name)
    # Users without a statistics row get one on their first success (users are locked).
    _analyze(cursor, "ingest_finals")
    kept = ", ".join(f"{column} = COALESCE(f.{column}, s.{column})" for column in present)
    cursor.execute(
        f"UPDATE user_statistics s SET {kept}, updated_at = now() "
        "FROM ingest_finals f WHERE f.has_counters AND s.user_id = f.user_id"
    )
    started = ", ".join(f"COALESCE({column}, 0)" for column in present)
    cursor.execute(
        f"INSERT INTO user_statistics (user_id, {columns}, updated_at) "
        f"SELECT user_id, {started}, now() FROM ingest_finals WHERE NOT has_counters "
        "ORDER BY user_id"
    )
    return digest


def _complete(
    execution: Execution,
    rows_total: int,
    counts: dict[str, dict[str, int]],
    warnings: list[str],
    digest: str,
) -> None:
    totals = _status_totals(counts)
    execution.status = Execution.Status.COMPLETED
    execution.rows_total = rows_total
    execution.log_rows = sum(totals.values())
    execution.success_count = totals["success"]
    execution.failed_count = totals["failed"]
    execution.skipped_count = totals["skipped"]
    execution.counts = counts
    execution.warnings = warnings
    execution.digest = digest
    execution.progress_phase = "done"
    execution.progress_rows = rows_total
    execution.progress_bytes = execution.size_bytes or 0
    execution.finished_at = timezone.now()
    execution.save()


def source_file_name(source: str) -> str:
    """The file name part of a path or ``s3://bucket/key``."""
    return Path(source.removeprefix("s3://")).name
