"""django-axes' login records in the admin: auditors read them, a superuser resets a lockout.

The package's admins are put in place of with explicit refusals: nobody adds or edits a
record; deleting an attempt (which lifts its lockout, like ``manage.py axes_reset``) is a
superuser's alone, and the access and failure logs are read-only for everybody.
"""

from __future__ import annotations

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from auditsite.admin_base import ReadOnlyMixin, StrictActionsMixin


class AccessAttemptAdmin(StrictActionsMixin, axes_admin.AccessAttemptAdmin):
    """Failed-login counters: viewed by auditors; a superuser deletes one to reset it."""

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_active and request.user.is_superuser


class AxesAccessLogAdmin(StrictActionsMixin, ReadOnlyMixin, axes_admin.AccessLogAdmin):
    """Every login and logout, read-only."""


class AccessFailureLogAdmin(StrictActionsMixin, ReadOnlyMixin, axes_admin.AccessFailureLogAdmin):
    """Every failed login, read-only."""


GUARDED: dict[type[Model], type[admin.ModelAdmin]] = {
    AccessAttempt: AccessAttemptAdmin,
    AccessLog: AxesAccessLogAdmin,
    AccessFailureLog: AccessFailureLogAdmin,
}


def register(site: admin.AdminSite) -> None:
    """Put the guarded admins in place of the package's own (after autodiscovery)."""
    for model, model_admin in GUARDED.items():
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)
