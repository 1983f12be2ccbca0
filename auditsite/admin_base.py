"""Behaviour shared by every ModelAdmin of ours: refusals are explicit 403s, never silent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed


def admin_page(model_admin: admin.ModelAdmin, view: Callable[..., HttpResponseBase]):
    """One of our pages, mounted under the model admin's site (login, CSRF and never-cache come
    from ``admin_view``) and called as ``view(request, model_admin, *args, **kwargs)``."""

    def bound(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return view(request, model_admin, *args, **kwargs)

    return model_admin.admin_site.admin_view(bound)


class StrictActionsMixin:
    """A POSTed changelist action the user may not run is refused with 403.

    Django's admin would answer "no action selected" and redirect; an explicit refusal is what
    the permission tests pin down, and it keeps a forged POST from looking like a slip.
    """

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and "action" in request.POST:
            if request.POST["action"] not in self.get_actions(request):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        # A read-only page: nothing to POST (refused after the permission check, like ours).
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return super().history_view(request, object_id, extra_context)


class ReadOnlyMixin:
    """No add, change or delete, for anybody, superusers included (pghistory's way): for the
    trail, and for counters that only imports and corrections may change."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AuditModelAdmin(StrictActionsMixin, admin.ModelAdmin):
    """Base of our model admins."""
