"""Corrections (SPEC §4a): the trail is never edited, a mistake is corrected by new log rows.

A *reversal* undoes a completed execution: one log row per success row of it, in its
``log_id`` order, taking the counter back by what that row added (old = the counter now,
new = now − (original new − original old)). An *adjustment* changes one counter of one user by
an amount or to a value. Each is an Execution of its own kind, run like an import: ONE
transaction, the users locked in ``user_id`` order, the log rows written by one
``INSERT … SELECT`` and hashed for the digest as they stream back, the counters set from the
last success of each chain, failed cells in the error store. A cell that would leave
0 … 2,147,483,647 fails and changes nothing; the chain goes on from the counter it left.

The statements reuse the import's work tables (``ingest_failed``, ``ingest_counts``,
``ingest_finals``) and its counter update, so both keep the same invariants by construction.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction

from auditsite.db import cursor_copy
from logs.messages import (
    ABOVE_MAXIMUM,
    BELOW_ZERO,
    CORRECTION_ALREADY_REVERSED,
    CORRECTION_AMOUNT_RANGE,
    CORRECTION_BY_REQUIRED,
    CORRECTION_NO_EXECUTION,
    CORRECTION_NO_REASON,
    CORRECTION_NOT_COMPLETED,
    CORRECTION_OF_REVERSAL,
    CORRECTION_ROWS_GONE,
    CORRECTION_UNKNOWN_ACCOUNT,
    CORRECTION_UNKNOWN_COLUMN,
    CORRECTION_UNKNOWN_USER,
    NO_COUNTER,
    UNKNOWN_USER,
)
from logs.models import Execution
from logs.services import error_store
from logs.services.executions import execution_claim, execution_complete, run_lock_hold
from logs.services.ingest.apply import (
    counters_apply,
    counts_read,
    failed_cells_sql,
    log_rows_insert_sql,
    problems_read,
    status_totals,
)
from logs.services.ingest.cells import MAX_COUNTER, identifier, literal
from logs.services.ingest.classify import CellProblem
from logs.services.ingest.naming import free_generated_name
from logs.services.ingest.staging import DROP_STAGING, analyze, users_lock, work_tables_create
from logs.services.integrity import digest_copy, execution_digest
from logs.services.log_counts import log_counts_record
from users.models import ServiceUser
from users.statistics import STATISTICS, STATISTICS_BY_COLUMN

Kind = Execution.Kind
MAX_AMOUNT = 2 * MAX_COUNTER + 1  # any change between two valid counters, either way
# The temporary tables of a correction, besides the import's work tables.
DROP_CORRECTION = "DROP TABLE IF EXISTS correction_changes, correction_cells, correction_fixes"
_REVERSED_ONCE = "executions_reversed_once_uniq"
_FITS = f"c.known AND c.idx IS NOT NULL AND c.after BETWEEN 0 AND {MAX_COUNTER}"


class CorrectionRefused(Exception):
    """A correction that may not run (SPEC §4a, exit 2); nothing was written. The message is
    for the person who asked."""


@dataclass
class CorrectionResult:
    """What a correction did, or (``dry_run``) would do now."""

    execution: Execution | None  # None for a dry run
    execution_name: str
    kind: str
    dry_run: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[CellProblem] = field(default_factory=list)
    log_rows: int = 0
    success_count: int = 0
    failed_count: int = 0
    skipped_count: int = 0
    elapsed_seconds: float = 0.0

    def preview_data(self) -> dict:
        """The result as plain data (a correction request keeps its dry run this way)."""
        data = asdict(self)
        data.pop("execution")
        return data


def correction_reason_clean(reason: str | None) -> str:
    """The reason of a correction, trimmed; refused when there is none."""
    text = (reason or "").strip()
    if not text:
        raise CorrectionRefused(CORRECTION_NO_REASON.render())
    return text


def command_requester(*, username: str | None, dry_run: bool) -> User | None:
    """Who a shell command's correction is recorded as asked by (``--by``): required while
    corrections need approval (a dry run excepted), an active account when given."""
    if not username:
        if settings.CORRECTIONS_REQUIRE_APPROVAL and not dry_run:
            raise CorrectionRefused(CORRECTION_BY_REQUIRED.render())
        return None
    account = get_user_model().objects.filter(username=username, is_active=True).first()
    if account is None:
        raise CorrectionRefused(CORRECTION_UNKNOWN_ACCOUNT.render(username=repr(username)))
    return account


# --- the statements ----------------------------------------------------------------------


def _statistics_values() -> str:
    return ", ".join(
        f"({index}, {literal(s.processing_type)}, {literal(s.column)})"
        for index, s in enumerate(STATISTICS)
    )


def _cells_create(cursor) -> None:
    """``correction_cells``: one row per change (``seq, user_id, processing_type, amount,
    set_to`` of ``correction_changes``) with the counter it starts from (``base``), what it
    adds (``change``; a set adds the difference) and the counter after it and the changes of
    the same chain before it (``after``)."""
    base = "CASE s.idx " + " ".join(
        f"WHEN {index} THEN st.{identifier(s.column)}" for index, s in enumerate(STATISTICS)
    )
    cursor.execute(
        f"""
        CREATE TEMPORARY TABLE correction_cells ON COMMIT DROP AS
        SELECT c.*, c.base + sum(c.change) OVER (PARTITION BY c.user_id, c.idx
                                                 ORDER BY c.seq) AS after
        FROM (
            SELECT b.*, CASE WHEN b.set_to THEN b.amount - b.base ELSE b.amount END AS change
            FROM (
                SELECT w.seq, w.user_id, w.processing_type, w.amount, w.set_to,
                       s.idx, s.column_name,
                       u.user_id IS NOT NULL AS known,
                       st.user_id IS NOT NULL AS has_counters,
                       COALESCE({base} END, 0)::bigint AS base
                FROM correction_changes w
                LEFT JOIN (VALUES {_statistics_values()}) AS s(idx, processing_type, column_name)
                       ON s.processing_type = w.processing_type
                LEFT JOIN users u ON u.user_id = w.user_id
                LEFT JOIN user_statistics st ON st.user_id = u.user_id
            ) b
        ) c
        """  # noqa: S608 - the registry's identifiers and literals
    )
    analyze(cursor, "correction_cells")


def _replayed(*, current: int, change: int, column: str) -> tuple:
    """(old, new, status, message) of one change of a counter that is ``current``."""
    result = current + change
    if result < 0:
        return current, None, "failed", BELOW_ZERO.render(column=column, old=current, result=result)
    if result > MAX_COUNTER:
        message = ABOVE_MAXIMUM.render(column=column, old=current, result=result)
        return current, None, "failed", message
    return current, result, "success", None


def _fixes_create(cursor) -> bool:
    """Chains of several changes in which one leaves 0 … 2,147,483,647 (rare): the failed change
    leaves the counter as it was, which a running total cannot express, so such chains are
    replayed here, change by change, into ``correction_fixes``, which the cell query prefers.
    Returns whether there are any."""
    cursor.execute(
        "SELECT EXISTS (SELECT FROM correction_cells "  # noqa: S608 - a constant
        f"WHERE known AND idx IS NOT NULL AND (after < 0 OR after > {MAX_COUNTER}))"
    )
    if not cursor.fetchone()[0]:
        return False
    cursor.execute(
        f"""
        SELECT user_id, idx, seq, base, change, column_name FROM correction_cells
        WHERE (user_id, idx) IN (
            SELECT user_id, idx FROM correction_cells WHERE known AND idx IS NOT NULL
            GROUP BY 1, 2
            HAVING count(*) > 1 AND bool_or(after < 0 OR after > {MAX_COUNTER}))
        ORDER BY user_id, idx, seq
        """  # noqa: S608 - a constant
    )
    rows = cursor.fetchall()
    if not rows:  # only single changes fail: the cell query decides them exactly
        return False
    fixes, chain, current = [], None, 0
    for user_id, idx, seq, base, change, column in rows:
        if (user_id, idx) != chain:
            chain, current = (user_id, idx), base
        old, new, status, message = _replayed(current=current, change=change, column=column)
        fixes.append((seq, old, new, status, message))
        if status == "success":
            current = new
    cursor.execute(
        "CREATE TEMPORARY TABLE correction_fixes (seq bigint PRIMARY KEY, old_value bigint, "
        "new_value bigint, status text, error_message text) ON COMMIT DROP"
    )
    with cursor_copy(cursor, "COPY correction_fixes FROM STDIN") as copy:
        for fix in fixes:
            copy.write_row(fix)
    analyze(cursor, "correction_fixes")
    return True


def _classified_sql(*, fixed: bool) -> str:
    """The cells with their log rows' values, the failed ones copied to ``ingest_failed`` and
    the counts to ``ingest_counts`` (the import's work tables)."""

    def fix(column: str, expression: str) -> str:
        return (
            f"CASE WHEN f.seq IS NOT NULL THEN f.{column} ELSE {expression} END"
            if fixed
            else expression
        )

    fields = {"column": "c.column_name", "old": "c.after - c.change", "result": "c.after"}
    message = (
        f"CASE WHEN NOT c.known THEN {UNKNOWN_USER.sql()} "
        f"WHEN c.idx IS NULL THEN {NO_COUNTER.sql(processing_type='c.processing_type')} "
        f"WHEN c.after < 0 THEN {BELOW_ZERO.sql(**fields)} "
        f"WHEN c.after > {MAX_COUNTER} THEN {ABOVE_MAXIMUM.sql(**fields)} END"
    )
    join = "LEFT JOIN correction_fixes f ON f.seq = c.seq" if fixed else ""
    old = "CASE WHEN c.known AND c.idx IS NOT NULL THEN c.after - c.change END"
    return f"""
        WITH cells AS MATERIALIZED (
            SELECT c.seq, c.user_id, c.processing_type, c.idx, c.has_counters,
                   {fix("old_value", old)} AS old_value,
                   {fix("new_value", f"CASE WHEN {_FITS} THEN c.after END")} AS new_value,
                   {fix("status", f"CASE WHEN {_FITS} THEN 'success' ELSE 'failed' END")} AS status,
                   {fix("error_message", message)} AS error_message
            FROM correction_cells c {join}
        ),
        failed AS (
            INSERT INTO ingest_failed (row_no, line_no, idx, user_id, raw_user_id,
                                       processing_type, raw, error_message)
            SELECT seq, NULL, idx, user_id, user_id, processing_type, NULL, error_message
            FROM cells WHERE status = 'failed'
        ),
        counted AS (
            INSERT INTO ingest_counts (processing_type, status, n)
            SELECT processing_type, status, count(*) FROM cells GROUP BY 1, 2
        )
    """  # noqa: S608 - generated from the registry and the message catalogue


def _apply(cursor, *, execution_name: str) -> str:
    """Write the log rows and the counters of the staged cells; return the rows' digest."""
    fixed = _fixes_create(cursor)
    columns = ", ".join(identifier(s.column) for s in STATISTICS)
    finals = ", ".join(
        f"(array_agg(new_value ORDER BY seq DESC) FILTER (WHERE idx = {index}))[1]::integer"
        for index in range(len(STATISTICS))
    )
    digest = digest_copy(
        cursor,
        _classified_sql(fixed=fixed)  # noqa: S608 - generated; values are parameters
        + f"""
        , finals AS (
            INSERT INTO ingest_finals (user_id, has_counters, {columns})
            SELECT user_id, bool_or(has_counters), {finals}
            FROM cells WHERE status = 'success' GROUP BY user_id
        ),
        {log_rows_insert_sql(order_by="seq")}
        """,  # noqa: S608
        {"execution_name": execution_name},
    )
    if digest is None:  # the rows came back out of log_id order: read them back in order
        digest = execution_digest(execution_name=execution_name)
    counters_apply(cursor, STATISTICS)
    return digest


def _preview(cursor) -> None:
    fixed = _fixes_create(cursor)
    cursor.execute(_classified_sql(fixed=fixed) + "SELECT 1")


def _correction_create(*, kind: str, fields: dict[str, object]) -> Execution:
    """The correction's Execution, pending, named by its kind; refused when the execution it
    reverses has a reversal already (the database's constraint says so)."""
    while True:
        name = free_generated_name("", prefix=str(kind))
        try:
            with transaction.atomic():
                return Execution.objects.create(name=name, kind=kind, **fields)
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "")
            if constraint == _REVERSED_ONCE:
                original = fields["reverses"]
                assert isinstance(original, Execution)
                raise CorrectionRefused(_already_reversed(original)) from exc
            continue  # the name was taken meanwhile: the next suffix


@dataclass(frozen=True)
class _Asked:
    """Who asked for a correction, who approved it, and why."""

    requested_by: User | None
    approved_by: User | None
    reason: str


def _run(
    *,
    kind: str,
    changes: str,
    params: dict[str, Any],
    dry_run: bool,
    asked: _Asked,
    fields: dict[str, object],
    started: float,
) -> CorrectionResult:
    """Stage the changes, then apply them as a new Execution in one transaction (or only
    classify them, writing nothing)."""
    with transaction.atomic():
        result = _staged_run(
            kind=kind,
            changes=changes,
            params=params,
            dry_run=dry_run,
            fields={
                **fields,
                "uploaded_by": asked.requested_by,
                "approved_by": asked.approved_by,
                "correction_reason": asked.reason,
            },
            started=started,
        )
        if dry_run:
            transaction.set_rollback(True)
    return result


def _staged_run(
    *,
    kind: str,
    changes: str,
    params: dict[str, Any],
    dry_run: bool,
    fields: dict[str, object],
    started: float,
) -> CorrectionResult:
    execution = None if dry_run else _correction_create(kind=kind, fields=fields)
    with connection.cursor() as cursor:
        cursor.execute(f"{DROP_STAGING}; {DROP_CORRECTION}")
        cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.INGEST_WORK_MEM])
        if execution is not None:
            execution_claim(execution=execution)
            run_lock_hold(execution=execution)
        # The changes read once (a reversal's from the trail), for the lock and the cells.
        cursor.execute(
            f"CREATE TEMPORARY TABLE correction_changes ON COMMIT DROP AS {changes}", params
        )
        analyze(cursor, "correction_changes")
        if execution is not None:
            users_lock(cursor, among="SELECT user_id FROM correction_changes")
        _cells_create(cursor)
        work_tables_create(cursor, STATISTICS)
        if execution is None:
            _preview(cursor)
        else:
            digest = _apply(cursor, execution_name=execution.name)
        counts, problems = counts_read(cursor), problems_read(cursor)
        totals = status_totals(counts)
        if execution is not None:
            log_counts_record(execution_name=execution.name, totals=totals)
            error_store.errors_record_staged_cells(
                execution=execution, failed_cells=failed_cells_sql()
            )
            execution_complete(
                execution=execution,
                rows_total=sum(totals.values()),
                counts=counts,
                totals=totals,
                warnings=[],
                digest=digest,
            )
        cursor.execute(f"{DROP_STAGING}; {DROP_CORRECTION}")
    return CorrectionResult(
        execution=execution,
        execution_name=execution.name if execution else "",
        kind=str(kind),
        dry_run=dry_run,
        counts=counts,
        problems=problems,
        log_rows=sum(totals.values()),
        success_count=totals["success"],
        failed_count=totals["failed"],
        skipped_count=totals["skipped"],
        elapsed_seconds=time.monotonic() - started,
    )


# --- reversal ----------------------------------------------------------------------------

_REVERSAL_CHANGES = (
    "SELECT row_number() OVER (ORDER BY log_id) AS seq, user_id, processing_type, "
    "old_value::bigint - new_value::bigint AS amount, false AS set_to "
    "FROM processing_logs WHERE execution_name = %(original)s AND status = 'success'"
)


def _already_reversed(original: Execution) -> str:
    reversal = original.reversals.filter(status__in=Execution.ACTIVE_STATUSES).first()
    name = repr(reversal.name) if reversal else "another run"
    return CORRECTION_ALREADY_REVERSED.render(name=repr(original.name), reversal=name)


def reversal_target(*, execution_name: str, lock: bool = False) -> Execution:
    """The completed execution named ``execution_name`` that may be reversed, or why not."""
    named = Execution.objects.filter(name=execution_name)
    original = named.filter(status=Execution.Status.COMPLETED).first()
    if original is None:
        latest = named.order_by("-created_at").first()
        if latest is None:
            raise CorrectionRefused(CORRECTION_NO_EXECUTION.render(name=repr(execution_name)))
        msg = CORRECTION_NOT_COMPLETED.render(name=repr(execution_name), status=latest.status)
        raise CorrectionRefused(msg)
    if lock:  # two reversals of one execution: the second waits here, then sees the first
        original = Execution.objects.select_for_update().get(pk=original.pk)
    if original.kind == Kind.REVERSAL:
        raise CorrectionRefused(CORRECTION_OF_REVERSAL.render(name=repr(original.name)))
    if original.reversals.filter(status__in=Execution.ACTIVE_STATUSES).exists():
        raise CorrectionRefused(_already_reversed(original))
    return original


def _rows_check(original: Execution) -> None:
    """Refuse a reversal of an execution whose rows retention has dropped (partly or all)."""
    found = _success_rows(original.name)
    if found < original.success_count:
        msg = CORRECTION_ROWS_GONE.render(
            name=repr(original.name), recorded=original.success_count, found=found
        )
        raise CorrectionRefused(msg)


def _success_rows(execution_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM processing_logs WHERE execution_name = %s AND status = 'success'",
            [execution_name],
        )
        return cursor.fetchone()[0]


def execution_reverse(
    *,
    execution_name: str,
    reason: str,
    requested_by: User | None = None,
    approved_by: User | None = None,
    dry_run: bool = False,
) -> CorrectionResult:
    """Reverse a completed execution by new log rows (SPEC §4a), or dry-run it: exactly the
    counts and failing cells a reversal would have now, nothing written."""
    started = time.monotonic()
    asked = _Asked(requested_by, approved_by, correction_reason_clean(reason))
    with transaction.atomic():  # the original stays locked until the reversal is committed
        original = reversal_target(execution_name=execution_name, lock=not dry_run)
        _rows_check(original)
        return _run(
            kind=Kind.REVERSAL,
            changes=_REVERSAL_CHANGES,
            params={"original": original.name},
            dry_run=dry_run,
            asked=asked,
            fields={"reverses": original, "source": f"reversal of {original.name}"},
            started=started,
        )


# --- adjustment --------------------------------------------------------------------------

_ADJUSTMENT_CHANGES = (
    "SELECT 1::bigint AS seq, %(user_id)s::varchar AS user_id, "
    "%(processing_type)s::varchar AS processing_type, %(amount)s::bigint AS amount, "
    "%(set_to)s::boolean AS set_to"
)


def adjustment_check(*, user_id: str, column: str, amount: int) -> None:
    """Refuse an adjustment of a user or counter that does not exist, or by an amount no
    counter could take."""
    if column not in STATISTICS_BY_COLUMN:
        expected = ", ".join(s.column for s in STATISTICS)
        raise CorrectionRefused(
            CORRECTION_UNKNOWN_COLUMN.render(column=repr(column), expected=expected)
        )
    if not ServiceUser.objects.filter(user_id=user_id).exists():
        raise CorrectionRefused(CORRECTION_UNKNOWN_USER.render(user_id=repr(user_id)))
    if abs(amount) > MAX_AMOUNT:
        raise CorrectionRefused(CORRECTION_AMOUNT_RANGE.render(amount=amount))


def counter_adjust(
    *,
    user_id: str,
    column: str,
    amount: int,
    set_to: bool,
    reason: str,
    requested_by: User | None = None,
    approved_by: User | None = None,
    dry_run: bool = False,
) -> CorrectionResult:
    """Add ``amount`` to one counter of one user, or (``set_to``) set it to ``amount``: an
    adjustment Execution with one log row, failed when the result would leave
    0 … 2,147,483,647 (SPEC §4a); or its dry run."""
    started = time.monotonic()
    reason = correction_reason_clean(reason)
    adjustment_check(user_id=user_id, column=column, amount=amount)
    statistic = STATISTICS_BY_COLUMN[column]
    operation = f"set {column} to {amount}" if set_to else f"add {amount} to {column}"
    return _run(
        kind=Kind.ADJUSTMENT,
        changes=_ADJUSTMENT_CHANGES,
        params={
            "user_id": user_id,
            "processing_type": statistic.processing_type,
            "amount": amount,
            "set_to": set_to,
        },
        dry_run=dry_run,
        asked=_Asked(requested_by, approved_by, reason),
        fields={"source": f"adjustment of {user_id}: {operation}"},
        started=started,
    )
