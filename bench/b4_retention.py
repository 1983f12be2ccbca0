"""B4: retire an expired 1,000,000-row month by DETACH + DROP vs the design note's batched DELETE.

The same rows each time, regenerated in between (INSERT … SELECT generate_series), in one run:

- drop: ``ALTER TABLE processing_logs DETACH PARTITION …`` and ``DROP TABLE …`` in one
  transaction, commit included (the figure the target is about);
- retention step: the same done by retention's own ``partition_drop``, which also recounts the
  month under the lock and compares it with the month's summary before dropping;
- delete: the design note's §8.6 job, ``DELETE … WHERE processed_at < cutoff`` 10,000 rows at a
  time (``ctid IN (SELECT ctid … LIMIT 10000)``, PostgreSQL having no ``DELETE … LIMIT``), each
  batch its own transaction, inside ``log_deletion_allowed`` like any deletion of log rows. The
  VACUUM those dead rows need afterwards is not counted.

The month is summarized before each, untimed: every way needs that first.

Beside the drop, the floor it cannot beat: the file system emptying the files of such a month
(table, TOAST, indexes; what DROP's commit does to them: truncate now, unlink at the next
checkpoint), when the server's data directory is on this machine. The floor is taken on a twin:
the next month, generated the same way just before, so its files are laid out on disk the way
PostgreSQL writes a table that grows 8 kB at a time; it is detached, its files are truncated
(timed) and it is dropped. Copies of the dropped month's files made with one sequential write
each are emptied too and reported beside it: they lie in fewer extents and empty faster than any
file PostgreSQL writes that way, so they understate the floor. The target is met at >= 100x the
batched DELETE, or within 1.5x of the floor.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROWS = 1_000_000
QUICK_ROWS = 100_000
DROP_ROUNDS = 3
BATCH = 10_000
TARGET_RATIO = 100

GENERATE_SQL = """
INSERT INTO processing_logs
    (execution_name, user_id, processing_type, old_value, new_value, status, error_message,
     processed_at)
SELECT 'user-log-202001' || lpad((g %% 28 + 1)::text, 2, '0') || '-093000',
       'U' || lpad((g %% 100000)::text, 5, '0'),
       CASE WHEN g %% 2 = 0 THEN 'login_update' ELSE 'post_update' END,
       g %% 1000,
       CASE WHEN g %% 50 = 0 THEN NULL ELSE g %% 1000 + 1 END,
       CASE WHEN g %% 50 = 0 THEN 'failed' WHEN g %% 10 = 0 THEN 'skipped' ELSE 'success' END,
       CASE WHEN g %% 50 = 0 THEN 'User not found in users table' END,
       %(start)s + g * (%(span)s / (%(rows)s + 1))
FROM generate_series(1, %(rows)s) AS g
"""

BATCH_DELETE_SQL = """
DELETE FROM processing_logs
WHERE processed_at < %s
  AND ctid IN (SELECT ctid FROM processing_logs WHERE processed_at < %s LIMIT %s)
"""


def _generate(month, rows: int) -> None:
    """A fresh partition for ``month`` holding ``rows`` rows, vacuumed and analyzed, summarized."""
    from django.db import connection

    from logs.services.partitions import partition_create
    from logs.services.summaries import summary_month_upsert

    partition_create(month=month)
    span = month.end - month.start
    with connection.cursor() as cursor:
        cursor.execute(GENERATE_SQL, {"start": month.start, "span": span, "rows": rows})
        cursor.execute(f"VACUUM ANALYZE {month.partition_name}")
    summary_month_upsert(month=month)


def _relation_files(cursor, table: str) -> list[Path] | None:
    """The files of ``table``, its TOAST table and its indexes (every fork and segment), or
    None when the server's data directory is not on this machine."""
    cursor.execute("SHOW data_directory")
    data_directory = Path(cursor.fetchone()[0])
    if not data_directory.is_dir():
        return None
    cursor.execute(
        """
        SELECT pg_relation_filepath(c.oid) FROM pg_class c
        WHERE c.oid = %(table)s::regclass
           OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = %(table)s::regclass)
           OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = %(table)s::regclass)
        """,
        {"table": table},
    )
    files = []
    for (relative,) in cursor.fetchall():
        if relative:
            base = data_directory / relative
            files += [path for path in base.parent.glob(base.name + "*") if path.is_file()]
    return files


def _truncate(files: list[Path]) -> float:
    """Seconds the file system takes to empty ``files``, one ``truncate`` each, as DROP's commit
    does (no sync after: the commit does not wait for the file system's journal either)."""
    started = time.perf_counter()
    for path in files:
        os.truncate(path, 0)
    return time.perf_counter() - started


def _twin_floor(month) -> float | None:
    """Empty the files of ``month``'s partition, detached first so no query reads it, then drop
    it; the seconds the emptying took, or None when the data directory is not on this machine
    or its files are not this process's to write."""
    from django.db import connection, transaction

    table = month.partition_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE processing_logs DETACH PARTITION {table}")
        files = _relation_files(cursor, table)
    try:
        seconds = _truncate(files) if files else None
    except PermissionError:  # the server's files belong to another account
        seconds = None
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    return seconds


def _copy_floor(files: list[Path]) -> float | None:
    """Seconds to empty copies of ``files``, each written in one sequential pass beside them
    and flushed to disk first, untimed; None when the data directory is not this process's to
    write."""
    try:
        with tempfile.TemporaryDirectory(
            prefix="b4-floor-", dir=files[0].parent.parent, ignore_cleanup_errors=True
        ) as scratch:
            copies = [Path(scratch) / f"{number}" for number in range(len(files))]
            for path, copy in zip(files, copies, strict=True):
                shutil.copyfile(path, copy)
            os.sync()
            return _truncate(copies)
    except PermissionError:
        return None


def main(quick: bool) -> dict:
    """Time the ways of removing the same expired month; return the figures and the ratios."""
    from bench._setup import checkpoint, django_bench_db

    django_bench_db("auditsite_bench_b4")

    from django.db import connection, transaction

    from logs.months import Month
    from logs.services.retention import partition_drop
    from logs.triggers import log_deletion_allowed

    rows = QUICK_ROWS if quick else ROWS
    month = Month(2020, 1)  # long past any retention

    table = month.partition_name
    twin = month.add(1)
    drop_times, floor_times, copy_floor_times = [], [], []
    for _ in range(DROP_ROUNDS):  # sub-second: the median of a few rounds, each on fresh data
        _generate(twin, rows)
        _generate(month, rows)
        with connection.cursor() as cursor:
            files = _relation_files(cursor, table)
        copy_seconds = _copy_floor(files) if files else None
        if copy_seconds is not None:
            copy_floor_times.append(copy_seconds)
        checkpoint()
        twin_seconds = _twin_floor(twin)
        if twin_seconds is not None:
            floor_times.append(twin_seconds)
        checkpoint()
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE processing_logs DETACH PARTITION {table}")
            cursor.execute(f"DROP TABLE {table}")
        drop_times.append(time.perf_counter() - started)
    drop_seconds = statistics.median(drop_times)

    _generate(month, rows)
    checkpoint()
    started = time.perf_counter()
    dropped = partition_drop(table=table, month=month)
    step_seconds = time.perf_counter() - started
    assert dropped == rows, dropped

    _generate(month, rows)
    checkpoint()
    deleted = batches = 0
    started = time.perf_counter()
    with log_deletion_allowed():
        while True:
            with connection.cursor() as cursor:
                # Positional: pgtrigger.ignore prepends a statement with a positional parameter.
                cursor.execute(BATCH_DELETE_SQL, [month.end, month.end, BATCH])
                if cursor.rowcount == 0:
                    break
                deleted += cursor.rowcount
                batches += 1
    delete_seconds = time.perf_counter() - started
    assert deleted == rows, deleted

    ratio = delete_seconds / drop_seconds
    return {
        "benchmark": "B4 drop an expired month vs batched DELETE (seed §8.6)",
        "rows": rows,
        "batch_rows": BATCH,
        "batches": batches,
        "detach_drop_seconds": round(drop_seconds, 4),
        "detach_drop_rounds": [round(t, 4) for t in drop_times],
        "retention_step_seconds": round(step_seconds, 4),
        "batched_delete_seconds": round(delete_seconds, 2),
        "ratio": round(ratio, 1),
        "file_system_floor_seconds": round(statistics.median(floor_times), 4)
        if floor_times
        else None,
        "drop_to_floor": round(drop_seconds / statistics.median(floor_times), 2)
        if floor_times
        else None,
        "file_system_floor_rounds": [round(t, 4) for t in floor_times],
        "contiguous_copies_floor_seconds": round(statistics.median(copy_floor_times), 4)
        if copy_floor_times
        else None,
        "ratio_retention_step": round(delete_seconds / step_seconds, 1),
        "target": f">= {TARGET_RATIO}x, or within 1.5x of the file-system floor",
        "meets_target": ratio >= TARGET_RATIO
        or bool(floor_times and drop_seconds <= 1.5 * statistics.median(floor_times)),
        "quick": quick,
    }
