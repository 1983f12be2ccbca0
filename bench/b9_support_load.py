"""B9: 20 support clients browsing lookups and log lists while a 100,000-row import runs
(SPEC §10), the scenario of ``logs/tests/test_support_load.py`` (``auditsite/support_load.py``).

gunicorn (as the Dockerfile runs it: 3 sync workers) and a real Celery worker on the benchmark
database and broker (CELERY_BROKER_URL, else the embedded Redis). Service users with a few
earlier imports each; an uploader uploads and confirms a 100,000-row file in the admin, either
alone or while 20 support sessions go round the lookup page, the processing-log list (as it
opens, searched for a user ID, failed rows) and the executions list without pause. First the
20 clients browse for 20 s with no import (what the pages cost with the web workers saturated),
then the import rounds run alone, loaded, loaded, alone. Figures: per page kind, requests sent
(while the import ran, or while browsing alone), errors (anything but a 200), p50, p95 and max;
the import's time (upload to ``completed`` as the uploader sees it, and the worker's run) with
and without the load.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

CLIENTS = 20
USERS = 10_000
HISTORY_IMPORTS = 10  # earlier imports over every user: 20 log rows each before the rounds
ROWS = 100_000
ROUNDS = ("alone", "loaded", "loaded", "alone")
BROWSE_SECONDS = 20
IMPORT_SECONDS = 600


def main(quick: bool = False) -> dict:
    from bench._setup import django_bench_db

    django_bench_db("auditsite_bench_b9")
    from django.conf import settings

    from auditsite.live import celery_worker, web_server
    from auditsite.support_load import (
        activity_file_write,
        pages_summary,
        support_browse,
        support_load_run,
        support_load_seed,
    )
    from bench._setup import checkpoint
    from logs.models import Execution
    from logs.services.integrity import logs_verify

    users, rows = (2_000, 20_000) if quick else (USERS, ROWS)
    rounds = ROUNDS[:2] if quick else ROUNDS
    runs = []
    with tempfile.TemporaryDirectory(prefix="auditsite-bench-b9-") as directory:
        folder = Path(directory)
        data = support_load_seed(
            directory=folder,
            users=users,
            history_users=users,
            history_imports=2 if quick else HISTORY_IMPORTS,
            clients=CLIENTS,
        )
        env = {
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "MEDIA_ROOT": str(folder / "media"),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
        }
        log = folder / "processes.log"
        with web_server(env=env, log=log) as base, celery_worker(env=env, log=log):
            checkpoint()
            browsing = support_browse(
                base=base, data=data, clients=CLIENTS, seconds=5 if quick else BROWSE_SECONDS
            )
            for number, load in enumerate(rounds):
                activity = activity_file_write(
                    folder / f"user-log-20260102-{number:06d}.csv",
                    user_ids=data.user_ids,
                    rows=rows,
                    seed=100 + number,
                )
                checkpoint()
                run = support_load_run(
                    base=base,
                    data=data,
                    activity=activity,
                    clients=CLIENTS if load == "loaded" else 0,
                    timeout=IMPORT_SECONDS,
                )
                execution = run.execution
                counts = (execution.success_count, execution.skipped_count, execution.failed_count)
                if execution.status != Execution.Status.COMPLETED or counts != (
                    activity.success,
                    activity.skipped,
                    activity.failed,
                ):
                    msg = f"round {number} ended {execution.status} {counts}: {run.outcome}"
                    raise RuntimeError(msg)
                runs.append((load, run))
    problems = logs_verify()

    def seconds(load: str, of) -> dict:
        values = [of(run) for each, run in runs if each == load]
        return {
            "median": round(statistics.median(values), 2),
            "rounds": [round(value, 2) for value in values],
        }

    spans = [browsing, *(run.browsing for _, run in runs)]
    sent = [request for span in spans for request in span.requests]
    errors = sum(not request.ok for request in sent) + sum(len(span.failures) for span in spans)
    during = [request for _, run in runs for request in run.during_import()]
    upload = {load: seconds(load, lambda run: run.seconds) for load in ("alone", "loaded")}
    worker = {load: seconds(load, lambda run: run.run_seconds) for load in ("alone", "loaded")}
    return {
        "benchmark": "B9 support clients browsing while a large import runs, over HTTP",
        "clients": CLIENTS,
        "csv_rows": rows,
        "service_users": users,
        "rounds": list(rounds),
        "web": "gunicorn, 3 sync workers; Celery worker, solo pool",
        "pages_browsing_alone": pages_summary(browsing.between(browsing.started, browsing.ended)),
        "pages_while_importing": pages_summary(during),
        "requests_sent": len(sent),
        "errors": errors,
        "import_upload_to_completed_seconds": upload,
        "import_worker_run_seconds": worker,
        "import_slowdown_under_load": round(
            worker["loaded"]["median"] / worker["alone"]["median"], 2
        ),
        "verify_logs_problems": problems,
        "target": "no errors; every import completed with its file's counts; verify_logs clean",
        "met": errors == 0 and not problems,
    }
