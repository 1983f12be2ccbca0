"""The inbox (SPEC §7a): every new ``*.csv`` under ``INBOX_URI`` — a folder, or
``s3://bucket/prefix/`` — is imported exactly once through the upload pipeline, then moved to
``processed/`` or ``rejected/`` inside the inbox.

Exactly once, whatever crashes where. Each object goes through three recorded steps, each
committed before the next begins, so a pickup that dies anywhere leaves a state the next pickup
finishes from (it looks at the open ledger items first):

1. **take**: its pending Execution (``source_kind`` "inbox", ``source`` = its URI) and its
   ledger row (``InboxItem``, state ``taken``) are created in one transaction;
2. **import**: ``execution_run`` — the upload's pipeline, its own transaction; a dead run is
   found ``running`` with its run lock free, marked failed, and run again as a new attempt
   (``MAX_ATTEMPTS`` in all, then the object goes to ``rejected/``);
3. **move**: the destination is chosen and recorded (state ``moving``), then the object is
   moved (folder: the sidecar ``<name>.json`` is written, then the file renamed; S3: copied with
   the execution in its metadata, then deleted) and the item closed (``done``). Repeating a move
   is harmless: an object already at its destination, or no longer the one taken (another
   version under the same name), is not touched again.

An object is never imported twice: it is taken only when no open item has its URI (a unique
constraint), and an item's Execution is run again only when it is known to have applied
nothing (``failed``). It is never lost: it leaves the inbox only in step 3, after its outcome
is committed. The duplicate-content rule of an upload still applies: the same bytes dropped
again are rejected, naming the earlier execution.

Two pickups at once (beat and ``manage.py pickup_inbox``, or two beat ticks over a long
import) share the work: each object is handled under a session advisory lock on its URI
(``pg_try_advisory_lock``), so one pickup takes it and the other leaves it and moves on. The
lock is held on the pickup's database connection, so a pickup killed mid-way releases it and
the next pickup resumes that object's ledger item. Two URIs whose hashes collide merely wait
for the next pickup.

Files still being written are left for the next pickup: in a folder, an object is taken only
when its size and modification time are the same at two looks ``INBOX_SETTLE_SECONDS`` apart
(writers may also write ``name.csv.part`` and rename it, which is never listed); S3 objects
appear whole. Dot-files and sub-folders are never listed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import quote

from botocore.exceptions import ClientError
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from logs.models import Execution, InboxItem, JobRun
from logs.s3 import s3_client
from logs.services.ingest import (
    ExecutionNotPending,
    execution_create,
    execution_fail_if_abandoned,
    execution_run,
)
from logs.services.job_runs import job_run_record
from logs.services.sources import path_local, path_text

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # imports of one object that failed (crash, lost worker) before it is set aside
PROCESSED, REJECTED = "processed", "rejected"
_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('auditsite inbox'), hashtext(%s))"
_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtext('auditsite inbox'), hashtext(%s))"
ITEM_NAME_LENGTH = InboxItem._meta.get_field("file_name").max_length
# The longest name beside a moved file is its sidecar's while it is written, ".NAME.json.part",
# and NAME may get a ".ID" (up to 20 characters) when its own is taken: a moved file's name
# keeps room for both within the file system's 255 bytes.
_MOVED_NAME_BYTES = 255 - len("..json.part") - 20


class InboxError(Exception):
    """The inbox cannot be read or written, or some objects could not be handled."""


@dataclass(frozen=True)
class InboxObject:
    """One object waiting in the inbox."""

    uri: str  # a path, or s3://bucket/key
    name: str  # its file name
    size: int
    version: str  # S3 ETag, or the file's mtime in nanoseconds
    modified: datetime


class Inbox(Protocol):
    """A place files are dropped into: a folder or an S3 prefix."""

    uri: str

    def objects(self) -> list[InboxObject]:
        """The ``*.csv`` objects directly in the inbox, oldest first."""
        ...

    def look(self, name: str) -> InboxObject | None:
        """The object of that name now, or None when there is none."""
        ...

    def settled(self, objects: list[InboxObject]) -> tuple[list[InboxObject], list[InboxObject]]:
        """(complete, still being written) of the objects listed."""
        ...

    def destination(self, *, folder: str, name: str, item_id: int) -> str:
        """A free URI for the object in ``folder`` (processed or rejected)."""
        ...

    def move(self, *, item: InboxItem, marks: dict[str, str]) -> bool:
        """Move the item's object to its destination with ``marks`` beside it (sidecar or
        metadata); False when the object taken was no longer there (already moved)."""
        ...


def _settle_wait(seconds: float) -> None:
    """The pause between the two looks at a folder (a named step, so tests can write into a
    file while it lasts)."""
    time.sleep(seconds)


class FolderInbox:
    """A local folder; processed/ and rejected/ are folders inside it."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.path = Path(uri).expanduser().resolve()

    def _object(self, path: Path) -> InboxObject | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        # A name that is not UTF-8 is known by its path_text everywhere (ledger, execution,
        # messages); the file is found again from it (``path_local``).
        return InboxObject(
            uri=path_text(str(path)),
            name=path_text(path.name),
            size=stat.st_size,
            version=str(stat.st_mtime_ns),
            modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
        )

    def objects(self) -> list[InboxObject]:
        if not self.path.is_dir():
            msg = f"the inbox folder {self.path} does not exist"
            raise InboxError(msg)
        found = []
        with os.scandir(self.path) as entries:
            for entry in entries:
                if _is_candidate(entry.name) and entry.is_file(follow_symlinks=False):
                    if (each := self._object(Path(entry.path))) is not None:
                        found.append(each)
        return sorted(found, key=lambda each: (each.modified, each.name))

    def look(self, name: str) -> InboxObject | None:
        return self._object(path_local(str(self.path / name)))

    def settled(self, objects: list[InboxObject]) -> tuple[list[InboxObject], list[InboxObject]]:
        if not objects:
            return [], []
        _settle_wait(settings.INBOX_SETTLE_SECONDS)
        complete, growing = [], []
        for each in objects:
            now = self.look(each.name)
            if now is None:
                continue  # taken away meanwhile
            if (now.size, now.version) == (each.size, each.version):
                complete.append(each)
            else:
                growing.append(now)
        return complete, growing

    def destination(self, *, folder: str, name: str, item_id: int) -> str:
        target = self.path / folder / _name_fitted(name)
        if target.exists() or _sidecar(target).exists():
            target = target.with_name(f"{target.stem}.{item_id}{target.suffix}")
        return str(target)

    def move(self, *, item: InboxItem, marks: dict[str, str]) -> bool:
        target = Path(item.destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        # The sidecar first: a file in processed/ or rejected/ always has one.
        partial = target.with_name(f".{target.name}.json.part")
        partial.write_text(json.dumps(marks, indent=2, ensure_ascii=False) + "\n")
        os.replace(partial, _sidecar(target))
        current = self.look(_name_in_inbox(item))
        if current is None or current.version != item.version:
            return False  # moved already (or another file now has its name: not ours)
        _rename(path_local(current.uri), target)
        return True


def _rename(source: Path, target: Path) -> None:
    """The move of a file into processed/ or rejected/ (one rename: atomic)."""
    os.rename(source, target)


def _sidecar(target: Path) -> Path:
    return target.with_name(f"{target.name}.json")


def _name_fitted(name: str) -> str:
    """``name`` for processed/ or rejected/: as it is, or its stem cut until it fits beside its
    sidecar (a ``path_text`` is up to four times its file's name)."""
    if len(name.encode()) <= _MOVED_NAME_BYTES:
        return name
    path = PurePosixPath(name)
    room = _MOVED_NAME_BYTES - len(path.suffix.encode())
    return path.stem.encode()[:room].decode("utf-8", "ignore") + path.suffix


def _name_in_inbox(item: InboxItem) -> str:
    """The object's name in its inbox, whole (objects are taken only directly in it; the
    item's ``file_name`` is cut to its column)."""
    return item.uri.rsplit("/", 1)[-1]


def _is_candidate(name: str) -> bool:
    return name.lower().endswith(".csv") and not name.startswith(".")


class S3Inbox:
    """``s3://bucket/prefix/``; processed/ and rejected/ are prefixes inside it."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not self.bucket:
            msg = f"INBOX_URI {uri!r} names no bucket"
            raise InboxError(msg)
        self.prefix = prefix if not prefix or prefix.endswith("/") else f"{prefix}/"
        self.client = s3_client()

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def objects(self) -> list[InboxObject]:
        found = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"
        )
        for page in pages:
            for entry in page.get("Contents", []):
                name = entry["Key"][len(self.prefix) :]
                if _is_candidate(name):
                    found.append(
                        InboxObject(
                            uri=self._uri(entry["Key"]),
                            name=name,
                            size=entry["Size"],
                            version=entry["ETag"],
                            modified=entry["LastModified"],
                        )
                    )
        return sorted(found, key=lambda each: (each.modified, each.name))

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def look(self, name: str) -> InboxObject | None:
        key = self.prefix + name
        head = self._head(key)
        if head is None:
            return None
        return InboxObject(
            uri=self._uri(key),
            name=name,
            size=head["ContentLength"],
            version=head["ETag"],
            modified=head["LastModified"],
        )

    def settled(self, objects: list[InboxObject]) -> tuple[list[InboxObject], list[InboxObject]]:
        return list(objects), []  # an S3 object appears whole, when its upload completes

    def destination(self, *, folder: str, name: str, item_id: int) -> str:
        key = f"{self.prefix}{folder}/{name}"
        if self._head(key) is not None:
            path = PurePosixPath(name)
            key = f"{self.prefix}{folder}/{path.stem}.{item_id}{path.suffix}"
        return self._uri(key)

    def move(self, *, item: InboxItem, marks: dict[str, str]) -> bool:
        current = self.look(_name_in_inbox(item))
        if current is None or current.version != item.version:
            return False  # copied and deleted already (or a new object has its name)
        source_key = current.uri.removeprefix(f"s3://{self.bucket}/")
        target_key = item.destination.removeprefix(f"s3://{self.bucket}/")
        _s3_copy(self.client, bucket=self.bucket, source=source_key, target=target_key, marks=marks)
        _s3_delete(self.client, bucket=self.bucket, key=source_key)
        return True


def _s3_copy(client: Any, *, bucket: str, source: str, target: str, marks: dict[str, str]) -> None:
    """First half of an S3 move: the copy, with the execution in its metadata."""
    client.copy_object(
        Bucket=bucket,
        Key=target,
        CopySource={"Bucket": bucket, "Key": source},
        Metadata={key: quote(value, safe=" /:#-_.") for key, value in marks.items()},
        MetadataDirective="REPLACE",
    )


def _s3_delete(client: Any, *, bucket: str, key: str) -> None:
    """Second half of an S3 move: the original goes."""
    client.delete_object(Bucket=bucket, Key=key)


def inbox_open(*, uri: str) -> Inbox:
    """The inbox at ``uri``: ``s3://bucket/prefix/`` or a folder."""
    if uri.startswith("s3://"):
        return S3Inbox(uri)
    return FolderInbox(uri)


def _inbox_of(item: InboxItem) -> Inbox:
    """The inbox an item was taken from (objects are taken only directly in it)."""
    if item.uri.startswith("s3://"):
        return S3Inbox(item.uri[: item.uri.rindex("/") + 1])
    return FolderInbox(str(Path(item.uri).parent))


@contextlib.contextmanager
def _object_lock(uri: str) -> Iterator[bool]:
    """Whether this pickup holds the object's lock (see the module docstring) for the block."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [uri])
        locked = bool(cursor.fetchone()[0])
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute(_UNLOCK_SQL, [uri])


@dataclass
class PickupReport:
    """What one pickup did, as its JobRun's details."""

    inbox: str
    taken: list[dict[str, Any]] = field(default_factory=list)
    left: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_details(self) -> dict[str, Any]:
        return {"inbox": self.inbox, "taken": self.taken, "left": self.left, "errors": self.errors}


def _marks(item: InboxItem, execution: Execution) -> dict[str, str]:
    return {
        "auditsite-execution": execution.name,
        "auditsite-execution-id": str(execution.pk),
        "auditsite-status": execution.status,
        "auditsite-admin-path": reverse("admin:logs_execution_change", args=[execution.pk]),
        "auditsite-source": item.uri,
        "auditsite-sha256": execution.sha256,
        "auditsite-reason": execution.error_message[:500],
    }


def _item_take(*, obj: InboxObject, job_run: JobRun) -> InboxItem:
    """Step 1: the object's pending Execution and its ledger item, committed together."""
    with transaction.atomic():
        execution = execution_create(
            file_name=obj.name, source=obj.uri, source_kind=Execution.SourceKind.INBOX
        )
        Execution.objects.filter(pk=execution.pk).update(size_bytes=obj.size)
        return InboxItem.objects.create(
            uri=obj.uri,
            file_name=obj.name[:ITEM_NAME_LENGTH],
            size_bytes=obj.size,
            version=obj.version,
            execution=execution,
            job_run=job_run,
        )


def _item_import(*, item: InboxItem) -> Execution:
    """Step 2: run the item's Execution unless it ran; a failed one runs again as a new
    attempt (a failed run applied nothing), up to MAX_ATTEMPTS."""
    execution = item.execution
    execution.refresh_from_db()
    if execution.status == Execution.Status.RUNNING:
        execution_fail_if_abandoned(execution=execution)  # its pickup died mid-import
        execution.refresh_from_db()
    if execution.status == Execution.Status.FAILED and item.attempts < MAX_ATTEMPTS:
        with transaction.atomic():
            execution = execution_create(
                file_name=_name_in_inbox(item),
                source=item.uri,
                source_kind=Execution.SourceKind.INBOX,
            )
            item.execution = execution
            item.attempts += 1
            item.save(update_fields=["execution", "attempts"])
    if execution.status == Execution.Status.PENDING:
        try:
            execution_run(execution=execution)
        except ExecutionNotPending:
            pass  # claimed by another run meanwhile (the stale-run job): looked at below
        execution.refresh_from_db()
    return execution


def _item_move(*, item: InboxItem) -> None:
    """Step 3: the move to processed/ or rejected/, then the item is closed."""
    execution = item.execution
    moved = _inbox_of(item).move(item=item, marks=_marks(item, execution))
    item.state = InboxItem.State.DONE
    item.done_at = timezone.now()
    if not moved:
        item.note = "the object was no longer in the inbox when it was moved (moved already)"
    item.save(update_fields=["state", "done_at", "note"])


def _item_finish(*, item: InboxItem, report: PickupReport) -> None:
    """Take an item from wherever it stopped to done; an error is reported, the item left
    for the next pickup."""
    try:
        if item.state == InboxItem.State.TAKEN:
            execution = _item_import(item=item)
            if execution.status in (Execution.Status.PENDING, Execution.Status.RUNNING):
                report.left.append({"object": item.uri, "why": "its import is still running"})
                return
            if execution.status == Execution.Status.FAILED and item.attempts < MAX_ATTEMPTS:
                report.errors.append(
                    {
                        "object": item.uri,
                        "error": f"import failed (attempt {item.attempts} of {MAX_ATTEMPTS}): "
                        f"{execution.error_message}; it is tried again by the next pickup",
                    }
                )
                return
            outcome = {
                Execution.Status.COMPLETED: InboxItem.Outcome.PROCESSED,
                Execution.Status.REJECTED: InboxItem.Outcome.REJECTED,
            }.get(Execution.Status(execution.status), InboxItem.Outcome.FAILED)
            item.outcome = outcome
            item.destination = _inbox_of(item).destination(
                folder=PROCESSED if outcome == InboxItem.Outcome.PROCESSED else REJECTED,
                name=_name_in_inbox(item),
                item_id=item.pk,
            )
            item.state = InboxItem.State.MOVING
            item.save(update_fields=["outcome", "destination", "state"])
        if item.state == InboxItem.State.MOVING:
            _item_move(item=item)
    except Exception as exc:  # noqa: BLE001 - one object's trouble never stops the others
        logger.exception("inbox object %s", item.uri)
        report.errors.append({"object": item.uri, "error": f"{type(exc).__name__}: {exc}"})
        return
    execution = item.execution
    report.taken.append(
        {
            "object": item.uri,
            "execution": execution.name,
            "execution_id": execution.pk,
            "status": execution.status,
            "attempts": item.attempts,
            "moved_to": item.destination,
        }
    )


def _pickup(*, inbox: Inbox, run: JobRun, dry_run: bool, report: PickupReport) -> None:
    # Items left open by an earlier pickup first: they are the oldest.
    for item in InboxItem.objects.exclude(state=InboxItem.State.DONE).order_by("taken_at", "pk"):
        with _object_lock(item.uri) as locked:
            if not locked:
                report.left.append({"object": item.uri, "why": "taken by another pickup"})
                continue
            item.refresh_from_db()
            if item.state == InboxItem.State.DONE:
                continue
            if dry_run:
                report.taken.append({"object": item.uri, "would": f"resume ({item.state})"})
                continue
            _item_finish(item=item, report=report)
    complete, growing = inbox.settled(inbox.objects())
    report.left += [{"object": each.uri, "why": "still being written"} for each in growing]
    for obj in complete:
        with _object_lock(obj.uri) as locked:
            if not locked:
                report.left.append({"object": obj.uri, "why": "taken by another pickup"})
                continue
            if InboxItem.objects.filter(uri=obj.uri).exclude(state=InboxItem.State.DONE).exists():
                continue  # left open above (still running, or failed to move): not new
            now = inbox.look(obj.name)
            if now is None:
                continue  # moved by another pickup meanwhile
            if now.version != obj.version:
                report.left.append({"object": obj.uri, "why": "changed since it was listed"})
                continue
            if dry_run:
                report.taken.append({"object": obj.uri, "would": "import"})
                continue
            _item_finish(item=_item_take(obj=now, job_run=run), report=report)


def inbox_pickup(*, dry_run: bool = False) -> JobRun | None:
    """The inbox job: import every new object of ``INBOX_URI`` once and move it (see the module
    docstring); None when no inbox is configured. Its JobRun lists what it took and left, and
    fails when some object could not be handled (that object waits for the next pickup)."""
    if not settings.INBOX_URI:
        return None
    with job_run_record(job=JobRun.Job.INBOX, dry_run=dry_run, concurrent=True) as run:
        report = PickupReport(inbox=settings.INBOX_URI)
        try:
            _pickup(
                inbox=inbox_open(uri=settings.INBOX_URI), run=run, dry_run=dry_run, report=report
            )
        except Exception as exc:
            report.errors.append(
                {"object": settings.INBOX_URI, "error": f"{type(exc).__name__}: {exc}"}
            )
            raise
        finally:
            run.details = report.as_details()
            run.save(update_fields=["details"])
        if report.errors:
            msg = "; ".join(f"{error['object']}: {error['error']}" for error in report.errors)
            raise InboxError(msg)
    return run


def inbox_backlog() -> int | None:
    """Objects waiting in the inbox now (listed, not yet taken); None without an inbox."""
    if not settings.INBOX_URI:
        return None
    return len(inbox_open(uri=settings.INBOX_URI).objects())
