"""The catalogue of the messages the product stores: cell failures, file rejections, warnings
and failed runs. Each is an English ``str.format`` template, stored rendered (the trail keeps the
design note's English text) and shown in the reader's language: ``message_localize`` recognises
a stored text by its template and renders the translated template with the same fields.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass, field

from django.utils.translation import gettext, gettext_noop
from psycopg import sql

SHOWN_CHARACTERS = 40  # of a raw text quoted in a message
CONSTANTS: dict[str, object] = {"maximum": 2_147_483_647}  # fields every message may use

_CATALOGUE: list[Message] = []


def shown(text: str) -> str:
    """A raw text as a message quotes it: its first SHOWN_CHARACTERS, with "…" when cut."""
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"


def shown_sql(expression: str) -> str:
    """SQL of ``shown``."""
    return (
        f"left({expression}, {SHOWN_CHARACTERS}) || "
        f"CASE WHEN length({expression}) > {SHOWN_CHARACTERS} THEN '…' ELSE '' END"
    )


def _text_sql(text: str) -> list[str]:
    """SQL literals (and ``chr(37)`` for each ``%``) whose concatenation is ``text``."""
    parts: list[str] = []
    for index, piece in enumerate(text.split("%")):
        if index:
            parts.append("chr(37)")
        if piece:
            parts.append(sql.Literal(piece).as_string(None))
    return parts


@dataclass(frozen=True)
class Message:
    """One stored message: a code, its English template (marked for translation where it is
    declared), and the fields holding raw text, cut to SHOWN_CHARACTERS."""

    code: str
    template: str
    shown: tuple[str, ...] = ()
    _pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = []
        for literal, name, _, _ in string.Formatter().parse(self.template):
            parts.append(re.escape(literal))
            if name is not None:
                parts.append(f"(?P<{name}>.*?)")
        object.__setattr__(self, "_pattern", re.compile("".join(parts), re.DOTALL))
        _CATALOGUE.append(self)

    @property
    def literal_length(self) -> int:
        """Characters of the template outside its fields: the more, the more specific."""
        return sum(len(literal) for literal, *_ in string.Formatter().parse(self.template))

    def render(self, **values: object) -> str:
        """The message as it is stored."""
        given = {**CONSTANTS, **values}
        return self.template.format(
            **{name: shown(str(v)) if name in self.shown else v for name, v in given.items()}
        )

    def sql(self, **expressions: str) -> str:
        """SQL computing ``render`` from SQL expressions (one per field). The SQL holds no ``%``
        of its own (a ``%`` of the template is ``chr(37)``), so it computes the same text in a
        statement with parameters and in one without: a ``%`` is a placeholder's mark in the
        first and itself in the second, and a message must not depend on which it is in."""
        parts: list[str] = []
        computed = False  # whether a field comes from an expression
        for literal, name, _, _ in string.Formatter().parse(self.template):
            parts.extend(_text_sql(literal))
            if name is None:
                continue
            if name in CONSTANTS:
                parts.extend(_text_sql(str(CONSTANTS[name])))
                continue
            expression = expressions[name]
            parts.append(shown_sql(expression) if name in self.shown else expression)
            computed = True
        if len(parts) == 1 and not computed:
            return parts[0]
        # concat, like format's %s, reads a NULL field as an empty text
        return f"concat({', '.join(parts)})" if parts else "''"

    def parse(self, text: str) -> dict[str, str] | None:
        """The fields of a stored text of this message, or None when it is another one."""
        match = self._pattern.fullmatch(text)
        return match.groupdict() if match else None


@functools.lru_cache(maxsize=4096)
def message_recognise(text: str) -> tuple[Message, dict[str, str]] | None:
    """The catalogue's message a stored text was rendered from (the most specific template
    that matches), with its fields.

    Remembered per text: a page of log rows repeats a few messages many times, and each is
    otherwise matched against the whole catalogue. (The fields are not to be changed.)"""
    best = None
    for message in _CATALOGUE:
        if not message.literal_length:  # a bare field ("{error}") would match any text
            continue
        fields = message.parse(text)
        if fields is not None and (best is None or message.literal_length > best[0].literal_length):
            best = (message, fields)
    return best


def message_localize(text: str) -> str:
    """A stored message in the active language; a text the catalogue does not know, as is."""
    recognised = message_recognise(text)
    if recognised is None:
        return text
    message, fields = recognised
    return gettext(message.template).format(**{**CONSTANTS, **fields})


# --- cells (SPEC §4; which kind of cell carries which: logs/services/ingest/cells.py) ----------
OVERFLOW = Message(
    "overflow", gettext_noop("{column}: {old} + {value} = {result} is above the maximum {maximum}")
)
TOO_BIG = Message(
    "too_big", gettext_noop("{column}: {old} + {value} is above the maximum {maximum}"), ("value",)
)
UNKNOWN_USER = Message("unknown_user", gettext_noop("User not found in users table"))
NOT_INTEGER = Message("not_integer", gettext_noop('{column}: not an integer: "{raw}"'), ("raw",))
NEGATIVE = Message(
    "negative",
    gettext_noop("{column}: negative value {raw} (increments are never below 0)"),
    ("raw",),
)
MALFORMED = Message(
    "malformed", gettext_noop("malformed row: {fields} fields where the header has {width}")
)
MISSING_USER = Message("missing_user", gettext_noop("missing user_id"))
LONG_USER = Message(
    "long_user", gettext_noop('user_id longer than 10 characters: "{user_id}"'), ("user_id",)
)
CELL_MESSAGES = (
    OVERFLOW,
    TOO_BIG,
    UNKNOWN_USER,
    NOT_INTEGER,
    NEGATIVE,
    MALFORMED,
    MISSING_USER,
    LONG_USER,
)

# --- files refused (SPEC §4 file rules) -------------------------------------------------------
FILE_EMPTY = Message("file_empty", gettext_noop("the file is empty"))
FILE_TOO_LARGE = Message(
    "file_too_large", gettext_noop("file is larger than MAX_UPLOAD_MB ({megabytes} MB)")
)
FILE_UTF16 = Message(
    "file_utf16",
    gettext_noop("unsupported encoding: UTF-16 (save the file as CSV UTF-8 or Shift_JIS)"),
)
FILE_BINARY = Message(
    "file_binary",
    gettext_noop("this is not a text CSV file (it contains binary control characters)"),
)
FILE_ENCODING = Message(
    "file_encoding",
    gettext_noop("unsupported encoding: the file is neither UTF-8 nor Shift_JIS/CP932"),
)
FILE_MISSING = Message("file_missing", gettext_noop("no such file: {source}"))
FILE_UNREADABLE = Message("file_unreadable", gettext_noop("cannot read {source}: {error}"))
S3_LOCATION = Message(
    "s3_location", gettext_noop("invalid S3 location {uri}: expected s3://bucket/key")
)
NO_HEADER = Message("no_header", gettext_noop("the file has no header row"))
FILE_CHANGED = Message(
    "file_changed",
    gettext_noop("the file changed while it was being read; nothing was written"),
)
CSV_UNPARSABLE = Message(
    "csv_unparsable", gettext_noop("line {line}: the CSV cannot be parsed ({error})")
)
HEADER_REPEATED = Message("header_repeated", gettext_noop("repeated column in header: {columns}"))
HEADER_NO_USER_ID = Message("header_no_user_id", gettext_noop("the header has no user_id column"))
HEADER_NO_STATISTIC = Message(
    "header_no_statistic",
    gettext_noop("the header has no statistic column (expected at least one of: {expected})"),
)
DUPLICATE = Message(
    "duplicate",
    gettext_noop(
        "the same file (sha256 {sha256}…) was already processed as {earlier}; "
        "use force to process it again"
    ),
)
NAME_EMPTY = Message("name_empty", gettext_noop("the execution name is empty"))
NAME_TOO_LONG = Message(
    "name_too_long", gettext_noop("the execution name is longer than {length} characters")
)
NAME_COMPLETED = Message(
    "name_completed", gettext_noop("execution name {name} is already used by a completed run")
)
NAME_IN_USE = Message(
    "name_in_use", gettext_noop("execution name {name} is in use by a run that is {status}")
)
NAME_TAKEN = Message("name_taken", gettext_noop("execution name {name} is in use by another run"))

# --- warnings on a run --------------------------------------------------------------------
UNKNOWN_COLUMN = Message("unknown_column", gettext_noop("unknown column ignored: {name}"))
EMPTY_COLUMN_NAME = Message(
    "empty_column_name", gettext_noop("a column with an empty name was ignored")
)
NO_DATA_ROWS = Message("no_data_rows", gettext_noop("the file has a header but no data rows"))
ERROR_STORE_FAILED = Message(
    "error_store_failed",
    gettext_noop(
        "failed cells could not be copied to the error store ({error}); "
        "they remain in the processing logs"
    ),
)

# --- failed runs (logs/services/executions.py) --------------------------------------------
CRASHED = Message("crashed", "{error}")  # the exception itself: not translated
ABANDONED = Message(
    "abandoned", gettext_noop("the worker running this import stopped; nothing was applied")
)
NOT_QUEUED = Message("not_queued", gettext_noop("the run could not be queued: {error}"))
STALE_PENDING = Message(
    "stale_pending",
    gettext_noop(
        "still pending {minutes} minutes after it was created ({since}): no worker started its "
        "run (it was never queued, or the queue is stuck); marked failed by the stale-run "
        "check, nothing was applied, it can be run again"
    ),
)
STALE_RUNNING = Message(
    "stale_running",
    gettext_noop(
        "still running {minutes} minutes after it started ({since}): its worker stopped; "
        "marked failed by the stale-run check, it can be run again"
    ),
)

# --- alerts (logs/services/alerts.py) -----------------------------------------------------
ALERT_EXECUTION_REJECTED = Message(
    "alert_execution_rejected", gettext_noop("Execution {name} was rejected: {reason}")
)
ALERT_EXECUTION_FAILED = Message(
    "alert_execution_failed", gettext_noop("Execution {name} failed: {reason}")
)
ALERT_FAILED_CELLS = Message(
    "alert_failed_cells",
    gettext_noop(
        "Execution {name}: {failed} of {cells} cells failed ({percent}%), "
        "above the alert threshold of {threshold}%"
    ),
)
ALERT_MISSING_DAILY = Message(
    "alert_missing_daily", gettext_noop("No execution completed by {deadline} on {day}")
)
ALERT_JOB_FAILED = Message(
    "alert_job_failed", gettext_noop("Job {job} (run #{run}) failed: {error}")
)
ALERT_VERIFY_PROBLEMS = Message(
    "alert_verify_problems",
    gettext_noop("Trail verification (run #{run}) found {count} problem(s), first: {first}"),
)
ALERT_DEFAULT_ROWS = Message(
    "alert_default_rows",
    gettext_noop(
        "{rows} rows are in the DEFAULT partition of processing_logs: "
        "a monthly partition is missing"
    ),
)

# --- corrections (SPEC §4a, logs/services/corrections.py) ---------------------------------
# Cells of a reversal or an adjustment that would leave 0 … 2,147,483,647 (the counter stays).
BELOW_ZERO = Message(
    "below_zero", gettext_noop("{column}: {old} → {result} would take the counter below 0")
)
ABOVE_MAXIMUM = Message(
    "above_maximum", gettext_noop("{column}: {old} → {result} is above the maximum {maximum}")
)
NO_COUNTER = Message(
    "no_counter", gettext_noop("no counter is registered for processing type {processing_type}")
)
# Corrections refused (exit 2; nothing is written).
CORRECTION_NO_EXECUTION = Message(
    "correction_no_execution", gettext_noop("there is no execution named {name}")
)
CORRECTION_NOT_COMPLETED = Message(
    "correction_not_completed",
    gettext_noop("execution {name} is {status}: only a completed execution can be reversed"),
)
CORRECTION_ALREADY_REVERSED = Message(
    "correction_already_reversed",
    gettext_noop("execution {name} is already reversed by {reversal}"),
)
CORRECTION_OF_REVERSAL = Message(
    "correction_of_reversal",
    gettext_noop("execution {name} is itself a reversal: it cannot be reversed"),
)
CORRECTION_ROWS_GONE = Message(
    "correction_rows_gone",
    gettext_noop(
        "execution {name} recorded {recorded} success rows but {found} are still in "
        "processing_logs (retention dropped its month): it cannot be reversed"
    ),
)
CORRECTION_NO_REASON = Message(
    "correction_no_reason", gettext_noop("a correction needs a reason: say why it is made")
)
CORRECTION_UNKNOWN_USER = Message(
    "correction_unknown_user", gettext_noop("user {user_id} is not in the users table")
)
CORRECTION_UNKNOWN_COLUMN = Message(
    "correction_unknown_column",
    gettext_noop("there is no counter {column} (expected one of: {expected})"),
)
CORRECTION_AMOUNT_RANGE = Message(
    "correction_amount_range",
    gettext_noop("the amount {amount} is out of range (at most {maximum} either way)"),
)
CORRECTION_BY_REQUIRED = Message(
    "correction_by_required",
    gettext_noop(
        "corrections require approval (CORRECTIONS_REQUIRE_APPROVAL): name the person who "
        "asked for this one with --by USERNAME"
    ),
)
CORRECTION_UNKNOWN_ACCOUNT = Message(
    "correction_unknown_account", gettext_noop("there is no active staff account {username}")
)
CORRECTION_OWN_REQUEST = Message(
    "correction_own_request",
    gettext_noop("nobody approves or declines their own correction request"),
)
CORRECTION_DECIDED = Message(
    "correction_decided", gettext_noop("this correction request is already {status}")
)
CORRECTION_WAITING = Message(
    "correction_waiting",
    gettext_noop("a reversal of execution {name} is already waiting for approval (request {id})"),
)
CORRECTION_NOT_APPROVER = Message(
    "correction_not_approver",
    gettext_noop("{username} may not approve or decline correction requests"),
)
