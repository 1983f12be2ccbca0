"""The hostile corpus (SPEC §10), shared by the command's tests and the admin's: ``CORPUS`` is
every case (``REJECTED`` then ``PROCESSED``), ``CASES`` the same by name; ``assert_escaped`` is
the check of a page that shows a case's values, ``assert_terminal_safe`` of what a command
prints; ``Snapshot`` tells what a run wrote."""

from logs.tests.corpus.cases import (
    ATTRIBUTE_BREAK,
    C1_CSI,
    CASES,
    CLEAR_SCREEN,
    CMD,
    CORPUS,
    CSV_FIELD_LIMIT,
    HEADER,
    IMG,
    LONG_FORMULA,
    MARKERS,
    PROCESSED,
    REJECTED,
    SCRIPT,
    SET_TITLE,
    SINGLE_QUOTE_BREAK,
    Case,
    Processed,
    Rejected,
    csv_bytes,
)
from logs.tests.corpus.escaping import assert_escaped, assert_terminal_safe
from logs.tests.corpus.state import Snapshot, case_write, counters, counters_set_apart

__all__ = [
    "ATTRIBUTE_BREAK",
    "C1_CSI",
    "CASES",
    "CLEAR_SCREEN",
    "CMD",
    "CORPUS",
    "CSV_FIELD_LIMIT",
    "HEADER",
    "IMG",
    "LONG_FORMULA",
    "MARKERS",
    "PROCESSED",
    "REJECTED",
    "SCRIPT",
    "SET_TITLE",
    "SINGLE_QUOTE_BREAK",
    "Case",
    "Processed",
    "Rejected",
    "Snapshot",
    "assert_escaped",
    "assert_terminal_safe",
    "case_write",
    "counters",
    "counters_set_apart",
    "csv_bytes",
]
