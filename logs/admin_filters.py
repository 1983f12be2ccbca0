"""List filters of the processing-log list: none of them scans the big table for its choices."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib import admin
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from rangefilter.filters import DateRangeFilter

from logs.models import Execution
from logs.selectors import window_start
from users.statistics import STATISTICS

EXECUTION_PARAM = "execution_name"
SEARCH_PARAM = "q"
RANGE_PARAMS = ("processed_at__range__gte", "processed_at__range__lte")


def default_window_start(params: QueryDict) -> date | None:
    """The first day the log list shows when nothing narrows it, else None.

    Without a date range, a user_id search or an execution, the list covers the last
    LOG_LIST_DEFAULT_DAYS days: a constant lower bound on processed_at lets PostgreSQL skip
    every older partition. A user or an execution is narrow enough through its own index.
    """
    narrowed = any(params.get(name, "").strip() for name in (*RANGE_PARAMS, SEARCH_PARAM))
    if narrowed or params.get(EXECUTION_PARAM, "").strip():
        return None
    return window_start(days=settings.LOG_LIST_DEFAULT_DAYS).date()


class ProcessedAtRangeFilter(DateRangeFilter):
    """Date range on processed_at (business time zone days), defaulting to the recent window."""

    def queryset(self, request, queryset):
        start = default_window_start(request.GET)
        if start is not None:
            return queryset.filter(
                processed_at__gte=window_start(days=settings.LOG_LIST_DEFAULT_DAYS)
            )
        return super().queryset(request, queryset)


class ProcessingTypeFilter(admin.SimpleListFilter):
    """Processing types from the statistics registry (no DISTINCT over the log table)."""

    title = _("processing type")
    parameter_name = "processing_type"

    def lookups(self, request, model_admin):
        return [(statistic.processing_type, statistic.label) for statistic in STATISTICS]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(processing_type=self.value())
        return queryset


class ExecutionFilter(admin.SimpleListFilter):
    """The newest executions as choices; any execution name works through the URL."""

    title = _("execution")
    parameter_name = EXECUTION_PARAM
    choices_shown = 15

    def lookups(self, request, model_admin):
        names = list(
            Execution.objects.filter(status=Execution.Status.COMPLETED)
            .order_by("-created_at")
            .values_list("name", flat=True)[: self.choices_shown]
        )
        if self.value() and self.value() not in names:
            names.insert(0, self.value())
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(execution_name=self.value())
        return queryset
