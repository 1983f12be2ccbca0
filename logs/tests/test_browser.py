"""End to end in a real browser: an uploader uploads, previews, confirms and watches the run; an
auditor exports the result.

Chromium (Debian's /usr/bin/chromium) is driven by Playwright against pytest-django's live server.
The import runs in a real Celery worker started for this test (a subprocess on the same test
database and broker), so the page really follows a background run through its progress JSON.
Screenshots of every step go to test-artifacts/browser/.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connections

from auditsite.celery import app as celery_app
from auditsite.testing import STAFF_PASSWORD, chromium_launched, logs_export_csv
from logs.models import Execution
from logs.tests.support import celery_worker
from users.services import demo_users_seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
ARTIFACTS = BASE_DIR / "test-artifacts" / "browser"
ROWS = 40_000  # enough for the engine to report progress while staging


@pytest.fixture
def media(settings, tmp_path):
    """Uploads land in a folder of this test's own, for the web process and the worker alike."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def worker(media):
    """A real Celery worker on the test database; stopped (and the queue emptied) afterwards."""
    celery_app.control.purge()  # nothing left over from an earlier, interrupted run
    with celery_worker(env={"MEDIA_ROOT": str(media)}) as process:
        yield process
    celery_app.control.purge()


@pytest.fixture
def browser(monkeypatch):
    """Headless Chromium."""
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # plain synchronous ones, so Django's guard against async contexts does not apply.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with chromium_launched() as chromium:
        yield chromium
        # ORM calls made inside Playwright's context got a database connection of their own;
        # close it here, or it would keep the test database busy when pytest drops it.
        connections.close_all()


@pytest.fixture
def artifacts():
    """A clean screenshot folder for this run."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture
def activity_csv(tmp_path):
    """A CSV with ROWS users' activity, some of it bad (unknown user, text, empty)."""
    lines = ["user_id,login_count,post_count"]
    for number in range(1, ROWS + 1):
        lines.append(f"U{number % 200 + 1:05d},{number % 4},{number % 3}")
    lines += ["U99999,5,1", "U00001,abc,2"]
    path = tmp_path / "user-log-20260301-090000.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _log_in(page, base_url: str, username: str, next_path: str) -> None:
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("#login-form [type=submit]")


def test_uploader_uploads_and_watches_then_auditor_exports(
    live_server,
    accounts,
    worker,
    browser,
    artifacts,
    activity_csv,
    media,
):
    """Upload → preview → confirm → progress to done → counts; then an auditor's CSV export."""
    demo_users_seed(count=200)
    base = live_server.url

    # The uploader, in English.
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _log_in(page, base, "test-uploader", "/admin/logs/execution/upload/")
    page.wait_for_selector("#upload-form")
    page.screenshot(path=artifacts / "1-upload.png", full_page=True)

    page.set_input_files("#id_file", str(activity_csv))
    page.click("#upload-form [type=submit]")
    page.wait_for_selector("#preview-summary")
    summary = page.inner_text("#preview-summary")
    assert "user-log-20260301-090000" in summary
    assert "Failed" in summary
    problems = page.inner_text("#preview-problems")
    assert "User not found in users table" in problems
    assert Execution.objects.count() == 0  # the preview wrote nothing
    page.screenshot(path=artifacts / "2-preview.png", full_page=True)

    page.click("#confirm-form [name=confirm]")
    page.wait_for_selector("#execution-progress")
    execution = Execution.objects.get()
    page.screenshot(path=artifacts / "3-progress.png", full_page=True)

    # The page polls every second and reloads itself once the run is finished.
    page.wait_for_selector('#execution-progress[data-done="true"]', timeout=90_000)
    page.wait_for_selector("#execution-breakdown")
    execution.refresh_from_db()
    assert execution.status == Execution.Status.COMPLETED, execution.error_message
    assert execution.rows_total == ROWS + 2
    assert page.inner_text("#execution-progress .progress-status") == "completed"
    breakdown = page.inner_text("#execution-breakdown")
    assert str(execution.counts["login_update"]["success"]) in breakdown
    assert "User not found in users table" in page.inner_text("#failed-cells")
    page.screenshot(path=artifacts / "4-done.png", full_page=True)
    context.close()

    # The auditor, in Japanese: the execution's logs, exported as CSV.
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    logs_path = f"/admin/logs/processinglog/?execution_name={execution.name}&status__exact=failed"
    _log_in(page, base, "test-auditor", quote(logs_path, safe="/"))
    page.wait_for_selector("#result_list")
    page.screenshot(path=artifacts / "5-auditor-logs.png", full_page=True)
    exported = logs_export_csv(
        page, form_screenshot=artifacts / "6-export-form.png", into=artifacts
    )
    rows = list(csv.reader(io.StringIO(exported.read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["log_id", "execution_name", "user_id"]
    assert len(rows) - 1 == execution.failed_count
    assert {row[6] for row in rows[1:]} == {"failed"}
    context.close()


def test_watched_run_that_fails_shows_its_reason_instead_of_the_bar(live_server, accounts, browser):
    """The page following a run that ends failed replaces its bar with the outcome and reason."""
    from django.utils import timezone

    execution = Execution.objects.create(
        name="user-log-20260302-090000",
        status=Execution.Status.RUNNING,
        started_at=timezone.now(),
        size_bytes=1000,
        progress_phase="applying",
        progress_bytes=1000,
    )
    reason = "OperationalError: the database connection was lost"
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _log_in(page, live_server.url, "test-uploader", f"/admin/logs/execution/{execution.pk}/change/")
    page.wait_for_selector("#execution-progress progress")
    Execution.objects.filter(pk=execution.pk).update(
        status=Execution.Status.FAILED, error_message=reason, finished_at=timezone.now()
    )
    page.wait_for_selector("#execution-outcome .outcome-reason", timeout=30_000)
    page.wait_for_load_state()
    outcome = page.inner_text("#execution-outcome")
    assert "This run failed" in outcome and reason in outcome
    assert page.locator("#execution-progress progress").count() == 0
    assert page.get_attribute("#execution-progress", "data-done") == "true"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "7-failed-outcome.png", full_page=True)
    context.close()
