"""The dashboard on the admin index: seed 6.3 as charts, recent executions and job runs, the
partitions; each part only for those who may see it."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _

from logs.charts import stacked_bar_chart
from logs.models import UPLOAD_PERMISSION, JobRun
from logs.selectors import (
    alerts_recent,
    daily_counts,
    daily_series,
    executions_recent,
    job_run_last,
    job_runs_recent,
    partition_status,
    window_start,
)


def dashboard_context(request: HttpRequest) -> dict:
    """Everything the admin index shows next to the app list, as far as the user may see it."""
    user = request.user
    context: dict = {
        "can_upload": user.has_perm(UPLOAD_PERMISSION),
        "can_lookup": user.has_perm("users.lookup_serviceuser"),
        "can_view_logs": user.has_perm("logs.view_processinglog"),
        "can_export_logs": user.has_perm("logs.export_processinglog"),
    }
    if context["can_view_logs"]:
        month = daily_counts(days=30)
        week_start = window_start(days=7).date()
        week = [count for count in month if count.day >= week_start]
        context["daily_windows"] = [
            _daily_window(_("Last 7 days"), counts=week, days=7),
            _daily_window(_("Last 30 days"), counts=month, days=30),
        ]
        context["partition_status"] = partition_status()
    if user.has_perm("logs.view_execution"):
        context["recent_executions"] = list(executions_recent())
    if user.has_perm("logs.view_jobrun"):
        context["recent_job_runs"] = list(job_runs_recent())
        context["last_verify"] = _last_verify()
    if user.has_perm("logs.view_alert"):
        context["recent_alerts"] = list(alerts_recent())
    return context


def _daily_window(title: str, *, counts, days: int) -> dict:
    return {
        "title": title,
        "days": days,
        "counts": counts,  # seed 6.3's rows: days with rows, newest first
        "chart": stacked_bar_chart(series=daily_series(counts=counts, days=days)),
        "total": sum(count.total for count in counts),
        "success": sum(count.success for count in counts),
        "failed": sum(count.failed for count in counts),
        "skipped": sum(count.skipped for count in counts),
    }


def _last_verify() -> dict:
    """The newest verification of the trail: when, and what it found."""
    run = job_run_last(job=JobRun.Job.VERIFY)
    if run is None:
        return {"run": None}
    problems = run.details.get("problems", []) if isinstance(run.details, dict) else []
    return {"run": run, "problems": problems[:10], "problem_count": len(problems)}
