"""The admin pages of corrections (SPEC §4a): reverse an execution, adjust a counter, approve or
decline a request, download an execution's failed rows.

Like the other custom pages: mounted under the admin site (login, CSRF, never-cache), the
permission checked first (403), then the method (405).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.options import ModelAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from logs.messages import CORRECTION_OWN_REQUEST, message_localize
from logs.models import CorrectionRequest, Execution
from logs.services.correction_requests import (
    APPROVE_PERMISSION,
    REQUEST_PERMISSION,
    OwnRequest,
    correction_request_adjustment,
    correction_request_approve,
    correction_request_decline,
    correction_request_reversal,
)
from logs.services.corrections import (
    CorrectionRefused,
    CorrectionResult,
    counter_adjust,
    execution_reverse,
)
from logs.services.failed_rows import OriginalMissing, execution_failed_rows
from logs.views import READ_METHODS, _page_context, _refusal, type_count_rows
from users.selectors import user_counters
from users.statistics import STATISTICS


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Kept with the correction; support and auditors read it."),
    )


class AdjustForm(ReasonForm):
    user_id = forms.CharField(label=gettext_lazy("User ID"), max_length=10)
    column = forms.ChoiceField(
        label=gettext_lazy("Counter"), choices=[(s.column, s.label) for s in STATISTICS]
    )
    operation = forms.ChoiceField(
        label=gettext_lazy("Operation"),
        choices=CorrectionRequest.Operation.choices,
        widget=forms.RadioSelect,
        initial=CorrectionRequest.Operation.ADD,
    )
    amount = forms.IntegerField(
        label=gettext_lazy("Amount"),
        help_text=gettext_lazy("Add: negative lowers the counter. Set: the new value."),
    )

    field_order = ["user_id", "column", "operation", "amount", "reason"]


class DecisionForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


def _account(request: HttpRequest) -> User:
    """The staff account of a request (every admin page requires one)."""
    account = request.user
    assert isinstance(account, User), "admin pages are for logged-in staff"
    return account


def result_context(result: CorrectionResult | dict) -> dict:
    """A correction's (dry-run) counts and failing cells, for the preview include."""
    data = result.preview_data() if isinstance(result, CorrectionResult) else result
    return {
        "type_rows": type_count_rows(data.get("counts", {})),
        "problems": [
            {**problem, "message": message_localize(problem["message"] or "")}
            for problem in data.get("problems", [])
        ],
        "failed_count": data.get("failed_count", 0),
        "log_rows": data.get("log_rows", 0),
    }


def _requester_refusal(request: HttpRequest) -> HttpResponse | None:
    """403 for those who may not ask for corrections; the pages take GET and POST."""
    return _refusal(
        request,
        allowed=request.user.has_perm(REQUEST_PERMISSION),
        methods=(*READ_METHODS, "POST"),
    )


def _applied(request: HttpRequest, result: CorrectionResult) -> HttpResponse:
    assert result.execution is not None
    messages.success(
        request, _("Correction %(name)s was applied.") % {"name": result.execution.name}
    )
    return redirect("admin:logs_execution_change", result.execution.pk)


def _requested(request: HttpRequest, correction: CorrectionRequest) -> HttpResponse:
    messages.success(
        request,
        _("Request %(id)s is waiting for a second person's approval.") % {"id": correction.pk},
    )
    return redirect("admin:logs_correctionrequest_change", correction.pk)


def execution_reverse_view(
    request: HttpRequest, model_admin: ModelAdmin, object_id: str
) -> HttpResponse:
    """*Reverse this execution*: its dry run and a reason; on POST a request (or, without
    approval, the reversal itself)."""
    if refusal := _requester_refusal(request):
        return refusal
    execution = get_object_or_404(Execution, pk=object_id)
    form = ReasonForm(request.POST if request.method == "POST" else None)
    refused = ""
    if form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            if settings.CORRECTIONS_REQUIRE_APPROVAL:
                correction = correction_request_reversal(
                    execution=execution, reason=reason, requested_by=_account(request)
                )
                return _requested(request, correction)
            result = execution_reverse(
                execution_name=execution.name, reason=reason, requested_by=_account(request)
            )
            return _applied(request, result)
        except CorrectionRefused as exc:
            refused = message_localize(str(exc))
    preview = None
    try:
        preview = result_context(
            execution_reverse(execution_name=execution.name, reason="preview", dry_run=True)
        )
    except CorrectionRefused as exc:
        refused = refused or message_localize(str(exc))
    context = {
        **_page_context(
            request, model_admin, _("Reverse execution %(name)s") % {"name": execution.name}
        ),
        "execution": execution,
        "form": form,
        "preview": preview,
        "refused": refused,
        "requires_approval": settings.CORRECTIONS_REQUIRE_APPROVAL,
    }
    return TemplateResponse(request, "admin/logs/execution/reverse.html", context)


def counter_adjust_view(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    """*Adjust a counter*: one user, one counter, add or set, with a reason; on POST a request
    (or, without approval, the adjustment itself)."""
    if refusal := _requester_refusal(request):
        return refusal
    if request.method == "POST":
        form = AdjustForm(request.POST)
    else:
        form = AdjustForm(initial={"user_id": request.GET.get("user_id", "")})
    refused = ""
    if form.is_valid():
        data = form.cleaned_data
        change = {
            "user_id": data["user_id"].strip(),
            "column": data["column"],
            "amount": data["amount"],
            "set_to": data["operation"] == CorrectionRequest.Operation.SET,
            "reason": data["reason"],
        }
        try:
            if settings.CORRECTIONS_REQUIRE_APPROVAL:
                correction = correction_request_adjustment(**change, requested_by=_account(request))
                return _requested(request, correction)
            return _applied(request, counter_adjust(**change, requested_by=_account(request)))
        except CorrectionRefused as exc:
            refused = message_localize(str(exc))
    user_id = (form.data.get("user_id") if form.is_bound else form.initial.get("user_id")) or ""
    context = {
        **_page_context(request, model_admin, _("Adjust a counter")),
        "form": form,
        "refused": refused,
        "counters": user_counters(user_id=user_id.strip()) if user_id.strip() else None,
        "requires_approval": settings.CORRECTIONS_REQUIRE_APPROVAL,
    }
    return TemplateResponse(request, "admin/logs/correctionrequest/adjust.html", context)


def _decision(request: HttpRequest, object_id: str, decide) -> HttpResponse:
    """Approve or decline: for approvers only, never on one's own request (403 either way)."""
    refusal = _refusal(
        request, allowed=request.user.has_perm(APPROVE_PERMISSION), methods=("POST",)
    )
    if refusal:
        return refusal
    correction = get_object_or_404(CorrectionRequest, pk=object_id)
    if correction.requested_by_id == request.user.pk:
        raise PermissionDenied(CORRECTION_OWN_REQUEST.render())
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        decide(request_id=correction.pk, note=note)
    except OwnRequest as exc:  # the request changed hands meanwhile: still never one's own
        raise PermissionDenied(str(exc)) from exc
    except CorrectionRefused as exc:
        messages.error(request, message_localize(str(exc)))
    return redirect("admin:logs_correctionrequest_change", correction.pk)


def correction_approve_view(
    request: HttpRequest, model_admin: ModelAdmin, object_id: str
) -> HttpResponse:
    """Approve a pending request (POST): the correction runs now."""

    def approve(*, request_id: int, note: str) -> None:
        correction = correction_request_approve(
            request_id=request_id, approved_by=_account(request), note=note
        )
        messages.success(
            request,
            _("Approved: correction %(name)s was applied.")
            % {"name": correction.execution.name if correction.execution else "-"},
        )

    return _decision(request, object_id, approve)


def correction_decline_view(
    request: HttpRequest, model_admin: ModelAdmin, object_id: str
) -> HttpResponse:
    """Decline a pending request (POST): nothing runs."""

    def decline(*, request_id: int, note: str) -> None:
        correction_request_decline(request_id=request_id, declined_by=_account(request), note=note)
        messages.info(request, _("Declined: nothing was changed."))

    return _decision(request, object_id, decline)


def execution_failed_rows_view(
    request: HttpRequest, model_admin: ModelAdmin, object_id: str
) -> HttpResponse | StreamingHttpResponse:
    """*Download failed rows*: the rows with a failed cell, in the upload format plus ``error``."""
    refusal = _refusal(
        request, allowed=model_admin.has_view_permission(request), methods=READ_METHODS
    )
    if refusal:
        return refusal
    execution = get_object_or_404(Execution, pk=object_id, kind=Execution.Kind.IMPORT)
    if execution.status != Execution.Status.COMPLETED:
        raise Http404(_("Only a completed import has failed rows to download."))
    try:
        failed = execution_failed_rows(execution=execution)
    except OriginalMissing as exc:
        raise Http404(_("The original file of this execution is not stored.")) from exc
    response = StreamingHttpResponse(failed.content, content_type="text/csv")
    response["Content-Disposition"] = (
        content_disposition_header(True, failed.file_name) or "attachment"
    )
    return response
