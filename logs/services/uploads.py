"""Admin uploads: dry-run an uploaded CSV, keep it in storage, and queue its run on confirmation.

The flow is upload → preview → confirm. Between the two requests the pending upload lives in the
uploader's session (its storage name and the dry run's numbers), so nobody else can confirm it.

The session cannot decide alone: two requests of one session (a double click, or confirm and
cancel at once) read the same pending upload. Each decision on it is therefore claimed in the
database first (``UploadClaim``, one row per token): the first request inserts the claim, a
concurrent one waits on that row until the first commits and then reads what was decided. A
confirmed claim commits together with its pending Execution, whose run is queued after commit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from logs.models import Execution, UploadClaim
from logs.selectors import corrected_execution
from logs.services.executions import FailReason, error_text, execution_fail
from logs.services.ingest import IngestRejected, IngestResult, execution_create, ingest_preview
from logs.services.upload_previews import previews_expire
from logs.tasks import execution_run_task

logger = logging.getLogger(__name__)

_SESSION_KEY = "pending_uploads"
_PENDING_KEPT = 10  # per session; the oldest pending upload beyond this is discarded


@dataclass
class PendingUpload:
    """An uploaded file waiting for confirmation, with what its dry run found."""

    token: str
    file_name: str
    stored_name: str  # in the default storage; "" when the dry run rejected the file
    execution_name: str  # as typed; "" means "generate one"
    force: bool
    preview: dict = field(default_factory=dict)  # IngestResult as plain data (session-safe)
    corrects: str = ""  # name of the completed import whose failed rows this file fixes

    @property
    def rejected(self) -> bool:
        return bool(self.preview.get("rejected"))


class UploadAlreadyDecided(Exception):
    """Another request confirmed or cancelled this pending upload first; ``claim`` says which."""

    def __init__(self, claim: UploadClaim) -> None:
        super().__init__(f"upload {claim.token} was already {claim.outcome}")
        self.claim = claim


class UploadFileMissing(Exception):
    """The stored file of a pending upload is gone: there is nothing to run."""


def _preview_data(result: IngestResult) -> dict:
    data = asdict(result)
    data.pop("execution")
    return data


@contextlib.contextmanager
def _local_path(uploaded_file: UploadedFile) -> Iterator[Path]:
    """A path on disk for the upload: Django's temporary file, or a copy of a small one."""
    if hasattr(uploaded_file, "temporary_file_path"):
        yield Path(uploaded_file.temporary_file_path())
        return
    handle, name = tempfile.mkstemp(prefix="auditsite-upload-", suffix=".csv")
    try:
        with os.fdopen(handle, "wb") as target:
            for chunk in uploaded_file.chunks():
                target.write(chunk)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


FILE_NAME_LENGTH = Execution._meta.get_field("file_name").max_length


def _storage_name() -> str:
    # Same folder scheme as Execution.file, under a generated name: any file name fits the
    # column and the file system; the name the uploader gave is kept as data (file_name).
    return Execution.file.field.generate_filename(None, f"{uuid.uuid4().hex}.csv")


def upload_receive(
    *, uploaded_file: UploadedFile, execution_name: str, force: bool, corrects: str = ""
) -> PendingUpload:
    """Dry-run the uploaded file; unless rejected, keep it in storage until confirmed (or
    until it expires, UPLOAD_PREVIEW_HOURS later)."""
    previews_expire()
    file_name = Path(uploaded_file.name or "upload.csv").name[:FILE_NAME_LENGTH]
    with _local_path(uploaded_file) as path:
        result = ingest_preview(
            path=path,
            file_name=file_name,
            execution_name=execution_name or None,
            force=force,
        )
    stored_name = ""
    if not result.rejected:
        # Streamed chunk by chunk; on local disk Django's temporary file is simply moved.
        stored_name = default_storage.save(_storage_name(), uploaded_file)
    return PendingUpload(
        token=uuid.uuid4().hex,
        file_name=file_name,
        stored_name=stored_name,
        execution_name=execution_name,
        force=force,
        preview=_preview_data(result),
        corrects=corrects,
    )


def upload_remember(*, session, pending: PendingUpload) -> None:
    """Keep a pending upload in the session; the oldest beyond a few are discarded with files."""
    uploads = dict(session.get(_SESSION_KEY, {}))
    uploads[pending.token] = asdict(pending)
    while len(uploads) > _PENDING_KEPT:
        oldest = next(iter(uploads))
        with contextlib.suppress(UploadAlreadyDecided):  # confirmed meanwhile: it stays
            upload_discard(pending=PendingUpload(**uploads.pop(oldest)))
    session[_SESSION_KEY] = uploads


def upload_recall(*, session, token: str) -> PendingUpload | None:
    """The pending upload of this session with this token, if any."""
    data = session.get(_SESSION_KEY, {}).get(token)
    return PendingUpload(**data) if data else None


def upload_forget(*, session, token: str) -> None:
    """Drop a pending upload from the session (its file stays unless discarded)."""
    uploads = dict(session.get(_SESSION_KEY, {}))
    if uploads.pop(token, None) is not None:
        session[_SESSION_KEY] = uploads


def _upload_claim(*, pending: PendingUpload, outcome: str, claimed_by=None) -> UploadClaim:
    """Inside a transaction: take the one decision on ``pending`` for ``outcome``.

    The claim's primary key is the token. A concurrent request inserting the same token waits on
    the uncommitted row until its holder ends, then fails and reads the committed claim (read
    committed: the next statement sees it); ``UploadAlreadyDecided`` carries it.
    """
    try:
        with transaction.atomic():
            return UploadClaim.objects.create(
                token=pending.token,
                stored_name=pending.stored_name,
                outcome=outcome,
                claimed_by=claimed_by,
            )
    except IntegrityError:
        pass
    raise UploadAlreadyDecided(
        UploadClaim.objects.select_related("execution").get(token=pending.token)
    )


def upload_discard(*, pending: PendingUpload, discarded_by=None) -> None:
    """Cancel an upload that will not be run and delete its stored file.

    Raises ``UploadAlreadyDecided`` when another request confirmed (or cancelled) it first; a
    confirmed upload keeps its file.
    """
    with transaction.atomic():
        _upload_claim(
            pending=pending, outcome=UploadClaim.Outcome.CANCELLED, claimed_by=discarded_by
        )
    # Deleted once the cancellation is recorded: a confirm arriving now finds the claim and stops.
    if pending.stored_name:
        default_storage.delete(pending.stored_name)


def upload_confirm(*, pending: PendingUpload, uploaded_by) -> Execution:
    """Claim the upload, create its pending Execution and queue its run after commit.

    Raises ``UploadAlreadyDecided`` when another request confirmed or cancelled it first,
    ``UploadFileMissing`` when its stored file is gone (nothing is recorded then), and
    ``IngestRejected`` (with the recorded rejected Execution) when the run is refused before it
    starts, e.g. the execution name was taken since the preview.
    """
    rejection: IngestRejected | None = None
    with transaction.atomic():
        claim = _upload_claim(
            pending=pending, outcome=UploadClaim.Outcome.CONFIRMED, claimed_by=uploaded_by
        )
        if not pending.stored_name or not default_storage.exists(pending.stored_name):
            msg = f"the stored file of upload {pending.token} is gone"
            raise UploadFileMissing(msg)  # rolls the claim back: there is nothing to decide
        # The size is known now: the progress bar has its scale before the run starts (the
        # engine records it again, inside its own transaction, when it finishes).
        size = default_storage.size(pending.stored_name)
        try:
            execution = execution_create(
                file_name=pending.file_name,
                source="admin upload",
                source_kind=Execution.SourceKind.UPLOAD,
                stored_file=pending.stored_name,
                uploaded_by=uploaded_by,
                execution_name=pending.execution_name or None,
                force=pending.force,
                corrects=corrected_execution(pending.corrects) if pending.corrects else None,
            )
        except IngestRejected as exc:  # recorded with the claim: a rejection must stay known
            rejection = exc
            claim.execution = exc.execution
        else:
            Execution.objects.filter(pk=execution.pk).update(size_bytes=size)
            # The worker must find the committed Execution; queued once claim and Execution
            # are committed together, so a pending Execution always has its run on the way.
            transaction.on_commit(lambda: execution_enqueue(execution_id=execution.pk))
            claim.execution = execution
        claim.save(update_fields=["execution"])
    if rejection is not None:
        raise rejection
    return execution


def execution_enqueue(*, execution_id: int) -> bool:
    """Queue the run of a pending Execution; if the broker cannot take it, mark it failed.

    A run that was never queued would wait forever; failed, it says why, and its name and file
    may be used again.
    """
    try:
        execution_run_task.delay(execution_id)
    except Exception as exc:  # noqa: BLE001 - any broker error: record it, do not lose it
        logger.exception("could not queue execution %s", execution_id)
        execution_fail(
            execution_id=execution_id,
            reason=FailReason.NOT_QUEUED,
            from_statuses=(Execution.Status.PENDING,),
            error=error_text(exc),
        )
        return False
    return True
