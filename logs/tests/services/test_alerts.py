"""Alerts (SPEC §7a): each event once, to a webhook served on 127.0.0.1 by the test and to
Django's locmem mail backend; retried with backoff after a failure; never in an import's way."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from logs.models import Alert, AlertDelivery, Execution, JobRun
from logs.months import business_tz
from logs.services.alerts import BACKOFF, MAX_ATTEMPTS, alerts_check
from logs.services.inbox import inbox_pickup
from logs.services.ingest import execution_create, execution_run
from logs.services.integrity import logs_verify_run
from logs.services.job_runs import JobFailed
from users.models import UserStatistics

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook endpoint on 127.0.0.1: answers with the next planned status (then 200) and
    keeps every JSON body it was sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    """The webhook receiver, configured as ALERT_WEBHOOK_URL, and ALERT_EMAILS set."""
    served = Receiver()
    settings.ALERT_WEBHOOK_URL = served.url
    settings.ALERT_EMAILS = ["ops@example.com", "oncall@example.com"]
    settings.SITE_URL = "https://auditsite.example.com"
    settings.LANGUAGE_CODE = "en"
    yield served
    served.close()


def _import(tmp_path: Path, name: str, body: str) -> Execution:
    path = tmp_path / name
    path.write_text(body)
    execution = execution_create(file_name=path.name, source=str(path))
    execution_run(execution=execution)
    execution.refresh_from_db()
    return execution


def test_a_rejected_execution_is_alerted_once_on_every_channel(
    receiver, mailoutbox, tmp_path, service_users
):
    """One rejected file: one Alert, one webhook POST (Slack text + structured fields, the
    admin link of the execution) and one mail, however often the alerts job looks."""
    rejected = _import(tmp_path, "bad.csv", "no,user,column\n1,2,3\n")
    assert rejected.status == Execution.Status.REJECTED
    assert alerts_check() == {"raised": 1, "sent": 2}
    assert alerts_check() == {"raised": 0, "sent": 0}
    alert = Alert.objects.get()
    assert alert.kind == Alert.Kind.EXECUTION_REJECTED
    link = reverse("admin:logs_execution_change", args=[rejected.pk])
    assert alert.link == link
    (body,) = receiver.bodies
    assert body["text"].startswith(f"[auditsite] Execution {rejected.name} was rejected")
    assert body["text"].endswith(f"https://auditsite.example.com{link}")
    assert body["event"] == "execution_rejected"
    assert body["execution"] == {"id": rejected.pk, "name": rejected.name, "status": "rejected"}
    (mail,) = mailoutbox
    assert mail.to == ["ops@example.com", "oncall@example.com"]
    assert rejected.name in mail.subject
    assert f"https://auditsite.example.com{link}" in mail.body
    assert set(alert.deliveries.values_list("status", flat=True)) == {AlertDelivery.Status.SENT}


def test_markup_from_a_file_reaches_the_webhook_text_escaped_for_slack(receiver, tmp_path):
    """An alert quoting a header of the file: Slack's ``text`` has ``<``, ``>`` and ``&``
    escaped (no link or ``<!channel>`` mention comes from a file); ``summary`` keeps it raw."""
    _import(tmp_path, "bad.csv", "user_id,login_count,<!channel> & <x>,<!CHANNEL> & <X>\n")
    alerts_check()
    (body,) = receiver.bodies
    raw = "repeated column in header: <!channel> & <x>"
    assert raw in body["summary"]
    assert "repeated column in header: &lt;!channel&gt; &amp; &lt;x&gt;" in body["text"]
    assert "<" not in body["text"] and ">" not in body["text"]


def test_a_webhook_answering_500_is_retried_with_backoff(receiver, mailoutbox, tmp_path):
    """The first POST gets a 500: the delivery stays pending until its backoff has passed,
    then the next attempt is sent; the mail went out at once, and only once."""
    receiver.statuses = [500]
    _import(tmp_path, "bad.csv", "no,user,column\n1,2,3\n")
    now = timezone.now()
    alerts_check(now=now)
    webhook = AlertDelivery.objects.get(channel=AlertDelivery.Channel.WEBHOOK)
    assert (webhook.status, webhook.attempts) == (AlertDelivery.Status.PENDING, 1)
    assert "500" in webhook.last_error
    assert webhook.next_attempt_at == now + timedelta(seconds=BACKOFF[0])
    alerts_check(now=now + timedelta(seconds=BACKOFF[0] - 1))
    assert len(receiver.bodies) == 1  # not before its time
    alerts_check(now=now + timedelta(seconds=BACKOFF[0]))
    webhook.refresh_from_db()
    assert (webhook.status, webhook.attempts) == (AlertDelivery.Status.SENT, 2)
    assert len(receiver.bodies) == 2
    assert receiver.bodies[0]["key"] == receiver.bodies[1]["key"]
    assert len(mailoutbox) == 1


def test_a_delivery_is_given_up_after_its_attempts(receiver, tmp_path):
    """A webhook that never accepts is tried MAX_ATTEMPTS times, then marked given up."""
    receiver.statuses = [503] * (MAX_ATTEMPTS + 2)
    _import(tmp_path, "bad.csv", "no,user,column\n1,2,3\n")
    now = timezone.now()
    for hour in range(MAX_ATTEMPTS + 2):
        alerts_check(now=now + timedelta(hours=hour))
    webhook = AlertDelivery.objects.get(channel=AlertDelivery.Channel.WEBHOOK)
    assert (webhook.status, webhook.attempts) == (AlertDelivery.Status.FAILED, MAX_ATTEMPTS)
    assert len(receiver.bodies) == MAX_ATTEMPTS


def test_alerts_never_fail_an_import(settings, mailoutbox, tmp_path, service_users):
    """With the webhook unreachable, imports (and the inbox) complete as ever, and the alerts
    job records the failure instead of raising."""
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/unreachable"  # discard port: refused
    settings.ALERT_EMAILS = []
    settings.INBOX_URI = str(tmp_path / "inbox")
    settings.INBOX_SETTLE_SECONDS = 0
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "mostly-failed.csv").write_text(
        "user_id,login_count\nU99991,1\nU99992,1\nU00001,1\n"
    )
    run = inbox_pickup()
    assert run is not None and run.status == JobRun.Status.SUCCEEDED
    execution = Execution.objects.get()
    assert execution.status == Execution.Status.COMPLETED
    assert alerts_check() == {"raised": 1, "sent": 0}
    delivery = AlertDelivery.objects.get()
    assert delivery.status == AlertDelivery.Status.PENDING
    assert "refused" in delivery.last_error.lower()


def test_failed_cells_above_the_ratio_are_alerted_and_below_it_not(
    receiver, tmp_path, service_users, settings
):
    """Failed cells above ALERT_FAILED_RATIO of an execution's cells raise an alert; a run at
    or under it does not."""
    settings.ALERT_FAILED_RATIO = 0.25
    quiet = _import(
        tmp_path, "one-in-four.csv", "user_id,login_count\nU00001,1\nU00002,1\nU00003,1\nU99999,1\n"
    )
    loud = _import(
        tmp_path, "two-in-four.csv", "user_id,login_count\nU00001,1\nU00002,1\nU99998,1\nU99999,1\n"
    )
    assert (quiet.failed_count, loud.failed_count) == (1, 2)
    alerts_check()
    alert = Alert.objects.get()
    assert (alert.kind, alert.execution) == (Alert.Kind.FAILED_CELLS, loud)
    assert "2 of 4 cells failed (50.0%)" in alert.text


def test_no_completed_execution_by_the_expected_time_is_alerted_once_that_day(
    receiver, settings, tmp_path, service_users
):
    """EXPECTED_DAILY_BY 10:00: before 10:00 nothing; after it, one alert for the day; a day
    with a completed execution, or a day not expected, raises none."""
    settings.EXPECTED_DAILY_BY = "10:00"
    tz = business_tz()
    day = timezone.localdate(timezone=tz) + timedelta(days=1)  # a day with no run yet
    at = lambda hour, minute=0: datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)  # noqa: E731
    alerts_check(now=at(9, 59))
    assert not Alert.objects.exists()
    alerts_check(now=at(10, 1))
    alerts_check(now=at(11))
    alert = Alert.objects.get()
    assert alert.kind == Alert.Kind.MISSING_DAILY
    assert alert.key == f"missing_daily:{day.isoformat()}"
    assert alert.link == reverse("admin:logs_execution_changelist")
    assert len(receiver.bodies) == 1

    settings.EXPECTED_DAILY_WEEKDAYS = []  # no day expects one
    next_day = at(11) + timedelta(days=1)
    alerts_check(now=next_day)
    assert Alert.objects.count() == 1
    settings.EXPECTED_DAILY_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    today = timezone.localtime(timezone=tz)
    _import(tmp_path, "today.csv", "user_id,login_count\nU00001,1\n")
    alerts_check(now=today.replace(hour=23, minute=59) if today.hour < 23 else today)
    assert not Alert.objects.filter(key=f"missing_daily:{today.date().isoformat()}").exists()


def test_a_failed_job_and_verify_problems_are_alerted_each_as_its_kind(
    receiver, tmp_path, service_users
):
    """A failed job run alerts as a failed job; a verification that found problems alerts as
    verification problems (once, not also as a failed job), linking to its job run."""
    failed = JobRun.objects.create(
        job=JobRun.Job.RETENTION,
        status=JobRun.Status.FAILED,
        finished_at=timezone.now(),
        error_message="OperationalError: disk full",
    )
    _import(tmp_path, "good.csv", "user_id,login_count\nU00001,3\n")
    UserStatistics.objects.filter(user_id="U00001").update(login_count=99)
    with pytest.raises(JobFailed):
        logs_verify_run()
    alerts_check()
    kinds = dict(Alert.objects.values_list("kind", "job_run__job"))
    assert kinds == {Alert.Kind.JOB_FAILED: "retention", Alert.Kind.VERIFY_PROBLEMS: "verify"}
    job_alert = Alert.objects.get(kind=Alert.Kind.JOB_FAILED)
    assert job_alert.link == reverse("admin:logs_jobrun_change", args=[failed.pk])
    verify = Alert.objects.get(kind=Alert.Kind.VERIFY_PROBLEMS)
    assert "U00001 login_count is 99" in verify.text
    assert len(receiver.bodies) == 2


def test_rows_in_the_default_partition_are_alerted_once_a_day(receiver):
    """A row in DEFAULT raises one alert a day while it stays there."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO processing_logs (execution_name, status, processed_at) "
            "VALUES ('stray', 'failed', '2001-01-01T00:00:00Z')"
        )
    now = timezone.now()
    alerts_check(now=now)
    alerts_check(now=now + timedelta(minutes=5))
    alert = Alert.objects.get()
    assert alert.kind == Alert.Kind.DEFAULT_ROWS
    alerts_check(now=now + timedelta(days=1))
    assert Alert.objects.filter(kind=Alert.Kind.DEFAULT_ROWS).count() == 2


def test_without_channels_an_alert_is_recorded_but_not_sent(settings, tmp_path):
    """No ALERT_EMAILS and no ALERT_WEBHOOK_URL: the event is still recorded (the Alerts list
    shows it), with no delivery."""
    settings.ALERT_EMAILS, settings.ALERT_WEBHOOK_URL = [], ""
    _import(tmp_path, "bad.csv", "no,user,column\n1,2,3\n")
    assert alerts_check() == {"raised": 1, "sent": 0}
    assert not AlertDelivery.objects.exists()


def test_the_alerts_admin_lists_what_was_sent(receiver, tmp_path, client_for):
    """The read-only Alerts list shows each alert, its link and how each channel fared."""
    _import(tmp_path, "bad.csv", "no,user,column\n1,2,3\n")
    alerts_check()
    alert = Alert.objects.get()
    page = client_for("auditor").get(
        reverse("admin:logs_alert_changelist"), headers={"accept-language": "en"}
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert alert.link in text
    assert "webhook: sent" in text and "email: sent" in text
    detail = client_for("support").get(reverse("admin:logs_alert_change", args=[alert.pk]))
    assert detail.status_code == 200
    assert b"127.0.0.1" in detail.content
    assert receiver.url.encode() not in detail.content  # the webhook's path is its secret


def test_a_correction_does_not_count_as_the_days_import(receiver, settings, service_users):
    """A counter adjusted today is not the daily file: the day without an import is alerted."""
    from logs.services.corrections import counter_adjust

    settings.EXPECTED_DAILY_BY = "00:00"
    settings.CORRECTIONS_REQUIRE_APPROVAL = False
    counter_adjust(user_id="U00001", column="login_count", amount=1, set_to=False, reason="typo")
    tz = business_tz()
    alerts_check(now=timezone.localtime(timezone=tz).replace(hour=23, minute=59))
    day = timezone.localdate(timezone=tz)
    assert Alert.objects.filter(key=f"missing_daily:{day.isoformat()}").exists()
