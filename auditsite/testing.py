"""Helpers for the test suite (imported by conftest.py and by test modules)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROLES = ("uploader", "support", "auditor", "corrector", "superuser")
STAFF_PASSWORD = "staff-test-password"  # noqa: S105 - test accounts only
# Browser tests drive Debian's Chromium (`make browsers`); Playwright's own download is not used.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def accounts_create() -> dict:
    """One staff account per role (groups from setup_roles, applied on migrate) and a superuser."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user_model = get_user_model()
    result = {}
    for role in ROLES:
        account = user_model.objects.create_user(
            username=f"test-{role}",
            password=STAFF_PASSWORD,
            is_staff=True,
            is_superuser=role == "superuser",
        )
        if role != "superuser":
            account.groups.set([Group.objects.get(name=role)])
        result[role] = account
    return result


@contextlib.contextmanager
def rolled_back(django_db_blocker) -> Iterator[None]:
    """Data shared by the tests of a module: created once, rolled back after the module.

    Each test's own transaction nests inside as a savepoint, so tests stay isolated.
    """
    from django.db import transaction

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@contextlib.contextmanager
def open_tmp_dir(*, prefix: str) -> Iterator[Path]:
    """A fresh directory that the embedded PostgreSQL's own system user can reach (pytest's
    tmp_path sits under a 0700 directory of root's); removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def logs_export_csv(page, *, form_screenshot: Path, into: Path) -> Path:
    """From the processing-log list in a browser: *Export*, CSV, submit; the downloaded file,
    kept in ``into``, and a screenshot of the export form."""
    page.click("a.export_link")
    page.wait_for_selector("#id_format")
    page.select_option("#id_format", label="csv")
    page.screenshot(path=form_screenshot, full_page=True)
    with page.expect_download() as download_info:
        page.click("#content form .submit-row input[type=submit]")
    download = download_info.value
    exported = into / download.suggested_filename
    download.save_as(exported)
    return exported


@contextlib.contextmanager
def chromium_launched() -> Iterator:
    """Headless Debian Chromium through Playwright (its own browser download does not work
    here); the test fails saying what to install when it is missing."""
    import pytest
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browsers`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
