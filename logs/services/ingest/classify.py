"""The cell table of SPEC §4 (``cells.RULES``) applied to every cell of a file, in file order:
one pass over the file gives each log row (as COPY text), the counts, the failed cells and the
counters' final values.

A user's cells of one statistic form a chain: each starts from the counter the previous one
left, beginning with the counter before the file (``staging.Lookups``). An increment whose
result would pass 2,147,483,647 fails and leaves the counter as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auditsite.db import COPY_NULL, copy_text
from logs.messages import FILE_CHANGED, OVERFLOW
from logs.services.ingest.cells import MAX_COUNTER, RULES, CellKind, Rule
from logs.services.ingest.parsing import MAX_USER_ID_LENGTH, CsvRows
from logs.services.ingest.staging import HAS_COUNTERS, KNOWN, Lookups
from logs.services.sources import SourceError

PROBLEMS_SHOWN = 100
STATUSES = ("success", "failed", "skipped")  # of a log row
_BATCH_LINES = 4096

# The log rows' columns in COPY text, in this order (log_id and processed_at are the table's).
LOG_ROW_COLUMNS = (
    "execution_name, user_id, processing_type, old_value, new_value, status, error_message"
)
# A failed cell: (row_no, line_no, idx, user_id logged, raw user_id, processing_type, raw text,
# error_message), the columns of ``ingest_failed``.
FailedCell = tuple[int, int, int, str | None, str, str, str | None, str]
# A user whose counters the file moved: (user_id, has a statistics row, per statistic present
# its final value, None where no cell of it succeeded), the columns of ``ingest_finals``.
Final = tuple[str, bool, list[int | None]]

_ADD, _EMPTY, _ZERO = str(CellKind.ADD), str(CellKind.EMPTY), str(CellKind.ZERO)
_UNKNOWN = RULES[CellKind.UNKNOWN_USER]
_SUCCESS, _SKIPPED = RULES[CellKind.ADD].status, RULES[CellKind.EMPTY].status
_FAILED = "failed"
assert RULES[CellKind.ZERO].status == _SKIPPED, "an empty value and a zero are both skipped"
assert {RULES[kind].status for kind in (CellKind.MALFORMED, CellKind.UNKNOWN_USER)} == {_FAILED}
_STATUS_INDEX = {status: index for index, status in enumerate(STATUSES)}


@dataclass
class CellProblem:
    row_number: int  # line of the file where the row ends
    user_id: str | None
    processing_type: str | None
    message: str


@dataclass
class Classified:
    rows: int  # data rows
    log_rows: int
    counts: dict[str, dict[str, int]]  # {processing_type: {status: cells}}
    problems: list[CellProblem]  # the first PROBLEMS_SHOWN failed cells, in file order


def _quantity(name: str | None, *, current, number) -> int | None:
    """A quantity of the rule table ("current", "value") for a cell that adds nothing."""
    if name == "current":
        return current
    if name == "value":
        return number
    return None


def _message(rule: Rule, **fields: object) -> str:
    """What a failed cell of ``rule`` stores (every failing rule has a message)."""
    if rule.message is None:
        msg = f"a failing rule without a message: {rule}"
        raise ValueError(msg)
    return rule.message.render(**fields)


def _text(value: int | None) -> str:
    return COPY_NULL if value is None else str(value)


def classify(
    rows: CsvRows,
    lookups: Lookups,
    *,
    users_repeat: bool,
    execution_name: str,
    log_lines: Callable[[list[str]], object] | None = None,
    failed_cell: Callable[[FailedCell], object] | None = None,
    final: Callable[[Final], object] | None = None,
) -> Classified:
    """Classify every cell of ``rows`` (a pass over the file whose well-formed rows are the
    staged ones ``lookups`` describes, in the same order). Each log row goes to ``log_lines``
    as a line of COPY text (``LOG_ROW_COLUMNS``), in batches, in log_id order; each failed
    cell to ``failed_cell``; each user whose counters moved to ``final``, once."""
    header = rows.header
    present = [(statistic.processing_type, statistic.column) for statistic in header.statistics]
    stats = range(len(present))
    width = header.width
    head = copy_text(execution_name) + "\t"
    flags, bases = lookups.flags, lookups.counters
    tally = [[0, 0, 0] for _ in present]  # per statistic: success, failed, skipped
    problems: list[CellProblem] = []
    batch: list[str] = []
    # users_repeat: each user's counters as the file has left them so far, and what moved
    chains: dict[str, tuple[bool, list[int], list[bool]]] = {}

    def fail(cell: FailedCell, *, prefix: str, old: int | None, new: int | None) -> None:
        """A failed cell: its log row (``prefix``: the execution and the user logged), its count,
        its problem and its place in ``ingest_failed``."""
        row_no, line_no, idx, user_id, raw_user_id, processing_type, raw, message = cell
        batch.append(
            f"{prefix}{processing_type}\t{_text(old)}\t{_text(new)}\t{_FAILED}\t"
            f"{copy_text(message)}"
        )
        tally[idx][1] += 1
        if len(problems) < PROBLEMS_SHOWN:
            shown_user = user_id or raw_user_id[:40] or None
            problems.append(CellProblem(line_no, shown_user, processing_type, message))
        if failed_cell is not None:
            failed_cell(cell)

    staged, row_no, staged_rows = -1, 0, len(flags)
    for row_no, line_no, field_count, row_kind, user_id, cells in rows:
        if row_kind is not None:  # the row itself fails each of its cells
            rule = RULES[CellKind(row_kind)]
            logged = (
                user_id
                if row_kind == CellKind.MALFORMED and 0 < len(user_id) <= MAX_USER_ID_LENGTH
                else None
            )
            message = _message(rule, fields=field_count, width=width, user_id=user_id)
            prefix = f"{head}{copy_text(logged)}\t"
            for idx in stats:
                cell = (row_no, line_no, idx, logged, user_id, present[idx][0], None, message)
                fail(cell, prefix=prefix, old=None, new=None)
            continue
        staged += 1
        if staged == staged_rows:  # more rows than the first pass staged
            raise SourceError(FILE_CHANGED.render())
        flag = flags[staged]
        prefix = f"{head}{copy_text(user_id)}\t"
        if not flag & KNOWN:
            message = _message(_UNKNOWN)
            for idx in stats:
                number, raw = cells[3 * idx + 1], cells[3 * idx + 2]
                new = _quantity(_UNKNOWN.new, current=None, number=number)
                cell = (row_no, line_no, idx, user_id, user_id, present[idx][0], raw, message)
                fail(cell, prefix=prefix, old=None, new=new)
            continue
        if users_repeat:
            chain = chains.get(user_id)
            if chain is None:
                chain = (
                    bool(flag & HAS_COUNTERS),
                    [column[staged] for column in bases],
                    [False] * len(present),
                )
                chains[user_id] = chain
            _, current, moved = chain
        else:
            current = [column[staged] for column in bases]
            moved = [False] * len(present)
        for idx in stats:
            kind = cells[3 * idx]
            old = current[idx]
            processing_type = present[idx][0]
            if kind == _ADD:
                number = cells[3 * idx + 1]
                after = old + number
                if after <= MAX_COUNTER:
                    current[idx], moved[idx] = after, True
                    tally[idx][0] += 1
                    batch.append(f"{prefix}{processing_type}\t{old}\t{after}\t{_SUCCESS}\t\\N")
                    continue
                column = present[idx][1]
                message = OVERFLOW.render(column=column, old=old, value=number, result=after)
                cell = (row_no, line_no, idx, user_id, user_id, processing_type, None, message)
                fail(cell, prefix=prefix, old=old, new=None)
            elif kind == _EMPTY or kind == _ZERO:
                tally[idx][2] += 1
                batch.append(f"{prefix}{processing_type}\t{old}\t{old}\t{_SKIPPED}\t\\N")
            else:  # a value that cannot be added: the rule table says what is logged
                rule = RULES[CellKind(kind)]
                number, raw = cells[3 * idx + 1], cells[3 * idx + 2]
                new = _quantity(rule.new, current=old, number=number)
                if rule.status != _FAILED:
                    tally[idx][_STATUS_INDEX[rule.status]] += 1
                    batch.append(
                        f"{prefix}{processing_type}\t{old}\t{_text(new)}\t{rule.status}\t\\N"
                    )
                    continue
                message = _message(rule, column=present[idx][1], old=old, value=raw, raw=raw)
                cell = (row_no, line_no, idx, user_id, user_id, processing_type, raw, message)
                fail(cell, prefix=prefix, old=old, new=new)
        if not users_repeat and final is not None and True in moved:
            final((user_id, bool(flag & HAS_COUNTERS), _moved_values(current, moved)))
        if len(batch) >= _BATCH_LINES:
            if log_lines is not None:
                log_lines(batch)
            batch = []
    if batch and log_lines is not None:
        log_lines(batch)
    if users_repeat and final is not None:
        for user_id, (has_counters, current, moved) in chains.items():
            if True in moved:
                final((user_id, has_counters, _moved_values(current, moved)))
    counts = {
        processing_type: dict(zip(STATUSES, tally[idx], strict=True))
        for idx, (processing_type, _) in enumerate(present)
        if row_no
    }
    log_rows = row_no * len(present)
    return Classified(rows=row_no, log_rows=log_rows, counts=counts, problems=problems)


def _moved_values(current: list[int], moved: list[bool]) -> list[int | None]:
    return [value if changed else None for value, changed in zip(current, moved, strict=True)]
