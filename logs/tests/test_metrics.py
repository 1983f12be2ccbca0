"""/metrics (SPEC §7a): Prometheus text behind a bearer token or an allowed address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from logs.models import Alert, AlertDelivery, Execution, JobRun

pytestmark = pytest.mark.django_db
TOKEN = "metrics-test-token"  # noqa: S105 - a test value


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_ADDRESSES = []
    return TOKEN


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_refuse_without_the_token(client, token):
    """No token, a wrong one, or another scheme: 401 with a Bearer challenge."""
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_are_off_until_configured(client, settings):
    """Neither a token nor addresses configured: 403 for everybody."""
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_ADDRESSES = "", []
    assert client.get("/metrics", headers={"authorization": "Bearer "}).status_code == 403


def test_an_allowed_address_reads_metrics_without_a_token(client, settings):
    """An address inside METRICS_ALLOWED_ADDRESSES (a CIDR network) reads them; another not."""
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_ADDRESSES = "", ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.5").status_code == 403


def test_metrics_report_executions_cells_durations_jobs_and_alerts(
    client, token, settings, tmp_path
):
    """With the token: executions by status, cells by status, the duration histogram, job runs,
    the inbox backlog and alert deliveries, in Prometheus text format."""
    started = timezone.now() - timedelta(seconds=20)
    Execution.objects.create(
        name="done",
        status=Execution.Status.COMPLETED,
        rows_total=10,
        success_count=7,
        failed_count=2,
        skipped_count=1,
        started_at=started,
        finished_at=started + timedelta(seconds=12),
    )
    Execution.objects.create(name="refused", status=Execution.Status.REJECTED)
    JobRun.objects.create(job=JobRun.Job.INBOX, status=JobRun.Status.SUCCEEDED)
    alert = Alert.objects.create(key="k", kind=Alert.Kind.JOB_FAILED, text="t")
    AlertDelivery.objects.create(alert=alert, channel="webhook", target="x", status="sent")
    settings.INBOX_URI = str(tmp_path)
    (tmp_path / "waiting.csv").write_text("user_id,login_count\n")
    response = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = _samples(response.content.decode())
    assert samples[("auditsite_executions", (("status", "completed"),))] == 1
    assert samples[("auditsite_executions", (("status", "rejected"),))] == 1
    assert samples[("auditsite_execution_rows_total", (("status", "completed"),))] == 10
    assert samples[("auditsite_cells_total", (("status", "failed"),))] == 2
    assert samples[("auditsite_import_duration_seconds_bucket", (("le", "5.0"),))] == 0
    assert samples[("auditsite_import_duration_seconds_bucket", (("le", "15.0"),))] == 1
    assert samples[("auditsite_import_duration_seconds_count", ())] == 1
    assert samples[("auditsite_import_duration_seconds_sum", ())] == pytest.approx(12)
    assert samples[("auditsite_job_runs_total", (("job", "inbox"), ("status", "succeeded")))] == 1
    assert samples[("auditsite_inbox_backlog", ())] == 1
    key = (("channel", "webhook"), ("kind", "job_failed"), ("status", "sent"))
    assert samples[("auditsite_alert_deliveries_total", key)] == 1
