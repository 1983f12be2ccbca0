"""Admin configuration of corrections (SPEC §4a): the correction requests (read-only, decided
through their own POST pages), and what the execution admin shows and mounts for them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from auditsite.admin_base import AuditModelAdmin, ReadOnlyMixin, admin_page
from logs import correction_views
from logs.models import CorrectionRequest, Execution
from logs.services.correction_requests import APPROVE_PERMISSION, REQUEST_PERMISSION

# The execution page's corrections block (logs/admin.py adds it to ExecutionAdmin.fieldsets).
EXECUTION_CORRECTION_FIELDS = (
    "kind",
    "correction_reason",
    "approved_by",
    "reverses",
    "reversed_by",
    "corrects",
    "corrected_by",
)


def _execution_link(execution: Execution | None) -> str:
    if execution is None:
        return "-"
    url = reverse("admin:logs_execution_change", args=[execution.pk])
    return format_html('<a href="{}">{}</a>', url, execution.name)


class ExecutionCorrectionsMixin:
    """What the execution admin has for corrections: who reversed or corrected it, the reverse
    and failed-rows pages, and the links to them on its page."""

    readonly_corrections = ("reversed_by", "corrected_by")

    @admin.display(description=_("reversed by"))
    def reversed_by(self, execution: Execution) -> str:
        reversal = execution.reversals.filter(status=Execution.Status.COMPLETED).first()
        return _execution_link(reversal)

    @admin.display(description=_("corrected by"))
    def corrected_by(self, execution: Execution) -> str:
        corrections = execution.corrections.order_by("created_at")
        if not corrections:
            return "-"
        return format_html_join(", ", "{}", ((_execution_link(c),) for c in corrections))

    def correction_urls(self, mounted: Callable[[Callable[..., Any]], Any]) -> list[URLPattern]:
        """The reverse and failed-rows pages, mounted (``admin_page``) on the execution admin."""
        return [
            path(
                "<path:object_id>/reverse/",
                mounted(correction_views.execution_reverse_view),
                name="logs_execution_reverse",
            ),
            path(
                "<path:object_id>/failed-rows/",
                mounted(correction_views.execution_failed_rows_view),
                name="logs_execution_failed_rows",
            ),
        ]

    def correction_context(self, request: HttpRequest, execution: Execution) -> dict:
        reversible = (
            execution.status == Execution.Status.COMPLETED
            and execution.kind != Execution.Kind.REVERSAL
            and not execution.reversals.filter(status__in=Execution.ACTIVE_STATUSES).exists()
        )
        has_failed_rows = (
            execution.kind == Execution.Kind.IMPORT
            and execution.status == Execution.Status.COMPLETED
            and execution.failed_count > 0
        )
        upload = reverse("admin:logs_execution_upload")
        return {
            "can_reverse": reversible and request.user.has_perm(REQUEST_PERMISSION),
            "reverse_url": reverse("admin:logs_execution_reverse", args=[execution.pk]),
            "failed_rows_url": (
                reverse("admin:logs_execution_failed_rows", args=[execution.pk])
                if has_failed_rows
                else ""
            ),
            "corrected_upload_url": (
                f"{upload}?{urlencode({'corrects': execution.name})}"
                if has_failed_rows and request.user.has_perm("logs.upload_csv")
                else ""
            ),
        }


@admin.register(CorrectionRequest)
class CorrectionRequestAdmin(ReadOnlyMixin, AuditModelAdmin):
    """Requests, approvals and declines: read by every trail reader; decided by approvers."""

    list_display = (
        "id",
        "kind",
        "what",
        "status",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "execution_link",
    )
    list_filter = ("status", "kind")
    list_select_related = ("requested_by", "decided_by", "target", "execution")
    search_fields = ("user_id", "target__name", "execution__name")
    change_form_template = "admin/logs/correctionrequest/change_form.html"
    change_list_template = "admin/logs/correctionrequest/change_list.html"
    fields = (
        "kind",
        "what",
        "status",
        "reason",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "execution_link",
    )
    readonly_fields = ("what", "execution_link")

    @admin.display(description=_("correction"))
    def what(self, correction: CorrectionRequest) -> str:
        if correction.kind == Execution.Kind.REVERSAL:
            return format_html(
                "{} {}", gettext("Reverse execution"), _execution_link(correction.target)
            )
        if correction.operation == CorrectionRequest.Operation.SET:
            text = gettext("Set %(column)s of %(user_id)s to %(amount)s")
        else:
            text = gettext("Add %(amount)s to %(column)s of %(user_id)s")
        return text % {
            "column": correction.column,
            "user_id": correction.user_id,
            "amount": correction.amount,
        }

    @admin.display(description=_("correction run"))
    def execution_link(self, correction: CorrectionRequest) -> str:
        return _execution_link(correction.execution)

    def get_urls(self):
        mounted = partial(admin_page, self)
        return [
            path(
                "adjust/", mounted(correction_views.counter_adjust_view), name="logs_counter_adjust"
            ),
            path(
                "<path:object_id>/approve/",
                mounted(correction_views.correction_approve_view),
                name="logs_correctionrequest_approve",
            ),
            path(
                "<path:object_id>/decline/",
                mounted(correction_views.correction_decline_view),
                name="logs_correctionrequest_decline",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "can_adjust": request.user.has_perm(REQUEST_PERMISSION),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        correction = self.get_object(request, unquote(object_id))
        if correction is not None and self.has_view_permission(request, correction):
            pending = correction.status == CorrectionRequest.Status.PENDING
            may_decide = request.user.has_perm(APPROVE_PERMISSION)
            extra_context.update(
                {
                    "correction": correction,
                    "preview": correction_views.result_context(correction.preview),
                    "own_request": correction.requested_by_id == request.user.pk,
                    "can_decide": pending
                    and may_decide
                    and correction.requested_by_id != request.user.pk,
                    "requires_approval": settings.CORRECTIONS_REQUIRE_APPROVAL,
                    "decision_form": correction_views.DecisionForm(),
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)
