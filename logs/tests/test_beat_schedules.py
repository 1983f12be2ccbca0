"""The beat schedules of SPEC §7, created by migration 0003: crontabs, time zone, task names."""

import importlib
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_celery_beat.models import PeriodicTask

from auditsite.celery import app as celery_app

pytestmark = pytest.mark.django_db

SCHEDULES = importlib.import_module("logs.migrations.0003_beat_schedules")
EXPECTED = {
    # task: (minute, hour, day_of_month, day_of_week)
    "logs.tasks.ensure_partitions": ("30", "1", "*", "*"),
    "logs.tasks.summarize_logs": ("0", "2", "1", "*"),
    "logs.tasks.run_retention": ("0", "3", "*", "0"),
    "logs.tasks.purge_errors": ("30", "4", "*", "*"),
    "logs.tasks.fail_stale_runs": ("10", "*", "*", "*"),
}


def _migrate(target: str) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("logs", target)])


def _ours() -> dict[str, PeriodicTask]:
    return {
        task.task: task
        for task in PeriodicTask.objects.select_related("crontab").filter(
            name__in=SCHEDULES.SCHEDULES
        )
    }


def test_migration_creates_the_schedules_of_spec_7():
    """Migrating to 0003 gives five enabled crontab tasks in the business time zone."""
    _migrate("0002_custom_permissions")
    assert _ours() == {}
    _migrate("0003_beat_schedules")
    tasks = _ours()
    assert set(tasks) == set(EXPECTED)
    for name, (minute, hour, day_of_month, day_of_week) in EXPECTED.items():
        crontab = tasks[name].crontab
        assert tasks[name].enabled
        assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.day_of_week) == (
            minute,
            hour,
            day_of_month,
            day_of_week,
        )
        assert crontab.month_of_year == "*"
        assert crontab.timezone == ZoneInfo(settings.TIME_ZONE)


def test_scheduled_task_names_exist_in_the_celery_app():
    """Every scheduled task name is a task the Celery app knows."""
    celery_app.loader.import_default_modules()
    for name, _ in SCHEDULES.SCHEDULES.values():
        assert name in celery_app.tasks


def test_schedules_are_idempotent_and_keep_admin_changes():
    """Running the migration again adds nothing and leaves a schedule an admin changed."""
    _migrate("0003_beat_schedules")
    changed = PeriodicTask.objects.get(task="logs.tasks.run_retention")
    changed.enabled = False
    changed.save()
    SCHEDULES.schedules_create(apps, None)
    assert PeriodicTask.objects.filter(name__in=SCHEDULES.SCHEDULES).count() == 5
    assert not PeriodicTask.objects.get(pk=changed.pk).enabled


def test_reverse_removes_only_our_schedules():
    """Reversing 0003 removes these schedules and leaves others (and their crontab) in place."""
    _migrate("0003_beat_schedules")
    shared = PeriodicTask.objects.get(task="logs.tasks.purge_errors").crontab
    PeriodicTask.objects.create(
        name="someone else's", task="celery.backend_cleanup", crontab=shared
    )
    _migrate("0002_custom_permissions")
    assert _ours() == {}
    assert PeriodicTask.objects.get(name="someone else's").crontab_id == shared.pk
    _migrate("0003_beat_schedules")
    assert set(_ours()) == set(EXPECTED)


UNATTENDED = importlib.import_module("logs.migrations.0007_unattended_schedules")


def test_unattended_schedules_are_created_and_an_admins_change_survives():
    """0007 adds the inbox pickup (every 5 minutes), the alerts check (every minute) and the
    nightly verification; a schedule an admin changed is left as it is by migrating again."""
    tasks = {
        task.task: task
        for task in PeriodicTask.objects.select_related("crontab").filter(
            name__in=UNATTENDED.SCHEDULES
        )
    }
    assert {name: (t.crontab.minute, t.crontab.hour) for name, t in tasks.items()} == {
        "logs.tasks.pickup_inbox": ("*/5", "*"),
        "logs.tasks.check_alerts": ("*", "*"),
        "logs.tasks.verify_logs": ("0", "5"),
    }
    celery_app.loader.import_default_modules()
    for task in tasks.values():
        assert task.enabled
        assert task.task in celery_app.tasks
        assert task.crontab.timezone == ZoneInfo(settings.TIME_ZONE)
    pickup = tasks["logs.tasks.pickup_inbox"]
    pickup.enabled = False
    pickup.save()
    UNATTENDED.schedules_create(apps, None)
    assert PeriodicTask.objects.filter(name__in=UNATTENDED.SCHEDULES).count() == 3
    assert not PeriodicTask.objects.get(pk=pickup.pk).enabled


REQUEUE = importlib.import_module("logs.migrations.0013_requeue_pending")


def test_the_requeue_pass_is_scheduled_every_minute_and_an_admins_change_survives():
    """0013 schedules the pass queuing pending uploads again every minute, in the business time
    zone; migrating again leaves a schedule an admin changed; reversing removes it."""
    task = PeriodicTask.objects.select_related("crontab").get(name__in=REQUEUE.SCHEDULES)
    assert task.task == "logs.tasks.requeue_pending_runs" and task.enabled
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.day_of_week) == (
        "*",
        "*",
        "*",
        "*",
    )
    assert crontab.timezone == ZoneInfo(settings.TIME_ZONE)
    celery_app.loader.import_default_modules()
    assert task.task in celery_app.tasks
    task.enabled = False
    task.save()
    REQUEUE.schedules_create(apps, None)
    assert PeriodicTask.objects.filter(name__in=REQUEUE.SCHEDULES).count() == 1
    assert not PeriodicTask.objects.get(pk=task.pk).enabled
    _migrate("0012_processing_logs_execution_index")
    assert not PeriodicTask.objects.filter(name__in=REQUEUE.SCHEDULES).exists()
    _migrate("0013_requeue_pending")
    assert PeriodicTask.objects.get(name__in=REQUEUE.SCHEDULES).enabled
