"""The admin site: the dashboard on the index page and a throttled login."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpResponseNotAllowed
from django.utils.translation import gettext_lazy as _

from auditsite.forms import ThrottledAdminAuthenticationForm


class AuditAdminSite(admin.AdminSite):
    site_header = _("auditsite administration")
    site_title = _("auditsite")
    index_title = _("Dashboard")
    login_form = ThrottledAdminAuthenticationForm

    def each_context(self, request):
        context = super().each_context(request)
        context["business_time_zone"] = settings.TIME_ZONE
        return context

    def index(self, request, extra_context=None):
        # A read-only page: nothing to POST.
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        # Imported here: the site is built while apps load, before logs' models are ready.
        from logs.dashboard import dashboard_context

        return super().index(request, {**dashboard_context(request), **(extra_context or {})})

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        form = getattr(response, "context_data", {}).get("form")
        if form is not None and form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
        return response
