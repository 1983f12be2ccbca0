"""Data for the ingestion benchmarks: service users and activity CSV files."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from django.db import connection


def users_create(count: int) -> None:
    """Service users B0000001… with statistics rows, inserted set-based."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users (user_id) SELECT 'B' || lpad(n::text, 7, '0') "
            "FROM generate_series(1, %s) n ON CONFLICT DO NOTHING",
            [count],
        )
        cursor.execute(
            "INSERT INTO user_statistics (user_id, login_count, post_count) "
            "SELECT 'B' || lpad(n::text, 7, '0'), n %% 50, n %% 7 "
            "FROM generate_series(1, %s) n ON CONFLICT DO NOTHING",
            [count],
        )
        cursor.execute("ANALYZE users; ANALYZE user_statistics")


def csv_write(path: Path, *, rows: int, users: int, seed: int = 1, first_user: int = 1) -> Path:
    """An activity CSV of ``rows`` rows over the ``users`` users from number ``first_user`` on,
    streamed to disk."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("user_id,login_count,post_count\n")
        for number in range(1, rows + 1):
            user = first_user + (number - 1) % users
            out.write(f"B{user:07d},{rng.randint(0, 5)},{rng.randint(0, 3)}\n")
    return path


BASE_DIR = Path(__file__).resolve().parent.parent


def manage_command(*args: str) -> list[str]:
    """``manage.py ARGS`` as a person types it (run with ``processes_time``)."""
    return [sys.executable, "manage.py", *args]


def processes_time(
    commands: Sequence[Sequence[str]], *, at_once: bool = False, check: bool = True
) -> tuple[float, list[subprocess.CompletedProcess]]:
    """Wall time of ``commands`` as processes, one after another or all started at once, in the
    project's directory with local settings (as typed) on this process's DATABASE_URL (the
    benchmark's database); with ``check``, each must exit 0. (seconds, the finished processes)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "auditsite.settings.local"}
    finished: list[subprocess.CompletedProcess] = []

    def start(command: Sequence[str]) -> subprocess.Popen:
        return subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def wait(process: subprocess.Popen) -> None:
        stdout, stderr = process.communicate()
        finished.append(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        )

    started = time.perf_counter()
    if at_once:
        for process in [start(command) for command in commands]:
            wait(process)
    else:
        for command in commands:
            wait(start(command))
    seconds = time.perf_counter() - started
    for done in finished:
        if check and done.returncode != 0:
            msg = f"{done.args} exited {done.returncode}: {done.stderr.decode()[-2000:]}"
            raise RuntimeError(msg)
    return seconds, finished


def import_round(directory: Path, *, round_number: int, rows: int):
    """One timed import of a fresh ``rows``-row file (one user a row), after a checkpoint:
    (seconds, IngestResult)."""
    from bench._setup import checkpoint
    from logs.services.ingest import execution_create, execution_run

    path = csv_write(
        directory / f"round-{round_number}.csv", rows=rows, users=rows, seed=round_number
    )
    checkpoint()
    started = time.perf_counter()
    execution = execution_create(file_name=path.name, source=str(path))
    result = execution_run(execution=execution)
    elapsed = time.perf_counter() - started
    assert result.log_rows == 2 * rows, result
    return elapsed, result
