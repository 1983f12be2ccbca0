"""The corpus of malformed and hostile activity files (``logs/tests/corpus``; SPEC §4 file rules,
§10) through the command and the dry run: each file gets a clear message and the right exit
code, and nothing is half applied."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from logs.management.terminal import terminal_text
from logs.models import Execution, ProcessingError, ProcessingLog
from logs.services.ingest import ingest_preview
from logs.tests.corpus import (
    C1_CSI,
    CASES,
    CLEAR_SCREEN,
    CMD,
    HEADER,
    LONG_FORMULA,
    PROCESSED,
    REJECTED,
    Processed,
    Rejected,
    Snapshot,
    assert_terminal_safe,
    case_write,
    counters,
    counters_set_apart,
)
from logs.tests.support import CommandRun, command_run, database_url_for_processes
from users.services import demo_users_seed

pytestmark = pytest.mark.django_db


# --- helpers ---------------------------------------------------------------------------


def _import(source: Path | str, *args: str) -> CommandRun:
    """Run ``import_activity`` in-process and return its exit code and output."""
    return command_run("import_activity", str(source), *args)


def _write(directory: Path, content: bytes | str, name: str = "activity.csv") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


@pytest.fixture
def users_with_counters(service_users) -> list[str]:
    """U00001–U00005 with non-zero counters, so any stray change is visible."""
    counters_set_apart(service_users)
    return service_users


def _assert_rejected(
    path: Path, pattern: str, *, execution_name: str | None = None, force: bool = False
) -> Execution:
    """Dry run (service and command) then the real command: all reject ``path`` with the same
    message matching ``pattern`` (printed with its control characters escaped); the real run
    leaves one rejected Execution with a file error and no log rows or counter change."""
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
    assert terminal_text(preview.message) in dry.stderr
    assert_terminal_safe(dry.stdout + dry.stderr)
    before.assert_nothing_written()

    run = _import(path, *args)
    assert run.code == 2, run
    assert terminal_text(preview.message) in run.stderr
    assert_terminal_safe(run.stdout + run.stderr)
    execution = Execution.objects.get(pk__gt=before.last_execution_id)
    assert execution.status == Execution.Status.REJECTED
    assert execution.error_message == preview.message
    file_error = ProcessingError.objects.get(execution=execution, kind=ProcessingError.Kind.FILE)
    assert file_error.error_message == preview.message
    assert ProcessingError.objects.count() == before.errors + 1
    before.assert_nothing_applied()
    return execution


# --- file-level rejections ---------------------------------------------------------------


@pytest.mark.parametrize("case", REJECTED, ids=lambda case: case.name)
def test_malformed_file_is_rejected_whole(tmp_path, users_with_counters, case):
    """Each malformed file is rejected (exit 2) with a clear reason; nothing is written."""
    execution = _assert_rejected(
        case_write(tmp_path, case), case.outcome.pattern, execution_name=case.execution_name
    )
    assert execution.name == (case.execution_name or execution.name)[:80]


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
    after_first = counters()
    copy = shutil.copy(original, tmp_path / "renamed.csv")

    _assert_rejected(Path(copy), r"already processed as 'user-log-20250102-030405'")

    forced = _import(copy, "--force")
    assert forced.code == 0, forced
    assert Execution.objects.filter(status=Execution.Status.COMPLETED).count() == 2
    assert counters()["U00001"] == (after_first["U00001"][0] + 3, after_first["U00001"][1] + 1)
    assert counters()["U00002"] == (after_first["U00002"][0] + 4, after_first["U00002"][1])


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


@pytest.mark.parametrize("case", PROCESSED, ids=lambda case: case.name)
def test_processed_file_has_the_counts_of_its_cells(tmp_path, users_with_counters, case):
    """Each processed file of the corpus: the dry run (service and command) and the run (exit 0)
    agree on the counts and warnings, the run records them with one error per failed cell, and
    keeps the file name and execution name as given; both print the warnings and failed cells
    with their control characters escaped."""
    expected = case.outcome
    path = case_write(tmp_path, case)
    args = ["--execution-name", case.execution_name] if case.execution_name else []
    before = Snapshot.take()

    preview = ingest_preview(path=path, file_name=path.name, execution_name=case.execution_name)
    dry = _import(path, *args, "--dry-run")
    before.assert_nothing_written()
    run = _import(path, *args)
    assert (dry.code, run.code) == (0, 0), (dry, run)

    execution = Execution.objects.get(pk__gt=before.last_execution_id)
    counted = (
        execution.rows_total,
        execution.success_count,
        execution.failed_count,
        execution.skipped_count,
    )
    wanted = (expected.rows, expected.success, expected.failed, expected.skipped)
    assert counted == wanted
    assert (preview.rows_total, preview.success_count, preview.failed_count) == wanted[:3]
    assert execution.status == Execution.Status.COMPLETED
    assert (
        execution.log_rows == expected.log_rows == ProcessingLog.objects.count() - before.log_rows
    )
    assert ProcessingError.objects.count() - before.errors == expected.failed
    assert execution.file_name == Path(case.file_name).name
    assert execution.name == (case.execution_name or execution.name)
    assert len(execution.warnings) == len(expected.warnings) == len(preview.warnings)
    for pattern in expected.warnings:
        assert any(re.search(pattern, warning) for warning in execution.warnings), pattern
    for warning in execution.warnings:
        assert f"warning: {warning}" in dry.stdout and f"warning: {warning}" in run.stdout
    failed = ProcessingLog.objects.filter(execution_name=execution.name, status="failed")
    messages = list(failed.order_by("log_id").values_list("error_message", flat=True)[:20])
    for output in (dry.stdout + dry.stderr, run.stdout + run.stderr):
        assert_terminal_safe(output, shown=messages)


def test_header_only_completes_with_a_warning(tmp_path, users_with_counters):
    """A header without data rows is processed: completed, 0 rows, a 'no data rows' warning."""
    before = Snapshot.take()
    run = _import(_write(tmp_path, CASES["header-only"].content))
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
    before = counters()
    # U00001,1,2 / U00002,3 / U00003 / U00004,1,2,3 / U00005,4,0
    run = _import(_write(tmp_path, CASES["too-few-or-too-many-fields"].content))
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
    after = counters()
    assert after["U00001"] == (before["U00001"][0] + 1, before["U00001"][1] + 2)
    assert after["U00005"] == (before["U00005"][0] + 4, before["U00005"][1])
    for user_id in ("U00002", "U00003", "U00004"):
        assert after[user_id] == before[user_id]
    execution = Execution.objects.get()
    assert (execution.status, execution.failed_count) == (Execution.Status.COMPLETED, 6)
    assert ProcessingError.objects.filter(kind=ProcessingError.Kind.CELL).count() == 6


def test_formula_cells_are_stored_as_text_and_fail_with_their_raw_value(
    tmp_path, users_with_counters
):
    """Spreadsheet formulas in user_id or values fail with the raw text (cut at 40 chars) in the
    message and kept whole in the error store; '+1' is a valid increment (SPEC regex)."""
    before = counters()
    # Rows: CMD,1,1 / +1,1,1 / @SUM(1),2,2 / -1+2,1,1 / U00001,CMD,@SUM(1) / U00002,-1+2,+1 /
    # U00003,LONG_FORMULA,1
    run = _import(_write(tmp_path, CASES["formula-cells"].content))
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
    after = counters()
    assert after["U00001"] == before["U00001"]
    assert after["U00002"] == (before["U00002"][0], before["U00002"][1] + 1)
    assert after["U00003"] == (before["U00003"][0], before["U00003"][1] + 1)


# --- through manage.py, as an operator runs it -----------------------------------------------

# A few of each kind: a binary file refused before a row is read, a refused header carrying
# markup, and processed files with markup in user_ids, CP932 text, a file name of markup with
# right-to-left and zero-width characters given on the command line, and terminal control
# sequences in a header name, user_ids and values.
COMMAND_CASES = [
    CASES[name]
    for name in (
        "random-bytes-with-nul",
        "repeated-hostile-column",
        "hostile-user-ids",
        "cp932-with-markup",
        "file-name-with-rtl-and-zero-width-characters",
        "terminal-control-sequences",
    )
]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_corpus_files_through_manage_py(tmp_path):
    """``manage.py import_activity`` as whole processes (local settings, as people run it):
    exit 2 with the reason for a refused file, exit 0 with its summary for a processed one,
    never a traceback nor a raw control character on the terminal; each run recorded as the
    corpus says, under the file's own name."""
    demo_users_seed(count=5)
    environment = {
        key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"
    }
    environment["DATABASE_URL"] = database_url_for_processes()
    manage = Path(settings.BASE_DIR) / "manage.py"
    paths = [case_write(tmp_path / str(n), case) for n, case in enumerate(COMMAND_CASES)]
    runs = []
    for path in paths:
        runs.append(
            subprocess.Popen(  # noqa: S603 - our interpreter, our command
                [sys.executable, str(manage), "import_activity", str(path)],
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        outputs = [run.communicate(timeout=120) for run in runs]
    finally:
        for run in runs:
            run.kill()

    for case, path, run, (stdout, stderr) in zip(COMMAND_CASES, paths, runs, outputs, strict=True):
        assert "Traceback" not in stdout + stderr, (case.name, stderr)
        assert_terminal_safe(stdout + stderr)
        execution = Execution.objects.get(source=str(path))
        assert execution.file_name == path.name == Path(case.file_name).name
        if isinstance(case.outcome, Rejected):
            assert run.returncode == 2, (case.name, stdout, stderr)
            assert re.search(case.outcome.pattern, stderr), (case.name, stderr)
            assert stderr.startswith("CommandError: rejected: "), stderr
            assert execution.status == Execution.Status.REJECTED
            assert execution.log_rows == 0
            continue
        expected = case.outcome
        assert run.returncode == 0, (case.name, stdout, stderr)
        assert f"{execution.name}: completed" in stdout
        assert f"rows read: {expected.rows:,}  log rows: {expected.log_rows:,}" in stdout
        assert execution.status == Execution.Status.COMPLETED
        assert (execution.success_count, execution.failed_count) == (
            expected.success,
            expected.failed,
        )
    assert ProcessingLog.objects.count() == sum(
        case.outcome.log_rows for case in COMMAND_CASES if isinstance(case.outcome, Processed)
    )
    index = COMMAND_CASES.index(CASES["terminal-control-sequences"])
    _assert_control_sequences_escaped_on_screen_and_kept_raw(paths[index], outputs[index][0])


def _assert_control_sequences_escaped_on_screen_and_kept_raw(path: Path, stdout: str) -> None:
    """The summary of ``terminal-control-sequences`` shows each sequence as its escape, and the
    trail keeps the raw text: only the terminal output is rendered."""
    shown = ("\\x1b[2J", "\\x9b2J", "\\x1b]0;ok\\x1b\\", "\\n\\tline 9: fake")
    for text in shown:
        assert text in stdout, (text, stdout)
    assert "\\x1b[2j\\x9bnote" in stdout  # the ignored header, as its warning quotes it
    execution = Execution.objects.get(source=str(path))
    rows = ProcessingLog.objects.filter(execution_name=execution.name)
    assert rows.filter(user_id=CLEAR_SCREEN, status="failed").count() == 2
    messages = set(rows.values_list("error_message", flat=True))
    assert f'login_count: not an integer: "{CLEAR_SCREEN}"' in messages
    assert f'post_count: not an integer: "{C1_CSI}2J"' in messages
    errors = ProcessingError.objects.filter(execution=execution)
    assert errors.get(user_id="U00001", processing_type="post_update").raw_value == C1_CSI + "2J"
