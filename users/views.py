"""The user lookup page for support: current counters, change timeline, recent errors."""

from __future__ import annotations

from django.contrib.admin.options import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from logs.models import AccessLog
from logs.paginators import keyset_page
from logs.selectors import executions_lineage
from logs.services.access import access_record, request_filters
from users.forms import UserLookupForm
from users.selectors import user_counters, user_history, user_recent_errors

LOOKUP_PERMISSION = "users.lookup_serviceuser"
REQUEST_PERMISSION = "logs.request_correction"  # may ask for an adjustment from this page
HISTORY_PER_PAGE = 50
PAGE_PARAM = "page"


def user_lookup(request: HttpRequest, model_admin: ModelAdmin) -> HttpResponse:
    """Type a user_id; see what the user's counters are and every change that made them so."""
    if not request.user.has_perm(LOOKUP_PERMISSION):
        raise PermissionDenied
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    form = UserLookupForm(request.GET or None)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("User lookup"),
        "form": form,
    }
    if form.is_valid():
        user_id = form.cleaned_data["user_id"]
        # Newest first, paged by keyset (no count, no OFFSET: any page costs what the first does).
        history = keyset_page(
            user_history(user_id=user_id),
            token=request.GET.get(PAGE_PARAM),
            per_page=HISTORY_PER_PAGE,
            newest_first=True,
        )
        errors = list(user_recent_errors(user_id=user_id))
        # Each change with where it came from (SPEC §4a): kind, who asked and approved, why.
        lineage = executions_lineage(names={log.execution_name for log in history.rows})
        context.update(
            {
                "user_id": user_id,
                "counters": user_counters(user_id=user_id),
                "history": history,
                "timeline": [(log, lineage.get(log.execution_name)) for log in history.rows],
                "history_links": history.links(
                    lambda token: "?" + urlencode({"user_id": user_id, PAGE_PARAM: token or ""})
                ),
                "can_adjust": request.user.has_perm(REQUEST_PERMISSION),
                "errors": errors,
            }
        )
        context["subtitle"] = user_id
        access_record(
            request=request,
            kind=AccessLog.Kind.LOOKUP,
            user_id=user_id,
            filters=request_filters(request),
            rows=len(history.rows) + len(errors),
        )
    return TemplateResponse(request, "admin/users/serviceuser/lookup.html", context)
