"""The cell query: one row per (data row, statistic present) with its log row's values, generated
from the cell table (``cells.RULES``), and the head the preview and apply statements share."""

from __future__ import annotations

from collections.abc import Callable

from psycopg import sql

from logs.messages import OVERFLOW, Message
from logs.services.ingest.cells import MAX_COUNTER, RULES, CellKind
from logs.services.ingest.parsing import Header

_FITS = f"after <= {MAX_COUNTER}"  # an increment's result stays a valid counter


def identifier(name: str) -> str:
    """A column of the statistics registry as an SQL identifier."""
    return sql.Identifier(name).as_string(None)


def literal(value: str) -> str:
    """A text of code (a kind, a processing type, a column name) as an SQL literal."""
    return sql.Literal(str(value)).as_string(None)


# What the rule table's quantities are in the cell query: ``after`` is the counter after this
# cell's increment (the counter before the file plus the increments of the user's cells so far).
def _current(kind: CellKind) -> str:
    return "after - number" if kind == CellKind.ADD else "after"


_QUANTITIES: dict[str, Callable[[CellKind], str]] = {
    "current": _current,
    "result": lambda kind: "after",
    "value": lambda kind: "number",
}


def _message_sql(message: Message, kind: CellKind) -> str:
    fields = {
        "column": "column_name",
        "old": _current(kind),
        "result": "after",
        "value": "number" if kind == CellKind.ADD else "raw",
        "raw": "raw",
        "fields": "field_count",
        "width": "%(width)s",
        "user_id": "raw_user_id",
    }
    return message.sql(**fields)


def _case(expression_of: Callable[[CellKind], str | None]) -> str:
    """A CASE over the cell's kind, kinds with the same expression grouped, in the table's
    order (the usual kinds first); NULL where the table says NULL."""
    groups: list[tuple[list[CellKind], str]] = []
    for kind in CellKind:
        expression = expression_of(kind)
        if expression is None:
            continue
        if groups and groups[-1][1] == expression:
            groups[-1][0].append(kind)
        else:
            groups.append(([kind], expression))
    branches = " ".join(
        f"WHEN kind = {literal(kinds[0])} THEN {expression}"
        if len(kinds) == 1
        else f"WHEN kind IN ({', '.join(literal(kind) for kind in kinds)}) THEN {expression}"
        for kinds, expression in groups
    )
    return f"CASE {branches} END"


def _old_value(kind: CellKind) -> str | None:
    quantity = RULES[kind].old
    return _QUANTITIES[quantity](kind) if quantity else None


def _new_value(kind: CellKind) -> str | None:
    quantity = RULES[kind].new
    if quantity is None:
        return None
    if quantity == "result":  # an increment past the maximum logs no new value
        return f"CASE WHEN {_FITS} THEN after END"
    return _QUANTITIES[quantity](kind)


def _status(kind: CellKind) -> str:
    if kind == CellKind.ADD:
        return f"CASE WHEN {_FITS} THEN {literal(RULES[kind].status)} ELSE 'failed' END"
    return literal(RULES[kind].status)


def _error_message(kind: CellKind) -> str | None:
    if kind == CellKind.ADD:
        return f"CASE WHEN NOT ({_FITS}) THEN {_message_sql(OVERFLOW, kind)} END"
    message = RULES[kind].message
    return _message_sql(message, kind) if message else None


def cells_sql(
    header: Header, *, users_repeat: bool, fixed: bool = False, replay: bool = False
) -> str:
    """A query with one row per (data row, statistic present): its log row's values, and what the
    counters, counts and problems are made of (with ``replay``, also what the overflow replay
    starts a chain from). Parameter ``%(width)s``: the header's width.

    A cell's counter before the file (``base``) plus the increments of the user's cells up to and
    including it (a running total, when users repeat) is ``after``. An increment that takes
    ``after`` past 2,147,483,647 fails; when later cells of the same chain follow, their values
    come from ``ingest_fixes`` (``fixed``), made by the overflow replay.
    """
    add = literal(CellKind.ADD)
    increment = f"CASE WHEN kind = {add} THEN number ELSE 0 END"
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
        f"({index}, {literal(statistic.processing_type)}, {literal(statistic.column)})"
        for index, statistic in present
    )

    def pick(template: str) -> str:  # the value of this cell's statistic, from its row
        cases = " ".join(
            f"WHEN {index} THEN {template.format(index=index, column=identifier(statistic.column))}"
            for index, statistic in present
        )
        return f"CASE s.idx {cases} END"

    def fixable(column: str, expression: str) -> str:
        if not fixed:
            return f"{expression} AS {column}"
        return f"CASE WHEN f.row_no IS NULL THEN {expression} ELSE f.{column} END AS {column}"

    malformed = literal(CellKind.MALFORMED)
    unknown_user = literal(CellKind.UNKNOWN_USER)
    # OFFSET 0 keeps each level a subquery of its own, so a cell's kind and running total are
    # computed once, not in every expression that reads them.
    return f"""
        SELECT c.row_no, c.line_no, c.idx, processing_type, raw_user_id, raw, has_counters,
               {"kind, number, base, after, column_name," if replay else ""}
               CASE
                   WHEN row_kind IS NULL THEN raw_user_id
                   WHEN row_kind = {malformed} AND raw_user_id <> ''
                        AND length(raw_user_id) <= 10 THEN raw_user_id
               END::varchar(10) AS user_id,
               {fixable("old_value", _case(_old_value))},
               {fixable("new_value", _case(_new_value))},
               {fixable("status", _case(_status))},
               {fixable("error_message", _case(_error_message))}
        FROM (
            SELECT cells.*, base::bigint + {running_total} AS after
            FROM (
                SELECT r.row_no, r.line_no, r.field_count, r.row_kind, s.idx, s.processing_type,
                       s.column_name, r.user_id AS raw_user_id,
                       {pick("r.n{index}")} AS number, {pick("r.v{index}")} AS raw,
                       COALESCE(r.row_kind, CASE WHEN u.user_id IS NULL THEN {unknown_user} END,
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
    """  # noqa: S608 - generated from the cell table and the registry (psycopg.sql literals)


def classified_sql(header: Header, *, users_repeat: bool, fixed: bool) -> str:
    """The common head of the apply and preview statements: the ``cells`` query, its failed
    cells copied to ``ingest_failed`` and its counts to ``ingest_counts``."""
    cells = cells_sql(header, users_repeat=users_repeat, fixed=fixed)
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
    """  # noqa: S608 - the cell query and fixed SQL
