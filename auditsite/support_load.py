"""Support staff at work while a large import runs (SPEC §10): the scenario of the process-level
test ``logs/tests/test_support_load.py`` and of benchmark B9.

Support clients, each a thread with its own HTTP session logged in as its own support account,
go round the pages support reads — the user lookup (users with history, users in the file being
imported, an unknown user), the processing-log list (as it opens, searched for a user ID,
filtered on failed rows) and the executions list — with no pause, while an uploader uploads and
confirms an activity CSV in the admin and the real worker imports it. Every answer is timed and
kept; a request that does not get a 200 (a 5xx, a redirect to the login page, no answer within
``REQUEST_TIMEOUT_SECONDS``) is an error.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse

from auditsite.live import admin_upload, execution_wait, staff_session
from logs.models import Execution
from logs.services.ingest import execution_create, execution_run
from users.services import demo_user_ids, demo_users_seed

CLIENTS = 20
IMPORT_ROWS = 100_000
PASSWORD = "support-load-password"  # noqa: S105 - throwaway accounts of a test or bench database
UPLOADER = "load-uploader"
UNKNOWN_USER = "U99999"  # not in `users`: its cells fail, and support looks it up
UNKNOWN_EVERY = 1_000  # one row in this many names the unknown user
REQUEST_TIMEOUT_SECONDS = 30
LOGIN_SECONDS = 120  # every client logged in and answered once, on a busy machine
POLL_SECONDS = 0.25  # the uploader's progress page polls about this often


@dataclass(frozen=True)
class ActivityFile:
    """A generated activity CSV and what importing it must give."""

    path: Path
    rows: int
    success: int
    skipped: int
    failed: int
    added: dict[str, int]  # column → sum of the increments applied (known users only)

    @property
    def log_rows(self) -> int:
        return self.success + self.skipped + self.failed


def activity_file_write(
    path: Path, *, user_ids: Sequence[str], rows: int, seed: int = 0
) -> ActivityFile:
    """``rows`` rows over ``user_ids`` in turn (one in ``UNKNOWN_EVERY`` for the unknown user),
    increments 0-3 and 0-2 (0 is a skipped cell), streamed to disk."""
    success = skipped = failed = 0
    added = {"login_count": 0, "post_count": 0}
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("user_id,login_count,post_count\n")
        for number in range(rows):
            login, post = (number * 7 + seed) % 4, (number * 5 + seed) % 3
            if number % UNKNOWN_EVERY == UNKNOWN_EVERY - 1:
                out.write(f"{UNKNOWN_USER},{login},{post}\n")
                failed += 2
                continue
            out.write(f"{user_ids[number % len(user_ids)]},{login},{post}\n")
            for column, value in (("login_count", login), ("post_count", post)):
                added[column] += value
                if value:
                    success += 1
                else:
                    skipped += 1
    return ActivityFile(path, rows, success, skipped, failed, added)


@dataclass(frozen=True)
class SupportLoadData:
    """What the scenario runs on: service users, the uploader and the support accounts."""

    user_ids: list[str]
    support: list[str]
    history: list[Execution]

    @property
    def lookup_ids(self) -> list[str]:
        """Users spread over the whole range of ids, and the unknown user."""
        step = max(1, len(self.user_ids) // 7)
        return [*self.user_ids[::step], UNKNOWN_USER]


def support_load_seed(
    *, directory: Path, users: int, history_users: int, history_imports: int, clients: int
) -> SupportLoadData:
    """Service users U00001…, ``history_imports`` earlier imports over the first
    ``history_users`` of them (through the real engine), an uploader and ``clients`` support
    accounts, all with ``PASSWORD``."""
    user_ids = demo_user_ids(count=users)
    demo_users_seed(count=users)
    history = []
    for number in range(history_imports):
        written = activity_file_write(
            directory / f"user-log-20260101-{number:06d}.csv",
            user_ids=user_ids[:history_users],
            rows=history_users,
            seed=number,
        )
        execution = execution_create(
            path=written.path, source=str(written.path), file_name=written.path.name
        )
        ran = execution_run(execution=execution).execution
        assert ran is not None  # only a dry run has no Execution
        history.append(ran)
    password = make_password(PASSWORD)  # hashed once: each hash is meant to be slow
    support = [f"load-support-{number:02d}" for number in range(1, clients + 1)]
    accounts = get_user_model().objects
    with transaction.atomic():
        for username, group in [(UPLOADER, "uploader"), *((name, "support") for name in support)]:
            account = accounts.create(username=username, password=password, is_staff=True)
            account.groups.set([Group.objects.get(name=group)])
    return SupportLoadData(user_ids=user_ids, support=support, history=history)


# --- the support clients ----------------------------------------------------------------------


# (kind, URL name, the query parameter taking a user ID, fixed parameters) of each page.
PAGES: list[tuple[str, str, str | None, dict[str, str]]] = [
    ("lookup", "admin:users_serviceuser_lookup", "user_id", {}),
    ("log list", "admin:logs_processinglog_changelist", None, {}),
    ("log list, user search", "admin:logs_processinglog_changelist", "q", {}),
    (
        "log list, failed rows",
        "admin:logs_processinglog_changelist",
        None,
        {"status__exact": "failed"},
    ),
    ("executions", "admin:logs_execution_changelist", None, {}),
]
PAGE_KINDS = [kind for kind, *_ in PAGES]


@dataclass(frozen=True)
class PageRequest:
    """One GET of a support client: what, when (``perf_counter``), how long, how it ended."""

    client: int
    kind: str
    url: str
    started: float
    seconds: float
    status: int | None  # None: no answer (timeout, connection refused or reset)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


class SupportClient(threading.Thread):
    """One support person's browser: logs in, then goes round the pages until told to stop."""

    def __init__(
        self,
        *,
        number: int,
        base: str,
        username: str,
        lookup_ids: Sequence[str],
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"support-client-{number}", daemon=True)
        self.number = number
        self.base = base
        self.username = username
        self.lookup_ids = lookup_ids
        self.stop = stop
        self.ready = threading.Event()  # logged in and answered once, or failed
        self.requests: list[PageRequest] = []
        self.failure = ""

    def run(self) -> None:
        pages = [(kind, reverse(name), param, fixed) for kind, name, param, fixed in PAGES]
        try:
            session = staff_session(self.base, username=self.username, password=PASSWORD)
            turn = 0
            while not self.stop.is_set():
                kind, path, user_param, params = pages[(self.number + turn) % len(pages)]
                if user_param:
                    user_id = self.lookup_ids[(self.number * 3 + turn) % len(self.lookup_ids)]
                    params = {**params, user_param: user_id}
                self.requests.append(self._get(session, kind, path, params))
                self.ready.set()
                turn += 1
        except Exception as exc:  # noqa: BLE001 - reported by the scenario
            self.failure = f"{self.username}: {exc!r}"
        finally:
            self.ready.set()

    def _get(self, session: requests.Session, kind: str, path: str, params: dict) -> PageRequest:
        url = self.base + path
        started = time.perf_counter()
        try:
            answer = session.get(
                url, params=params, timeout=REQUEST_TIMEOUT_SECONDS, allow_redirects=False
            )
        except requests.RequestException as exc:
            seconds = time.perf_counter() - started
            return PageRequest(self.number, kind, url, started, seconds, None, repr(exc))
        seconds = time.perf_counter() - started
        error = "" if answer.status_code == 200 else answer.text[:300]
        return PageRequest(
            self.number, kind, answer.url, started, seconds, answer.status_code, error
        )


# --- runs -------------------------------------------------------------------------------------


@dataclass
class Browsing:
    """What the support clients of one span sent, and which of them could not go on."""

    clients: int
    started: float = 0.0  # every client logged in and answered once (``perf_counter``)
    ended: float = 0.0  # told to stop
    # Wall-clock time minus ``perf_counter`` time: places the database's timestamps (same host).
    clock_offset: float = field(default_factory=lambda: time.time() - time.perf_counter())
    requests: list[PageRequest] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[PageRequest]:
        return [request for request in self.requests if not request.ok]

    def between(self, first: float, last: float) -> list[PageRequest]:
        """The requests sent from ``first`` to ``last`` (``perf_counter`` time)."""
        return [request for request in self.requests if first <= request.started <= last]


@contextlib.contextmanager
def support_clients(*, base: str, data: SupportLoadData, clients: int) -> Iterator[Browsing]:
    """``clients`` support clients going round the pages for as long as the block runs (none:
    nothing sent); the block starts once each has logged in and had a page. On leaving, the
    clients stop and what they sent is in the ``Browsing`` yielded."""
    if clients > len(data.support):
        msg = f"{clients} clients asked for, {len(data.support)} support accounts seeded"
        raise ValueError(msg)
    stop = threading.Event()
    running = [
        SupportClient(
            number=number, base=base, username=username, lookup_ids=data.lookup_ids, stop=stop
        )
        for number, username in enumerate(data.support[:clients])
    ]
    browsing = Browsing(clients=clients)
    for client in running:
        client.start()
    try:
        for client in running:
            if not client.ready.wait(LOGIN_SECONDS):
                msg = f"{client.username} had no page within {LOGIN_SECONDS} s"
                raise RuntimeError(msg)
        if failures := [client.failure for client in running if client.failure]:
            msg = f"support clients could not start: {failures}"
            raise RuntimeError(msg)
        browsing.started = time.perf_counter()
        yield browsing
    finally:
        browsing.ended = time.perf_counter()
        stop.set()
        for client in running:
            client.join(REQUEST_TIMEOUT_SECONDS + 10)
        browsing.requests = sorted(
            (request for client in running for request in client.requests),
            key=lambda request: request.started,
        )
        browsing.failures = [
            client.failure or f"{client.username} did not stop"
            for client in running
            if client.failure or client.is_alive()
        ]


def support_browse(*, base: str, data: SupportLoadData, clients: int, seconds: float) -> Browsing:
    """``clients`` support clients going round the pages for ``seconds``, nothing else running."""
    with support_clients(base=base, data=data, clients=clients) as browsing:
        time.sleep(seconds)
    return browsing


@dataclass(frozen=True)
class SupportLoadRun:
    """An import through the admin and the worker, and what the support clients saw meanwhile."""

    execution: Execution
    outcome: dict  # the progress endpoint's last answer
    seconds: float  # the upload's POST → the poll that saw the run finished
    window: tuple[float, float]  # the same span, in ``perf_counter`` time
    browsing: Browsing

    @property
    def run_seconds(self) -> float:
        """The worker's run: the Execution's start to its finish."""
        started, finished = self.execution.started_at, self.execution.finished_at
        assert started is not None and finished is not None
        return (finished - started).total_seconds()

    def during_import(self) -> list[PageRequest]:
        """The requests sent between the upload's POST and the end of the run."""
        return self.browsing.between(*self.window)

    def during_worker_run(self) -> list[PageRequest]:
        """The requests sent while the worker was importing (its Execution's start to finish)."""
        started, finished = self.execution.started_at, self.execution.finished_at
        assert started is not None and finished is not None
        offset = self.browsing.clock_offset
        return self.browsing.between(started.timestamp() - offset, finished.timestamp() - offset)


def support_load_run(
    *,
    base: str,
    data: SupportLoadData,
    activity: ActivityFile,
    clients: int,
    timeout: float,
) -> SupportLoadRun:
    """With ``clients`` support clients browsing (none: the import alone), upload and confirm
    ``activity`` as the uploader and follow its progress until the run is finished (at most
    ``timeout`` seconds); then the clients stop."""
    with support_clients(base=base, data=data, clients=clients) as browsing:
        uploader = staff_session(base, username=UPLOADER, password=PASSWORD)
        started = time.perf_counter()
        execution_id = admin_upload(uploader, base, activity.path)
        outcome = execution_wait(
            uploader, base, execution_id, timeout=timeout, poll_seconds=POLL_SECONDS
        )
        finished = time.perf_counter()
    return SupportLoadRun(
        execution=Execution.objects.get(pk=execution_id),
        outcome=outcome,
        seconds=finished - started,
        window=(started, finished),
        browsing=browsing,
    )


# --- figures ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with ``share`` of the values at or
    below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil(len × share), at least the first
    return ordered[int(rank) - 1]


def pages_summary(requests_made: Sequence[PageRequest]) -> dict[str, dict]:
    """Per page kind and for all pages: requests, errors, p50, p95 and max in milliseconds."""
    kinds: dict[str, list[PageRequest]] = {}
    for request in requests_made:
        kinds.setdefault(request.kind, []).append(request)
    kinds["all pages"] = list(requests_made)
    summary = {}
    for kind, made in kinds.items():
        seconds = [request.seconds for request in made]
        summary[kind] = {
            "requests": len(made),
            "errors": sum(not request.ok for request in made),
            "p50_ms": round(statistics.median(seconds) * 1000, 1) if seconds else None,
            "p95_ms": round(percentile(seconds, 0.95) * 1000, 1) if seconds else None,
            "max_ms": round(max(seconds) * 1000, 1) if seconds else None,
        }
    return summary


def pages_table(summary: dict[str, dict]) -> str:
    """The summary as aligned text lines, for a test's output."""
    lines = [f"{'page':<24}{'requests':>9}{'errors':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"]
    for kind, row in summary.items():
        lines.append(
            f"{kind:<24}{row['requests']:>9}{row['errors']:>7}"
            f"{row['p50_ms']!s:>9}{row['p95_ms']!s:>9}{row['max_ms']!s:>9}"
        )
    return "\n".join(lines)
