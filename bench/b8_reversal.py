"""B8: reverse the B1 file (100,000 CSV rows) vs importing it, same run.

A reversal writes one log row per success row of the import it undoes, set-based like the
import (SPEC §4a): the target is that reversing a file costs at most 1.5× what importing it did.
Each round imports a fresh file (timed) and then reverses it (timed); a first, unmeasured round
warms the partition, its indexes and the caches. The figure is the median of the rounds' ratios.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

ROWS = 100_000
ROUNDS = 5


def main(quick: bool = False) -> dict:
    from bench._setup import checkpoint, django_bench_db

    django_bench_db("auditsite_bench_b8")
    from bench._data import import_round, users_create
    from logs.services.corrections import execution_reverse

    rows = 10_000 if quick else ROWS
    users_create(rows)
    import_times, reversal_times, reversal_rows = [], [], []

    with tempfile.TemporaryDirectory() as directory:

        def one_round(round_number: int) -> tuple[float, float, int]:
            import_seconds, imported = import_round(
                Path(directory), round_number=round_number, rows=rows
            )
            checkpoint()
            started = time.perf_counter()
            reversal = execution_reverse(execution_name=imported.execution_name, reason="bench")
            reversal_seconds = time.perf_counter() - started
            assert reversal.log_rows == imported.success_count, reversal
            return import_seconds, reversal_seconds, reversal.log_rows

        one_round(0)  # unmeasured
        for round_number in range(1, ROUNDS + 1):
            import_seconds, reversal_seconds, written = one_round(round_number)
            import_times.append(import_seconds)
            reversal_times.append(reversal_seconds)
            reversal_rows.append(written)
    ratios = [rev / imp for rev, imp in zip(reversal_times, import_times, strict=True)]
    ratio = statistics.median(ratios)
    return {
        "benchmark": "B8 reversal of the B1 file vs its import",
        "csv_rows": rows,
        "import_log_rows": 2 * rows,
        "reversal_log_rows": reversal_rows,
        "import_seconds": [round(t, 3) for t in import_times],
        "reversal_seconds": [round(t, 3) for t in reversal_times],
        "import_median_seconds": round(statistics.median(import_times), 3),
        "reversal_median_seconds": round(statistics.median(reversal_times), 3),
        "round_ratios": [round(r, 2) for r in ratios],
        "ratio_reversal_to_import": round(ratio, 2),
        "target": "<= 1.5",
        "met": ratio <= 1.5,
    }
