"""The application as whole processes, for process-level tests and benchmarks: the web server
(gunicorn, as production runs it), a Celery worker, and a staff member's session over HTTP.

The processes run on the database and broker given in ``env`` (on top of this process's
environment, test settings unless said otherwise) and are stopped, or killed, on leaving.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
SETTINGS = "auditsite.settings.test"
# As the Dockerfile runs it: three sync workers, a request killed after two minutes.
WEB_WORKERS = 3
WEB_TIMEOUT_SECONDS = 120
START_SECONDS = 60  # a cold start on a busy 2-core machine
STOP_SECONDS = 15
LOGIN_PATH = "/admin/login/"
UPLOAD_PATH = "/admin/logs/execution/upload/"


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def url_wait(url: str, *, process: subprocess.Popen, timeout: float = START_SECONDS) -> None:
    """Wait until ``url`` answers 200; fail early if ``process``, which serves it, exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"the server of {url} exited with status {process.returncode}"
            raise RuntimeError(msg)
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    msg = f"{url} did not answer within {timeout:.0f} s"
    raise RuntimeError(msg)


def process_stop(process: subprocess.Popen) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL if the process is still there after a while."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait(timeout=30)


@contextlib.contextmanager
def _started(
    command: list[str], *, env: Mapping[str, str], log: Path | None
) -> Iterator[subprocess.Popen]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, **env}
    output = log.open("ab") if log else None
    try:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=BASE_DIR,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
        )
    finally:
        if output:
            output.close()
    try:
        yield process
    finally:
        process_stop(process)


@contextlib.contextmanager
def web_server(
    *, env: Mapping[str, str], workers: int = WEB_WORKERS, log: Path | None = None
) -> Iterator[str]:
    """gunicorn serving the application on a free loopback port; yields its base URL once the
    login page answers."""
    port = free_port()
    command = [
        *(sys.executable, "-m", "gunicorn", "auditsite.wsgi"),
        *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
        *("--timeout", str(WEB_TIMEOUT_SECONDS)),
    ]
    with _started(command, env=env, log=log) as process:
        base = f"http://127.0.0.1:{port}"
        url_wait(base + LOGIN_PATH, process=process)
        yield base


@contextlib.contextmanager
def celery_worker(
    *,
    env: Mapping[str, str],
    args: tuple[str, ...] = (),
    log: Path | None = None,
    pool: str = "solo",
) -> Iterator[subprocess.Popen]:
    """A real ``celery worker`` (solo pool unless told otherwise)."""
    command = [
        *(sys.executable, "-m", "celery", "-A", "auditsite", "worker", "-P", pool),
        *("--without-gossip", "--without-mingle", "--loglevel", "WARNING", *args),
    ]
    with _started(command, env=env, log=log) as process:
        yield process


def staff_session(base: str, *, username: str, password: str) -> requests.Session:
    """A session logged in to the admin through its login form (CSRF token and all)."""
    session = requests.Session()
    login = base + LOGIN_PATH
    session.get(login, timeout=30).raise_for_status()
    answer = session.post(
        login,
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": login},
        timeout=30,
        allow_redirects=False,
    )
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        msg = f"{username} could not log in: HTTP {answer.status_code}"
        raise RuntimeError(msg)
    return session


def admin_upload(session: requests.Session, base: str, path: Path) -> int:
    """Upload ``path`` in the admin, confirm its preview; the id of the queued Execution.

    The session's CSRF cookie (set at login) is the form's token, as the upload page's is."""
    upload_page = base + UPLOAD_PATH
    csrf = session.cookies["csrftoken"]
    with path.open("rb") as handle:
        preview = session.post(
            upload_page,
            data={"csrfmiddlewaretoken": csrf},
            files={"file": (path.name, handle, "text/csv")},
            headers={"Referer": upload_page},
            timeout=WEB_TIMEOUT_SECONDS,
        )
    preview.raise_for_status()
    action = re.search(r'action="([^"]*/confirm/)"', preview.text)
    if action is None:
        msg = f"no confirm form in the preview of {path.name}"
        raise RuntimeError(msg)
    confirmed = session.post(
        base + action.group(1),
        data={"csrfmiddlewaretoken": csrf, "confirm": "1"},
        headers={"Referer": preview.url},
        timeout=WEB_TIMEOUT_SECONDS,
    )
    confirmed.raise_for_status()
    landed = re.search(r"/execution/(\d+)/change/", confirmed.url)
    if landed is None:
        msg = f"the confirm of {path.name} did not lead to its execution"
        raise RuntimeError(msg)
    return int(landed.group(1))


def execution_wait(
    session: requests.Session,
    base: str,
    execution_id: int,
    *,
    timeout: float,
    poll_seconds: float = 0.05,
) -> dict:
    """Poll the execution's progress endpoint, as its page does, until the run is finished;
    the last answer (``status``, ``reason``, …)."""
    progress = f"{base}/admin/logs/execution/{execution_id}/progress/"
    deadline = time.monotonic() + timeout
    while True:
        answer = session.get(progress, timeout=30)
        answer.raise_for_status()
        data = answer.json()
        if data["done"]:
            return data
        if time.monotonic() > deadline:
            msg = f"execution {execution_id} not finished after {timeout:.0f} s: {data}"
            raise TimeoutError(msg)
        time.sleep(poll_seconds)
