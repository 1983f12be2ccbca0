"""The inbox (SPEC §7a) on a real folder and on S3 (moto): each object imported exactly once
through the upload pipeline and moved, whatever crashes where, with two pickups at once."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.db import connection
from moto import mock_aws

from logs.models import Execution, InboxItem, JobRun
from logs.services import inbox as inbox_service
from logs.services.inbox import MAX_ATTEMPTS, inbox_pickup
from logs.services.job_runs import JobFailed
from logs.services.sources import path_text
from logs.tests.support import command_run
from users.services import demo_users_seed

GOOD = b"user_id,login_count,post_count\nU00001,2,1\nU00002,0,3\n"
OTHER = b"user_id,login_count\nU00003,4\n"
BAD = b"no,user,column\n1,2,3\n"  # rejected: the header has no user_id
BUCKET = "auditsite-inbox-test"


class FolderDrop:
    """A real folder as the inbox."""

    kind = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.uri = str(root)
        self._clock = time.time() - 3600

    def put(self, name: str, body: bytes) -> str:
        path = self.root / name
        path.write_bytes(body)
        self._clock += 10  # oldest first is by modification time: make the order explicit
        os.utime(path, (self._clock, self._clock))
        return str(path)

    def names(self, folder: str = "") -> list[str]:
        where = self.root / folder if folder else self.root
        if not where.is_dir():
            return []
        return sorted(p.name for p in where.iterdir() if p.is_file() and p.suffix == ".csv")

    def marks(self, folder: str, name: str) -> dict[str, str]:
        return json.loads((self.root / folder / f"{name}.json").read_text())

    def uri_of(self, name: str) -> str:
        return str(self.root / name)


class S3Drop:
    """An S3 prefix (moto) as the inbox."""

    kind = "s3"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.uri = f"s3://{BUCKET}/incoming/"

    def put(self, name: str, body: bytes) -> str:
        self.client.put_object(Bucket=BUCKET, Key=f"incoming/{name}", Body=body)
        time.sleep(0.01)
        return self.uri_of(name)

    def names(self, folder: str = "") -> list[str]:
        prefix = f"incoming/{folder}/" if folder else "incoming/"
        listed = self.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix, Delimiter="/")
        return sorted(entry["Key"][len(prefix) :] for entry in listed.get("Contents", []))

    def marks(self, folder: str, name: str) -> dict[str, str]:
        head = self.client.head_object(Bucket=BUCKET, Key=f"incoming/{folder}/{name}")
        return head["Metadata"]

    def uri_of(self, name: str) -> str:
        return f"{self.uri}{name}"


@pytest.fixture
def users(db):
    demo_users_seed(count=5)


@pytest.fixture(params=["folder", "s3"])
def drop(request, settings, tmp_path, monkeypatch, users) -> Iterator[FolderDrop | S3Drop]:
    """An inbox of each kind, configured as INBOX_URI, with the users of the sample files."""
    settings.INBOX_SETTLE_SECONDS = 0
    if request.param == "folder":
        box: FolderDrop | S3Drop = FolderDrop(tmp_path / "inbox")
        settings.INBOX_URI = box.uri
        yield box
        return
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings.AWS_S3_ENDPOINT_URL = None
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        box = S3Drop(client)
        settings.INBOX_URI = box.uri
        yield box


@pytest.fixture
def folder(settings, tmp_path, users) -> FolderDrop:
    """A folder inbox only."""
    settings.INBOX_SETTLE_SECONDS = 0
    box = FolderDrop(tmp_path / "inbox")
    settings.INBOX_URI = box.uri
    return box


def _executions(uri: str) -> list[Execution]:
    return list(Execution.objects.filter(source=uri).order_by("pk"))


@pytest.mark.django_db
def test_good_rejected_and_duplicate_files_are_imported_once_and_moved(drop):
    """A good file completes, a bad one and a copy of the good one are rejected (the copy
    naming the earlier execution); each is moved with its execution named beside it."""
    good = drop.put("a-good.csv", GOOD)
    bad = drop.put("b-bad.csv", BAD)
    copy = drop.put("c-copy.csv", GOOD)
    run = inbox_pickup()
    assert run is not None and run.status == JobRun.Status.SUCCEEDED
    assert [taken["object"] for taken in run.details["taken"]] == [good, bad, copy]
    (imported,) = _executions(good)
    assert imported.status == Execution.Status.COMPLETED
    assert imported.source_kind == Execution.SourceKind.INBOX
    assert imported.uploaded_by is None
    assert imported.success_count == 3
    (refused,) = _executions(bad)
    assert refused.status == Execution.Status.REJECTED
    (duplicate,) = _executions(copy)
    assert duplicate.status == Execution.Status.REJECTED
    assert imported.name in duplicate.error_message
    assert drop.names() == []
    assert drop.names("processed") == ["a-good.csv"]
    assert drop.names("rejected") == ["b-bad.csv", "c-copy.csv"]
    marks = drop.marks("processed", "a-good.csv")
    assert marks["auditsite-execution"] == imported.name
    assert marks["auditsite-status"] == "completed"
    assert drop.marks("rejected", "c-copy.csv")["auditsite-execution"] == duplicate.name
    assert set(InboxItem.objects.values_list("state", flat=True)) == {InboxItem.State.DONE}

    again = inbox_pickup()
    assert again is not None and again.details["taken"] == []
    assert Execution.objects.count() == 3


@pytest.mark.django_db
def test_a_crash_after_the_import_committed_and_before_the_move_imports_nothing_twice(
    drop, monkeypatch
):
    """The pickup dies between the committed import and the move: the next pickup moves the
    object without importing it again."""
    uri = drop.put("a-good.csv", GOOD)

    def crash(**kwargs: object) -> None:
        raise RuntimeError("killed before the move")

    with monkeypatch.context() as patched:
        patched.setattr(inbox_service, "_item_move", crash)
        with pytest.raises(JobFailed, match="killed before the move"):
            inbox_pickup()
    (execution,) = _executions(uri)
    assert execution.status == Execution.Status.COMPLETED
    assert drop.names() == ["a-good.csv"]
    assert JobRun.objects.get(job=JobRun.Job.INBOX).status == JobRun.Status.FAILED

    run = inbox_pickup()
    assert run is not None and run.status == JobRun.Status.SUCCEEDED
    assert _executions(uri) == [execution]
    assert drop.names() == []
    assert drop.names("processed") == ["a-good.csv"]
    assert InboxItem.objects.get().state == InboxItem.State.DONE


@pytest.mark.django_db
def test_a_crash_in_the_middle_of_the_move_is_finished_by_the_next_pickup(drop, monkeypatch):
    """S3: copied but not deleted; folder: sidecar written but not renamed. The next pickup
    completes the move; the object is imported once and is in processed/ once."""
    uri = drop.put("a-good.csv", GOOD)
    step = "_s3_delete" if drop.kind == "s3" else "_rename"

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed during the move")

    with monkeypatch.context() as patched:
        patched.setattr(inbox_service, step, crash)
        with pytest.raises(JobFailed):
            inbox_pickup()
    assert drop.names() == ["a-good.csv"]
    assert InboxItem.objects.get().state == InboxItem.State.MOVING

    inbox_pickup()
    assert len(_executions(uri)) == 1
    assert drop.names() == []
    assert drop.names("processed") == ["a-good.csv"]
    assert drop.names("rejected") == []


@pytest.mark.django_db
def test_an_import_that_died_is_run_again_and_then_set_aside(folder, monkeypatch):
    """An import that failed (applied nothing) runs again at the next pickup as a new attempt;
    after MAX_ATTEMPTS failures the object goes to rejected/ instead of looping for ever."""
    uri = folder.put("a-good.csv", GOOD)
    real_run = inbox_service.execution_run

    def dying_run(*, execution: Execution, **kwargs: Any) -> Any:
        Execution.objects.filter(pk=execution.pk).update(status=Execution.Status.RUNNING)
        raise RuntimeError("worker lost")

    monkeypatch.setattr(inbox_service, "execution_run", dying_run)
    with pytest.raises(JobFailed):
        inbox_pickup()
    (first,) = _executions(uri)
    assert first.status == Execution.Status.RUNNING  # as a killed import leaves it
    monkeypatch.setattr(inbox_service, "execution_run", real_run)
    inbox_pickup()
    first.refresh_from_db()
    assert first.status == Execution.Status.FAILED  # found dead: its run lock was free
    second = _executions(uri)[-1]
    assert second.status == Execution.Status.COMPLETED
    assert InboxItem.objects.get().attempts == 2
    assert folder.names("processed") == ["a-good.csv"]

    again = folder.put("b-other.csv", OTHER)
    monkeypatch.setattr(inbox_service, "execution_run", dying_run)
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(JobFailed):
            inbox_pickup()
    inbox_pickup()
    assert len(_executions(again)) == MAX_ATTEMPTS
    assert folder.names("rejected") == ["b-other.csv"]
    assert InboxItem.objects.get(uri=again).outcome == InboxItem.Outcome.FAILED


@pytest.mark.django_db
def test_a_file_still_being_written_is_left_for_the_next_pickup(folder, monkeypatch):
    """A file whose size changes between the two looks is not taken; once it stops growing,
    the next pickup takes it. A .part file is never taken."""
    path = Path(folder.put("a-good.csv", GOOD[:20]))
    folder.put("b-other.csv.part", OTHER)

    def writer_still_busy(seconds: float) -> None:
        with path.open("ab") as stream:
            stream.write(GOOD[20:])

    monkeypatch.setattr(inbox_service, "_settle_wait", writer_still_busy)
    run = inbox_pickup()
    assert run is not None and run.details["taken"] == []
    assert run.details["left"] == [{"object": str(path), "why": "still being written"}]
    assert Execution.objects.count() == 0
    assert folder.names() == ["a-good.csv"]

    monkeypatch.setattr(inbox_service, "_settle_wait", lambda seconds: None)
    inbox_pickup()
    (execution,) = _executions(str(path))
    assert execution.status == Execution.Status.COMPLETED
    assert execution.rows_total == 2  # the whole file, not the half first seen
    assert sorted(p.name for p in folder.root.iterdir() if p.is_file()) == ["b-other.csv.part"]


@pytest.mark.django_db(transaction=True)
def test_two_pickups_at_once_import_each_object_once(settings, tmp_path, monkeypatch):
    """Two pickups started together (two threads, two database connections) share the objects
    by their advisory locks: every object is imported once and moved, none is lost."""
    demo_users_seed(count=5)
    settings.INBOX_SETTLE_SECONDS = 0.2
    box = FolderDrop(tmp_path / "inbox")
    settings.INBOX_URI = box.uri
    uris = [
        box.put(f"f{n}.csv", f"user_id,login_count\nU0000{n},{n}\n".encode()) for n in (1, 2, 3, 4)
    ]
    real_run = inbox_service.execution_run

    def slow_run(**kwargs: Any) -> Any:
        time.sleep(0.3)  # long enough for the other pickup to reach the same objects
        return real_run(**kwargs)

    monkeypatch.setattr(inbox_service, "execution_run", slow_run)
    start = threading.Barrier(2)
    runs: list[JobRun | None] = []
    failures: list[BaseException] = []

    def pickup() -> None:
        try:
            start.wait()
            runs.append(inbox_pickup())
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pickup) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert len(runs) == 2 and all(run and run.status == JobRun.Status.SUCCEEDED for run in runs)
    taken = [entry["object"] for run in runs if run for entry in run.details["taken"]]
    assert sorted(taken) == sorted(uris)  # each object taken by exactly one of them
    assert all(run and run.details["taken"] for run in runs)  # and both did some of the work
    for uri in uris:
        (execution,) = _executions(uri)
        assert execution.status == Execution.Status.COMPLETED
    assert box.names() == []
    assert box.names("processed") == ["f1.csv", "f2.csv", "f3.csv", "f4.csv"]


@pytest.mark.django_db
def test_dry_run_lists_what_would_be_taken_and_changes_nothing(drop):
    """--dry-run: a dry-run JobRun naming the objects; no execution, nothing moved."""
    uri = drop.put("a-good.csv", GOOD)
    result = command_run("pickup_inbox", "--dry-run")
    assert result.code == 0, result.stderr
    assert f"would import: {uri}" in result.stdout
    assert Execution.objects.count() == 0
    assert drop.names() == ["a-good.csv"]
    assert JobRun.objects.get(job=JobRun.Job.INBOX).dry_run


@pytest.mark.django_db
def test_pickup_command_reports_what_it_took(folder, settings):
    """pickup_inbox prints each object with its execution and where it went, and exits 0;
    without INBOX_URI it says there is no inbox and exits 0."""
    uri = folder.put("a-good.csv", GOOD)
    result = command_run("pickup_inbox")
    assert result.code == 0, result.stderr
    execution = Execution.objects.get(source=uri)
    assert f"took {uri}: {execution.name} completed" in result.stdout
    settings.INBOX_URI = ""
    result = command_run("pickup_inbox")
    assert (result.code, result.stdout.strip()) == (
        0,
        "INBOX_URI is not set: there is no inbox to pick up from",
    )


@pytest.mark.django_db
def test_names_that_are_not_utf8_are_imported_once_and_moved(folder, monkeypatch):
    """Files whose names hold bytes that are not UTF-8 — a short one, and a Shift_JIS name whose
    text form is four times its length — are imported or rejected like any other and moved,
    known everywhere by their path_text (cut to fit the file system and the columns), even when
    the move is finished by the next pickup; a later pickup finds nothing left."""
    good, bad = os.fsdecode(b"\xff\xfegood.csv"), os.fsdecode(b"\xff\xfebad.csv")
    long = os.fsdecode(("売上データ" * 20).encode("cp932") + b".csv")
    for name, body in ((good, GOOD), (long, OTHER), (bad, BAD)):
        folder.put(name, body)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed during the move")

    with monkeypatch.context() as patched:
        patched.setattr(inbox_service, "_rename", crash)
        with pytest.raises(JobFailed, match="killed during the move"):
            inbox_pickup()
    assert {item.state for item in InboxItem.objects.all()} == {InboxItem.State.MOVING}
    run = inbox_pickup()
    assert run is not None and run.status == JobRun.Status.SUCCEEDED

    good_text, bad_text = "\\xff\\xfegood.csv", "\\xff\\xfebad.csv"
    (imported,) = _executions(folder.uri_of(good_text))
    assert (imported.status, imported.file_name) == (Execution.Status.COMPLETED, good_text)
    (refused,) = _executions(folder.uri_of(bad_text))
    assert (refused.status, refused.file_name) == (Execution.Status.REJECTED, bad_text)
    long_text = path_text(long)
    assert len(long_text) > 255
    (other,) = _executions(folder.uri_of(long_text))
    assert other.status == Execution.Status.COMPLETED and other.success_count == 1
    assert other.file_name == long_text[:255]
    assert InboxItem.objects.get(uri=folder.uri_of(long_text)).file_name == long_text[:255]
    assert folder.names() == []
    moved_long = next(name for name in folder.names("processed") if name != good_text)
    assert long_text.startswith(moved_long.removesuffix(".csv")) and moved_long.endswith(".csv")
    assert folder.names("rejected") == [bad_text]
    assert folder.marks("processed", good_text)["auditsite-execution"] == imported.name

    again = inbox_pickup()
    assert again is not None and again.details["taken"] == []
    assert Execution.objects.count() == 3
