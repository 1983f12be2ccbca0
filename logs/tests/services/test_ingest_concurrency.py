"""Concurrent imports and crashes (SPEC §4 "One Execution = one transaction", §10): no lost
update, no deadlock, no duplicate run, and a crash leaves nothing half applied.

Overlap is forced, not hoped for: a third connection holds a lock the imports need until each
is waiting on it (or has ended, refused), so they always contend."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from logs.models import Execution, ProcessingError, ProcessingLog
from logs.services import error_store
from logs.services.ingest import (
    ExecutionNotPending,
    execution_create,
    execution_fail_if_abandoned,
    execution_run,
)
from logs.services.ingest import run as ingest_run
from logs.services.integrity import execution_digest
from logs.tests.support import command_run, database_url_for_processes
from users.models import ServiceUser, UserStatistics
from users.services import demo_users_seed
from users.statistics import STATISTICS

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = [statistic.column for statistic in STATISTICS]
TYPE_COLUMN = {statistic.processing_type: statistic.column for statistic in STATISTICS}
WAIT_SECONDS = 60


# --- helpers ---------------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def _lock_waiters() -> int:
    """Backends of this database waiting on a heavyweight lock (row, transaction, advisory)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _let_contend(runs: Sequence[threading.Thread | subprocess.Popen]) -> None:
    """While the test holds its lock: wait until every run still going waits on a lock.

    A run that ends meanwhile is not waited for: refused at once, or an engine that takes no
    such lock runs on to its end, and the assertions then judge how the runs interleaved.
    """

    def going(run: threading.Thread | subprocess.Popen) -> bool:
        return run.is_alive() if isinstance(run, threading.Thread) else run.poll() is None

    wait_for(
        lambda: _lock_waiters() >= sum(going(run) for run in runs),
        "each run to wait on a lock or end",
    )


@contextlib.contextmanager
def held_in_another_connection(sql: str, params: list) -> Iterator[None]:
    """Run ``sql`` in a transaction of a connection of its own, kept open for the block."""
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.execute(sql, params)
        yield
    finally:
        other.rollback()
        other.close()


def _users_row_locked(user_id: str):
    sql = "SELECT 1 FROM users WHERE user_id = %s FOR UPDATE"
    return held_in_another_connection(sql, [user_id])


def _lock_wait_events() -> set[str]:
    """The heavyweight locks backends of this database wait on (``transactionid`` and
    ``tuple``: a row another transaction holds; ``advisory``, ``relation``: wider locks)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT wait_event FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return {row[0] for row in cursor.fetchall()}


@contextlib.contextmanager
def _held_open_after_applying(monkeypatch, execution: Execution) -> Iterator[threading.Event]:
    """The run of ``execution`` stops once its file is applied, inside its transaction (users
    locked, log rows and counters written, the Execution completed, not committed), until the
    block ends; yields the event set when it stands there."""
    applied, release = threading.Event(), threading.Event()
    real_ingest = ingest_run._ingest

    def ingest_then_hold(*args, **kwargs):
        tally = real_ingest(*args, **kwargs)
        if kwargs.get("execution") is not None and kwargs["execution"].pk == execution.pk:
            applied.set()
            release.wait(WAIT_SECONDS)
        return tally

    monkeypatch.setattr(ingest_run, "_ingest", ingest_then_hold)
    try:
        yield applied
    finally:
        release.set()


class _Worker(threading.Thread):
    """Runs ``target`` in a thread with its own database connection, keeping result or error."""

    def __init__(self, target: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self._target_call = target
        self.result: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._target_call()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            connections.close_all()

    def finish(self) -> object:
        self.join(WAIT_SECONDS)
        assert not self.is_alive(), "the import thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def _import_file(path: Path):
    execution = execution_create(path=path, source=str(path), file_name=path.name)
    return execution_run(execution=execution)


def _write_rows(path: Path, rows: list[tuple[str, int, int]]) -> Path:
    lines = ["user_id," + ",".join(COLUMNS)]
    lines += [f"{user_id},{login},{post}" for user_id, login, post in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _random_rows(seed: int, count: int, users: int) -> list[tuple[str, int, int]]:
    """``count`` rows over ``users`` users (so users repeat), always starting with U00001."""
    rng = random.Random(seed)  # noqa: S311 - test data
    rows = [("U00001", rng.randint(1, 9), rng.randint(0, 9))]
    rows += [
        (f"U{rng.randint(1, users):05d}", rng.randint(0, 9), rng.randint(0, 9))
        for _ in range(count - 1)
    ]
    return rows


def _counters() -> dict[tuple[str, str], int]:
    return {
        (row["user_id"], column): row[column]
        for row in UserStatistics.objects.values("user_id", *COLUMNS)
        for column in COLUMNS
    }


def _expected(initial: dict, *files: list[tuple[str, int, int]]) -> dict:
    expected = Counter(initial)
    for rows in files:
        for user_id, *values in rows:
            for column, value in zip(COLUMNS, values, strict=True):
                expected[user_id, column] += value
    return dict(expected)


def _assert_chains(initial: dict) -> None:
    """SPEC §4: per (user, type) in log_id order, every success starts where the previous one
    ended (the first where the counter was), and the last one equals the counter."""
    current = dict(initial)
    successes = ProcessingLog.objects.filter(status="success").order_by("log_id")
    for log in successes.iterator():
        assert log.user_id and log.processing_type, f"success log {log.log_id} names no counter"
        key = (log.user_id, TYPE_COLUMN[log.processing_type])
        assert log.old_value == current.get(key, 0), f"chain broken at log {log.log_id}"
        current[key] = log.new_value
    assert _counters() == {**initial, **current}


def assert_verify_logs_clean() -> None:
    """``verify_logs`` exits 0: digests, chains and counters agree with the trail."""
    run = command_run("verify_logs")
    if run.code:
        pytest.fail(f"verify_logs exited {run.code}:\n{run.stdout}")


# --- concurrent imports ----------------------------------------------------------------


def test_two_imports_over_the_same_users_lose_no_update(tmp_path):
    """Two threads importing 300 rows each over shared, repeated users: totals are the sums,
    every chain is unbroken, no deadlock, both executions complete with a valid digest."""
    demo_users_seed(count=50)
    initial = _counters()
    rows_a, rows_b = _random_rows(1, 300, 40), _random_rows(2, 300, 40)
    file_a = _write_rows(tmp_path / "a.csv", rows_a)
    file_b = _write_rows(tmp_path / "b.csv", rows_b)

    with _users_row_locked("U00001"):
        workers = [_Worker(lambda path=path: _import_file(path)) for path in (file_a, file_b)]
        for worker in workers:
            worker.start()
        _let_contend(workers)
    results = [worker.finish() for worker in workers]

    for result in results:
        result.execution.refresh_from_db()
        assert result.execution.status == Execution.Status.COMPLETED
        assert result.execution.log_rows == 600
        assert result.execution.digest == execution_digest(execution_name=result.execution_name)
    assert results[0].execution_name != results[1].execution_name
    assert _counters() == _expected(initial, rows_a, rows_b)
    _assert_chains(initial)
    assert_verify_logs_clean()


@pytest.mark.slow
def test_two_import_processes_over_the_same_users_lose_no_update(tmp_path):
    """Two ``import_activity`` processes over the same users both exit 0 with summed counters
    and unbroken chains."""
    demo_users_seed(count=30)
    initial = _counters()
    rows = [_random_rows(seed, 200, 25) for seed in (3, 4)]
    paths = [_write_rows(tmp_path / f"p{index}.csv", r) for index, r in enumerate(rows)]
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_processes(),
        "DJANGO_SETTINGS_MODULE": "auditsite.settings.test",
    }
    manage = Path(settings.BASE_DIR) / "manage.py"

    with _users_row_locked("U00001"):
        processes = [
            subprocess.Popen(
                [sys.executable, str(manage), "import_activity", str(path)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for path in paths
        ]
        _let_contend(processes)
    try:
        outputs = [process.communicate(timeout=WAIT_SECONDS) for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output

    assert sorted(Execution.objects.values_list("status", flat=True)) == ["completed"] * 2
    assert _counters() == _expected(initial, *rows)
    _assert_chains(initial)
    assert_verify_logs_clean()


def test_same_file_started_twice_at_once_runs_once(tmp_path):
    """The same file started twice concurrently: one run completes, the other is rejected as
    a duplicate naming it; the counters move once."""
    demo_users_seed(count=10)
    initial = _counters()
    rows = _random_rows(5, 50, 10)
    path = _write_rows(tmp_path / "user-log-20250301-090000.csv", rows)

    with _users_row_locked("U00001"):
        workers = [_Worker(lambda: _import_file(path)) for _ in range(2)]
        for worker in workers:
            worker.start()
        _let_contend(workers)
    results = sorted((worker.finish() for worker in workers), key=lambda r: r.rejected)

    done, duplicate = results
    assert done.execution.status == Execution.Status.COMPLETED
    assert duplicate.rejected
    assert f"already processed as {done.execution_name!r}" in duplicate.message
    duplicate.execution.refresh_from_db()
    assert duplicate.execution.status == Execution.Status.REJECTED
    assert set(ProcessingLog.objects.values_list("execution_name", flat=True)) == {
        done.execution_name
    }
    assert _counters() == _expected(initial, rows)


# --- crashes -----------------------------------------------------------------------------

CRASH_FILE = (
    "user_id,login_count,post_count\nU00001,2,1\nU00099,3,4\nU99999,1,1\nU00002,abc,2\nU00001,1,1\n"
)
CRASH_POINTS = {
    "after-apply": (ingest_run, "apply"),
    "after-recording-failed-cells": (error_store, "errors_record_staged_cells"),
    "after-completing": (ingest_run, "execution_complete"),
}


@pytest.mark.parametrize("module, name", CRASH_POINTS.values(), ids=CRASH_POINTS.keys())
def test_crash_after_staging_leaves_nothing_and_the_file_can_run_again(
    tmp_path, monkeypatch, module, name
):
    """A crash after rows were written rolls back logs, counters and cell errors; the Execution
    ends failed with the reason, and a new run of the same file then applies it once."""
    demo_users_seed(count=5)
    ServiceUser.objects.create(user_id="U00099")  # no statistics row until a success
    initial = _counters()
    path = tmp_path / "crash.csv"
    path.write_text(CRASH_FILE, encoding="utf-8")
    real = getattr(module, name)

    def crash(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError(f"injected crash after {name}")

    monkeypatch.setattr(module, name, crash)
    crashed = execution_create(path=path, source=str(path), file_name=path.name)
    with pytest.raises(RuntimeError, match="injected crash"):
        execution_run(execution=crashed)

    crashed.refresh_from_db()
    assert crashed.status == Execution.Status.FAILED
    assert "RuntimeError: injected crash" in crashed.error_message
    assert ProcessingLog.objects.count() == 0
    assert ProcessingError.objects.count() == 0
    assert _counters() == initial

    monkeypatch.undo()
    result = _import_file(path)
    assert result.execution.status == Execution.Status.COMPLETED
    assert (result.success_count, result.failed_count) == (7, 3)
    after = _counters()
    assert after["U00001", "login_count"] == initial["U00001", "login_count"] + 3
    assert after["U00001", "post_count"] == initial["U00001", "post_count"] + 2
    assert (after["U00099", "login_count"], after["U00099", "post_count"]) == (3, 4)
    assert after["U00002", "post_count"] == initial["U00002", "post_count"] + 2
    assert ProcessingError.objects.filter(kind=ProcessingError.Kind.CELL).count() == 3
    assert_verify_logs_clean()


@pytest.mark.django_db  # no second connection involved: the test transaction is enough
@pytest.mark.parametrize(
    "status, marked",
    [
        (Execution.Status.RUNNING, True),
        (Execution.Status.PENDING, False),
        (Execution.Status.COMPLETED, False),
    ],
)
def test_only_an_abandoned_running_execution_is_marked_failed(status, marked):
    """A ``running`` Execution no transaction is applying is marked failed; others are left."""
    execution = Execution.objects.create(name="user-log-20250301-100000", status=status)
    assert execution_fail_if_abandoned(execution=execution) is marked
    execution.refresh_from_db()
    assert execution.status == (Execution.Status.FAILED if marked else status)
    if marked:
        assert "nothing was applied" in execution.error_message
        assert execution.finished_at is not None


def test_a_run_in_progress_is_not_marked_abandoned(tmp_path):
    """While a run's transaction is alive (here: waiting for a user lock) the Execution is not
    marked failed; the run then completes normally."""
    demo_users_seed(count=3)
    path = _write_rows(tmp_path / "live.csv", [("U00001", 1, 1), ("U00002", 2, 2)])
    execution = execution_create(path=path, source=str(path), file_name=path.name)

    with _users_row_locked("U00001"):
        worker = _Worker(lambda: execution_run(execution=execution))
        worker.start()
        wait_for(lambda: _lock_waiters() >= 1, "the run to wait for the users lock")
        running = Execution.objects.get(pk=execution.pk)
        assert running.status == Execution.Status.RUNNING
        assert execution_fail_if_abandoned(execution=running) is False
        assert Execution.objects.get(pk=execution.pk).status == Execution.Status.RUNNING
    result = worker.finish()

    assert result.execution.status == Execution.Status.COMPLETED
    assert Execution.objects.get(pk=execution.pk).status == Execution.Status.COMPLETED


def test_two_runs_sharing_no_user_do_not_wait_for_each_other(tmp_path):
    """Imports over disjoint users proceed in parallel: one blocked on its users does not hold
    back the other."""
    demo_users_seed(count=4)
    blocked = _write_rows(tmp_path / "blocked.csv", [("U00001", 1, 1)])
    free = _write_rows(tmp_path / "free.csv", [("U00003", 1, 1), ("U00004", 2, 0)])

    with _users_row_locked("U00001"):
        waiting = _Worker(lambda: _import_file(blocked))
        waiting.start()
        wait_for(lambda: _lock_waiters() >= 1, "the first import to wait for U00001")
        result = _import_file(free)
        assert result.execution.status == Execution.Status.COMPLETED
        assert waiting.is_alive()
    assert waiting.finish().execution.status == Execution.Status.COMPLETED
    assert _counters()["U00004", "login_count"] == 2


def test_an_import_over_other_users_completes_while_one_holds_its_transaction_open(
    tmp_path, monkeypatch
):
    """An import sharing no user with another completes while that other has applied its file
    and keeps its transaction open: an import holds nothing wider than its users' rows."""
    demo_users_seed(count=6)
    initial = _counters()
    rows_a = [("U00001", 1, 2), ("U00002", 3, 0), ("U00003", 0, 4)]
    rows_b = [("U00004", 2, 2), ("U00005", 1, 1), ("U00006", 5, 0)]
    path_a = _write_rows(tmp_path / "a.csv", rows_a)
    path_b = _write_rows(tmp_path / "b.csv", rows_b)
    held = execution_create(path=path_a, source=str(path_a), file_name=path_a.name)

    with _held_open_after_applying(monkeypatch, held) as applied:
        holder = _Worker(lambda: execution_run(execution=held))
        holder.start()
        wait_for(applied.is_set, "the first import to apply its file")
        other = _Worker(lambda: _import_file(path_b))
        other.start()
        wait_for(
            lambda: not other.is_alive() or _lock_waiters() > 0,
            "the second import to end or wait on a lock",
        )
        assert not other.is_alive(), f"it waited on {_lock_wait_events()} held by the first"
        assert other.finish().execution.status == Execution.Status.COMPLETED
        assert holder.is_alive()
        assert Execution.objects.get(pk=held.pk).status == Execution.Status.RUNNING
    assert holder.finish().execution.status == Execution.Status.COMPLETED

    assert _counters() == _expected(initial, rows_a, rows_b)
    _assert_chains(initial)
    assert_verify_logs_clean()


def test_an_import_over_users_another_holds_stages_its_file_then_waits_on_their_rows(
    tmp_path, monkeypatch
):
    """An import sharing users with one that has applied its file but not committed stages its
    own file meanwhile, then waits on those users' rows only (no advisory or table lock); once
    the first commits, it applies, each shared chain going on from the first's values."""
    demo_users_seed(count=4)
    initial = _counters()
    rows_a = [("U00001", 1, 2), ("U00002", 3, 1)]
    rows_b = [("U00003", 2, 0), ("U00002", 4, 5), ("U00001", 1, 1)]
    path_a = _write_rows(tmp_path / "a.csv", rows_a)
    path_b = _write_rows(tmp_path / "b.csv", rows_b)
    held = execution_create(path=path_a, source=str(path_a), file_name=path_a.name)

    with _held_open_after_applying(monkeypatch, held) as applied:
        holder = _Worker(lambda: execution_run(execution=held))
        holder.start()
        wait_for(applied.is_set, "the first import to apply its file")
        waiting = _Worker(lambda: _import_file(path_b))
        waiting.start()
        wait_for(lambda: _lock_waiters() >= 1, "the second import to wait on a lock")
        assert _lock_wait_events() == {"transactionid"}
        second = Execution.objects.exclude(pk=held.pk).get()
        assert (second.status, second.progress_phase, second.progress_rows) == (
            Execution.Status.RUNNING,
            Execution.Phase.APPLYING,
            len(rows_b),
        )
        assert waiting.is_alive()
    first, result = holder.finish(), waiting.finish()

    assert first.execution.status == result.execution.status == Execution.Status.COMPLETED
    assert _counters() == _expected(initial, rows_a, rows_b)
    shared = ProcessingLog.objects.filter(
        execution_name=result.execution_name, user_id="U00002", processing_type="login_update"
    ).get()
    assert (shared.old_value, shared.new_value) == (
        initial["U00002", "login_count"] + 3,
        initial["U00002", "login_count"] + 7,
    )
    _assert_chains(initial)
    assert_verify_logs_clean()


# --- one Execution, applied once ---------------------------------------------------------


RAN, NOT_PENDING = "ran", "not pending"


def _run_outcome(execution: Execution) -> str:
    """Run ``execution``: RAN when it applied its file, NOT_PENDING when the engine refused it
    for being taken already (``ExecutionNotPending``). A rejection or any other error is not an
    outcome these tests allow: it fails them."""
    try:
        result = execution_run(execution=execution)
    except ExecutionNotPending:
        return NOT_PENDING
    assert not result.rejected, f"the run was rejected: {result.message}"
    return RAN


def test_running_a_completed_execution_again_applies_nothing(tmp_path):
    """execution_run on an Execution that already completed writes no second set of log rows
    and does not add its increments again."""
    demo_users_seed(count=2)
    path = _write_rows(tmp_path / "once.csv", [("U00001", 2, 3)])
    execution = execution_create(path=path, source=str(path), file_name=path.name)
    assert execution_run(execution=execution).execution.status == Execution.Status.COMPLETED
    after_first = _counters()

    assert _run_outcome(Execution.objects.get(pk=execution.pk)) == NOT_PENDING

    assert ProcessingLog.objects.count() == 2
    assert _counters() == after_first
    assert Execution.objects.get(pk=execution.pk).status == Execution.Status.COMPLETED


def test_one_execution_started_twice_at_once_is_applied_once(tmp_path):
    """Two workers handed the same pending Execution at the same moment (a task delivered
    twice) apply its file once."""
    demo_users_seed(count=2)
    initial = _counters()
    path = _write_rows(tmp_path / "twice.csv", [("U00001", 2, 3), ("U00002", 1, 1)])
    execution = execution_create(path=path, source=str(path), file_name=path.name)
    copies = [Execution.objects.get(pk=execution.pk) for _ in range(2)]  # both read "pending"

    with _users_row_locked("U00001"):
        workers = [_Worker(lambda copy=copy: _run_outcome(copy)) for copy in copies]
        for worker in workers:
            worker.start()
        _let_contend(workers)
    assert sorted(worker.finish() for worker in workers) == [NOT_PENDING, RAN]

    assert ProcessingLog.objects.count() == 4
    assert _counters() == _expected(initial, [("U00001", 2, 3), ("U00002", 1, 1)])
    assert Execution.objects.get(pk=execution.pk).status == Execution.Status.COMPLETED
    assert_verify_logs_clean()
