"""``/healthz`` (SPEC §7a): is this installation able to run unattended? For load balancers,
Docker healthchecks and uptime monitors; no login.

200 when the database answers, the broker (through Celery's own connection, so the embedded
Redis and a real one alike) accepts a connection, and Celery beat keeps its schedules; 503 when
any of them does not. The body is JSON naming each check, and the last verification of the
trail — reported, but not a reason for 503: its problems are alerted, and a load balancer must
not take the site away because of them.

``OpsEndpointsMiddleware`` answers ``/healthz`` and ``/metrics`` before any other middleware:
a load balancer or Prometheus asks by the instance's address (a Host that ``ALLOWED_HOSTS``
would refuse) and over plain HTTP (which the HTTPS redirect would bounce).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from auditsite.celery import app as celery_app
from logs.metrics import metrics
from logs.models import JobRun
from logs.selectors import beat_heartbeat, job_run_last

BROKER_TIMEOUT = 3  # seconds


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def check_database() -> dict[str, Any]:
    """The database answers a query."""
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return {"ok": False, "error": _error(exc)}
    return {"ok": True}


def check_broker() -> dict[str, Any]:
    """Celery's broker connection can be established (no message is sent)."""
    try:
        with celery_app.connection_for_write() as broker:
            broker.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT
            )
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": _error(exc)}
    return {"ok": True}


def check_beat() -> dict[str, Any]:
    """Celery beat sends every enabled schedule when it is due (django-celery-beat's record)."""
    try:
        heartbeat = beat_heartbeat()
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": _error(exc)}
    return {
        "ok": heartbeat.alive,
        "last_sent_at": heartbeat.last_sent_at.isoformat() if heartbeat.last_sent_at else None,
        "overdue": heartbeat.overdue,
    }


def check_verify() -> dict[str, Any]:
    """The last verification of the trail: when, and what it found (None: never ran)."""
    try:
        run = job_run_last(job=JobRun.Job.VERIFY)
    except Exception as exc:  # noqa: BLE001
        return {"ok": None, "error": _error(exc)}
    if run is None:
        return {"ok": None, "at": None, "problems": None}
    problems = run.details.get("problems", []) if isinstance(run.details, dict) else []
    return {
        "ok": run.status == JobRun.Status.SUCCEEDED,
        "at": run.finished_at.isoformat() if run.finished_at else None,
        "job_run": run.pk,
        "problems": len(problems),
        "error": run.error_message or None,
    }


REQUIRED = ("database", "broker", "beat")  # each must be ok for a 200


def health_report() -> tuple[bool, dict[str, Any]]:
    """(healthy, the JSON body of /healthz)."""
    checks = {
        "database": check_database(),
        "broker": check_broker(),
        "beat": check_beat(),
        "verify": check_verify(),
    }
    healthy = all(checks[name]["ok"] for name in REQUIRED)
    return healthy, {"status": "ok" if healthy else "unavailable", "checks": checks}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """200 or 503, with every check in a JSON body."""
    healthy, body = health_report()
    return JsonResponse(body, status=200 if healthy else 503)


class OpsEndpointsMiddleware:
    """Serves /healthz and /metrics ahead of host validation and the HTTPS redirect."""

    ENDPOINTS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
        "/healthz": healthz,
        "/metrics": metrics,
    }

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.ENDPOINTS.get(request.path_info.rstrip("/"))
        if view is not None:
            return view(request)
        return self.get_response(request)
