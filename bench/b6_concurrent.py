"""B6: 8 imports started at once, as 8 processes, vs the same 8 run one after another.

Each import is ``manage.py import_activity FILE`` (local settings, as typed) of a 100,000-row
file. Two cases; in each, batches of 8 new files (same shape, other values: a file imported
before would be refused as a duplicate) run one after another or all started together:

- overlapping: every file holds the same 100,000 users, so every pair of imports contends for
  every user's counters, which SPEC §4 says are applied one import after another;
- disjoint: file k holds a block of 100,000 users of its own; nothing forces these to wait.

A first, unmeasured import warms the month's partition, its indexes and the caches. Each case
runs its batches in the order A B B A (overlapping: sequential, concurrent, concurrent,
sequential; disjoint the other way round), each after a checkpoint, so the table's growth and a
slow spell of the machine weigh on both sides; its figure is the concurrent batches' total wall
time over the sequential batches' (target ≤ 0.8). While a batch runs, a connection of its own
samples ``pg_stat_activity`` every 0.1 s: how many import backends are running a statement, and
what those waiting wait on (``Lock:transactionid`` and ``Lock:tuple`` are users' rows held by
another import; ``Lock:advisory`` or ``Lock:relation`` would be a lock wider than a user). Then
``verify_logs`` runs over everything; its exit code is part of the result (0: digests, chains
and counters all agree).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

FILES = 8
ROWS = 100_000
TARGET = 0.8
SAMPLE_SECONDS = 0.1

# Backends of the benchmark database running a statement (the imports), and what each waits on.
_ACTIVITY = """
SELECT wait_event_type, wait_event FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid() AND state = 'active'
"""


class _WaitSampler(threading.Thread):
    """Samples the import backends every SAMPLE_SECONDS until stopped, on a connection of its
    own: how many run a statement, and the events they wait on (``type:event``)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self._url = url
        self._stopped = threading.Event()
        self.samples = 0
        self.active = 0
        self.lock_waits = 0
        self.waits: Counter[str] = Counter()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stopped.wait(SAMPLE_SECONDS):
                rows = conn.execute(_ACTIVITY).fetchall()
                self.samples += 1
                self.active += len(rows)
                for wait_type, wait_event in rows:
                    if wait_type:
                        self.waits[f"{wait_type}:{wait_event}"] += 1
                    self.lock_waits += wait_type == "Lock"

    def stop(self) -> dict:
        self._stopped.set()
        self.join()
        samples = max(self.samples, 1)
        return {
            "samples": self.samples,
            "mean_backends_running": round(self.active / samples, 2),
            "mean_backends_waiting_on_a_lock": round(self.lock_waits / samples, 2),
            "wait_samples_by_event": dict(self.waits.most_common(8)),
        }


def _elapsed(stdout: bytes) -> float:
    """The run time ``import_activity`` printed in its summary."""
    found = re.search(rb"elapsed: ([0-9.]+) s", stdout)
    if found is None:
        msg = f"no elapsed time in the import's output: {stdout[-500:]!r}"
        raise RuntimeError(msg)
    return float(found.group(1))


def main(quick: bool = False) -> dict:
    from bench._setup import checkpoint, django_bench_db

    django_bench_db("auditsite_bench_b6")
    from django.db import connection

    from bench._data import csv_write, manage_command, processes_time, users_create
    from bench.b1_ingest import psycopg_url
    from logs.models import Execution

    rows = 10_000 if quick else ROWS
    load_at_start = os.getloadavg()
    users_create(FILES * rows)  # the overlapping files use the first block
    url = psycopg_url(connection.get_connection_params())
    first_user = {"overlapping": lambda k: 1, "disjoint": lambda k: 1 + k * rows}
    results: dict[str, dict] = {}

    with tempfile.TemporaryDirectory() as directory:
        batches = 0

        def batch(case: str, *, at_once: bool) -> dict:
            """One batch of FILES new files of ``case``, timed from the first start to the last
            exit, with what the sampler saw."""
            nonlocal batches
            batches += 1
            paths = [
                csv_write(
                    Path(directory) / f"user-log-202601{batches:02d}-{k:06d}.csv",
                    rows=rows,
                    users=rows,
                    seed=100 * batches + k,
                    first_user=first_user[case](k),
                )
                for k in range(FILES)
            ]
            checkpoint()
            sampler = _WaitSampler(url)
            sampler.start()
            started = time.time()
            seconds, finished = processes_time(
                [manage_command("import_activity", str(path)) for path in paths], at_once=at_once
            )
            sampled = sampler.stop()
            names = [path.stem for path in paths]
            ends = [
                end.timestamp()
                for end in Execution.objects.filter(
                    name__in=names, status=Execution.Status.COMPLETED, log_rows=2 * rows
                ).values_list("finished_at", flat=True)
                if end is not None
            ]
            assert len(ends) == FILES, f"{len(ends)} of {FILES} imports completed"
            committed = sorted(end - started for end in ends)
            reported = [_elapsed(done.stdout) for done in finished]
            return {
                "wall_seconds": round(seconds, 2),
                "import_seconds_reported": [round(t, 2) for t in reported],
                # when each import completed, from the batch's start: in a concurrent batch of
                # overlapping files, the steps between them are the imports' turns with the users
                "completed_after_seconds": [round(t, 2) for t in committed],
                **sampled,
            }

        warm = csv_write(Path(directory) / "warm.csv", rows=rows, users=rows)
        processes_time([manage_command("import_activity", str(warm))])  # unmeasured
        for case in ("overlapping", "disjoint"):
            a_first = case == "overlapping"  # A = sequential for overlapping, concurrent else
            order = [not a_first, a_first, a_first, not a_first]
            runs = [(at_once, batch(case, at_once=at_once)) for at_once in order]
            sequential = [run for at_once, run in runs if not at_once]
            concurrent = [run for at_once, run in runs if at_once]
            ratio = sum(run["wall_seconds"] for run in concurrent) / sum(
                run["wall_seconds"] for run in sequential
            )
            results[case] = {
                "sequential_wall_seconds": [run["wall_seconds"] for run in sequential],
                "concurrent_wall_seconds": [run["wall_seconds"] for run in concurrent],
                "ratio_concurrent_to_sequential": round(ratio, 2),
                "met": ratio <= TARGET,
                "batches_in_order": [{"at_once": at_once, **run} for at_once, run in runs],
            }
    verify_seconds, verified = processes_time([manage_command("verify_logs")], check=False)
    verify = verified[0]
    return {
        "benchmark": "B6 8 concurrent import processes vs the same 8 one after another",
        "files": FILES,
        "csv_rows_per_file": rows,
        "log_rows_per_file": 2 * rows,
        "overlapping": results["overlapping"],
        "disjoint": results["disjoint"],
        "verify_logs_exit_code": verify.returncode,
        "verify_logs_output": verify.stdout.decode().strip().splitlines()[:5],
        "verify_logs_seconds": round(verify_seconds, 1),
        "cpus": os.cpu_count(),
        "load_average_1_5_15_min": {
            "at_start": [round(x, 2) for x in load_at_start],
            "at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "target": f"concurrent <= {TARGET} x sequential; verify_logs exits 0",
        "met": all(case["met"] for case in results.values()) and verify.returncode == 0,
    }
