"""/healthz (SPEC §7a): no login, 200 or 503 with a JSON body naming database, broker, beat and
the last verification; answered whatever the Host header."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from auditsite.celery import app as celery_app
from logs.models import JobRun
from logs.services.integrity import logs_verify_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def beat_alive(db):
    """Every enabled schedule was just sent by beat."""
    PeriodicTask.objects.filter(enabled=True).update(last_run_at=timezone.now())


def test_healthy_installation_answers_200_with_every_check(client, beat_alive):
    """Database, broker and beat fine: 200, each check ok, no login needed."""
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "beat": True,
        "verify": None,  # never ran yet
    }
    assert response["Cache-Control"].startswith("max-age=0")


def test_broker_down_answers_503(client, beat_alive, monkeypatch):
    """A broker Celery cannot connect to: 503, the broker check failed with the reason."""
    dead = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    monkeypatch.setattr(celery_app.conf, "broker_url", dead)
    monkeypatch.setenv("CELERY_BROKER_URL", dead)  # Celery reads it before its own setting
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert "refused" in body["checks"]["broker"]["error"].lower()
    assert body["checks"]["database"]["ok"] is True


def test_a_stopped_beat_answers_503(client, beat_alive):
    """A schedule overdue well past its next due time (beat stopped): 503, naming it."""
    PeriodicTask.objects.filter(task="logs.tasks.check_alerts").update(
        last_run_at=timezone.now() - timedelta(hours=1)
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    beat = response.json()["checks"]["beat"]
    assert beat["ok"] is False
    assert beat["overdue"] == ["alerts (every minute)"]


def test_the_last_verification_is_reported(client, beat_alive, service_users):
    """The body carries the last verify run: when and how many problems (no 503 for them)."""
    logs_verify_run()
    response = client.get("/healthz")
    verify = response.json()["checks"]["verify"]
    run = JobRun.objects.get(job=JobRun.Job.VERIFY)
    assert (verify["ok"], verify["problems"], verify["job_run"]) == (True, 0, run.pk)
    assert response.status_code == 200


def test_healthz_ignores_the_host_header(client, beat_alive, settings):
    """A load balancer asks by the instance's address, which ALLOWED_HOSTS does not list."""
    settings.ALLOWED_HOSTS = ["auditsite.example.com"]
    assert client.get("/healthz", headers={"host": "10.0.3.7:8000"}).status_code == 200
    assert client.get("/admin/", headers={"host": "10.0.3.7:8000"}).status_code == 400
