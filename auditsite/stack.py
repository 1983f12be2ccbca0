"""`make run`: prepare the database and start web + Celery worker + Celery beat together.

Uses DATABASE_URL / CELERY_BROKER_URL when set; otherwise starts the embedded PostgreSQL and
Redis under var/ first, holds them while web, worker and beat run (each of which joins them), and
lets go on Ctrl-C (SIGINT) or SIGTERM once its children have stopped: the servers stop with the
last process that holds them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from auditsite import embedded

BASE_DIR = Path(__file__).resolve().parent.parent


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, check=True)  # noqa: S603


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditsite.settings.local")
    embedded_postgres = not os.environ.get("DATABASE_URL")
    embedded_redis = not os.environ.get("CELERY_BROKER_URL")
    if embedded_postgres:
        embedded.postgres_ensure()
    if embedded_redis:
        embedded.redis_ensure()
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")

    children: list[subprocess.Popen] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        _manage("migrate", "--noinput", "--verbosity", "0")
        print("database ready: migrations applied, partitions and roles in place", flush=True)  # noqa: T201
        _manage("seed_demo")
        celery = [sys.executable, "-m", "celery", "-A", "auditsite"]
        commands = {
            "web": [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
            "beat": [*celery, "beat", "--loglevel", "INFO"],
        }
        for command in commands.values():
            # Own process group: Ctrl-C reaches this launcher only, which stops children in order.
            children.append(
                subprocess.Popen(command, cwd=BASE_DIR, start_new_session=True)  # noqa: S603
            )
        print(  # noqa: T201
            f"\nauditsite is running: http://{host}:{port}/admin/\n"
            "demo logins (password 'auditsite-demo'): "
            "admin (superuser), uploader, support, auditor, corrector\n"
            "Ctrl-C stops web, worker, beat"
            + (" and the embedded servers" if embedded_postgres or embedded_redis else "")
            + ".\n",
            flush=True,
        )
        while not stopping:
            if any(child.poll() is not None for child in children):
                print("a process exited; stopping the others", file=sys.stderr)  # noqa: T201
                break
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        embedded.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
