"""The log admin's own pages: dashboard data, upload → preview → confirm, progress, download.

Each view is mounted under the admin site (login, CSRF and never-cache come from ``admin_view``)
and checks its permission first, then the HTTP method.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.contrib import messages
from django.contrib.admin.options import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from auditsite.uploads import max_upload_bytes
from logs.forms import UploadForm
from logs.models import UPLOAD_PERMISSION, AccessLog, Execution, MonthSeal, UploadClaim
from logs.months import Month
from logs.paginators import CappedCountPaginator
from logs.selectors import (
    execution_failed_logs,
)
from logs.services.access import access_record
from logs.services.evidence import EvidenceRefused, evidence_pack_write
from logs.services.ingest import IngestRejected, message_localize
from logs.services.integrity import execution_counts_check
from logs.services.uploads import (
    PendingUpload,
    UploadAlreadyDecided,
    UploadFileMissing,
    upload_confirm,
    upload_discard,
    upload_forget,
    upload_recall,
    upload_receive,
    upload_remember,
)

FAILED_CELLS_PER_PAGE = 50
READ_METHODS = ("GET", "HEAD")
FINISHED_STATUSES = (
    Execution.Status.COMPLETED,
    Execution.Status.REJECTED,
    Execution.Status.FAILED,
)
# The headline of a finished run, where the progress bar was.
OUTCOME_LABELS: dict[str, Promise] = {
    Execution.Status.COMPLETED: gettext_lazy("This run completed"),
    Execution.Status.FAILED: gettext_lazy("This run failed"),
    Execution.Status.REJECTED: gettext_lazy("This file was rejected"),
}


def _refusal(request: HttpRequest, *, allowed: bool, methods: tuple[str, ...]):
    """403 without the permission, then 405 for a method the page does not take."""
    if not allowed:
        raise PermissionDenied
    if request.method not in methods:
        return HttpResponseNotAllowed(methods)
    return None


def _page_context(request: HttpRequest, model_admin: ModelAdmin, title: str) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
    }


# --- upload → preview → confirm ------------------------------------------------------------


def execution_upload(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    """Choose a CSV; on POST it is dry-run and kept for the preview."""
    refusal = _refusal(
        request,
        allowed=request.user.has_perm(UPLOAD_PERMISSION),
        methods=(*READ_METHODS, "POST"),
    )
    if refusal:
        return refusal
    status = 200
    if request.method == "POST":
        files = request.FILES  # parses the body: the size-limit handler runs here
        form = UploadForm(
            request.POST, files, too_large=getattr(request, "upload_too_large", False)
        )
        if form.is_valid():
            pending = upload_receive(
                uploaded_file=form.cleaned_data["file"],
                execution_name=form.cleaned_data["execution_name"].strip(),
                force=form.cleaned_data["force"],
                corrects=form.cleaned_data["corrects"],
            )
            upload_remember(session=request.session, pending=pending)
            return redirect("admin:logs_execution_upload_preview", token=pending.token)
        if form.too_large:
            status = 413
    else:
        form = UploadForm(initial={"corrects": request.GET.get("corrects", "")})
    context = {
        **_page_context(request, model_admin, _("Upload a CSV file")),
        "form": form,
        "max_upload_mb": max_upload_bytes() // (1024 * 1024),
    }
    return TemplateResponse(request, "admin/logs/execution/upload.html", context, status=status)


def _pending_upload(request: HttpRequest, token: str, *, methods: tuple[str, ...]):
    """(the session's pending upload, None), or (None, the response refusing the request)."""
    refusal = _refusal(request, allowed=request.user.has_perm(UPLOAD_PERMISSION), methods=methods)
    if refusal:
        return None, refusal
    pending = upload_recall(session=request.session, token=token)
    if pending is None:
        messages.warning(request, _("That upload is no longer waiting: choose the file again."))
        return None, redirect("admin:logs_execution_upload")
    return pending, None


def execution_upload_preview(
    request: HttpRequest, model_admin: ModelAdmin, token: str
) -> HttpResponse:
    """What the run would do (the dry run's numbers and first problems), or why it is refused."""
    pending, response = _pending_upload(request, token, methods=READ_METHODS)
    if response:
        return response
    context = {
        **_page_context(
            request, model_admin, _("Preview of %(file)s") % {"file": pending.file_name}
        ),
        "pending": pending,
        "preview": pending.preview,
        "type_rows": type_count_rows(pending.preview.get("counts", {})),
    }
    return TemplateResponse(request, "admin/logs/execution/upload_preview.html", context)


def execution_upload_confirm(
    request: HttpRequest, model_admin: ModelAdmin, token: str
) -> HttpResponse:
    """Run the previewed file in the background (or cancel it and delete the stored file).

    Exactly one request decides a pending upload (the claim in the database); a second one of
    the same session, e.g. a double click, is told what the first decided.
    """
    pending, response = _pending_upload(request, token, methods=("POST",))
    if response:
        return response
    upload_forget(session=request.session, token=token)
    try:
        if "cancel" in request.POST or pending.rejected:
            upload_discard(pending=pending, discarded_by=request.user)
            messages.info(
                request, _("The upload of %(file)s was cancelled.") % {"file": pending.file_name}
            )
            return redirect("admin:logs_execution_upload")
        execution = upload_confirm(pending=pending, uploaded_by=request.user)
    except UploadAlreadyDecided as exc:
        return _upload_decided(request, pending, exc.claim)
    except UploadFileMissing:
        messages.warning(request, _("That upload is no longer waiting: choose the file again."))
        return redirect("admin:logs_execution_upload")
    except IngestRejected as exc:
        messages.error(request, _("The file was rejected: %(reason)s") % {"reason": exc})
        if exc.execution is not None:
            return redirect("admin:logs_execution_change", exc.execution.pk)
        return redirect("admin:logs_execution_upload")
    messages.success(
        request,
        _("Execution %(name)s is queued; this page follows its progress.")
        % {"name": execution.name},
    )
    return redirect("admin:logs_execution_change", execution.pk)


def _upload_decided(
    request: HttpRequest, pending: PendingUpload, claim: UploadClaim
) -> HttpResponse:
    """Where a request goes that came second: to what the first one decided."""
    if claim.outcome == UploadClaim.Outcome.CANCELLED:
        messages.info(
            request, _("The upload of %(file)s was cancelled.") % {"file": pending.file_name}
        )
        return redirect("admin:logs_execution_upload")
    if claim.execution is None:
        messages.warning(request, _("That upload is no longer waiting: choose the file again."))
        return redirect("admin:logs_execution_upload")
    messages.info(
        request,
        _("The upload of %(file)s was already confirmed as execution %(name)s.")
        % {"file": pending.file_name, "name": claim.execution.name},
    )
    return redirect("admin:logs_execution_change", claim.execution.pk)


def type_count_rows(counts: dict[str, dict[str, int]]) -> list[dict]:
    """{processing_type: {status: n}} as table rows with a total, by processing type."""
    return [
        {"processing_type": processing_type, **per_status, "total": sum(per_status.values())}
        for processing_type, per_status in sorted(counts.items())
    ]


# --- one execution -------------------------------------------------------------------------


def _phase_label(phase: str) -> str:
    try:
        return str(Execution.Phase(phase).label)
    except ValueError:  # a phase this version does not know
        return phase


def execution_progress_data(execution: Execution) -> dict:
    """The numbers the progress bar polls for (also rendered into the first page load), and
    once the run is finished its outcome: a headline and, for a failed or rejected run, why."""
    size = execution.size_bytes or 0
    done = execution.status in FINISHED_STATUSES
    if execution.status == Execution.Status.COMPLETED:
        percent = 100
    elif size:  # a failed run shows how far it got, never a full bar
        percent = min(99, execution.progress_bytes * 100 // size)
    else:
        percent = 0
    refused = execution.status in (Execution.Status.FAILED, Execution.Status.REJECTED)
    return {
        "status": execution.status,
        "status_label": str(execution.get_status_display()),
        "phase": execution.progress_phase,
        "phase_label": _phase_label(execution.progress_phase),
        "rows": execution.progress_rows,
        "bytes": execution.progress_bytes,
        "size": size,
        "percent": percent,
        "done": done,
        "outcome": execution.status if done else "",
        "outcome_label": str(OUTCOME_LABELS.get(execution.status, "")),
        "reason": message_localize(execution.error_message) if refused else "",
    }


def _execution_or_404(object_id: str) -> Execution:
    """The execution of a URL; 404 for an id that is not a number (never a 500)."""
    if not object_id.isdigit():
        raise Http404(_("No such execution."))
    return get_object_or_404(Execution, pk=int(object_id))


def execution_progress(
    request: HttpRequest, model_admin: ModelAdmin, object_id: str
) -> HttpResponse:
    """Small JSON for the live progress bar: status, phase, bytes read of the file size."""
    refusal = _refusal(
        request, allowed=model_admin.has_view_permission(request), methods=READ_METHODS
    )
    return refusal or JsonResponse(execution_progress_data(_execution_or_404(object_id)))


def execution_download(
    request: HttpRequest, model_admin: ModelAdmin, object_id: str
) -> HttpResponse | FileResponse:
    """The original file of the execution, byte for byte, streamed from storage."""
    refusal = _refusal(
        request, allowed=model_admin.has_view_permission(request), methods=READ_METHODS
    )
    if refusal:
        return refusal
    execution = _execution_or_404(object_id)
    if not execution.file:
        raise Http404(_("This execution has no stored file."))
    try:
        handle = execution.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404(_("The stored file is missing.")) from exc
    name = execution.file_name or Path(execution.file.name).name
    access_record(
        request=request,
        kind=AccessLog.Kind.DOWNLOAD,
        target=execution.name,
        rows=execution.rows_total,
    )
    return FileResponse(handle, as_attachment=True, filename=name, content_type="text/csv")


def evidence_pack_response(
    request: HttpRequest, seals: QuerySet[MonthSeal]
) -> HttpResponseBase | None:
    """The admin action's answer: the evidence pack of the one selected sealed month."""
    if len(seals) != 1:
        messages.warning(request, _("Choose exactly one month for its evidence pack."))
        return None
    seal: MonthSeal = seals[0]
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
    try:
        pack = evidence_pack_write(month=Month.parse(seal.month), out=spool)
    except EvidenceRefused as exc:
        spool.close()
        messages.error(request, str(exc))
        return None
    access_record(request=request, kind=AccessLog.Kind.EVIDENCE, target=pack.month, rows=pack.rows)
    spool.seek(0)
    return FileResponse(
        spool,
        as_attachment=True,
        filename=f"evidence-{pack.month}.zip",
        content_type="application/zip",
    )


def execution_detail_context(request: HttpRequest, execution: Execution) -> dict:
    """Seed 6.2 for the execution, its failed cells (paginated) and its progress."""
    counted = execution_counts_check(execution=execution)
    failed_cells = CappedCountPaginator(
        execution_failed_logs(execution_name=execution.name), FAILED_CELLS_PER_PAGE
    ).get_page(request.GET.get("failed_page"))
    logs_url = reverse("admin:logs_processinglog_changelist")
    return {
        "execution": execution,
        "progress": execution_progress_data(execution),
        "progress_url": reverse("admin:logs_execution_progress", args=[execution.pk]),
        "breakdown": counted.breakdown,
        "breakdown_by_type": type_count_rows(counted.by_type),
        "breakdown_matches_record": counted.matches_record,
        "failed_cells": failed_cells,
        "logs_url": f"{logs_url}?{urlencode({'execution_name': execution.name})}",
    }
