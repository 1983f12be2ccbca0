"""django-celery-beat's schedule admins, with explicit refusals and guarded bulk actions.

The package's enable/disable/toggle/run actions declare no permission, so anybody who can
*view* periodic tasks could run or switch them off from the list. Here they need
``change_periodictask``; viewing stays as it is (uploader and auditor view schedules).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

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


class PeriodicTaskAdmin(
    StrictActionsMixin, ChangePermissionActionsMixin, beat_admin.PeriodicTaskAdmin
):
    """Periodic tasks: running or switching them needs the change permission."""


class ClockedScheduleAdmin(StrictActionsMixin, beat_admin.ClockedScheduleAdmin):
    """Clocked schedules, with explicit refusals."""


class CrontabScheduleAdmin(StrictActionsMixin, beat_admin.CrontabScheduleAdmin):
    """Crontab schedules, with explicit refusals."""


class SolarScheduleAdmin(StrictActionsMixin, beat_admin.SolarScheduleAdmin):
    """Solar schedules, with explicit refusals."""


class IntervalScheduleAdmin(StrictActionsMixin, beat_admin.IntervalScheduleAdmin):
    """Interval schedules, with explicit refusals."""


GUARDED: dict[type[Model], type[admin.ModelAdmin]] = {
    PeriodicTask: PeriodicTaskAdmin,
    ClockedSchedule: ClockedScheduleAdmin,
    CrontabSchedule: CrontabScheduleAdmin,
    SolarSchedule: SolarScheduleAdmin,
    IntervalSchedule: IntervalScheduleAdmin,
}


def register(site: admin.AdminSite) -> None:
    """Put the guarded admins in place of the package's own (after autodiscovery)."""
    for model, model_admin in GUARDED.items():
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)
