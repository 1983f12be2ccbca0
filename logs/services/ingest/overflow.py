"""Chains that pass 2,147,483,647 (rare): when a user's cells of one statistic would take the
counter past the maximum, that cell fails and the chain goes on from the last good value, which a
running total cannot express. Such chains are replayed here, cell by cell, by the rule table."""

from __future__ import annotations

from auditsite.db import cursor_copy
from logs.messages import OVERFLOW
from logs.services.ingest.cells import CHAINED_KINDS, MAX_COUNTER, RULES, CellKind, kind_list_sql
from logs.services.ingest.classify import cells_sql, identifier, literal
from logs.services.ingest.parsing import Header
from logs.services.ingest.staging import analyze


def _chains_may_overflow(cursor, header: Header) -> bool:
    """A cheap bound, enough for nearly every file: no chain can pass 2,147,483,647 when, for
    each statistic, the largest counter among the file's users plus all the file's increments
    stays within it."""
    present = list(enumerate(header.statistics))
    largest = ", ".join(
        f"max(st.{identifier(statistic.column)}) AS m{index}" for index, statistic in present
    )
    added = ", ".join(
        f"sum(n{index}) FILTER (WHERE k{index} = {literal(CellKind.ADD)}) AS a{index}"
        for index, _ in present
    )
    beyond = " OR ".join(
        f"COALESCE(m{index}, 0) + COALESCE(a{index}, 0) > {MAX_COUNTER}" for index, _ in present
    )
    cursor.execute(
        f"SELECT {beyond} FROM "  # noqa: S608 - identifiers rendered by psycopg.sql
        f"(SELECT {largest} FROM user_statistics st "
        "WHERE st.user_id IN (SELECT user_id FROM ingest_rows)) counters, "
        f"(SELECT {added} FROM ingest_rows) increments"
    )
    return cursor.fetchone()[0]


def _replayed(kind: CellKind, *, current: int, number, column: str, raw) -> tuple:
    """(old, new, status, message) of one cell of a chain whose counter is ``current``."""
    rule = RULES[kind]
    if kind == CellKind.ADD:
        result = current + number
        if result > MAX_COUNTER:
            message = OVERFLOW.render(column=column, old=current, value=number, result=result)
            return current, None, "failed", message
        return current, result, rule.status, None
    new = current if rule.new == "current" else None
    fields = {"column": column, "old": current, "value": raw, "raw": raw}
    return current, new, rule.status, rule.message.render(**fields) if rule.message else None


def overflow_fix(cursor, header: Header, *, users_repeat: bool) -> bool:
    """Replay every chain of several cells that passes 2,147,483,647 into ``ingest_fixes``,
    which the cell query then prefers; returns whether there are any."""
    if not users_repeat:  # a single cell per chain: the cell query decides it exactly
        return False
    if not _chains_may_overflow(cursor, header):
        return False
    cells = cells_sql(header, users_repeat=True, replay=True)
    cursor.execute(
        f"""
        WITH cells AS MATERIALIZED ({cells})
        SELECT raw_user_id, idx, row_no, kind, number, base, column_name, raw
        FROM cells
        WHERE kind IN {kind_list_sql(CHAINED_KINDS)} AND (raw_user_id, idx) IN (
            SELECT raw_user_id, idx FROM cells
            WHERE kind = {literal(CellKind.ADD)} AND after > {MAX_COUNTER})
        ORDER BY raw_user_id, idx, row_no
        """,  # noqa: S608 - generated from the cell table; values are parameters
        {"width": header.width},
    )
    rows = cursor.fetchall()
    if not rows:
        return False
    fixes: list[tuple] = []
    chain_key, current = None, 0
    for user_id, idx, row_no, kind, number, base, column, raw in rows:
        if (user_id, idx) != chain_key:
            chain_key, current = (user_id, idx), base
        old, new, status, message = _replayed(
            CellKind(kind), current=current, number=number, column=column, raw=raw
        )
        fixes.append((row_no, idx, old, new, status, message))
        if status == "success":
            current = new
    cursor.execute(
        "CREATE TEMPORARY TABLE ingest_fixes (row_no integer, idx integer, old_value bigint, "
        "new_value bigint, status text, error_message text, PRIMARY KEY (row_no, idx)) "
        "ON COMMIT DROP"
    )
    with cursor_copy(cursor, "COPY ingest_fixes FROM STDIN") as copy:
        for fix in fixes:
            copy.write_row(fix)
    analyze(cursor, "ingest_fixes")
    return True
