"""The embedded servers on the default configuration (SPEC §2, §11): started by the process that
needs them, shared by overlapping processes, stopped with the last one, and silent."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from auditsite.testing import open_tmp_dir

BASE_DIR = Path(__file__).resolve().parent.parent.parent
CONFIGURED = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "DJANGO_SETTINGS_MODULE",
}
PROGRESS_LINE = re.compile(r"^(reading|staging|applying): [\d,]+ rows, [\d,.]+ MB read$")

pytestmark = pytest.mark.slow

# A process that holds one embedded server until it reads a line, then exits normally.
HOLDER = """
import sys
from auditsite import embedded
getattr(embedded, sys.argv[1] + "_ensure")()
print("holding", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def var_dir():
    """A fresh directory for the embedded servers of the processes a test starts."""
    with open_tmp_dir(prefix="auditsite-embedded-") as path:
        var = path / "var"
        yield var
        for process in processes_of(var):  # never leave a server behind a failed test
            process.kill()


def default_environment(var: Path) -> dict[str, str]:
    """What a newcomer's shell has: nothing configured (local settings, embedded servers)."""
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURED}
    environment["AUDITSITE_VAR_DIR"] = str(var)
    return environment


def processes_of(var: Path) -> list[psutil.Process]:
    """Every live process whose command line names ``var`` (the embedded servers of it)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(var) in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def manage(var: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=default_environment(var),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _holder(var: Path, server: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, server],
        cwd=BASE_DIR,
        env=default_environment(var),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None  # both are pipes
    assert process.stdout.readline() == "holding\n", process.stderr.read()
    return process


def _let_go(process: subprocess.Popen) -> None:
    _, stderr = process.communicate("\n", timeout=60)
    assert process.returncode == 0, stderr
    assert stderr == ""


@pytest.mark.parametrize("server", ["postgres", "redis"])
def test_overlapping_processes_share_a_server_the_last_one_stops(var_dir, server):
    """Two processes hold one embedded server: it runs until the second has gone too."""
    first = _holder(var_dir, server)
    servers = processes_of(var_dir)
    assert servers, "the first holder started no server"
    second = _holder(var_dir, server)
    assert {process.pid for process in processes_of(var_dir)} == {p.pid for p in servers}
    _let_go(first)
    assert all(process.is_running() for process in servers), "stopped under the second holder"
    _let_go(second)
    psutil.wait_procs(servers, timeout=30)
    assert processes_of(var_dir) == []


def test_a_holder_killed_outright_does_not_keep_the_server_forever(var_dir):
    """A holder that died without letting go (kill -9) is not counted by the next to leave."""
    killed = _holder(var_dir, "redis")
    killed.kill()
    killed.wait(timeout=30)
    survivor = _holder(var_dir, "redis")
    _let_go(survivor)
    psutil.wait_procs(processes_of(var_dir), timeout=30)
    assert processes_of(var_dir) == []


def test_commands_on_the_default_configuration_are_quiet_and_leave_nothing_running(
    var_dir, tmp_path
):
    """migrate, seed_demo, import_activity and verify_logs with nothing configured (local
    settings, DEBUG on, embedded PostgreSQL): the import completes, stderr holds nothing but the
    import's own progress lines, and no server is left once the commands are done."""
    migrated = manage(var_dir, "migrate", "--noinput", "-v", "0")
    assert (migrated.returncode, migrated.stdout, migrated.stderr) == (0, "", "")
    seeded = manage(var_dir, "seed_demo")
    assert (seeded.returncode, seeded.stderr) == (0, ""), seeded.stderr
    activity = tmp_path / "user-log-20250901-093000.csv"
    activity.write_text("user_id,login_count,post_count\nU00001,2,1\nU00002,x,3\n")
    imported = manage(var_dir, "import_activity", str(activity))
    assert imported.returncode == 0, imported.stderr
    assert "user-log-20250901-093000: completed" in imported.stdout
    assert "login_update: success 1, failed 1, skipped 0" in imported.stdout
    noise = [line for line in imported.stderr.splitlines() if not PROGRESS_LINE.match(line)]
    assert noise == []
    verified = manage(var_dir, "verify_logs")
    assert (verified.returncode, verified.stderr) == (0, ""), verified.stdout
    assert verified.stdout == "processing logs verified: no problems\n"
    assert processes_of(var_dir) == []
    assert not (var_dir / "pgdata" / "postmaster.pid").exists()
