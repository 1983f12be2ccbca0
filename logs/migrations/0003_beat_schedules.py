"""The schedules of SPEC §7 in django-celery-beat, so admins can see and change them.

Crontabs are in the business time zone (settings.TIME_ZONE). A schedule that already exists
(by name) is left as it is: an admin may have changed it. Reversing removes these schedules.
"""

from django.db import migrations

from logs.migrations import _schedules

# name → (task, crontab "minute hour day-of-month month day-of-week"); tasks are logs.tasks'.
SCHEDULES = {
    "partitions (daily)": ("logs.tasks.ensure_partitions", "30 1 * * *"),
    "monthly summaries (1st, 02:00)": ("logs.tasks.summarize_logs", "0 2 1 * *"),
    "retention (Sunday, 03:00)": ("logs.tasks.run_retention", "0 3 * * 0"),
    "error purge (daily)": ("logs.tasks.purge_errors", "30 4 * * *"),
    "stale runs (hourly)": ("logs.tasks.fail_stale_runs", "10 * * * *"),
}


def schedules_create(apps, schema_editor):
    _schedules.schedules_create(apps, SCHEDULES)


def schedules_remove(apps, schema_editor):
    _schedules.schedules_remove(apps, SCHEDULES)


class Migration(migrations.Migration):

    dependencies = [
        ("logs", "0002_custom_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(schedules_create, schedules_remove),
    ]
