"""django-celery-beat's schedule admins, with explicit refusals and guarded bulk actions.

The package's enable/disable/toggle/run actions declare no permission, so anybody who can
*view* periodic tasks could run or switch them off from the list. Here they need
``change_periodictask``; viewing stays as it is (uploader and auditor view schedules).
"""

from __future__ import annotations

from django.contrib import admin

from auditsite.admin_base import StrictActionsMixin

_CHANGING_ACTIONS = ("enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks")


class ChangePermissionActionsMixin:
    """Drops the package's state-changing bulk actions for users who may only view."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            for name in _CHANGING_ACTIONS:
                actions.pop(name, None)
        return actions


def register() -> None:
    """Re-register every django-celery-beat admin with our guards (after autodiscovery)."""
    for model, model_admin in list(admin.site._registry.items()):
        if model._meta.app_label != "django_celery_beat":
            continue
        base = type(model_admin)
        guarded = type(
            f"Guarded{base.__name__}",
            (StrictActionsMixin, ChangePermissionActionsMixin, base),
            {"__module__": __name__},
        )
        admin.site.unregister(model)
        admin.site.register(model, guarded)
