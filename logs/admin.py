"""Admin configuration of the audit trail: read-only for everybody, superusers included."""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX
from rangefilter.filters import DateRangeFilter

from auditsite.admin_base import AuditModelAdmin, ReadOnlyMixin, admin_page
from logs import views
from logs.admin_corrections import EXECUTION_CORRECTION_FIELDS, ExecutionCorrectionsMixin
from logs.admin_filters import (
    ExecutionFilter,
    ProcessedAtRangeFilter,
    ProcessingTypeFilter,
    default_window_start,
)
from logs.models import (
    AccessLog,
    Alert,
    Execution,
    InboxItem,
    JobRun,
    MonthSeal,
    ProcessingError,
    ProcessingLog,
    ProcessingLogSummary,
)
from logs.paginators import KeysetChangeList
from logs.resources import ProcessingLogResource
from logs.services.access import access_record, request_filters
from logs.templatetags.trail import trail_message


class ReadOnlyAdmin(ReadOnlyMixin, AuditModelAdmin):
    """The audit trail is read-only for everybody, superusers included."""


@admin.display(description=_("error message"))
def error_message_shown(obj) -> str:
    """The stored cell message in the reader's language, the stored text as its title."""
    return trail_message(obj.error_message)


@admin.register(ProcessingLog)
class ProcessingLogAdmin(ExportMixin, ReadOnlyAdmin):
    """Tens of millions of rows: pages by keyset (no COUNT(*), no OFFSET), no DISTINCT for
    filter choices, and a default date window (partition pruning) unless a date range, user or
    execution narrows it."""

    list_display = (
        "log_id",
        "processed_at",
        "execution_name",
        "user_id",
        "processing_type",
        "old_value",
        "new_value",
        "status",
        error_message_shown,
    )
    list_filter = (
        ("processed_at", ProcessedAtRangeFilter),
        "status",
        ProcessingTypeFilter,
        ExecutionFilter,
    )
    search_fields = ("user_id",)
    search_help_text = _("Exact user ID, e.g. U00001.")
    ordering = ("-processed_at", "-log_id")
    sortable_by = ("processed_at",)  # newest or oldest first; log_id breaks ties the same way
    # Rendering a row is most of the page's own time; the next page is one indexed read away.
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    change_list_template = "admin/logs/processinglog/change_list.html"
    export_template_name = "admin/logs/processinglog/export.html"
    resource_classes = [ProcessingLogResource]
    formats = [CSV, XLSX]

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm("logs.export_processinglog")

    def get_changelist(self, request, **kwargs):
        # Pages by keyset on (processed_at, log_id): no count, no OFFSET (logs.paginators).
        return KeysetChangeList

    def get_search_results(self, request, queryset, search_term):
        # Exact match: the (user_id, processed_at) index serves it; Django's "=" would be iexact.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(user_id=term), False

    def get_rangefilter_processed_at_default(self, request):
        return default_window_start(request.GET), None

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "default_window_start": default_window_start(request.GET),
            "default_window_days": settings.LOG_LIST_DEFAULT_DAYS,
            **(extra_context or {}),
        }
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and changelist.query.strip():
            # A list narrowed to one user is a look at that user's data: recorded.
            access_record(
                request=request,
                kind=AccessLog.Kind.LOG_LIST,
                user_id=changelist.query.strip(),
                filters=request_filters(request),
                rows=len(changelist.result_list),
            )
        return response

    def export_action(self, request):
        try:
            return super().export_action(request)
        except IncorrectLookupParameters:
            # What the changelist does with a stale or forged filter: back to the list.
            changelist = reverse("admin:logs_processinglog_changelist")
            return HttpResponseRedirect(f"{changelist}?{ERROR_FLAG}=1")

    def get_export_data(self, file_format, request, queryset, **kwargs):
        limit = settings.EXPORT_MAX_ROWS
        # Bounded count: reads at most limit + 1 rows, however many match.
        rows = queryset.order_by()[: limit + 1].count()
        if rows > limit:
            msg = gettext(
                "More than %(limit)s rows match. Narrow the list (date range, status, "
                "execution or user) and export again."
            ) % {"limit": limit}
            raise ValueError(msg)
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        access_record(
            request=request,
            kind=AccessLog.Kind.EXPORT,
            user_id=request.GET.get("q", "").strip() or None,
            filters=request_filters(request),
            target=file_format.get_title(),
            rows=rows,
        )
        return data

    def get_valid_export_item_pks(self, request):
        # Only the posted ids that exist: the library's default lists every id of the table.
        posted = [pk for pk in request.POST.getlist("export_items") if pk.isdigit()]
        return ProcessingLog.objects.filter(pk__in=posted).values_list("pk", flat=True)

    def get_export_context_data(self, **kwargs):
        return {"export_max_rows": settings.EXPORT_MAX_ROWS}


@admin.register(ProcessingLogSummary)
class ProcessingLogSummaryAdmin(ReadOnlyAdmin):
    list_display = (
        "summary_date",
        "execution_name",
        "total_processed",
        "success_count",
        "failed_count",
        "skipped_count",
    )
    search_fields = ("execution_name",)


@admin.register(Execution)
class ExecutionAdmin(ExecutionCorrectionsMixin, ReadOnlyAdmin):
    """Executions list and detail (seed 6.2, failed cells, live progress, original file);
    the upload pages hang below it."""

    list_display = (
        "name",
        "kind",
        "status",
        "uploaded_by",
        "created_at",
        "rows_total",
        "success_count",
        "failed_count",
        "skipped_count",
    )
    list_filter = ("status", "kind", "source_kind")
    list_select_related = ("uploaded_by",)
    search_fields = ("name", "file_name", "sha256")
    change_list_template = "admin/logs/execution/change_list.html"
    change_form_template = "admin/logs/execution/change_form.html"
    # `file` itself is left out: its default widget links to MEDIA_URL, past the permission check.
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "status",
                    "reason",
                    "source",
                    "source_kind",
                    "file_name",
                    "original_file",
                    "size_bytes",
                    "sha256",
                    "uploaded_by",
                    "force",
                )
            },
        ),
        (
            _("Result"),
            {
                "fields": (
                    "rows_total",
                    "log_rows",
                    "success_count",
                    "failed_count",
                    "skipped_count",
                    "warning_list",
                    "digest",
                )
            },
        ),
        (
            _("Times"),
            {
                "fields": (
                    "created_at",
                    "requeued_at",
                    "requeue_count",
                    "started_at",
                    "finished_at",
                )
            },
        ),
        (_("Corrections"), {"fields": EXECUTION_CORRECTION_FIELDS}),
    )
    readonly_fields = (
        "original_file",
        "reason",
        "warning_list",
        *ExecutionCorrectionsMixin.readonly_corrections,
    )

    @admin.display(description=_("reason"))
    def reason(self, execution: Execution) -> str:
        return trail_message(execution.error_message) or "-"

    @admin.display(description=_("original file"))
    def original_file(self, execution: Execution) -> str:
        if not execution.file:
            return "-"
        url = reverse("admin:logs_execution_download", args=[execution.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Download the original file"))

    @admin.display(description=_("warnings"))
    def warning_list(self, execution: Execution) -> str:
        if not execution.warnings:
            return "-"
        items = format_html_join(
            "", "<li>{}</li>", ((trail_message(warning),) for warning in execution.warnings)
        )
        return format_html("<ul>{}</ul>", items)

    def get_urls(self):
        mounted = partial(admin_page, self)
        return [
            path("upload/", mounted(views.execution_upload), name="logs_execution_upload"),
            path(
                "upload/<str:token>/",
                mounted(views.execution_upload_preview),
                name="logs_execution_upload_preview",
            ),
            path(
                "upload/<str:token>/confirm/",
                mounted(views.execution_upload_confirm),
                name="logs_execution_upload_confirm",
            ),
            path(
                "<path:object_id>/progress/",
                mounted(views.execution_progress),
                name="logs_execution_progress",
            ),
            path(
                "<path:object_id>/download/",
                mounted(views.execution_download),
                name="logs_execution_download",
            ),
            *self.correction_urls(mounted),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "can_upload": request.user.has_perm(views.UPLOAD_PERMISSION),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if request.method in views.READ_METHODS:
            execution = self.get_object(request, unquote(object_id))
            if execution is not None and self.has_view_permission(request, execution):
                extra_context.update(views.execution_detail_context(request, execution))
                extra_context.update(self.correction_context(request, execution))
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(ProcessingError)
class ProcessingErrorAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "execution_name",
        "kind",
        "row_number",
        "user_id",
        "processing_type",
        error_message_shown,
        "expires_at",
    )
    list_filter = ("kind",)
    search_fields = ("=user_id", "execution_name")


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("job", "status", "dry_run", "started_at", "finished_at", "error_message")
    list_filter = ("job", "status")


# --- Unattended operation: the alerts sent and the inbox ledger (read-only) ----------------


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    """What operators were told, when, on which channel, and whether it reached them."""

    list_display = ("created_at", "kind", "alert_text", "subject_link", "delivery_summary")
    list_filter = ("kind", "deliveries__status")
    search_fields = ("key", "text")
    fields = ("created_at", "kind", "key", "alert_text", "subject_link", "deliveries_table")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries").distinct()

    @admin.display(description=_("alert"))
    def alert_text(self, alert: Alert) -> str:
        return trail_message(alert.text)

    @admin.display(description=_("about"))
    def subject_link(self, alert: Alert) -> str:
        if not alert.link:
            return "-"
        return format_html('<a href="{}">{}</a>', alert.link, gettext("Open"))

    @admin.display(description=_("sent"))
    def delivery_summary(self, alert: Alert) -> str:
        deliveries = list(alert.deliveries.all())
        if not deliveries:
            return gettext("no channel configured")
        return ", ".join(
            f"{delivery.get_channel_display()}: {delivery.get_status_display()}"
            for delivery in deliveries
        )

    @admin.display(description=_("deliveries"))
    def deliveries_table(self, alert: Alert) -> str:
        deliveries = list(alert.deliveries.all())
        if not deliveries:
            return gettext("no channel configured")
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>",
            gettext("channel"),
            gettext("sent to"),
            gettext("status"),
            gettext("attempts"),
            gettext("sent at"),
            gettext("last error"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        d.get_channel_display(),
                        d.target,
                        d.get_status_display(),
                        d.attempts,
                        d.sent_at or "-",
                        d.last_error or "-",
                    )
                    for d in deliveries
                ),
            ),
        )


@admin.register(InboxItem)
class InboxItemAdmin(ReadOnlyAdmin):
    """Each object taken from the inbox: its execution, attempts and where it was moved."""

    list_display = ("taken_at", "file_name", "state", "outcome", "execution", "destination")
    list_filter = ("state", "outcome")
    list_select_related = ("execution",)
    search_fields = ("uri", "file_name")


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin):
    """Who looked at whose data: auditors and superusers only (``logs.view_accesslog``)."""

    list_display = (
        "accessed_at",
        "username",
        "kind",
        "user_id",
        "rows",
        "target",
        "client_address",
    )
    list_filter = ("kind", ("accessed_at", DateRangeFilter), "username")
    search_fields = ("=user_id", "=username")
    search_help_text = _("Exact user ID or staff username.")
    show_full_result_count = False
    list_per_page = 100
    fields = (
        "accessed_at",
        "username",
        "account_id",
        "kind",
        "user_id",
        "rows",
        "target",
        "filters",
        "client_address",
    )

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm("logs.view_accesslog")


@admin.register(MonthSeal)
class MonthSealAdmin(ReadOnlyAdmin):
    """The month seals; an auditor downloads a month's evidence pack from here."""

    list_display = ("month", "executions", "rows", "seal", "previous_seal", "sealed_at", "s3_key")
    fields = (
        "month",
        "executions",
        "rows",
        "seal",
        "previous_seal",
        "chain_head",
        "sealed_at",
        "s3_key",
        "chain",
    )
    actions = ["evidence_pack_download"]

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm("logs.export_processinglog")

    @admin.action(permissions=["export"], description=_("Download the evidence pack"))
    def evidence_pack_download(self, request, queryset):
        return views.evidence_pack_response(request, queryset)
