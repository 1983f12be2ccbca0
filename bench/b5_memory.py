"""B5: peak RSS of `import_activity` on a 1,000,000-row CSV (streamed, never whole in memory).

The import runs as its own process (the real command), so its peak resident set is measured
alone; the CSV and 1,000,000 users are generated first.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = 1_000_000
LIMIT_MB = 300


def main(quick: bool = False) -> dict:
    from bench._setup import django_bench_db

    django_bench_db("auditsite_bench_b5")
    from bench._data import csv_write, users_create

    rows = 100_000 if quick else ROWS
    users_create(rows)
    base_dir = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as directory:
        path = csv_write(Path(directory) / "user-log-20260101-000000.csv", rows=rows, users=rows)
        size_mb = path.stat().st_size / 1e6
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "manage.py", "import_activity", str(path)],
            cwd=base_dir,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "auditsite.settings.test"},
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-2000:])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    return {
        "benchmark": "B5 peak RSS of a 1,000,000-row import",
        "csv_rows": rows,
        "csv_mb": round(size_mb, 1),
        "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(peak_mb, 1),
        "target": f"< {LIMIT_MB} MB",
        "met": peak_mb < LIMIT_MB,
        "summary": completed.stdout.strip().splitlines()[:4],
    }
