"""Beat schedules created and removed by migrations (0003, 0007, 0013): each a name → (task,
crontab line) in the business time zone. A schedule that already exists (by name) is left as it
is, since an admin may have changed it; crontabs are shared rows, removed only when no other task
uses them. (The migration loader skips modules named with ``_``.)
"""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

CRONTAB_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def _schedules_changed(apps):
    # Historical models send no signals: tell a running beat that its schedule changed.
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedules_create(apps, schedules: dict[str, tuple[str, str]]) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    zone = ZoneInfo(settings.TIME_ZONE)
    for name, (task, line) in schedules.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        cron = dict(zip(CRONTAB_FIELDS, line.split(), strict=True))
        crontab = CrontabSchedule.objects.filter(timezone=zone, **cron).first()
        if crontab is None:
            crontab = CrontabSchedule.objects.create(timezone=zone, **cron)
        PeriodicTask.objects.create(name=name, task=task, crontab=crontab, enabled=True)
    _schedules_changed(apps)


def schedules_remove(apps, schedules: dict[str, tuple[str, str]]) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab_ids = set(
        PeriodicTask.objects.filter(name__in=schedules).values_list("crontab_id", flat=True)
    )
    PeriodicTask.objects.filter(name__in=schedules).delete()
    CrontabSchedule.objects.filter(pk__in=crontab_ids, periodictask__isnull=True).delete()
    _schedules_changed(apps)
