"""Alerts (SPEC §7a): an operator is told, on the channel they already use, about every event
that needs a person — once per event, recorded, retried, and never in an import's way.

Events are found by looking, not by hooking into the code that causes them: the alerts job
(every minute) reads what happened since ``LOOKBACK`` ago — executions rejected or failed, or
whose failed cells exceed ``ALERT_FAILED_RATIO``; job runs failed (a verification that found
problems is its own kind); rows in the DEFAULT partition; no completed execution by
``EXPECTED_DAILY_BY`` on a day that expects one. An import therefore never waits for, nor
fails because of, an alert: it commits, and a minute later it is noticed.

Each event has a key (e.g. ``execution_rejected:42``); ``Alert.key`` is unique, so an event is
raised once however often it is seen. Raising it records one ``AlertDelivery`` per configured
channel — ``ALERT_EMAILS`` (Django's email backend) and ``ALERT_WEBHOOK_URL`` (a JSON POST with
a Slack-compatible ``text`` and structured fields). A delivery is attempted under a row lock
(two jobs never send it twice at once) until it is sent, with backoff between attempts
(``BACKOFF``), and given up after ``MAX_ATTEMPTS``. A process killed between a successful send
and its commit sends that alert again: at least once, never silently dropped.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from logs import messages
from logs.messages import message_localize
from logs.models import Alert, AlertDelivery, Execution, JobRun
from logs.months import business_tz
from logs.selectors import (
    default_partition_rows,
    execution_completed_since,
    executions_finished_since,
    job_runs_failed_since,
)

logger = logging.getLogger(__name__)

LOOKBACK = timedelta(days=1)  # events older than this when first looked at are not alerted
BACKOFF = (60, 120, 300, 600, 1800, 3600)  # seconds before the 2nd, 3rd, … attempt
MAX_ATTEMPTS = 8
WEBHOOK_TIMEOUT = 10  # seconds
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_REASON_SHOWN = 300  # characters of a reason quoted in an alert


@dataclass(frozen=True)
class AlertEvent:
    """Something an operator must hear about, with the key that makes it one event."""

    key: str
    kind: str
    text: str
    link: str  # admin path of what it is about
    details: dict[str, Any] = field(default_factory=dict)
    execution: Execution | None = None
    job_run: JobRun | None = None


def _execution_link(execution: Execution) -> str:
    return reverse("admin:logs_execution_change", args=[execution.pk])


def _job_run_link(run: JobRun) -> str:
    return reverse("admin:logs_jobrun_change", args=[run.pk])


def _execution_events(*, since: datetime) -> list[AlertEvent]:
    events = []
    for execution in executions_finished_since(since=since):
        reason = execution.error_message[:_REASON_SHOWN]
        link = _execution_link(execution)
        if execution.status == Execution.Status.REJECTED:
            events.append(
                AlertEvent(
                    key=f"execution_rejected:{execution.pk}",
                    kind=Alert.Kind.EXECUTION_REJECTED,
                    text=messages.ALERT_EXECUTION_REJECTED.render(
                        name=execution.name, reason=reason
                    ),
                    details={"source": execution.source, "reason": execution.error_message},
                    link=link,
                    execution=execution,
                )
            )
        elif execution.status == Execution.Status.FAILED:
            events.append(
                AlertEvent(
                    key=f"execution_failed:{execution.pk}",
                    kind=Alert.Kind.EXECUTION_FAILED,
                    text=messages.ALERT_EXECUTION_FAILED.render(name=execution.name, reason=reason),
                    details={"source": execution.source, "reason": execution.error_message},
                    link=link,
                    execution=execution,
                )
            )
        elif execution.log_rows and (
            execution.failed_count / execution.log_rows > settings.ALERT_FAILED_RATIO
        ):
            events.append(
                AlertEvent(
                    key=f"failed_cells:{execution.pk}",
                    kind=Alert.Kind.FAILED_CELLS,
                    text=messages.ALERT_FAILED_CELLS.render(
                        name=execution.name,
                        failed=execution.failed_count,
                        cells=execution.log_rows,
                        percent=f"{100 * execution.failed_count / execution.log_rows:.1f}",
                        threshold=f"{100 * settings.ALERT_FAILED_RATIO:g}",
                    ),
                    details={
                        "failed_cells": execution.failed_count,
                        "cells": execution.log_rows,
                        "threshold": settings.ALERT_FAILED_RATIO,
                    },
                    link=link,
                    execution=execution,
                )
            )
    return events


def _job_events(*, since: datetime) -> list[AlertEvent]:
    events = []
    for run in job_runs_failed_since(since=since):
        problems = run.details.get("problems") if isinstance(run.details, dict) else None
        if run.job == JobRun.Job.VERIFY and problems:
            events.append(
                AlertEvent(
                    key=f"verify_problems:{run.pk}",
                    kind=Alert.Kind.VERIFY_PROBLEMS,
                    text=messages.ALERT_VERIFY_PROBLEMS.render(
                        run=run.pk, count=len(problems), first=problems[0]
                    ),
                    link=_job_run_link(run),
                    details={"problems": problems},
                    job_run=run,
                )
            )
            continue
        events.append(
            AlertEvent(
                key=f"job_failed:{run.pk}",
                kind=Alert.Kind.JOB_FAILED,
                text=messages.ALERT_JOB_FAILED.render(
                    job=run.job, run=run.pk, error=run.error_message[:_REASON_SHOWN]
                ),
                link=_job_run_link(run),
                details={"job": run.job, "error": run.error_message},
                job_run=run,
            )
        )
    return events


def _default_rows_events(*, now: datetime) -> list[AlertEvent]:
    rows = default_partition_rows()
    if not rows:
        return []
    day = timezone.localdate(now, timezone=business_tz())
    return [
        AlertEvent(
            key=f"default_rows:{day.isoformat()}",  # at most one a day while it lasts
            kind=Alert.Kind.DEFAULT_ROWS,
            text=messages.ALERT_DEFAULT_ROWS.render(rows=rows),
            link=reverse("admin:index"),
            details={"rows": rows},
        )
    ]


def _deadline(text: str) -> time:
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes or 0))


def _missing_daily_events(*, now: datetime) -> list[AlertEvent]:
    if not settings.EXPECTED_DAILY_BY:
        return []
    local = timezone.localtime(now, timezone=business_tz())
    expected = {day.strip().lower()[:3] for day in settings.EXPECTED_DAILY_WEEKDAYS}
    if _WEEKDAYS[local.weekday()] not in expected:
        return []
    deadline = _deadline(settings.EXPECTED_DAILY_BY)
    if local.time() < deadline:
        return []
    midnight = datetime.combine(local.date(), time.min, tzinfo=business_tz())
    if execution_completed_since(since=midnight):
        return []
    return [
        AlertEvent(
            key=f"missing_daily:{local.date().isoformat()}",
            kind=Alert.Kind.MISSING_DAILY,
            text=messages.ALERT_MISSING_DAILY.render(
                deadline=f"{deadline:%H:%M} {local:%Z}", day=local.date().isoformat()
            ),
            link=reverse("admin:logs_execution_changelist"),
            details={"day": local.date().isoformat(), "expected_by": settings.EXPECTED_DAILY_BY},
        )
    ]


def alert_events_find(*, now: datetime | None = None) -> list[AlertEvent]:
    """Every event of the last LOOKBACK an operator must hear about (raised or not yet)."""
    now = now or timezone.now()
    since = now - LOOKBACK
    return [
        *_execution_events(since=since),
        *_job_events(since=since),
        *_default_rows_events(now=now),
        *_missing_daily_events(now=now),
    ]


def _channels() -> list[tuple[str, str]]:
    """(channel, where it goes, as shown) of every configured channel. A webhook URL is a
    secret (Slack's carry their key): only its host is recorded."""
    channels: list[tuple[str, str]] = []
    if settings.ALERT_EMAILS:
        channels.append((AlertDelivery.Channel.EMAIL, ", ".join(settings.ALERT_EMAILS)))
    if settings.ALERT_WEBHOOK_URL:
        parts = urlsplit(settings.ALERT_WEBHOOK_URL)
        channels.append((AlertDelivery.Channel.WEBHOOK, f"{parts.scheme}://{parts.netloc}/…"))
    return channels


def alert_raise(*, event: AlertEvent, now: datetime | None = None) -> Alert | None:
    """Record the event once, with a delivery per configured channel (due at ``now``); None
    when it was raised before."""
    now = now or timezone.now()
    with transaction.atomic():
        alert, created = Alert.objects.get_or_create(
            key=event.key,
            defaults={
                "kind": event.kind,
                "text": event.text,
                "link": event.link,
                "details": event.details,
                "execution": event.execution,
                "job_run": event.job_run,
            },
        )
        if not created:
            return None
        AlertDelivery.objects.bulk_create(
            [
                AlertDelivery(alert=alert, channel=channel, target=target, next_attempt_at=now)
                for channel, target in _channels()
            ]
        )
    return alert


def alert_url(alert: Alert) -> str:
    """The absolute address of the admin page an alert is about."""
    return settings.SITE_URL.rstrip("/") + alert.link


def _localized(alert: Alert) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return message_localize(alert.text)


def _slack_text(text: str) -> str:
    """Text for Slack's ``text`` field: its three control characters escaped, since an alert
    quotes names and headers from files, and Slack reads ``<…>`` as a link or a mention
    (``<!channel>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The JSON body of a webhook alert: Slack's ``text``, then the structured fields (as
    stored: ``summary`` is the alert's text unescaped)."""
    url = alert_url(alert)
    execution, run = alert.execution, alert.job_run
    return {
        "text": f"[auditsite] {_slack_text(_localized(alert))}\n{url}",
        "event": alert.kind,
        "key": alert.key,
        "summary": alert.text,
        "url": url,
        "raised_at": alert.created_at.isoformat(),
        "execution": (
            {"id": execution.pk, "name": execution.name, "status": execution.status}
            if execution
            else None
        ),
        "job_run": {"id": run.pk, "job": run.job, "status": run.status} if run else None,
        "details": alert.details,
    }


def _send_email(alert: Alert) -> None:
    if not settings.ALERT_EMAILS:
        msg = "ALERT_EMAILS is no longer set"
        raise RuntimeError(msg)
    text = _localized(alert)
    subject = "[auditsite] " + " ".join(text.split())
    body = f"{text}\n\n{alert_url(alert)}\n"
    if alert.details:
        body += "\n" + json.dumps(alert.details, indent=2, ensure_ascii=False, default=str) + "\n"
    send_mail(
        subject[:200],
        body,
        settings.DEFAULT_FROM_EMAIL,
        list(settings.ALERT_EMAILS),
        fail_silently=False,
    )


def _send_webhook(alert: Alert) -> None:
    url = settings.ALERT_WEBHOOK_URL
    if not url.startswith(("https://", "http://")):
        msg = "ALERT_WEBHOOK_URL is not set to an http(s) URL"
        raise RuntimeError(msg)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
        url,
        data=json.dumps(webhook_payload(alert), default=str).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "auditsite-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
        response.read()  # HTTPError (4xx, 5xx) is raised by urlopen itself


_SENDERS = {AlertDelivery.Channel.EMAIL: _send_email, AlertDelivery.Channel.WEBHOOK: _send_webhook}


def alert_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> str:
    """One attempt at sending one delivery (if it is still pending and no one else is sending
    it); returns its status afterwards."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            AlertDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status=AlertDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return AlertDelivery.objects.get(pk=delivery_id).status
        delivery.attempts += 1
        try:
            _SENDERS[AlertDelivery.Channel(delivery.channel)](delivery.alert)
        except Exception as exc:  # noqa: BLE001 - any failure of the channel: retried later
            logger.warning("alert %s via %s failed: %s", delivery.alert.key, delivery.channel, exc)
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = AlertDelivery.Status.FAILED
            else:
                wait = BACKOFF[min(delivery.attempts, len(BACKOFF)) - 1]
                delivery.next_attempt_at = now + timedelta(seconds=wait)
        else:
            delivery.status = AlertDelivery.Status.SENT
            delivery.sent_at = now
            delivery.last_error = ""
        delivery.save()
        return delivery.status


def alerts_check(*, now: datetime | None = None) -> dict[str, int]:
    """The alerts job: raise every new event, then attempt every delivery that is due."""
    now = now or timezone.now()
    raised = 0
    for event in alert_events_find(now=now):
        if alert_raise(event=event, now=now) is not None:
            raised += 1
    due = AlertDelivery.objects.filter(
        status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "pk")
    sent = 0
    for delivery_id in list(due.values_list("pk", flat=True)[:100]):
        if alert_delivery_attempt(delivery_id=delivery_id, now=now) == AlertDelivery.Status.SENT:
            sent += 1
    return {"raised": raised, "sent": sent}
