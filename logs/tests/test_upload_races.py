"""Two requests of one session deciding one previewed upload at once: exactly one decision holds.

Each test fires the requests from two threads (two test clients sharing one session cookie,
released together by a barrier) on committed data, and slows one side with a hook so that the
requests really overlap: both have read the pending upload from the session before either ends.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.files.storage import default_storage
from django.db import connections
from django.test import Client
from django.urls import reverse

from auditsite.celery import app as celery_app
from logs.models import Execution, ProcessingLog, UploadClaim
from logs.services import uploads
from users.models import UserStatistics
from users.services import demo_users_seed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media")]

UPLOAD = reverse("admin:logs_execution_upload")
CSV_TEXT = "user_id,login_count,post_count\nU00001,2,1\nU00002,0,3\n"
HOLD_SECONDS = 0.5  # how long the slowed side keeps its decision open


@pytest.fixture
def eager_tasks(monkeypatch):
    """Celery tasks run at once in the process that queues them (here: the request's thread)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)


@pytest.fixture
def previewed(client_for):
    """A previewed upload (force ticked) and two clients on the uploader's one session."""
    demo_users_seed(count=5)
    first = client_for("uploader")
    first.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    csv_file = _named(CSV_TEXT.encode(), "activity.csv")
    response = first.post(UPLOAD, {"file": csv_file, "force": "on"})
    pending = first.get(response["Location"]).context["pending"]
    assert default_storage.exists(pending.stored_name)
    second = Client(HTTP_ACCEPT_LANGUAGE="en")
    second.cookies[settings.SESSION_COOKIE_NAME] = first.cookies[settings.SESSION_COOKIE_NAME].value
    return pending, first, second


def _named(content: bytes, name: str):
    import io

    handle = io.BytesIO(content)
    handle.name = name
    return handle


def _confirm_url(pending) -> str:
    return reverse("admin:logs_execution_upload_confirm", args=[pending.token])


def _at_once(*requests) -> list:
    """POST each (client, url, data, wait_for) from a thread of its own, released together;
    a request with ``wait_for`` also waits for that event. Returns responses (or exceptions)."""
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def send(index: int, client, url: str, data: dict, wait_for) -> None:
        try:
            barrier.wait(timeout=30)
            if wait_for is not None:
                assert wait_for.wait(timeout=30)
            results[index] = client.post(url, data)
        except BaseException as exc:  # noqa: BLE001 - reported by the test, not lost
            results[index] = exc
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=send, args=(index, *request))
        for index, request in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    for result in results:
        assert not isinstance(result, BaseException), repr(result)
        assert result.status_code == 302, result.content[:2000]
    return results


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _slow_execution_create(monkeypatch) -> threading.Event:
    """Confirming holds for a while just before it creates the Execution; returns 'entered'."""
    entered = threading.Event()
    real = uploads.execution_create

    def slow(**kwargs):
        entered.set()
        time.sleep(HOLD_SECONDS)
        return real(**kwargs)

    monkeypatch.setattr(uploads, "execution_create", slow)
    return entered


def _counters() -> dict[str, tuple[int, int]]:
    return {
        stats.user_id: (stats.login_count, stats.post_count)
        for stats in UserStatistics.objects.filter(user_id__in=["U00001", "U00002"])
    }


def test_double_confirm_runs_once(previewed, eager_tasks, monkeypatch):
    """Two confirms at once (a double click, "process again" ticked): one Execution, counters
    applied once; the second request is sent to the same execution, told it was confirmed."""
    pending, first, second = previewed
    _slow_execution_create(monkeypatch)
    url = _confirm_url(pending)
    responses = _at_once(
        (first, url, {"confirm": "1"}, None), (second, url, {"confirm": "1"}, None)
    )
    execution = Execution.objects.get()
    assert execution.status == Execution.Status.COMPLETED, execution.error_message
    page = reverse("admin:logs_execution_change", args=[execution.pk])
    assert [response["Location"] for response in responses] == [page, page]
    said = sorted(message for response in responses for message in _messages(response))
    assert said == sorted(
        [
            f"Execution {execution.name} is queued; this page follows its progress.",
            f"The upload of activity.csv was already confirmed as execution {execution.name}.",
        ]
    )
    assert _counters() == {"U00001": (2, 1), "U00002": (0, 3)}
    assert ProcessingLog.objects.filter(status="success").count() == 3
    assert UploadClaim.objects.get().execution == execution
    assert not Execution.objects.filter(status=Execution.Status.PENDING).exists()


def test_cancel_during_confirm_leaves_the_run_alone(previewed, eager_tasks, monkeypatch):
    """Cancel arriving while a confirm is deciding: the confirm wins, its run completes with its
    file; the cancel is told the upload was confirmed and sent to the execution."""
    pending, first, second = previewed
    entered = _slow_execution_create(monkeypatch)
    url = _confirm_url(pending)
    confirmed, cancelled = _at_once(
        (first, url, {"confirm": "1"}, None), (second, url, {"cancel": "1"}, entered)
    )
    execution = Execution.objects.get()
    assert execution.status == Execution.Status.COMPLETED, execution.error_message
    page = reverse("admin:logs_execution_change", args=[execution.pk])
    assert confirmed["Location"] == cancelled["Location"] == page
    assert _messages(cancelled) == [
        f"The upload of activity.csv was already confirmed as execution {execution.name}."
    ]
    assert execution.file.name == pending.stored_name
    assert default_storage.exists(pending.stored_name)
    assert _counters() == {"U00001": (2, 1), "U00002": (0, 3)}
    assert not Execution.objects.filter(status=Execution.Status.PENDING).exists()


def test_confirm_during_cancel_finds_it_cancelled(previewed, eager_tasks, monkeypatch):
    """Confirm arriving while a cancel deletes the file: no Execution at all, the file is gone,
    counters unchanged; the confirm is told the upload was cancelled."""
    pending, first, second = previewed
    entered = threading.Event()

    class SlowDeleteStorage:
        """The default storage, with a delete that takes its time."""

        def __getattr__(self, name):
            return getattr(default_storage, name)

        def delete(self, name: str) -> None:
            entered.set()
            time.sleep(HOLD_SECONDS)
            default_storage.delete(name)

    monkeypatch.setattr(uploads, "default_storage", SlowDeleteStorage())
    before = _counters()
    url = _confirm_url(pending)
    cancelled, confirmed = _at_once(
        (first, url, {"cancel": "1"}, None), (second, url, {"confirm": "1"}, entered)
    )
    assert cancelled["Location"] == confirmed["Location"] == UPLOAD
    assert _messages(confirmed) == ["The upload of activity.csv was cancelled."]
    assert Execution.objects.count() == 0
    assert not default_storage.exists(pending.stored_name)
    assert _counters() == before
    assert UploadClaim.objects.get().outcome == UploadClaim.Outcome.CANCELLED
