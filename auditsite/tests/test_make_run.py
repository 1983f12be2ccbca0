"""`make run` on a machine with nothing configured: embedded PostgreSQL and Redis, web answers."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from auditsite.testing import open_tmp_dir

BASE_DIR = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return 0


@pytest.fixture
def open_tmp_path():
    """A fresh directory the embedded PostgreSQL's own system user can reach."""
    with open_tmp_dir(prefix="auditsite-make-run-") as path:
        yield path


def test_make_run_entry_point_serves_admin_login_on_embedded_services(open_tmp_path):
    """`make run`'s launcher starts everything with no DATABASE_URL and stops it all on Ctrl-C."""
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        AUDITSITE_VAR_DIR=str(open_tmp_path / "var"),
        MEDIA_ROOT=str(open_tmp_path / "media"),
        PORT=str(port),
    )
    log = (open_tmp_path / "stack.log").open("w+")
    stack = subprocess.Popen(
        [sys.executable, "-m", "auditsite.stack"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/admin/login/"
        deadline = time.monotonic() + 240
        status = 0
        while time.monotonic() < deadline and stack.poll() is None:
            status = _get(url)
            if status == 200:
                break
            time.sleep(1)
        log.seek(0)
        output = log.read()
        assert status == 200, output[-3000:]
        assert "demo logins" in output
        assert (open_tmp_path / "var" / "pgdata" / "PG_VERSION").exists()
        assert (open_tmp_path / "var" / "redis.sock").exists()
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=60)
    assert stack.returncode == 0
    assert _get(url) == 0  # web stopped
    assert not (open_tmp_path / "var" / "pgdata" / "postmaster.pid").exists()  # PostgreSQL stopped
    assert not (open_tmp_path / "var" / "redis.sock").exists()  # Redis stopped
