"""B1: ingest a 100,000-row CSV vs a bare COPY of its 200,000 finished log rows.

Both write into ``processing_logs`` (same table, same indexes and triggers) and commit; the bare
COPY is the floor, since every log row must be written. Its rows are those an ingest writes: an
execution name of its own per round, the same users, types and statuses.

A first, unmeasured round brings the month's partition, its indexes and the caches to the state
every later round sees (otherwise the first COPY alone writes into empty indexes). Then seven
rounds, each step starting from a checkpoint, rotate the order of the steps. The figure
is the median of the rounds' ratios: each pairs an ingest with a COPY run minutes apart at most,
so a slow spell of the machine weighs on both sides of a ratio.

Beside them, each round times a third step: the work SPEC §4 asks of any import besides writing
its rows, done with the engine's own statements around the same bare COPY: the file's users
locked in user_id order and their counters set to their final values, in the one transaction.
Its ratio to the bare COPY is what the contract costs before a file is parsed, classified or
digested; the ingest's ratio to it is what the engine adds.
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROWS = 100_000
ROUNDS = 7
PROCESS_ROUNDS = 3  # whole processes: each round starts Python, Django and a connection again

# The bare COPY of the finished log rows (COPY text, as ``_finished_rows`` makes them).
_COPY_LOG_ROWS = (
    "COPY processing_logs (execution_name, user_id, processing_type, old_value, "
    "new_value, status, error_message) FROM STDIN"
)
# The floor as a whole process: Python, psycopg and one COPY of the finished rows, nothing else.
_COPY_PROCESS = f"""
import sys, psycopg
url, payload_path = sys.argv[1], sys.argv[2]
with psycopg.connect(url) as conn, conn.cursor() as cursor:
    with cursor.copy({_COPY_LOG_ROWS!r}) as copy, open(payload_path, "rb") as payload:
        while chunk := payload.read(1 << 20):
            copy.write(chunk)
"""


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

    from bench._data import import_round, users_create

    rows = 10_000 if quick else ROWS
    users_create(rows)
    copy_times: list[float] = []
    ingest_times: list[float] = []
    contract_times: list[float] = []

    with tempfile.TemporaryDirectory() as directory:

        def bare_copy(round_number: int) -> float:
            # Named like the executions it stands for (user-log-YYYYMMDD-HHMMSS-N).
            payload = _finished_rows(rows, f"user-log-20260101-000000-{round_number}")
            checkpoint()
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                with cursor.copy(_COPY_LOG_ROWS) as copy:
                    copy.write(payload)
            return time.perf_counter() - started

        def contract_floor(round_number: int) -> float:
            payload = _finished_rows(rows, f"user-log-20260101-000001-{round_number}")
            user_ids, finals = _contract_inputs(rows)
            checkpoint()
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                _contract_apply(cursor, payload, user_ids, finals)
            return time.perf_counter() - started

        def ingest(round_number: int) -> float:
            return import_round(Path(directory), round_number=round_number, rows=rows)[0]

        steps = [(copy_times, bare_copy), (ingest_times, ingest), (contract_times, contract_floor)]
        for _, step in steps:  # the unmeasured first round
            step(0)
        for round_number in range(1, ROUNDS + 1):
            # the steps take turns at going first
            shift = round_number % len(steps)
            for times, step in steps[shift:] + steps[:shift]:
                times.append(step(round_number))
        process_copy, process_import = _whole_processes(Path(directory), rows)
    ratios = [ingest / copy for ingest, copy in zip(ingest_times, copy_times, strict=True)]
    ratio = statistics.median(ratios)
    process_ratios = [
        imported / copied for imported, copied in zip(process_import, process_copy, strict=True)
    ]
    process_ratio = statistics.median(process_ratios)
    contract_ratios = [
        contract / copy for contract, copy in zip(contract_times, copy_times, strict=True)
    ]
    engine_ratios = [
        ingest / contract for ingest, contract in zip(ingest_times, contract_times, strict=True)
    ]
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
        "target": "<= 1.5 in-process, <= 2.0 whole-process",
        "contract_floor_seconds": [round(t, 3) for t in contract_times],
        "contract_floor_median_seconds": round(statistics.median(contract_times), 3),
        # what locking the users and setting their counters add to the bare COPY
        "ratio_contract_floor_to_copy": round(statistics.median(contract_ratios), 2),
        # what parsing, classifying, digesting and bookkeeping add to that
        "ratio_ingest_to_contract_floor": round(statistics.median(engine_ratios), 2),
        "whole_process_copy_seconds": [round(t, 3) for t in process_copy],
        "whole_process_import_seconds": [round(t, 3) for t in process_import],
        "ratio_whole_process": round(process_ratio, 2),
        "met": ratio <= 1.5 and process_ratio <= 2.0,
    }


def _contract_inputs(rows: int) -> tuple[bytes, bytes]:
    """The file's user_ids, and the final counters of ``_finished_rows`` (``ingest_finals``
    rows: its users all have statistics rows; login_count moved, post_count did not), as COPY
    text."""
    user_ids = io.StringIO()
    finals = io.StringIO()
    for number in range(1, rows + 1):
        user = f"B{number:07d}"
        user_ids.write(f"{user}\n")
        finals.write(f"{user}\tt\t{number % 50 + 2}\t\\N\n")
    return user_ids.getvalue().encode(), finals.getvalue().encode()


def _contract_apply(cursor, payload: bytes, user_ids: bytes, finals: bytes) -> None:
    """The bare COPY of ``payload`` with what SPEC §4 asks of every import besides: the file's
    users locked in user_id order first, and their counters set after, by the engine's own
    statements (``users_lock``, ``counters_apply``) in the caller's transaction."""
    from logs.services.ingest.apply import counters_apply
    from logs.services.ingest.staging import (
        DROP_STAGING,
        analyze,
        users_lock,
        work_tables_create,
    )
    from users.statistics import STATISTICS_BY_COLUMN

    present = [STATISTICS_BY_COLUMN["login_count"], STATISTICS_BY_COLUMN["post_count"]]
    cursor.execute(DROP_STAGING)
    cursor.execute("CREATE TEMPORARY TABLE ingest_rows (user_id text) ON COMMIT DROP")
    with cursor.copy("COPY ingest_rows (user_id) FROM STDIN") as copy:
        copy.write(user_ids)
    analyze(cursor, "ingest_rows")  # as staging does: the lock's join is planned on real counts
    users_lock(cursor)
    with cursor.copy(_COPY_LOG_ROWS) as copy:
        copy.write(payload)
    work_tables_create(cursor, present)
    columns = ", ".join(statistic.column for statistic in present)
    with cursor.copy(f"COPY ingest_finals (user_id, has_counters, {columns}) FROM STDIN") as copy:
        copy.write(finals)
    counters_apply(cursor, present)
    cursor.execute(DROP_STAGING)


def _whole_processes(directory: Path, rows: int) -> tuple[list[float], list[float]]:
    """What a person waits for: ``manage.py import_activity FILE`` (local settings, as typed)
    against a process that only COPYs the same rows, alternating, each after a checkpoint."""
    from django.db import connection

    from bench._data import csv_write, manage_command, processes_time
    from bench._setup import checkpoint

    params = connection.get_connection_params()
    url = psycopg_url(params)
    copy_times: list[float] = []
    import_times: list[float] = []
    for round_number in range(1, PROCESS_ROUNDS + 1):
        payload = directory / f"process-{round_number}.copy"
        payload.write_bytes(_finished_rows(rows, f"user-log-20260102-000000-{round_number}"))
        path = csv_write(
            directory / f"user-log-20260103-{round_number:06d}.csv",
            rows=rows,
            users=rows,
            seed=100 + round_number,
        )
        steps = [
            (copy_times, [sys.executable, "-c", _COPY_PROCESS, url, str(payload)]),
            (import_times, manage_command("import_activity", str(path))),
        ]
        if round_number % 2 == 0:
            steps.reverse()
        for times, command in steps:
            checkpoint()
            times.append(processes_time([command])[0])
    return copy_times, import_times


def psycopg_url(params: dict) -> str:
    """A libpq connection string for the benchmark database (TCP or socket directory)."""
    parts = {
        "dbname": params.get("dbname"),
        "user": params.get("user"),
        "password": params.get("password"),
        "host": params.get("host"),
        "port": params.get("port"),
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)
