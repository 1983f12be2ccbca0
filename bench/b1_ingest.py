"""B1: ingest a 100,000-row CSV vs a bare COPY of its 200,000 finished log rows.

Both write into ``processing_logs`` (same table, same indexes and triggers) and commit; the bare
COPY is the floor, since every log row must be written. Its rows are those an ingest writes: an
execution name of its own per round, the same users, types and statuses.

A first, unmeasured round brings the month's partition, its indexes and the caches to the state
every later round sees (otherwise the first COPY alone writes into empty indexes). Then seven
rounds, each step starting from a checkpoint, alternate which of the two goes first. The figure
is the median of the rounds' ratios: each pairs an ingest with a COPY run minutes apart at most,
so a slow spell of the machine weighs on both sides of a ratio.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path

ROWS = 100_000
ROUNDS = 7


def _finished_rows(rows: int, execution_name: str) -> bytes:
    """The log rows an ingest of ``rows`` CSV rows produces, as COPY text."""
    buffer = io.StringIO()
    for number in range(1, rows + 1):
        user = f"B{number:07d}"
        buffer.write(
            f"{execution_name}\t{user}\tlogin_update\t{number % 50}\t{number % 50 + 2}\t"
            "success\t\\N\n"
        )
        buffer.write(
            f"{execution_name}\t{user}\tpost_update\t{number % 7}\t{number % 7}\tskipped\t\\N\n"
        )
    return buffer.getvalue().encode()


def main(quick: bool = False) -> dict:
    from bench._setup import checkpoint, django_bench_db

    django_bench_db("auditsite_bench_b1")
    from django.db import connection, transaction

    from bench._data import csv_write, users_create
    from logs.services.ingest import execution_create, execution_run

    rows = 10_000 if quick else ROWS
    users_create(rows)
    copy_times, ingest_times = [], []

    with tempfile.TemporaryDirectory() as directory:

        def bare_copy(round_number: int) -> float:
            # Named like the executions it stands for (user-log-YYYYMMDD-HHMMSS-N).
            payload = _finished_rows(rows, f"user-log-20260101-000000-{round_number}")
            checkpoint()
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                with cursor.copy(
                    "COPY processing_logs (execution_name, user_id, processing_type, old_value, "
                    "new_value, status, error_message) FROM STDIN"
                ) as copy:
                    copy.write(payload)
            return time.perf_counter() - started

        def ingest(round_number: int) -> float:
            path = csv_write(
                Path(directory) / f"round-{round_number}.csv",
                rows=rows,
                users=rows,
                seed=round_number,
            )
            checkpoint()
            started = time.perf_counter()
            execution = execution_create(file_name=path.name, source=str(path))
            result = execution_run(execution=execution)
            elapsed = time.perf_counter() - started
            assert result.log_rows == 2 * rows, result
            return elapsed

        bare_copy(0)  # the unmeasured first round
        ingest(0)
        for round_number in range(1, ROUNDS + 1):
            if round_number % 2:
                copy_times.append(bare_copy(round_number))
                ingest_times.append(ingest(round_number))
            else:
                ingest_times.append(ingest(round_number))
                copy_times.append(bare_copy(round_number))
    ratios = [ingest / copy for ingest, copy in zip(ingest_times, copy_times, strict=True)]
    ratio = statistics.median(ratios)
    return {
        "benchmark": "B1 ingest vs bare COPY of the finished log rows",
        "csv_rows": rows,
        "log_rows": 2 * rows,
        "bare_copy_seconds": [round(t, 3) for t in copy_times],
        "ingest_seconds": [round(t, 3) for t in ingest_times],
        "bare_copy_median_seconds": round(statistics.median(copy_times), 3),
        "ingest_median_seconds": round(statistics.median(ingest_times), 3),
        "round_ratios": [round(r, 2) for r in ratios],
        "ratio_ingest_to_copy": round(ratio, 2),
        "target": "<= 2.0",
        "met": ratio <= 2.0,
    }
