"""The schedules of SPEC §7a in django-celery-beat: the inbox pickup, the alerts check and the
nightly verification. Crontabs are in the business time zone; a schedule that already exists
(by name) is left as it is: an admin may have changed it. Reversing removes these schedules.
"""

from django.db import migrations

from logs.migrations import _schedules

# name → (task, crontab "minute hour day-of-month month day-of-week"); tasks are logs.tasks'.
SCHEDULES = {
    "inbox pickup (every 5 minutes)": ("logs.tasks.pickup_inbox", "*/5 * * * *"),
    "alerts (every minute)": ("logs.tasks.check_alerts", "* * * * *"),
    "trail verification (nightly, 05:00)": ("logs.tasks.verify_logs", "0 5 * * *"),
}


def schedules_create(apps, schema_editor):
    _schedules.schedules_create(apps, SCHEDULES)


def schedules_remove(apps, schema_editor):
    _schedules.schedules_remove(apps, SCHEDULES)


class Migration(migrations.Migration):

    dependencies = [
        ("logs", "0006_alerts_inbox"),
        ("logs", "0003_beat_schedules"),
    ]

    operations = [
        migrations.RunPython(schedules_create, schedules_remove),
    ]
