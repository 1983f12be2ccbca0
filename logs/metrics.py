"""``/metrics`` (SPEC §7a) in Prometheus' text format, for whoever shows the
``Authorization: Bearer <METRICS_TOKEN>`` header or asks from an address of
``METRICS_ALLOWED_ADDRESSES`` (the direct peer's address: a proxy's ``X-Forwarded-For`` is not
trusted). With neither set, /metrics is off.

Every figure is read from the database when Prometheus scrapes, so each web process answers the
same (no per-process counters to aggregate): executions by status, their data rows and cells by
status, the import duration histogram, job runs by job and status, the inbox backlog, alerts
raised and deliveries by channel and status.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from logs.selectors import (
    alert_delivery_totals,
    execution_totals,
    import_durations,
    job_run_totals,
)
from logs.services.inbox import inbox_backlog

logger = logging.getLogger(__name__)

DURATION_BOUNDS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class TrailCollector(Collector):
    """The product's figures, read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        executions = GaugeMetricFamily(
            "auditsite_executions", "Executions by status.", labels=["status"]
        )
        rows = CounterMetricFamily(
            "auditsite_execution_rows",
            "Data rows of the CSV files, by execution status.",
            labels=["status"],
        )
        cells = CounterMetricFamily(
            "auditsite_cells",
            "Cells processed by completed executions (processing log rows), by cell status.",
            labels=["status"],
        )
        for totals in execution_totals():
            executions.add_metric([totals.status], totals.executions)
            rows.add_metric([totals.status], totals.rows)
            if totals.status == "completed":
                for status in ("success", "failed", "skipped"):
                    cells.add_metric([status], getattr(totals, status))
        yield executions
        yield rows
        yield cells

        cumulative, count, total = import_durations(bounds=DURATION_BOUNDS)
        buckets = [
            (repr(bound), value) for bound, value in zip(DURATION_BOUNDS, cumulative, strict=True)
        ]
        yield HistogramMetricFamily(
            "auditsite_import_duration_seconds",
            "Run time of completed executions, from start to finish.",
            buckets=[*buckets, ("+Inf", count)],
            sum_value=total,
        )

        jobs = CounterMetricFamily(
            "auditsite_job_runs", "Job runs by job and status.", labels=["job", "status"]
        )
        for job, status, runs in job_run_totals():
            jobs.add_metric([job, status], runs)
        yield jobs

        alerts = CounterMetricFamily(
            "auditsite_alert_deliveries",
            "Alert deliveries by alert kind, channel and status (sent, pending, failed).",
            labels=["kind", "channel", "status"],
        )
        for kind, channel, status, deliveries in alert_delivery_totals():
            alerts.add_metric([kind, channel, status], deliveries)
        yield alerts

        try:
            backlog = inbox_backlog()
        except Exception:  # noqa: BLE001 - an unreadable inbox says so, the rest still reports
            logger.exception("the inbox could not be listed for /metrics")
            yield GaugeMetricFamily(
                "auditsite_inbox_up", "Whether the inbox could be listed.", value=0
            )
            return
        if backlog is not None:
            yield GaugeMetricFamily(
                "auditsite_inbox_up", "Whether the inbox could be listed.", value=1
            )
            yield GaugeMetricFamily(
                "auditsite_inbox_backlog",
                "CSV files waiting in the inbox (not yet moved to processed/ or rejected/).",
                value=backlog,
            )


def metrics_render() -> bytes:
    """The figures in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrailCollector())
    return generate_latest(registry)


def _address_allowed(address: str) -> bool:
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_ADDRESSES:
        try:
            if peer in ipaddress.ip_network(allowed.strip(), strict=False):
                return True
        except ValueError:
            logger.warning("METRICS_ALLOWED_ADDRESSES: %r is not an address or network", allowed)
    return False


def _token_shown(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = settings.METRICS_TOKEN
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), expected.encode())
    )


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus endpoint: 401 without the token, 403 from an address not allowed."""
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_ADDRESSES:
        return HttpResponse(
            "metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_ADDRESSES\n",
            status=403,
            content_type="text/plain",
        )
    if not (_token_shown(request) or _address_allowed(request.META.get("REMOTE_ADDR", ""))):
        if settings.METRICS_TOKEN:
            response = HttpResponse(
                "a bearer token is needed\n", status=401, content_type="text/plain"
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE_LATEST)
