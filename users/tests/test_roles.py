"""Roles: the groups hold exactly the permissions of SPEC §6, and stay so when set up again."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from users.services import DEMO_ACCOUNTS

pytestmark = pytest.mark.django_db

# SPEC §6 written out, independently of users/services.py.
_TRAIL = [
    "logs.view_execution",
    "logs.view_processinglog",
    "logs.view_processinglogsummary",
    "logs.view_processingerror",
    "logs.view_jobrun",
    # SPEC §7a: what operators were told, and the inbox's ledger, are read like job runs.
    "logs.view_alert",
    "logs.view_inboxitem",
    "logs.view_monthseal",
    "logs.view_correctionrequest",
]
_MASTER = ["users.view_serviceuser", "users.view_userstatistics"]
_SCHEDULES = [
    f"django_celery_beat.view_{name}"
    for name in (
        "periodictask",
        "crontabschedule",
        "intervalschedule",
        "clockedschedule",
        "solarschedule",
    )
]
SPEC = {
    "uploader": {*_MASTER, "logs.upload_csv", *_TRAIL, *_SCHEDULES},
    "support": {*_MASTER, "users.lookup_serviceuser", *_TRAIL},
    # Only auditors (and superusers) read the access log (SPEC §6, §10a).
    "auditor": {
        *_MASTER,
        *_TRAIL,
        "logs.export_processinglog",
        "logs.view_accesslog",
        "axes.view_accessattempt",
        "axes.view_accesslog",
        "axes.view_accessfailurelog",
        *_SCHEDULES,
    },
    "corrector": {*_MASTER, "users.lookup_serviceuser", *_TRAIL, "logs.request_correction"},
}


def _group_permissions(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_groups_from_migrate_match_spec():
    """The groups exist right after migrate, each with exactly SPEC §6's permissions."""
    for role, expected in SPEC.items():
        assert _group_permissions(role) == expected


def test_setup_roles_is_idempotent_and_removes_extras():
    """Running setup_roles twice changes nothing; a permission added by hand is taken away."""
    extra = Permission.objects.get(content_type__app_label="logs", codename="change_execution")
    Group.objects.get(name="auditor").permissions.add(extra)
    call_command("setup_roles")
    call_command("setup_roles")
    assert Group.objects.filter(name__in=SPEC).count() == len(SPEC)
    for role, expected in SPEC.items():
        assert _group_permissions(role) == expected


def test_no_role_may_change_the_trail():
    """No group holds add, change or delete on logs, summaries, executions, errors or job runs."""
    for role in SPEC:
        writes = {
            perm
            for perm in _group_permissions(role)
            if perm.startswith("logs.")
            and perm.split(".")[1].split("_")[0] in {"add", "change", "delete"}
        }
        assert writes == set()


def test_seed_demo_creates_one_account_per_role(tmp_path, settings):
    """seed_demo makes an admin superuser and one staff account in each role's group."""
    settings.MEDIA_ROOT = tmp_path
    call_command("seed_demo", users=3)
    user_model = get_user_model()
    assert user_model.objects.get(username="admin").is_superuser
    for username, role in DEMO_ACCOUNTS.items():
        account = user_model.objects.get(username=username)
        assert account.is_staff
        if role:
            assert list(account.groups.values_list("name", flat=True)) == [role]
            assert not account.is_superuser
