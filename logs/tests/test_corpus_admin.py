"""The hostile corpus (``logs/tests/corpus``) uploaded through the admin: a clear answer for each
file, nothing written for a refused or cancelled one, the result of a confirmed one; then every
page that shows the file's values, as each role sees it, with those values escaped (SPEC §10)."""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from auditsite.exports import FORMULA_PREFIXES
from logs.messages import message_localize
from logs.models import AccessLog, Alert, Execution, ProcessingError, ProcessingLog
from logs.services.alerts import alerts_check
from logs.services.ingest.parsing import ERROR_COLUMN, MAX_USER_ID_LENGTH
from logs.services.sources import inspect_file
from logs.tests.corpus import (
    CORPUS,
    IMG,
    MARKERS,
    Case,
    Processed,
    Rejected,
    Snapshot,
    assert_escaped,
    case_write,
    counters_set_apart,
)
from logs.tests.support import command_run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

UPLOAD = reverse("admin:logs_execution_upload")
FORM_NAME_LIMIT = 80  # the upload form's execution name field


def _client(client_for, role: str, language: str = "en") -> Client:
    client = client_for(role)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client


@pytest.fixture
def clients(client_for, service_users) -> dict[str, Client]:
    """The roles that read the pages, in English, and the uploader in Japanese (the other form
    of every stored message); U00001–U00005 exist, with counters of their own."""
    counters_set_apart(service_users)
    return {
        "uploader": _client(client_for, "uploader"),
        "uploader-ja": _client(client_for, "uploader", "ja"),
        "support": _client(client_for, "support"),
        "auditor": _client(client_for, "auditor"),
    }


def _stored_files(media) -> list[str]:
    return [name for _, _, files in os.walk(media) for name in files]


def _upload(client: Client, case: Case):
    """POST the case's file as a browser does: a multipart body carrying the file name as given
    (quotes escaped), folders and all; Django's test client would cut it to its base name."""
    boundary = f"corpus-{uuid.uuid4().hex}"
    file_name = case.file_name.replace("\\", "\\\\").replace('"', '\\"')
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode(),
        case.content,
        f"\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="execution_name"\r\n\r\n'.encode(),
        (case.execution_name or "").encode(),
        f"\r\n--{boundary}--\r\n".encode(),
    ]
    return client.post(
        UPLOAD, b"".join(parts), content_type=f"multipart/form-data; boundary={boundary}"
    )


def _preview_shown(preview: dict, case: Case) -> list[str]:
    """What the preview page displays of the file."""
    return [
        case.uploaded_file_name,
        preview["execution_name"],
        preview["message"],
        *preview["warnings"],
        *(
            text
            for problem in preview["problems"]
            for text in problem.values()
            if isinstance(text, str)
        ),
    ]


def _confirm(client: Client, token: str, action: str, capture):
    url = reverse("admin:logs_execution_upload_confirm", args=[token])
    with capture(execute=True):
        return client.post(url, {action: "1"}, follow=True)


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_corpus_file_through_the_admin_and_every_page_showing_it(
    case, clients, media, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    """Upload → preview → cancel, then upload → preview → confirm: a refused file gets its
    reason and writes nothing, a processed one the counts of the corpus; then every page that
    shows the file's values answers 200 with them escaped (a refused file's run is recorded by
    the command, so that the pages of a rejected run are read too)."""
    uploader = clients["uploader"]
    before = Snapshot.take()

    response = _upload(uploader, case)
    if not case.content or len(case.execution_name or "") > FORM_NAME_LIMIT:
        # The form refuses an empty file, or a name beyond its limit, before the file is read;
        # a typed name is shown back.
        html = assert_escaped(response, shown=[case.execution_name])
        assert 'class="errorlist' in html
        before.assert_nothing_written()
        assert _stored_files(media) == []
        _rejected_run_pages(clients, case, _command_rejected(case, tmp_path))
        return
    assert response.status_code == 302, response
    page = uploader.get(response["Location"])
    preview = page.context["preview"]
    html = assert_escaped(page, shown=_preview_shown(preview, case))
    assert page.context["pending"].file_name == case.uploaded_file_name
    before.assert_nothing_written()

    if isinstance(case.outcome, Rejected):
        assert preview["rejected"]
        assert re.search(case.outcome.pattern, preview["message"]), preview["message"]
        assert 'id="rejection"' in html and "confirm-form" not in html
        assert _stored_files(media) == []
        # A refused preview cannot be confirmed: confirming it discards it.
        done = _confirm(
            uploader, page.context["pending"].token, "confirm", django_capture_on_commit_callbacks
        )
        assert_escaped(done, shown=[case.uploaded_file_name])
        assert done.redirect_chain[-1][0] == UPLOAD
        before.assert_nothing_written()
        _rejected_run_pages(clients, case, _command_rejected(case, tmp_path))
        return

    expected = case.outcome
    assert not preview["rejected"], preview["message"]
    assert (preview["rows_total"], preview["success_count"], preview["failed_count"]) == (
        expected.rows,
        expected.success,
        expected.failed,
    )
    assert len(_stored_files(media)) == 1
    cancelled = _confirm(
        uploader, page.context["pending"].token, "cancel", django_capture_on_commit_callbacks
    )
    assert_escaped(cancelled, shown=[case.uploaded_file_name])
    assert cancelled.redirect_chain[-1][0] == UPLOAD
    before.assert_nothing_written()
    assert _stored_files(media) == []

    page = uploader.get(_upload(uploader, case)["Location"])
    confirmed = _confirm(
        uploader, page.context["pending"].token, "confirm", django_capture_on_commit_callbacks
    )
    execution = before.new_executions().get()
    assert confirmed.redirect_chain[-1][0] == reverse(
        "admin:logs_execution_change", args=[execution.pk]
    )
    assert_escaped(confirmed, shown=[execution.name])
    _assert_processed(execution, case, expected)
    _trail_pages(clients, case, execution)


def _assert_processed(execution: Execution, case: Case, expected: Processed) -> None:
    """The run completed with the counts of the corpus, under the names it was given."""
    execution.refresh_from_db()
    assert execution.status == Execution.Status.COMPLETED, execution.error_message
    assert (
        execution.rows_total,
        execution.success_count,
        execution.failed_count,
        execution.skipped_count,
    ) == (expected.rows, expected.success, expected.failed, expected.skipped)
    assert execution.file_name == case.uploaded_file_name
    assert execution.name == (case.execution_name or execution.name)
    assert ProcessingError.objects.filter(execution=execution).count() == expected.failed


def _command_rejected(case: Case, tmp_path) -> Execution:
    """The case's file refused by ``import_activity``, which records the rejected run."""
    before = Snapshot.take()
    args = ["--execution-name", case.execution_name] if case.execution_name else []
    run = command_run("import_activity", str(case_write(tmp_path, case)), *args)
    assert run.code == 2, run
    execution = before.new_executions().get()
    assert execution.status == Execution.Status.REJECTED
    before.assert_nothing_applied()
    return execution


# --- the pages -------------------------------------------------------------------------------


def _rejected_run_pages(clients: dict[str, Client], case: Case, execution: Execution) -> None:
    """A rejected run: its page and progress say why; one whose reason or name carries a
    payload is read on every page that shows it."""
    if case.markers:
        _trail_pages(clients, case, execution)
        return
    change = reverse("admin:logs_execution_change", args=[execution.pk])
    html = assert_escaped(clients["uploader"].get(change), shown=[execution.error_message])
    assert 'id="execution-outcome"' in html and "This file was rejected" in html
    _progress(clients["uploader"], execution)


def _trail_pages(clients: dict[str, Client], case: Case, execution: Execution) -> None:
    """Every page that shows what the run of ``execution`` recorded, for the roles that read
    it: status 200 and every value escaped; the failed rows' CSV neutralises formulas."""
    uploader, support, auditor = clients["uploader"], clients["support"], clients["auditor"]
    name = execution.name
    failed = list(
        ProcessingLog.objects.filter(execution_name=name, status="failed").order_by("log_id")
    )
    errors = list(ProcessingError.objects.filter(execution=execution).order_by("pk"))
    cells = [text for log in failed for text in (log.user_id, log.error_message)]
    about_run = [name, execution.file_name, execution.error_message, *execution.warnings]
    error_texts = [
        text for error in errors for text in (error.user_id, error.error_message, error.raw_value)
    ]
    # Every payload the file carries reaches what the pages show, so their checks bite.
    shown_anywhere = " ".join(text for text in [*about_run, *cells, *error_texts] if text)
    assert all(marker in shown_anywhere for marker in case.markers), case.markers

    alerts = _alerts(uploader, execution)
    # A payload is also read in Japanese: there a stored message is rendered again from its
    # translated template, with the payload as one of its fields.
    readers = (uploader, clients["uploader-ja"]) if case.markers else (uploader,)
    change = reverse("admin:logs_execution_change", args=[execution.pk])
    for client in readers:
        assert_escaped(client.get(change), shown=[*about_run, *cells])
    history = reverse("admin:logs_execution_history", args=[execution.pk])
    assert_escaped(uploader.get(history), shown=[name])
    _progress(uploader, execution)
    listed = uploader.get(reverse("admin:logs_execution_changelist"), {"q": name})
    assert_escaped(listed, shown=[name])
    assert execution in listed.context["cl"].result_list
    assert_escaped(uploader.get(reverse("admin:index")), shown=[name, *alerts])

    logs = reverse("admin:logs_processinglog_changelist")
    assert_escaped(uploader.get(logs, {"execution_name": name}), shown=[name, *cells])
    if failed:
        first = reverse("admin:logs_processinglog_change", args=[failed[0].pk])
        assert_escaped(
            uploader.get(first), shown=[name, failed[0].user_id, failed[0].error_message]
        )
    hostile_ids = sorted({e.user_id for e in errors if e.user_id and _carries_payload(e.user_id)})
    for user_id in hostile_ids:
        if len(user_id) <= MAX_USER_ID_LENGTH:
            logged = [
                t for log in failed if log.user_id == user_id for t in (user_id, log.error_message)
            ]
            assert_escaped(uploader.get(logs, {"q": user_id}), shown=logged)

    error_list = reverse("admin:logs_processingerror_changelist")
    for client in readers:
        assert_escaped(client.get(error_list, {"q": name}), shown=[name, *error_texts])
    # Each error carrying a payload, or the first one (the others are pages of the same kind).
    for error in [e for e in errors if _carries_payload(e)] or errors[:1]:
        page = uploader.get(reverse("admin:logs_processingerror_change", args=[error.pk]))
        assert_escaped(page, shown=[name, error.user_id, error.error_message, error.raw_value])

    lookup = reverse("admin:users_serviceuser_lookup")
    for user_id in hostile_ids:
        shown = [
            text
            for error in errors
            if error.user_id == user_id
            for text in (user_id, error.error_message)
        ]
        assert_escaped(support.get(lookup, {"user_id": user_id}), shown=shown)
    if hostile_ids:
        assert_escaped(auditor.get(reverse("admin:logs_accesslog_changelist")), shown=hostile_ids)
        assert set(hostile_ids) <= set(AccessLog.objects.values_list("user_id", flat=True))

    _failed_rows(uploader, execution)


def _carries_payload(value: ProcessingError | str) -> bool:
    texts = (
        [value.user_id, value.error_message, value.raw_value]
        if isinstance(value, ProcessingError)
        else [value]
    )
    return any(marker in text for text in texts if text for marker in MARKERS)


def _progress(client: Client, execution: Execution) -> None:
    """The progress JSON: served as JSON that no browser sniffs as HTML; the reason is the
    stored text (the page's script sets it as text, never as markup)."""
    response = client.get(reverse("admin:logs_execution_progress", args=[execution.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    data = response.json()
    assert data["done"] and data["status"] == execution.status
    refused = execution.status == Execution.Status.REJECTED
    assert data["reason"] == (message_localize(execution.error_message) if refused else "")


def _failed_rows(client: Client, execution: Execution) -> None:
    """The failed rows' CSV of a completed import with failed cells: the failed rows, and no
    cell a spreadsheet would run as a formula (a whole number such as +1 or -1 stays as it is)."""
    url = reverse("admin:logs_execution_failed_rows", args=[execution.pk])
    if execution.status != Execution.Status.COMPLETED:
        assert client.get(url).status_code == 404
        return
    if not execution.failed_count:
        return  # no link to it on the page
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    encoding = inspect_file(Path(execution.file.path)).encoding  # the original's
    assert isinstance(response, StreamingHttpResponse)
    text = response.getvalue().decode(encoding)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][-1] == ERROR_COLUMN
    assert 1 < len(rows) <= execution.failed_count + 1
    for row in rows:
        for cell in row:
            assert not _spreadsheet_formula(cell), (cell, row)


def _spreadsheet_formula(cell: str) -> bool:
    return cell.startswith(FORMULA_PREFIXES) and not re.fullmatch(r"\s*[+-]?[0-9]+\s*", cell)


def _alerts(client: Client, execution: Execution) -> list[str]:
    """The alerts job run now: the alerts the run raised (a refused file, too many failed
    cells) in the list and on their own page; their texts."""
    alerts_check()
    alerts = list(Alert.objects.filter(execution=execution))
    expect_alert = execution.status == Execution.Status.REJECTED or (
        execution.log_rows
        and execution.failed_count / execution.log_rows > settings.ALERT_FAILED_RATIO
    )
    assert bool(alerts) == bool(expect_alert)
    texts = [alert.text for alert in alerts]
    if alerts:
        assert_escaped(client.get(reverse("admin:logs_alert_changelist")), shown=texts)
    for alert in alerts:
        page = client.get(reverse("admin:logs_alert_change", args=[alert.pk]))
        assert_escaped(page, shown=[alert.text])
    return texts


def test_the_page_check_fails_on_markup_a_missing_value_or_double_escaping():
    """``assert_escaped`` passes a page showing a payload escaped once, and fails one showing
    it raw, not at all, or escaped twice, or with another status."""
    escaped = HttpResponse("<td>&lt;img src=x onerror=alert(1)&gt;.csv</td>")
    assert_escaped(escaped, shown=[IMG + ".csv"])
    failing = {
        "raw": (HttpResponse(f"<td>{IMG}.csv</td>"), 200),
        "missing": (HttpResponse("<td>activity.csv</td>"), 200),
        "twice": (HttpResponse("<td>&amp;lt;img src=x onerror=alert(1)&amp;gt;</td>"), 200),
        "status": (escaped, 404),
    }
    for response, status in failing.values():
        with pytest.raises(AssertionError):
            assert_escaped(response, shown=[IMG + ".csv"], status=status)
