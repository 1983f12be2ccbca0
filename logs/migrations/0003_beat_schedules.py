"""The schedules of SPEC §7 in django-celery-beat, so admins can see and change them.

Crontabs are in the business time zone (settings.TIME_ZONE). A schedule that already exists
(by name) is left as it is: an admin may have changed it. Reversing removes these schedules.
"""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations
from django.utils import timezone

# name → (task, crontab). Task names are logs.tasks' registered names.
SCHEDULES = {
    "partitions (daily)": (
        "logs.tasks.ensure_partitions",
        {"minute": "30", "hour": "1", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"},
    ),
    "monthly summaries (1st, 02:00)": (
        "logs.tasks.summarize_logs",
        {"minute": "0", "hour": "2", "day_of_week": "*", "day_of_month": "1", "month_of_year": "*"},
    ),
    "retention (Sunday, 03:00)": (
        "logs.tasks.run_retention",
        {"minute": "0", "hour": "3", "day_of_week": "0", "day_of_month": "*", "month_of_year": "*"},
    ),
    "error purge (daily)": (
        "logs.tasks.purge_errors",
        {"minute": "30", "hour": "4", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"},
    ),
    "stale runs (hourly)": (
        "logs.tasks.fail_stale_runs",
        {"minute": "10", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"},
    ),
}


def _schedules_changed(apps):
    # Historical models send no signals: tell a running beat that its schedule changed.
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedules_create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    zone = ZoneInfo(settings.TIME_ZONE)
    for name, (task, cron) in SCHEDULES.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab = CrontabSchedule.objects.filter(timezone=zone, **cron).first()
        if crontab is None:
            crontab = CrontabSchedule.objects.create(timezone=zone, **cron)
        PeriodicTask.objects.create(name=name, task=task, crontab=crontab, enabled=True)
    _schedules_changed(apps)


def schedules_remove(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab_ids = set(
        PeriodicTask.objects.filter(name__in=SCHEDULES).values_list("crontab_id", flat=True)
    )
    PeriodicTask.objects.filter(name__in=SCHEDULES).delete()
    # Crontabs are shared rows: remove only those no other task uses.
    CrontabSchedule.objects.filter(pk__in=crontab_ids, periodictask__isnull=True).delete()
    _schedules_changed(apps)


class Migration(migrations.Migration):

    dependencies = [
        ("logs", "0002_custom_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(schedules_create, schedules_remove),
    ]
