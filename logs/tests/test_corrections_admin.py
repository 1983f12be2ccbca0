"""Corrections in the admin (SPEC §4a, §6): a reversal or adjustment is a request showing its dry
run, approved by a different person (then it runs) or declined; the failed rows of an import
download in the upload format and upload back linked to it; the lookup tells the whole story."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from logs.models import CorrectionRequest, Execution, ProcessingLog
from logs.services.ingest import execution_create, execution_run
from users.models import UserStatistics

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def _english(client: Client) -> Client:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def second_superuser(accounts) -> Client:
    """A client of another superuser: the second pair of eyes."""
    account = get_user_model().objects.create_user(
        username="test-superuser-2", password="x", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(account)
    return _english(client)


def _import(content: bytes, name: str) -> Execution:
    """A completed import of a stored file, as an admin upload leaves it."""
    stored = default_storage.save(f"executions/test/{name}", ContentFile(content))
    execution = execution_create(file_name=name, stored_file=stored, source="admin upload")
    result = execution_run(execution=execution)
    assert result.execution is not None and not result.rejected, result.message
    return result.execution


def _counter(user_id: str) -> tuple[int, int]:
    stats = UserStatistics.objects.get(user_id=user_id)
    return stats.login_count, stats.post_count


def test_a_reversal_is_requested_approved_by_another_and_seen_in_the_lookup(
    service_users, client_for, second_superuser
):
    """The done-when story: the wrong file is undone in the admin, a colleague approves, and the
    lookup shows import and reversal with kind, who asked, who approved, why; no row changed."""
    original = _import(b"user_id,login_count,post_count\nU00001,3,1\nU00002,2,0\n", "wrong.csv")
    rows_before = list(ProcessingLog.objects.order_by("log_id").values_list())
    corrector = _english(client_for("corrector"))

    page = corrector.get(reverse("admin:logs_execution_change", args=[original.pk]))
    reverse_url = reverse("admin:logs_execution_reverse", args=[original.pk])
    assert reverse_url in page.content.decode()
    preview = corrector.get(reverse_url)
    assert preview.status_code == 200 and preview.context["preview"]["log_rows"] == 3

    response = corrector.post(reverse_url, {"reason": "uploaded the wrong day"})
    request = CorrectionRequest.objects.get()
    assert response["Location"] == reverse("admin:logs_correctionrequest_change", args=[request.pk])
    assert request.status == CorrectionRequest.Status.PENDING
    assert request.preview["success_count"] == 3
    assert not Execution.objects.filter(kind=Execution.Kind.REVERSAL).exists()
    assert _counter("U00001") == (3, 1)

    # The corrector may not approve at all; the auditor reads the request.
    approve = reverse("admin:logs_correctionrequest_approve", args=[request.pk])
    assert corrector.post(approve).status_code == 403
    auditor_page = client_for("auditor").get(
        reverse("admin:logs_correctionrequest_change", args=[request.pk])
    )
    assert auditor_page.status_code == 200 and "uploaded the wrong day" in (
        auditor_page.content.decode()
    )

    response = second_superuser.post(approve, {"note": "checked with the team"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == CorrectionRequest.Status.APPROVED
    assert request.decision_note == "checked with the team"
    reversal = request.execution
    assert reversal is not None and reversal.reverses == original
    assert reversal.uploaded_by is not None and reversal.uploaded_by.username == "test-corrector"
    assert reversal.approved_by is not None
    assert reversal.approved_by.username == "test-superuser-2"
    assert _counter("U00001") == (0, 0) and _counter("U00002") == (0, 0)
    originals = ProcessingLog.objects.filter(execution_name=original.name).order_by("log_id")
    assert list(originals.values_list()) == rows_before  # no row of the trail changed

    lookup = _english(client_for("support")).get(
        reverse("admin:users_serviceuser_lookup"), {"user_id": "U00001"}
    )
    html = lookup.content.decode()
    timeline = lookup.context["timeline"]
    assert len(timeline) == 4  # seed 6.1: every row of the user, import and reversal
    kinds = {log.execution_name: lineage.execution.kind for log, lineage in timeline}
    assert kinds == {original.name: "import", reversal.name: "reversal"}
    assert f"reversed by {reversal.name}" in html
    assert "uploaded the wrong day" in html and "test-superuser-2" in html

    again = second_superuser.get(reverse("admin:logs_execution_change", args=[original.pk]))
    assert reverse_url not in again.content.decode()  # reversed once: no second link


def test_the_requester_can_never_approve_their_own_request(
    service_users, client_for, second_superuser
):
    """A superuser's own request: approve and decline are refused over HTTP (403), nothing
    runs; another superuser may decline it, with a note."""
    superuser = client_for("superuser")
    response = superuser.post(
        reverse("admin:logs_counter_adjust"),
        {
            "user_id": "U00001",
            "column": "login_count",
            "operation": "set",
            "amount": "9",
            "reason": "ticket 7",
        },
    )
    assert response.status_code == 302
    request = CorrectionRequest.objects.get()
    for decision in ("approve", "decline"):
        url = reverse(f"admin:logs_correctionrequest_{decision}", args=[request.pk])
        assert superuser.post(url).status_code == 403
    request.refresh_from_db()
    assert request.status == CorrectionRequest.Status.PENDING
    assert not ProcessingLog.objects.exists() and _counter("U00001") == (0, 0)

    decline = reverse("admin:logs_correctionrequest_decline", args=[request.pk])
    assert second_superuser.post(decline, {"note": "not needed"}).status_code == 302
    request.refresh_from_db()
    assert request.status == CorrectionRequest.Status.DECLINED
    assert not ProcessingLog.objects.exists()
    # Decided once: a later approval is refused with the reason, nothing runs.
    approve = reverse("admin:logs_correctionrequest_approve", args=[request.pk])
    page = second_superuser.post(approve, follow=True)
    assert "already declined" in page.content.decode()
    assert not ProcessingLog.objects.exists()


def test_an_adjustment_request_runs_when_approved(service_users, client_for, second_superuser):
    """From the lookup's *Adjust a counter*: the request shows its dry run; approved, it runs."""
    corrector = _english(client_for("corrector"))
    lookup = corrector.get(reverse("admin:users_serviceuser_lookup"), {"user_id": "U00002"})
    assert reverse("admin:logs_counter_adjust") in lookup.content.decode()
    corrector.post(
        reverse("admin:logs_counter_adjust"),
        {
            "user_id": "U00002",
            "column": "post_count",
            "operation": "add",
            "amount": "4",
            "reason": "lost posts",
        },
    )
    request = CorrectionRequest.objects.get()
    page = second_superuser.get(reverse("admin:logs_correctionrequest_change", args=[request.pk]))
    assert "Approve and run" in page.content.decode()
    second_superuser.post(reverse("admin:logs_correctionrequest_approve", args=[request.pk]))
    assert _counter("U00002") == (0, 4)


def test_the_dry_run_pages_show_the_message_the_correction_stores(
    service_users, client_for, second_superuser
):
    """The reverse page, the reversal request and the adjustment request show a failing cell
    by the message that the approved correction stores, its values filled in."""
    original = _import(b"user_id,login_count\nU00001,5\n", "five.csv")
    UserStatistics.objects.filter(user_id="U00001").update(login_count=2)
    below = "login_count: 2 → -3 would take the counter below 0"
    corrector = _english(client_for("corrector"))
    reverse_url = reverse("admin:logs_execution_reverse", args=[original.pk])
    page = corrector.get(reverse_url)
    assert [problem["message"] for problem in page.context["preview"]["problems"]] == [below]
    assert f"<td>{below}</td>" in page.content.decode()
    corrector.post(reverse_url, {"reason": "wrong day"})
    corrector.post(
        reverse("admin:logs_counter_adjust"),
        {
            "user_id": "U00002",
            "column": "post_count",
            "operation": "add",
            "amount": "-4",
            "reason": "ticket 9",
        },
    )
    negative = "post_count: 0 → -4 would take the counter below 0"
    for request, message in zip(
        CorrectionRequest.objects.order_by("pk"), [below, negative], strict=True
    ):
        assert [problem["message"] for problem in request.preview["problems"]] == [message]
        url = reverse("admin:logs_correctionrequest_change", args=[request.pk])
        assert f"<td>{message}</td>" in second_superuser.get(url).content.decode()
        second_superuser.post(reverse("admin:logs_correctionrequest_approve", args=[request.pk]))
        request.refresh_from_db()
        assert request.execution is not None
        stored = ProcessingLog.objects.get(execution_name=request.execution.name)
        assert stored.error_message == message


def test_refused_request_says_why(service_users, client_for):
    """An adjustment of an unknown user is refused on the form, with the reason."""
    response = _english(client_for("corrector")).post(
        reverse("admin:logs_counter_adjust"),
        {
            "user_id": "U99999",
            "column": "login_count",
            "operation": "add",
            "amount": "1",
            "reason": "r",
        },
    )
    assert response.status_code == 200
    assert "is not in the users table" in response.content.decode()
    assert not CorrectionRequest.objects.exists()


def test_without_approval_the_admin_applies_directly(service_users, client_for, settings):
    """CORRECTIONS_REQUIRE_APPROVAL off: *Reverse* runs at once, recorded as by its requester."""
    settings.CORRECTIONS_REQUIRE_APPROVAL = False
    original = _import(b"user_id,login_count\nU00001,3\n", "once.csv")
    response = client_for("corrector").post(
        reverse("admin:logs_execution_reverse", args=[original.pk]), {"reason": "twice"}
    )
    reversal = Execution.objects.get(kind=Execution.Kind.REVERSAL)
    assert response["Location"] == reverse("admin:logs_execution_change", args=[reversal.pk])
    assert _counter("U00001") == (0, 0) and not CorrectionRequest.objects.exists()


# --- fix and re-upload -------------------------------------------------------------------

ROUND_TRIP = (
    "user_id,login_count,メモ,post_count\r\n"
    'U00001,2,"カンマ, と ""引用""",1\r\n'
    "U00002,abc,名前,3\r\n"  # failed login
    "\r\n"  # blank line: not a data row
    "U99999,1,不明,1\r\n"  # unknown user: both cells failed
    'U00003,1,"改行\nあり",\r\n'  # quoted newline; post skipped
    "U00004,1\r\n"  # malformed
    "U00005,-1,負,2\r\n"  # negative login
)


def test_failed_rows_round_trip(
    service_users, client_for, eager_tasks, django_capture_on_commit_callbacks
):
    """A CP932 file with quoted fields and malformed rows: *Download failed rows* gives its own
    header and raw values of only the failed rows, in order, with an ``error`` column; fixed and
    uploaded back naming the execution it corrects, the error column is ignored and both pages
    link to each other."""
    original = _import(ROUND_TRIP.encode("cp932"), "user-log-20260105-093000.csv")
    assert original.failed_count == 6
    uploader = _english(client_for("uploader"))
    page = uploader.get(reverse("admin:logs_execution_change", args=[original.pk])).content
    url = reverse("admin:logs_execution_failed_rows", args=[original.pk])
    assert url.encode() in page
    response = uploader.get(url)
    assert response.status_code == 200
    assert "user-log-20260105-093000-failed-rows.csv" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    rows = list(csv.reader(io.StringIO(content.decode("cp932"), newline="")))
    assert rows[0] == ["user_id", "login_count", "メモ", "post_count", "error"]
    assert [row[:-1] for row in rows[1:]] == [
        ["U00002", "abc", "名前", "3"],
        ["U99999", "1", "不明", "1"],
        ["U00004", "1"],
        ["U00005", "-1", "負", "2"],
    ]
    assert rows[1][-1] == 'login_count: not an integer: "abc"'
    assert rows[2][-1] == "User not found in users table"
    assert rows[3][-1].startswith("malformed row: 2 fields")

    fixed = content.decode("cp932").replace("U00002,abc", "U00002,4").replace("U99999", "U00001")
    fixed = fixed.replace("U00004,1,", "U00004,1,x,1,").replace("U00005,-1", "U00005,1")
    form = uploader.get(reverse("admin:logs_execution_upload"), {"corrects": original.name})
    assert form.context["form"].initial["corrects"] == original.name
    upload = ContentFile(fixed.encode("cp932"), name="fixed.csv")
    response = uploader.post(
        reverse("admin:logs_execution_upload"), {"file": upload, "corrects": original.name}
    )
    preview = uploader.get(response["Location"])
    assert preview.context["preview"]["failed_count"] == 0
    # The error column is ignored without a warning (the file's own extra column still has one).
    assert preview.context["preview"]["warnings"] == ["unknown column ignored: 'メモ'"]
    token = preview.context["pending"].token
    with django_capture_on_commit_callbacks(execute=True):
        uploader.post(
            reverse("admin:logs_execution_upload_confirm", args=[token]), {"confirm": "1"}
        )
    correction = Execution.objects.get(file_name="fixed.csv")
    assert correction.status == Execution.Status.COMPLETED and correction.corrects == original
    assert correction.failed_count == 0 and correction.success_count == 8
    original_page = uploader.get(reverse("admin:logs_execution_change", args=[original.pk]))
    assert correction.name in original_page.content.decode()
    correction_page = uploader.get(reverse("admin:logs_execution_change", args=[correction.pk]))
    assert original.name in correction_page.content.decode()


def test_failed_rows_download_neutralises_formulas_and_keeps_numbers(service_users, client_for):
    """Opened in a spreadsheet, the failed rows run no formula: a header or cell that would be
    one gets an apostrophe before it; a whole number (+1, -1, a tab before 1) stays as the file
    had it, so the fixed file uploads back to the same values."""
    content = (
        'user_id,login_count,"=HYPERLINK(""http://evil.example"",""x"")",post_count\n'
        "@SUM(1),+1,=1+1,-1\n"
        "U00001,-1,\"=cmd|' /C calc'!A0\",\t1\n"
        "U00002,+cmd,-2+3,1\n"
        "U00003,1,x,2\n"
    )
    execution = _import(content.encode(), "formulas.csv")
    url = reverse("admin:logs_execution_failed_rows", args=[execution.pk])
    response = _english(client_for("uploader")).get(url)
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == [
        "user_id",
        "login_count",
        '\'=HYPERLINK("http://evil.example","x")',
        "post_count",
        "error",
    ]
    assert [row[:-1] for row in rows[1:]] == [
        ["'@SUM(1)", "+1", "'=1+1", "-1"],
        ["U00001", "-1", "'=cmd|' /C calc'!A0", "\t1"],
        ["U00002", "'+cmd", "'-2+3", "1"],
    ]
    assert rows[3][-1] == 'login_count: not an integer: "+cmd"'


def test_failed_rows_of_an_execution_without_a_stored_file_is_404(client_for, tmp_path: Path):
    """A run imported from a path that is gone has nothing to download from."""
    execution = Execution.objects.create(
        name="user-log-20260101-000000",
        status=Execution.Status.COMPLETED,
        source=str(tmp_path / "gone.csv"),
        failed_count=1,
    )
    url = reverse("admin:logs_execution_failed_rows", args=[execution.pk])
    assert client_for("auditor").get(url).status_code == 404
