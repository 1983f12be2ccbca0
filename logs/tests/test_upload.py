"""The upload flow over HTTP: upload → preview (dry run) → confirm → task → result and file."""

import io
import os
import uuid
from dataclasses import asdict, replace

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.db import connection
from django.urls import reverse

from logs import views
from logs.models import Execution, ProcessingLog, UploadClaim
from logs.services import uploads
from logs.services.uploads import upload_confirm, upload_remember
from logs.tests.factories import ExecutionFactory
from logs.tests.test_seed_sql import SEED_6_2
from users.services import demo_users_seed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

UPLOAD = reverse("admin:logs_execution_upload")
MIXED = (
    "user_id,login_count,post_count,extra\n"
    "U00001,2,1,x\n"
    "U99999,5,,x\n"
    "U00002,abc,3,x\n"
    "U00003,-1,0,x\n"
)


@pytest.fixture
def users(db):
    """Service users U00001–U00005."""
    demo_users_seed(count=5)


@pytest.fixture
def uploader(client_for):
    """A client logged in as an uploader, reading English pages."""
    client = client_for("uploader")
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def kept_chunks(monkeypatch) -> list[tuple[str, int]]:
    """Each chunk of an uploaded file as a handler keeps it, in arrival order: ("memory", size)
    or ("disk", size) for the temporary file."""
    kept: list[tuple[str, int]] = []
    real_memory = MemoryFileUploadHandler.receive_data_chunk
    real_disk = TemporaryFileUploadHandler.receive_data_chunk

    def memory(self, raw_data, start):
        if self.activated:  # otherwise it hands the chunk on untouched
            kept.append(("memory", len(raw_data)))
        return real_memory(self, raw_data, start)

    def disk(self, raw_data, start):
        kept.append(("disk", len(raw_data)))
        return real_disk(self, raw_data, start)

    monkeypatch.setattr(MemoryFileUploadHandler, "receive_data_chunk", memory)
    monkeypatch.setattr(TemporaryFileUploadHandler, "receive_data_chunk", disk)
    return kept


def _file(content: str | bytes, name: str = "activity.csv") -> io.BytesIO:
    handle = io.BytesIO(content.encode() if isinstance(content, str) else content)
    handle.name = name
    return handle


def _upload(client, content, *, name="activity.csv", **fields):
    return client.post(UPLOAD, {"file": _file(content, name), **fields})


def _stored_files(media) -> list[str]:
    return [
        os.path.relpath(os.path.join(root, file), media)
        for root, _, files in os.walk(media)
        for file in files
    ]


def test_upload_preview_confirm_run_download(
    uploader, users, eager_tasks, media, django_capture_on_commit_callbacks
):
    """The whole flow: the preview's numbers are what the run does; the file is kept as sent."""
    response = _upload(uploader, MIXED, name="user-log-20260105-093000.csv")
    assert response.status_code == 302
    assert Execution.objects.count() == 0 and ProcessingLog.objects.count() == 0  # a dry run
    preview_page = uploader.get(response["Location"])
    preview = preview_page.context["preview"]
    assert (preview["success_count"], preview["failed_count"], preview["skipped_count"]) == (
        3,
        4,
        1,
    )
    assert preview["execution_name"] == "user-log-20260105-093000"
    html = preview_page.content.decode()
    assert "unknown column ignored" in html
    assert [p["row_number"] for p in preview["problems"]] == [3, 3, 4, 5]
    assert "User not found in users table" in html

    token = preview_page.context["pending"].token
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = uploader.post(
            reverse("admin:logs_execution_upload_confirm", args=[token]), {"confirm": "1"}
        )
    assert len(callbacks) == 1  # the task is queued only once the Execution is committed
    execution = Execution.objects.get()
    assert response["Location"] == reverse("admin:logs_execution_change", args=[execution.pk])
    assert execution.status == Execution.Status.COMPLETED
    assert execution.uploaded_by.username == "test-uploader"
    assert (execution.success_count, execution.failed_count, execution.skipped_count) == (3, 4, 1)
    assert execution.file.name.startswith("executions/")
    assert _stored_files(media) == [execution.file.name]

    progress = uploader.get(reverse("admin:logs_execution_progress", args=[execution.pk])).json()
    assert progress["done"] and progress["percent"] == 100 and progress["status"] == "completed"

    detail = uploader.get(reverse("admin:logs_execution_change", args=[execution.pk]))
    with connection.cursor() as cursor:
        # The seed's query for its own example name, asked about this execution instead.
        cursor.execute(SEED_6_2.replace("'user-log-20250802-093000'", "%s"), [execution.name])
        seed = {(status, ptype): count for status, count, ptype in cursor.fetchall()}
    shown = {
        (status, row["processing_type"]): row[status]
        for row in detail.context["breakdown_by_type"]
        for status in ("success", "failed", "skipped")
        if row[status]
    }
    assert shown == seed
    assert detail.context["breakdown_matches_record"]
    failed = detail.context["failed_cells"]
    assert [log.error_message for log in failed.object_list][0] == "User not found in users table"
    assert failed.paginator.count == 4

    download = uploader.get(reverse("admin:logs_execution_download", args=[execution.pk]))
    assert b"".join(download.streaming_content) == MIXED.encode()
    assert "user-log-20260105-093000.csv" in download["Content-Disposition"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text CSV file"),
        ("name,login_count\nU00001,1\n", "no user_id column"),
        ("user_id,nickname\nU00001,x\n", "no statistic column"),
        ("user_id,login_count,login_count\nU00001,1,2\n", "repeated column"),
        ("\n\n", "no header row"),
        (b"user_id,login_count\n\xff\xfe\xfa,1\n", "neither UTF-8 nor Shift_JIS"),
    ],
    ids=["binary", "no-user-id", "no-statistic", "repeated", "blank", "encoding"],
)
def test_rejected_files_get_a_clear_message(uploader, users, media, content, message):
    """A file the ingestion refuses shows its reason on the preview page; nothing is kept."""
    response = _upload(uploader, content)
    assert response.status_code == 302
    page = uploader.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert message in html
    assert 'id="rejection"' in html and "confirm-form" not in html
    assert _stored_files(media) == []
    assert Execution.objects.count() == 0


def test_empty_or_missing_file_is_a_form_error(uploader, users):
    """An empty file or none at all is refused by the form, with a message."""
    for data in ({"file": _file(b"")}, {}):
        response = uploader.post(UPLOAD, data)
        assert response.status_code == 200
        assert 'class="errorlist' in response.content.decode()


def _multipart(disposition: bytes) -> bytes:
    """A multipart body of one file part, its Content-Disposition parameters as given."""
    return (
        b'--B\r\nContent-Disposition: form-data; name="file"; ' + disposition + b"\r\n"
        b"Content-Type: text/csv\r\n\r\nuser_id,login_count\nU00001,1\n\r\n--B--\r\n"
    )


def test_a_file_name_that_is_not_utf8_is_never_a_server_error(
    uploader, users, media, eager_tasks, django_capture_on_commit_callbacks
):
    """A file name whose bytes are not UTF-8: sent raw, Django drops the part's header and the
    form asks for a file; percent-encoded (RFC 2231), each bad byte reads as U+FFFD and the file
    is imported under that name."""
    raw = uploader.generic(
        "POST",
        UPLOAD,
        _multipart(b'filename="\xff\xfeactivity.csv"'),
        content_type="multipart/form-data; boundary=B",
    )
    assert raw.status_code == 200 and 'class="errorlist' in raw.content.decode()
    assert _stored_files(media) == [] and not Execution.objects.exists()
    encoded = uploader.generic(
        "POST",
        UPLOAD,
        _multipart(b"filename*=UTF-8''%FF%FEactivity.csv"),
        content_type="multipart/form-data; boundary=B",
    )
    assert encoded.status_code == 302
    preview = uploader.get(encoded["Location"])
    assert preview.context["pending"].file_name == "\ufffd\ufffdactivity.csv"
    with django_capture_on_commit_callbacks(execute=True):
        uploader.post(
            reverse("admin:logs_execution_upload_confirm", args=[preview.context["pending"].token]),
            {"confirm": "1"},
        )
    execution = Execution.objects.get()
    assert (execution.status, execution.file_name) == (
        Execution.Status.COMPLETED,
        "\ufffd\ufffdactivity.csv",
    )


def test_file_beyond_max_upload_mb_is_refused(uploader, users, media, settings, kept_chunks):
    """A request declaring more than MAX_UPLOAD_MB is refused (413, with a message) before a
    byte of its file is kept; nothing is stored."""
    settings.MAX_UPLOAD_MB = 1
    body = "user_id,login_count\n" + "U00001,1\n" * 150_000  # 1.35 MB
    response = _upload(uploader, body)
    assert response.status_code == 413
    assert "larger than the limit of 1 MB" in response.content.decode()
    assert kept_chunks == []
    assert _stored_files(media) == []
    assert "pending_uploads" not in uploader.session


def test_file_passing_the_limit_is_cut_off_while_it_streams_in(
    uploader, users, media, settings, kept_chunks
):
    """A file passing MAX_UPLOAD_MB by less than the request's margin for form fields is
    stopped at the chunk that crosses the limit: the bytes before it are all that is kept."""
    settings.MAX_UPLOAD_MB = 1
    limit = 1024 * 1024
    body = "user_id,login_count\n" + "U00001,1\n" * ((limit + 20_000) // 9)  # 20 kB too many
    response = _upload(uploader, body)
    assert response.status_code == 413
    assert "larger than the limit of 1 MB" in response.content.decode()
    chunk = TemporaryFileUploadHandler.chunk_size
    sizes = [size for _, size in kept_chunks]
    assert len(sizes) > 1 and max(sizes) <= chunk  # it did stream in
    assert limit - chunk < sum(sizes) <= limit < len(body)
    assert _stored_files(media) == []


def test_duplicate_file_needs_force(
    uploader, users, eager_tasks, django_capture_on_commit_callbacks
):
    """The same content again is refused, naming the earlier run; "process again" allows it."""
    first = _upload(uploader, "user_id,login_count\nU00001,1\n")
    token = uploader.get(first["Location"]).context["pending"].token
    with django_capture_on_commit_callbacks(execute=True):
        uploader.post(
            reverse("admin:logs_execution_upload_confirm", args=[token]), {"confirm": "1"}
        )
    earlier = Execution.objects.get()

    again = uploader.get(_upload(uploader, "user_id,login_count\nU00001,1\n")["Location"])
    assert "was already processed as" in again.content.decode()
    assert earlier.name in again.content.decode()

    forced = uploader.get(
        _upload(uploader, "user_id,login_count\nU00001,1\n", force="on")["Location"]
    )
    assert not forced.context["preview"]["rejected"]


def test_name_taken_between_preview_and_confirm(uploader, users):
    """An explicit name used meanwhile by a completed run: rejected, recorded, and said so."""
    response = _upload(uploader, "user_id,login_count\nU00001,1\n", execution_name="run-x")
    token = uploader.get(response["Location"]).context["pending"].token
    ExecutionFactory.create(name="run-x", status=Execution.Status.COMPLETED)
    response = uploader.post(
        reverse("admin:logs_execution_upload_confirm", args=[token]), {"confirm": "1"}, follow=True
    )
    rejected = Execution.objects.get(name="run-x", status=Execution.Status.REJECTED)
    assert response.redirect_chain[-1][0] == reverse(
        "admin:logs_execution_change", args=[rejected.pk]
    )
    assert "already used by a completed run" in response.content.decode()


def test_cancel_deletes_the_stored_file(uploader, users, media):
    """Cancelling on the preview removes the kept file and the pending upload."""
    response = _upload(uploader, "user_id,login_count\nU00001,1\n")
    token = uploader.get(response["Location"]).context["pending"].token
    assert len(_stored_files(media)) == 1
    response = uploader.post(
        reverse("admin:logs_execution_upload_confirm", args=[token]), {"cancel": "1"}
    )
    assert response["Location"] == UPLOAD
    assert _stored_files(media) == []
    assert Execution.objects.count() == 0
    expired = uploader.get(reverse("admin:logs_execution_upload_preview", args=[token]))
    assert expired.status_code == 302 and expired["Location"] == UPLOAD


def test_confirm_of_a_vanished_file_records_nothing(uploader, users, media):
    """A stored file gone before confirm (removed from storage): a message, no Execution."""
    response = _upload(uploader, "user_id,login_count\nU00001,1\n")
    pending = uploader.get(response["Location"]).context["pending"]
    default_storage.delete(pending.stored_name)
    response = uploader.post(
        reverse("admin:logs_execution_upload_confirm", args=[pending.token]),
        {"confirm": "1"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == UPLOAD
    assert "no longer waiting" in response.content.decode()
    assert Execution.objects.count() == 0
    assert not UploadClaim.objects.exists()


def test_a_confirmed_upload_is_kept_when_the_session_evicts_it(uploader, users):
    """Evicting an old pending upload from the session never deletes a confirmed one's file."""
    response = _upload(uploader, "user_id,login_count\nU00001,1\n")
    pending = uploader.get(response["Location"]).context["pending"]
    upload_confirm(pending=pending, uploaded_by=None)
    session = {"pending_uploads": {pending.token: asdict(pending)}}
    for _ in range(10):
        upload_remember(
            session=session, pending=replace(pending, token=uuid.uuid4().hex, stored_name="")
        )
    assert pending.token not in session["pending_uploads"]
    assert default_storage.exists(pending.stored_name)
    assert UploadClaim.objects.get(token=pending.token).outcome == "confirmed"


def test_another_session_cannot_confirm_an_upload(uploader, client_for, users):
    """A pending upload belongs to the session that sent it."""
    response = _upload(uploader, "user_id,login_count\nU00001,1\n")
    token = uploader.get(response["Location"]).context["pending"].token
    other = client_for("superuser")
    response = other.post(
        reverse("admin:logs_execution_upload_confirm", args=[token]), {"confirm": "1"}
    )
    assert response["Location"] == UPLOAD
    assert Execution.objects.count() == 0


def test_progress_of_a_running_execution(uploader, users):
    """While running, the JSON reports the phase and bytes read of the file size."""
    execution = ExecutionFactory.create(
        status=Execution.Status.RUNNING,
        size_bytes=1000,
        progress_phase="staging",
        progress_bytes=250,
        progress_rows=40,
    )
    data = uploader.get(reverse("admin:logs_execution_progress", args=[execution.pk])).json()
    assert data == {
        "status": "running",
        "status_label": "running",
        "phase": "staging",
        "phase_label": "reading rows",
        "rows": 40,
        "bytes": 250,
        "size": 1000,
        "percent": 25,
        "done": False,
        "outcome": "",
        "outcome_label": "",
        "reason": "",
    }
    page = uploader.get(reverse("admin:logs_execution_change", args=[execution.pk]))
    html = page.content.decode()
    assert 'id="execution-progress"' in html and 'data-done="false"' in html
    assert reverse("admin:logs_execution_progress", args=[execution.pk]) in html
    assert "<progress" in html and 'id="execution-outcome"' not in html


@pytest.mark.parametrize(
    ("status", "reason", "headline", "help_text"),
    [
        (
            "failed",
            "OperationalError: server closed the connection unexpectedly",
            "This run failed",
            "Nothing of this run was applied",
        ),
        (
            "rejected",
            "the file has no user_id column",
            "This file was rejected",
            "The file was refused before anything was applied",
        ),
    ],
)
def test_failed_or_rejected_run_shows_its_reason_not_a_bar(
    uploader, users, status, reason, headline, help_text
):
    """A failed or rejected run's page leads with its outcome and reason; no full bar."""
    execution = ExecutionFactory.create(
        status=status,
        error_message=reason,
        size_bytes=1000,
        progress_phase="applying",
        progress_bytes=1000,
    )
    data = uploader.get(reverse("admin:logs_execution_progress", args=[execution.pk])).json()
    assert data["done"] is True
    assert (data["outcome"], data["outcome_label"], data["reason"]) == (status, headline, reason)
    assert data["percent"] < 100
    html = uploader.get(reverse("admin:logs_execution_change", args=[execution.pk])).content
    html = html.decode()
    outcome = html[html.index('id="execution-outcome"') : html.index('id="execution-breakdown"')]
    assert 'role="alert"' in outcome and headline in outcome and help_text in outcome
    assert f'<p class="outcome-reason">{reason}</p>' in outcome
    assert "<progress" not in html and "100%" not in html
    assert "applying to counters and logs" not in html
    # The outcome comes before the form's fields, where the page starts.
    assert html.index('id="execution-outcome"') < html.index('class="form-row')


def test_failed_run_without_a_reason_says_so(uploader, users):
    """A failed run that recorded no message says that no reason was recorded."""
    execution = ExecutionFactory.create(status="failed")
    html = uploader.get(reverse("admin:logs_execution_change", args=[execution.pk]))
    assert "No reason was recorded." in html.content.decode()


def test_completed_run_shows_the_completed_outcome(uploader, users):
    """A completed run's page says it completed, with its counts, instead of a bar."""
    execution = ExecutionFactory.create(
        status="completed",
        rows_total=4,
        log_rows=8,
        success_count=3,
        failed_count=4,
        skipped_count=1,
    )
    data = uploader.get(reverse("admin:logs_execution_progress", args=[execution.pk])).json()
    assert (data["outcome"], data["outcome_label"], data["reason"]) == (
        "completed",
        "This run completed",
        "",
    )
    html = uploader.get(reverse("admin:logs_execution_change", args=[execution.pk]))
    html = html.content.decode()
    assert 'class="execution-outcome outcome-completed"' in html
    assert "4 data rows, 8 log rows: 3 success, 4 failed, 1 skipped." in html
    assert "<progress" not in html and 'role="alert"' not in html


def test_outcome_in_japanese(client_for, users):
    """The outcome headline and its explanation are translated (the UI's default language)."""
    execution = ExecutionFactory.create(status="failed", error_message="worker lost")
    html = client_for("uploader").get(reverse("admin:logs_execution_change", args=[execution.pk]))
    html = html.content.decode()
    assert "この実行は失敗しました" in html and "worker lost" in html
    assert "この実行の内容は何も適用されていません" in html


def test_execution_without_file_has_no_download(uploader, users):
    """An execution from the command line has no stored file: the download answers 404."""
    execution = ExecutionFactory.create(source="/data/cli.csv")
    response = uploader.get(reverse("admin:logs_execution_download", args=[execution.pk]))
    assert response.status_code == 404


def test_upload_above_the_memory_limit_streams_to_a_temporary_file(
    uploader, users, media, settings, monkeypatch, kept_chunks
):
    """A file above FILE_UPLOAD_MAX_MEMORY_SIZE is never held whole in memory: it arrives in
    chunks written to a temporary file, the dry run reads that file where it lies, and storage
    receives the same bytes."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = "user_id,login_count\n" + "U00001,1\n" * 20_000  # 180 kB: several chunks
    received, previewed, saved = [], [], []

    def upload_receive(*, uploaded_file, **kwargs):
        path = uploaded_file.temporary_file_path()  # only a temporary upload has one
        received.append((uploaded_file, path, os.path.getsize(path)))
        return real_receive(uploaded_file=uploaded_file, **kwargs)

    def ingest_preview(*, path, **kwargs):
        previewed.append(str(path))
        return real_preview(path=path, **kwargs)

    def save(self, name, content, *args, **kwargs):
        saved.append(content)
        return real_save(self, name, content, *args, **kwargs)

    storage_class = default_storage.__class__
    real_receive, real_preview = views.upload_receive, uploads.ingest_preview
    real_save = storage_class.save
    monkeypatch.setattr(views, "upload_receive", upload_receive)
    monkeypatch.setattr(uploads, "ingest_preview", ingest_preview)
    monkeypatch.setattr(storage_class, "save", save)
    response = _upload(uploader, body)

    chunk = TemporaryFileUploadHandler.chunk_size
    assert {kind for kind, _ in kept_chunks} == {"disk"}
    sizes = [size for _, size in kept_chunks]
    assert len(sizes) > 1 and max(sizes) <= chunk < len(body)
    assert sum(sizes) == len(body)
    ((uploaded, path, size),) = received
    assert isinstance(uploaded, TemporaryUploadedFile) and size == len(body)
    assert previewed == [path]  # read where it lies, not copied
    assert saved == [uploaded]  # storage moves or streams the file itself, never its bytes
    pending = uploader.get(response["Location"]).context["pending"]
    assert not pending.rejected and pending.preview["success_count"] == 20_000
    with default_storage.open(pending.stored_name) as stored:
        assert stored.read() == body.encode()


def test_broker_down_marks_the_execution_failed(
    uploader, users, monkeypatch, django_capture_on_commit_callbacks
):
    """If the run cannot be queued, the Execution says so instead of waiting forever."""
    from kombu.exceptions import OperationalError

    from logs.tasks import execution_run_task

    def unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(execution_run_task, "delay", unreachable)
    response = _upload(uploader, "user_id,login_count\nU00001,1\n")
    token = uploader.get(response["Location"]).context["pending"].token
    with django_capture_on_commit_callbacks(execute=True):
        response = uploader.post(
            reverse("admin:logs_execution_upload_confirm", args=[token]), {"confirm": "1"}
        )
    execution = Execution.objects.get()
    assert response.status_code == 302
    assert execution.status == Execution.Status.FAILED
    assert "could not be queued" in execution.error_message
