"""A pending upload whose message the broker may have lost is queued again (SPEC §10): when
and how often it was, on the Execution, and the schedule of the pass that does it (every
minute, in the business time zone). A schedule that already exists (by name) is left as it is:
an admin may have changed it. Reversing removes the schedule.
"""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

# name → (task, crontab "minute hour day-of-month month day-of-week"); tasks are logs.tasks'.
SCHEDULES = {
    "pending uploads queued again (every minute)": (
        "logs.tasks.requeue_pending_runs",
        "* * * * *",
    ),
}
CRONTAB_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def _schedules_changed(apps):
    # Historical models send no signals: tell a running beat that its schedule changed.
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def schedules_create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    zone = ZoneInfo(settings.TIME_ZONE)
    for name, (task, line) in SCHEDULES.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        cron = dict(zip(CRONTAB_FIELDS, line.split(), strict=True))
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
        ("logs", "0012_processing_logs_execution_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="execution",
            name="requeue_count",
            field=models.PositiveIntegerField(
                db_default=0, default=0, verbose_name="times queued again"
            ),
        ),
        migrations.AddField(
            model_name="execution",
            name="requeued_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="queued again at"),
        ),
        migrations.RunPython(schedules_create, schedules_remove),
    ]
