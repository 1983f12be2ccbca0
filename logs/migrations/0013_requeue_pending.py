"""A pending upload whose message the broker may have lost is queued again (SPEC §10): when
and how often it was, on the Execution, and the schedule of the pass that does it (every
minute, in the business time zone). A schedule that already exists (by name) is left as it is:
an admin may have changed it. Reversing removes the schedule.
"""

from django.db import migrations, models

from logs.migrations import _schedules

# name → (task, crontab "minute hour day-of-month month day-of-week"); tasks are logs.tasks'.
SCHEDULES = {
    "pending uploads queued again (every minute)": (
        "logs.tasks.requeue_pending_runs",
        "* * * * *",
    ),
}


def schedules_create(apps, schema_editor):
    _schedules.schedules_create(apps, SCHEDULES)


def schedules_remove(apps, schema_editor):
    _schedules.schedules_remove(apps, SCHEDULES)


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
