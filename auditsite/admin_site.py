"""The admin site: the dashboard on the index page. Logins are throttled by django-axes
(settings: AUTHENTICATION_BACKENDS, AXES_*)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpResponseNotAllowed
from django.utils.translation import gettext_lazy as _


class AuditAdminSite(admin.AdminSite):
    site_header = _("auditsite administration")
    site_title = _("auditsite")
    index_title = _("Dashboard")

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
