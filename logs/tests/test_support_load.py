"""Support at work during a large import (SPEC §10): 20 support clients browsing lookups and log
lists over HTTP while a 100,000-row import runs through gunicorn and a real Celery worker get
every page, and the import completes as it would alone. Latencies are printed, never asserted
(benchmark B9 records them)."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from auditsite import live
from auditsite.celery import app as celery_app
from auditsite.support_load import (
    CLIENTS,
    IMPORT_ROWS,
    PAGE_KINDS,
    activity_file_write,
    pages_summary,
    pages_table,
    support_load_run,
    support_load_seed,
)
from logs.models import Execution
from logs.tests.services.test_ingest_concurrency import assert_verify_logs_clean
from logs.tests.support import database_url_for_processes
from users.models import UserStatistics

pytestmark = pytest.mark.django_db(transaction=True)

USERS = 5_000
HISTORY_USERS = 1_000
HISTORY_IMPORTS = 3
IMPORT_SECONDS = 240  # the import under load on a busy 2-core machine, with room to spare


def _totals() -> dict[str, int]:
    return UserStatistics.objects.aggregate(
        login_count=Sum("login_count"), post_count=Sum("post_count")
    )


def _tail(path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@pytest.mark.slow
def test_support_clients_get_every_page_while_a_large_import_runs(tmp_path, settings):
    """20 support sessions going round the lookup (users with history, users only in the file
    being imported, an unknown user), the log list (as it opens, searched, failed rows) and the
    executions list during a 100,000-row upload and import: every answer a 200, the import
    completed with the file's counts and increments, and verify_logs clean afterwards."""
    settings.MEDIA_ROOT = tmp_path / "media"
    data = support_load_seed(
        directory=tmp_path,
        users=USERS,
        history_users=HISTORY_USERS,
        history_imports=HISTORY_IMPORTS,
        clients=CLIENTS,
    )
    activity = activity_file_write(
        tmp_path / "user-log-20260102-090000.csv",
        user_ids=data.user_ids,
        rows=IMPORT_ROWS,
        seed=HISTORY_IMPORTS,
    )
    before = _totals()
    env = {
        "DATABASE_URL": database_url_for_processes(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    celery_app.control.purge()  # nothing left over from an earlier, interrupted run
    try:
        with (
            live.web_server(env=env, log=web_log) as base,
            live.celery_worker(env=env, log=worker_log),
        ):
            run = support_load_run(
                base=base, data=data, activity=activity, clients=CLIENTS, timeout=IMPORT_SECONDS
            )
    finally:
        celery_app.control.purge()

    during, browsing = run.during_import(), run.browsing
    print(  # the figures of this run, for whoever reads the output
        f"\n{len(browsing.requests)} support requests, {len(during)} while the import ran "
        f"({run.seconds:.1f} s from upload to completed, worker {run.run_seconds:.1f} s):\n"
        + pages_table(pages_summary(during))
    )
    assert not browsing.failures, browsing.failures
    errors = [(r.kind, r.url, r.status, r.error) for r in browsing.errors]
    assert not errors, (errors[:10], _tail(web_log))
    assert {request.client for request in during} == set(range(CLIENTS))
    assert {request.kind for request in during} == set(PAGE_KINDS)
    assert {request.client for request in run.during_worker_run()} == set(range(CLIENTS))

    execution = run.execution
    assert execution.status == Execution.Status.COMPLETED, (run.outcome, _tail(worker_log))
    counts = (execution.success_count, execution.skipped_count, execution.failed_count)
    assert counts == (activity.success, activity.skipped, activity.failed)
    assert execution.log_rows == activity.log_rows == 2 * IMPORT_ROWS
    after = _totals()
    assert {column: after[column] - before[column] for column in after} == activity.added
    assert_verify_logs_clean()
