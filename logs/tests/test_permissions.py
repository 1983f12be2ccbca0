"""SPEC §6 over HTTP: every role (and anonymous) × every admin URL of ours × GET and POST.

The expectations are derived from the SPEC's table (rights per role and area below), not from
the admin code; a refused POST must leave the database exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from axes.models import AccessLog as AxesAccessLog
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from auditsite.testing import accounts_create, rolled_back
from logs.models import (
    AccessLog,
    Alert,
    AlertDelivery,
    CorrectionRequest,
    Execution,
    InboxItem,
    JobRun,
    MonthSeal,
    ProcessingError,
    ProcessingLog,
    ProcessingLogSummary,
)
from logs.resources import ProcessingLogResource
from logs.services.uploads import PendingUpload, upload_remember
from logs.tests.factories import ExecutionFactory, ProcessingLogFactory
from users.models import ServiceUser, UserStatistics
from users.resources import ServiceUserResource
from users.tests.factories import ServiceUserFactory, UserStatisticsFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "uploader", "support", "auditor", "corrector", "superuser")
ALL = frozenset({"view", "add", "change", "delete"})
VIEW = frozenset({"view"})
NONE: frozenset[str] = frozenset()

# SPEC §6, area by area: what each role may do in the admin.
RIGHTS = {
    "master": {"uploader": VIEW, "support": VIEW, "auditor": VIEW, "superuser": ALL},
    # Counters change only through imports and corrections: read-only for superusers too.
    "statistics": {"uploader": VIEW, "support": VIEW, "auditor": VIEW, "superuser": VIEW},
    "trail": {"uploader": VIEW, "support": VIEW, "auditor": VIEW, "superuser": VIEW},
    "schedules": {"uploader": VIEW, "support": NONE, "auditor": VIEW, "superuser": ALL},
    # Who looked at whose data (SPEC §10a): auditors and superusers read it, nobody else.
    "access": {"uploader": NONE, "support": NONE, "auditor": VIEW, "superuser": VIEW},
    # django-axes' login records: auditors read them; a superuser resets a lockout (delete).
    "attempts": {
        "uploader": NONE,
        "support": NONE,
        "auditor": VIEW,
        "superuser": VIEW | {"delete"},
    },
    "login_records": {"uploader": NONE, "support": NONE, "auditor": VIEW, "superuser": VIEW},
}
# Corrections (SPEC §4a): the corrector views what the uploader does, schedules aside.
RIGHTS["master"]["corrector"] = VIEW
RIGHTS["statistics"]["corrector"] = VIEW
RIGHTS["trail"]["corrector"] = VIEW
RIGHTS["schedules"]["corrector"] = NONE
RIGHTS["access"]["corrector"] = NONE  # the access log: auditors and superusers only
RIGHTS["attempts"]["corrector"] = NONE
RIGHTS["login_records"]["corrector"] = NONE
REQUESTERS = {"corrector", "superuser"}  # may ask for reversals and adjustments
APPROVERS = {"superuser"}  # may approve or decline them (never their own)
UPLOADERS = {"uploader", "superuser"}
LOOKUP = {"support", "corrector", "superuser"}
EXPORTERS = {"auditor", "superuser"}
MASTER_MAINTAINERS = {"superuser"}

CSV_TEXT = "user_id,login_count,post_count\nU00001,2,1\nU00002,0,3\n"


@dataclass(frozen=True)
class Model:
    app: str
    name: str
    area: str


MODELS = (
    Model("users", "serviceuser", "master"),
    Model("users", "userstatistics", "statistics"),
    Model("logs", "processinglog", "trail"),
    Model("logs", "processinglogsummary", "trail"),
    Model("logs", "execution", "trail"),
    Model("logs", "processingerror", "trail"),
    Model("logs", "jobrun", "trail"),
    Model("logs", "alert", "trail"),
    Model("logs", "inboxitem", "trail"),
    Model("logs", "monthseal", "trail"),
    Model("logs", "accesslog", "access"),
    Model("axes", "accessattempt", "attempts"),
    Model("axes", "accesslog", "login_records"),
    Model("axes", "accessfailurelog", "login_records"),
    Model("logs", "correctionrequest", "trail"),
    Model("django_celery_beat", "periodictask", "schedules"),
    Model("django_celery_beat", "crontabschedule", "schedules"),
    Model("django_celery_beat", "intervalschedule", "schedules"),
    Model("django_celery_beat", "clockedschedule", "schedules"),
    Model("django_celery_beat", "solarschedule", "schedules"),
)
PAGES = ("changelist", "add", "change", "delete", "history")
# Which right a page needs for GET and for POST ("view" pages refuse POST with 405).
NEEDS = {
    "changelist": ("view", "delete"),  # POST = the delete_selected bulk action
    "add": ("add", "add"),
    "change": ("view", "change"),
    "delete": ("delete", "delete"),
    "history": ("view", None),
}


@pytest.fixture(scope="module")
def shared(django_db_setup, django_db_blocker, tmp_path_factory):
    """Accounts and one object of every model the admin shows, created once for the module."""
    media = tmp_path_factory.mktemp("media")  # uploads of this module, removed by pytest
    with override_settings(MEDIA_ROOT=media), rolled_back(django_db_blocker):
        statistics = UserStatisticsFactory.create(
            user__user_id="U00001", user__display_name="one", login_count=3, post_count=4
        )
        ServiceUserFactory.create(user_id="U00002", display_name="two")
        ServiceUserFactory.create(user_id="U00003", display_name="no statistics yet")
        stored = default_storage.save("executions/test/permissions.csv", ContentFile(CSV_TEXT))
        execution = ExecutionFactory.create(
            file_name="permissions.csv",
            file=stored,
            status=Execution.Status.COMPLETED,
            rows_total=2,
        )
        log = ProcessingLogFactory.create(
            execution_name=execution.name, user_id="U00001", old_value=1, new_value=3
        )
        interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
        objects = {
            "accounts": accounts_create(),
            "serviceuser": statistics.user,
            "userstatistics": statistics,
            "processinglog": log,
            "processinglogsummary": ProcessingLogSummary.objects.create(
                summary_date="2026-01-01",
                execution_name=execution.name,
                total_processed=1,
                success_count=1,
                failed_count=0,
            ),
            "execution": execution,
            "processingerror": ProcessingError.objects.create(
                execution=execution,
                execution_name=execution.name,
                user_id="U99999",
                error_message="User not found in users table",
                expires_at=timezone.now() + timedelta(days=30),
            ),
            "correctionrequest": None,  # below: it needs the accounts
            "jobrun": JobRun.objects.create(
                job=JobRun.Job.PARTITIONS, status=JobRun.Status.SUCCEEDED
            ),
            "alert": _alert_with_delivery(execution),
            "inboxitem": InboxItem.objects.create(
                uri="/srv/inbox/permissions.csv",
                file_name="permissions.csv",
                execution=execution,
            ),
            "monthseal": MonthSeal.objects.create(
                month="2025-12",
                previous_seal="0" * 64,
                chain=[],
                chain_head="0" * 64,
                executions=0,
                rows=0,
                seal="1" * 64,
            ),
            "accesslog": AccessLog.objects.create(
                username="test-support", kind=AccessLog.Kind.LOOKUP, user_id="U00001"
            ),
            "accessattempt": AccessAttempt.objects.create(
                username="someone",
                ip_address="192.0.2.1",
                user_agent="x",
                path_info="/admin/",
                get_data="",
                post_data="",
                http_accept="",
                failures_since_start=1,
            ),
            "axes_accesslog": AxesAccessLog.objects.create(
                username="someone",
                ip_address="192.0.2.1",
                user_agent="x",
                path_info="/admin/",
                http_accept="",
            ),
            "accessfailurelog": AccessFailureLog.objects.create(
                username="someone",
                ip_address="192.0.2.1",
                user_agent="x",
                path_info="/admin/",
                http_accept="",
                locked_out=False,
            ),
            "periodictask": PeriodicTask.objects.create(
                name="partitions", task="logs.tasks.partitions_task", interval=interval
            ),
            "crontabschedule": CrontabSchedule.objects.create(minute="0", hour="2"),
            "intervalschedule": interval,
            "clockedschedule": ClockedSchedule.objects.create(
                clocked_time=timezone.now() + timedelta(days=1)
            ),
            "solarschedule": SolarSchedule.objects.create(
                event="sunrise", latitude="35.68", longitude="139.69"
            ),
        }
        # A pending adjustment asked for by the corrector, for others to approve or decline.
        objects["correctionrequest"] = CorrectionRequest.objects.create(
            kind=Execution.Kind.ADJUSTMENT,
            user_id="U00001",
            column="login_count",
            operation=CorrectionRequest.Operation.ADD,
            amount=1,
            reason="permissions",
            requested_by=objects["accounts"]["corrector"],
        )
        yield objects


def _alert_with_delivery(execution: Execution) -> Alert:
    alert = Alert.objects.create(
        key=f"execution_rejected:{execution.pk}",
        kind=Alert.Kind.EXECUTION_REJECTED,
        text=f"Execution {execution.name} was rejected: test",
        link=reverse("admin:logs_execution_change", args=[execution.pk]),
        execution=execution,
    )
    AlertDelivery.objects.create(alert=alert, channel="email", target="ops@example.com")
    return alert


@pytest.fixture
def world(shared, db):
    """The module's shared objects, inside this test's own transaction."""
    return shared


@pytest.fixture
def accounts(shared, db):
    """The module's accounts (overrides the per-test ones of conftest)."""
    return shared["accounts"]


def _valid_post(model: str, page: str, obj, world) -> dict:
    """Form data that a permitted user's POST would be accepted with."""
    if page in ("delete",):
        return {"post": "yes"}
    if page == "changelist":
        return {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
    change = page == "change"
    if model == "serviceuser":
        user_id = obj.user_id if change else "U00004"
        statistics = {
            "statistics-TOTAL_FORMS": "1" if change else "0",
            "statistics-INITIAL_FORMS": "1" if change else "0",
            "statistics-MIN_NUM_FORMS": "0",
            "statistics-MAX_NUM_FORMS": "1",
        }
        if change:
            statistics.update(
                {
                    "statistics-0-user": user_id,
                    "statistics-0-login_count": "3",
                    "statistics-0-post_count": "4",
                }
            )
        return {"user_id": user_id, "display_name": "changed", "is_active": "on", **statistics}
    if model == "userstatistics":
        return {"user": "U00001" if change else "U00003", "login_count": "7", "post_count": "8"}
    if model in SCHEDULE_FORMS:
        return {**SCHEDULE_FORMS[model], **_inline_management(model, obj if change else None)}
    if model == "periodictask":
        return {
            "name": "partitions" if change else "another task",
            "regtask": "",
            "task": "logs.tasks.partitions_task",
            "enabled": "on",
            "interval": str(world["intervalschedule"].pk),
            "args": "[]",
            "kwargs": "{}",
            "headers": "{}",
        }
    # The trail: what an attacker would send to edit a row.
    return {"status": "success", "error_message": "edited", "name": "edited"}


SCHEDULE_FORMS = {
    "intervalschedule": {"every": "2", "period": "hours"},
    "crontabschedule": {
        "minute": "5",
        "hour": "3",
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        "timezone": "Asia/Tokyo",
    },
    "clockedschedule": {"clocked_time_0": "2030-01-01", "clocked_time_1": "00:00:00"},
    "solarschedule": {"event": "sunset", "latitude": "35.0", "longitude": "139.0"},
}
SCHEDULE_FK = {
    "intervalschedule": "interval",
    "crontabschedule": "crontab",
    "clockedschedule": "clocked",
    "solarschedule": "solar",
}


def _inline_management(model: str, obj) -> dict:
    """The schedule admins show their periodic tasks inline: an unchanged inline formset."""
    prefix = PeriodicTask._meta.get_field(SCHEDULE_FK[model]).remote_field.get_accessor_name()
    tasks = list(PeriodicTask.objects.filter(**{SCHEDULE_FK[model]: obj})) if obj else []
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(tasks)),
        f"{prefix}-INITIAL_FORMS": str(len(tasks)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, task in enumerate(tasks):
        data[f"{prefix}-{index}-id"] = str(task.pk)
        data[f"{prefix}-{index}-{SCHEDULE_FK[model]}"] = str(obj.pk)
    return data


def _url(model: Model, page: str, obj) -> str:
    name = f"admin:{model.app}_{model.name}_{page}"
    if page in ("changelist", "add"):
        return reverse(name)
    return reverse(name, args=[obj.pk])


def _expected(role: str, model: Model, page: str, method: str) -> int:
    if role == "anonymous":
        return 302  # to the login page
    rights = RIGHTS[model.area][role]
    get_needs, post_needs = NEEDS[page]
    if method == "GET":
        return 200 if get_needs in rights else 403
    if post_needs is None:  # a read-only page
        return 405 if get_needs in rights else 403
    if not rights:
        return 403
    return 302 if post_needs in rights else 403


def _snapshot() -> dict:
    """Every row of every table the admin pages could touch (they are all tiny here)."""
    models = (
        ServiceUser,
        UserStatistics,
        ProcessingLog,
        ProcessingLogSummary,
        Execution,
        ProcessingError,
        JobRun,
        Alert,
        AlertDelivery,
        InboxItem,
        MonthSeal,
        AccessAttempt,
        AxesAccessLog,
        AccessFailureLog,
        CorrectionRequest,
        PeriodicTask,
        CrontabSchedule,
        IntervalSchedule,
        ClockedSchedule,
        SolarSchedule,
    )
    return {
        model.__name__: sorted(map(str, model.objects.order_by("pk").values_list()))
        for model in models
    }


MODEL_CASES = [
    pytest.param(role, model, page, method, id=f"{role}-{model.name}-{page}-{method}")
    for role in ROLES
    for model in MODELS
    for page in PAGES
    for method in ("GET", "POST")
]


@pytest.mark.parametrize(("role", "model", "page", "method"), MODEL_CASES)
def test_model_admin_pages_follow_spec(client_for, world, role, model, page, method):
    """Each model admin page answers each role as SPEC §6 says; a refused POST changes nothing."""
    client = client_for(role)
    obj = world.get(f"{model.app}_{model.name}") or world[model.name]
    url = _url(model, page, obj)
    expected = _expected(role, model, page, method)
    if method == "GET":
        response = client.get(url)
        assert response.status_code == expected, response.content[:2000]
    else:
        before = _snapshot()
        response = client.post(url, _valid_post(model.name, page, obj, world))
        assert response.status_code == expected, response.content[:2000]
        changed = _snapshot() != before
        assert changed is (expected == 302 and role != "anonymous")
    if role == "anonymous":
        assert response["Location"].startswith(reverse("admin:login"))


def _pending_upload(client) -> str:
    """Put a previewed upload into the client's session; returns its token."""
    stored = default_storage.save("executions/test/pending.csv", ContentFile(CSV_TEXT))
    pending = PendingUpload(
        token="t0ken",
        file_name="pending.csv",
        stored_name=stored,
        execution_name="",
        force=False,
        preview={"rejected": False, "execution_name": "x", "counts": {}, "problems": []},
    )
    session = client.session
    upload_remember(session=session, pending=pending)
    session.save()
    return pending.token


# (page, method) → roles that may use it; the others get 403; 405 for a method a page refuses.
CUSTOM_PAGES = {
    "dashboard": ("GET", "admin:index", None),
    "upload": ("GET POST", "admin:logs_execution_upload", UPLOADERS),
    "preview": ("GET", "admin:logs_execution_upload_preview", UPLOADERS),
    "confirm": ("POST", "admin:logs_execution_upload_confirm", UPLOADERS),
    "progress": ("GET", "admin:logs_execution_progress", None),
    "download": ("GET", "admin:logs_execution_download", None),
    "lookup": ("GET", "admin:users_serviceuser_lookup", LOOKUP),
    "export": ("GET POST", "admin:logs_processinglog_export", EXPORTERS),
    "user-export": ("GET POST", "admin:users_serviceuser_export", MASTER_MAINTAINERS),
    "user-import": ("GET POST", "admin:users_serviceuser_import", MASTER_MAINTAINERS),
    "reverse": ("GET POST", "admin:logs_execution_reverse", REQUESTERS),
    "adjust": ("GET POST", "admin:logs_counter_adjust", REQUESTERS),
    "approve": ("POST", "admin:logs_correctionrequest_approve", APPROVERS),
    "decline": ("POST", "admin:logs_correctionrequest_decline", APPROVERS),
    "failed-rows": ("GET", "admin:logs_execution_failed_rows", None),
}
CORRECTION_POSTS = {"reverse", "adjust", "approve", "decline"}  # a permitted POST writes
CUSTOM_CASES = [
    pytest.param(role, page, method, id=f"{role}-{page}-{method}")
    for role in ROLES
    for page in CUSTOM_PAGES
    for method in ("GET", "POST")
]


def _custom_request(client, page: str, method: str, world, export_form_data):
    methods, name, _ = CUSTOM_PAGES[page]
    execution = world["execution"]
    args = {
        "preview": [_pending_upload(client) if page == "preview" else ""],
        "confirm": [_pending_upload(client) if page == "confirm" else ""],
        "progress": [execution.pk],
        "download": [execution.pk],
        "reverse": [execution.pk],
        "failed-rows": [execution.pk],
        "approve": [world["correctionrequest"].pk],
        "decline": [world["correctionrequest"].pk],
    }.get(page, [])
    url = reverse(name, args=args)
    if method == "GET":
        query = {"lookup": {"user_id": "U00001"}}.get(page, {})
        return client.get(url, query)
    data = {
        "upload": {"file": ContentFile(CSV_TEXT.encode(), name="upload.csv")},
        "confirm": {"confirm": "1"},
        "export": export_form_data(ProcessingLogResource, format_index=0),
        "user-export": export_form_data(ServiceUserResource, format_index=0),
        "reverse": {"reason": "permissions"},
        "adjust": {
            "user_id": "U00001",
            "column": "login_count",
            "operation": "add",
            "amount": "1",
            "reason": "permissions",
        },
    }.get(page, {})
    return client.post(url, data)


def _custom_expected(role: str, page: str, method: str) -> int:
    if role == "anonymous":
        return 302
    methods, _, allowed = CUSTOM_PAGES[page]
    permitted = allowed is None or role in allowed  # None: every staff role may see it
    if not permitted:
        return 403
    if method not in methods.split():
        return 405
    if method == "POST":
        return 302 if page in {"upload", "confirm", *CORRECTION_POSTS} else 200
    return 200


@pytest.mark.parametrize(("role", "page", "method"), CUSTOM_CASES)
def test_custom_admin_pages_follow_spec(client_for, world, role, page, method, export_form_data):
    """Upload, preview, confirm, progress, download, lookup, export, dashboard per SPEC §6."""
    client = client_for(role)
    before = _snapshot()
    response = _custom_request(client, page, method, world, export_form_data)
    expected = _custom_expected(role, page, method)
    assert response.status_code == expected, getattr(response, "content", b"")[:2000]
    if page == "confirm" and expected == 302 and role != "anonymous":
        execution = Execution.objects.get(file_name="pending.csv")
        assert response["Location"] == reverse("admin:logs_execution_change", args=[execution.pk])
        assert execution.status == Execution.Status.PENDING
    elif page in CORRECTION_POSTS and expected == 302 and role != "anonymous":
        assert _snapshot() != before  # a request, or a decision on one
    elif page == "upload" and expected == 302 and role != "anonymous":
        assert "/upload/" in response["Location"]
        assert _snapshot() == before  # a preview writes nothing
    else:
        assert _snapshot() == before
    if page == "download" and expected == 200:
        assert b"".join(response.streaming_content).decode() == CSV_TEXT
    if page == "export" and expected == 200 and method == "POST":
        assert response["Content-Type"].startswith("text/csv")
        assert "processed_at" in response.content.decode()


def test_schedule_bulk_actions_refused_to_viewers(client_for, world):
    """Uploader and auditor see schedules but cannot enable, disable or run them from the list."""
    task = world["periodictask"]
    for role in ("uploader", "auditor"):
        for action in ("disable_tasks", "toggle_tasks", "run_tasks"):
            response = client_for(role).post(
                reverse("admin:django_celery_beat_periodictask_changelist"),
                {"action": action, "_selected_action": [task.pk], "index": "0"},
            )
            assert response.status_code == 403
    task.refresh_from_db()
    assert task.enabled


def test_schedules_app_hidden_from_support(client_for, world):
    """Support does not see the schedules app at all; the others do."""
    url = reverse("admin:app_list", args=["django_celery_beat"])
    assert client_for("support").get(url).status_code == 404
    for role in ("uploader", "auditor", "superuser"):
        assert client_for(role).get(url).status_code == 200
    index = client_for("support").get(reverse("admin:index")).content.decode()
    assert "django_celery_beat" not in index


def test_upload_and_export_links_only_for_permitted_roles(client_for, world):
    """The upload button and the export button appear only for the roles that may use them."""
    upload_url = reverse("admin:logs_execution_upload")
    export_url = reverse("admin:logs_processinglog_export")
    for role in ("uploader", "support", "auditor", "superuser"):
        client = client_for(role)
        executions = client.get(reverse("admin:logs_execution_changelist")).content.decode()
        logs = client.get(reverse("admin:logs_processinglog_changelist")).content.decode()
        assert (upload_url in executions) is (role in UPLOADERS)
        assert (export_url in logs) is (role in EXPORTERS)
