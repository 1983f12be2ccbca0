"""Data for the ingestion benchmarks: service users and activity CSV files."""

from __future__ import annotations

import random
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


def csv_write(path: Path, *, rows: int, users: int, seed: int = 1) -> Path:
    """An activity CSV of ``rows`` rows over ``users`` users, streamed to disk."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("user_id,login_count,post_count\n")
        for number in range(1, rows + 1):
            user = (number - 1) % users + 1
            out.write(f"B{user:07d},{rng.randint(0, 5)},{rng.randint(0, 3)}\n")
    return path


def import_round(directory: Path, *, round_number: int, rows: int):
    """One timed import of a fresh ``rows``-row file (one user a row), after a checkpoint:
    (seconds, IngestResult)."""
    import time

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
