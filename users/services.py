"""Writes on service users, their statistics and the staff roles."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.models import Group, Permission
from django.db import transaction

# SPEC §6. Codenames are "<app_label>.<codename>"; a group gets exactly these, nothing else.
_TRAIL_VIEW = [
    "logs.view_execution",
    "logs.view_processinglog",
    "logs.view_processinglogsummary",
    "logs.view_processingerror",
    "logs.view_jobrun",
    "logs.view_alert",
    "logs.view_inboxitem",
    "logs.view_monthseal",
    "logs.view_correctionrequest",  # requests, approvals and declines (SPEC §4a)
]
_MASTER_VIEW = ["users.view_serviceuser", "users.view_userstatistics"]
_SCHEDULES_VIEW = [
    "django_celery_beat.view_periodictask",
    "django_celery_beat.view_crontabschedule",
    "django_celery_beat.view_intervalschedule",
    "django_celery_beat.view_clockedschedule",
    "django_celery_beat.view_solarschedule",
]

# django-axes' records of login attempts (auditors read them; a superuser resets lockouts).
_LOGIN_RECORDS_VIEW = [
    "axes.view_accessattempt",
    "axes.view_accesslog",
    "axes.view_accessfailurelog",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "uploader": [*_MASTER_VIEW, "logs.upload_csv", *_TRAIL_VIEW, *_SCHEDULES_VIEW],
    "support": [*_MASTER_VIEW, "users.lookup_serviceuser", *_TRAIL_VIEW],
    "auditor": [
        *_MASTER_VIEW,
        *_TRAIL_VIEW,
        "logs.export_processinglog",
        "logs.view_accesslog",
        *_LOGIN_RECORDS_VIEW,
        *_SCHEDULES_VIEW,
    ],
    # Requests reversals and adjustments (SPEC §4a); the lookup is where counters are adjusted.
    # Approving them is for superusers (logs.approve_correction), never the requester.
    "corrector": [
        *_MASTER_VIEW,
        "users.lookup_serviceuser",
        *_TRAIL_VIEW,
        "logs.request_correction",
    ],
}


def roles_setup() -> dict[str, int]:
    """Create or update the role groups so each has exactly the permissions of its role."""
    result = {}
    with transaction.atomic():
        for role, codenames in ROLE_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=role)
            permissions = []
            for dotted in codenames:
                app_label, codename = dotted.split(".", 1)
                permissions.append(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )
            group.permissions.set(permissions)
            result[role] = len(permissions)
    return result


DEMO_PASSWORD = "auditsite-demo"  # noqa: S105 - demo accounts on a developer's machine only
DEMO_ACCOUNTS = {
    "admin": None,
    "uploader": "uploader",
    "support": "support",
    "auditor": "auditor",
    "corrector": "corrector",
}


def demo_accounts_seed() -> list[str]:
    """One staff account per role (and a superuser ``admin``), all with ``DEMO_PASSWORD``."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    user_model = get_user_model()
    roles_setup()
    # Hashed once for all of them: each hash is meant to be slow, and make run waits for it.
    password = make_password(DEMO_PASSWORD)
    usernames = []
    with transaction.atomic():
        for username, role in DEMO_ACCOUNTS.items():
            account, _ = user_model.objects.get_or_create(
                username=username, defaults={"is_staff": True}
            )
            account.is_staff = True
            account.is_superuser = role is None
            account.password = password
            account.save()
            if role:
                account.groups.set([Group.objects.get(name=role)])
            usernames.append(username)
    return usernames


def demo_user_ids(*, count: int) -> list[str]:
    """The ids of the first ``count`` demo service users: U00001, U00002, …"""
    return [f"U{number:05d}" for number in range(1, count + 1)]


def demo_users_seed(*, count: int = 50) -> int:
    """Service users U00001… with zeroed statistics; existing ones are left as they are."""
    from users.models import ServiceUser, UserStatistics

    ids = demo_user_ids(count=count)
    with transaction.atomic():
        ServiceUser.objects.bulk_create(
            [ServiceUser(user_id=user_id, display_name=f"Demo user {user_id}") for user_id in ids],
            ignore_conflicts=True,
        )
        UserStatistics.objects.bulk_create(
            [UserStatistics(user_id=user_id) for user_id in ids], ignore_conflicts=True
        )
    return len(ids)


def demo_csvs_write(*, directory: Path, users: int) -> list[Path]:
    """Two sample activity CSVs: a clean one and one with every kind of bad cell."""
    directory.mkdir(parents=True, exist_ok=True)
    good = directory / "user-log-20250802-093000.csv"
    lines = ["user_id,login_count,post_count"]
    lines += [f"U{n:05d},{n % 5 + 1},{n % 3}" for n in range(1, users + 1)]
    good.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mixed = directory / "user-log-20250803-093000.csv"
    mixed.write_text(
        "user_id,login_count,post_count\n"
        "U00001,2,1\nU99999,5,\nU00002,abc,3\nU00003,-1,0\n,1,1\nU00004,,4\n",
        encoding="utf-8",
    )
    return [good, mixed]
