"""B7: what a staff member waits for: admin upload → preview → confirm → ``completed``.

A real web process (gunicorn, the production server) and a real Celery worker on the same
benchmark database and broker (CELERY_BROKER_URL, else the embedded Redis); an uploader logs in
over HTTP and, 20 times, uploads a 1,000-row file (the design note's daily size), confirms it and
polls the execution's progress endpoint until the run is finished. The figure is the p50 of the
time from the upload's POST to the poll that sees ``completed``.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = 1_000
RUNS = 20
TARGET_SECONDS = 1.0
POLL_SECONDS = 0.05
PASSWORD = "bench-uploader-password"  # noqa: S105 - a throwaway account of the bench database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, session, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if session.get(url, timeout=2).status_code == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    msg = f"{url} did not answer within {timeout:.0f} s"
    raise RuntimeError(msg)


def main(quick: bool = False) -> dict:
    import requests

    from bench._setup import django_bench_db

    django_bench_db("auditsite_bench_b7")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from bench._data import csv_write, users_create
    from logs.models import Execution

    runs = 5 if quick else RUNS
    users_create(ROWS)
    uploader = get_user_model().objects.create_user(
        username="bench-uploader", password=PASSWORD, is_staff=True
    )
    uploader.groups.set([Group.objects.get(name="uploader")])
    base_dir = Path(__file__).resolve().parent.parent
    port = _free_port()
    media = tempfile.mkdtemp(prefix="auditsite-bench-b7-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "auditsite.settings.test",
        "MEDIA_ROOT": media,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
    }
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "auditsite.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--env",
            "DJANGO_SETTINGS_MODULE=auditsite.settings.test",
        ],
        cwd=base_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "auditsite",
            "worker",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        cwd=base_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    seconds: list[float] = []
    try:
        session = requests.Session()
        _wait_for(f"{base}/admin/login/", session)
        session.post(
            f"{base}/admin/login/",
            data={
                "username": "bench-uploader",
                "password": PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "next": "/admin/",
            },
            headers={"Referer": f"{base}/admin/login/"},
        ).raise_for_status()
        with tempfile.TemporaryDirectory() as directory:
            for run in range(runs + 1):  # the first run warms the worker and is not counted
                path = csv_write(
                    Path(directory) / f"user-log-20260101-{run:06d}.csv",
                    rows=ROWS,
                    users=ROWS,
                    seed=run,
                )
                upload_page = f"{base}/admin/logs/execution/upload/"
                session.get(upload_page)
                csrf = session.cookies["csrftoken"]
                started = time.perf_counter()
                with path.open("rb") as handle:
                    preview = session.post(
                        upload_page,
                        data={"csrfmiddlewaretoken": csrf},
                        files={"file": (path.name, handle, "text/csv")},
                        headers={"Referer": upload_page},
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
                )
                confirmed.raise_for_status()
                landed = re.search(r"/execution/(\d+)/change/", confirmed.url)
                if landed is None:
                    msg = f"the confirm of {path.name} did not lead to its execution"
                    raise RuntimeError(msg)
                execution_id = landed.group(1)
                progress = f"{base}/admin/logs/execution/{execution_id}/progress/"
                while True:
                    data = session.get(progress).json()
                    if data["done"]:
                        break
                    time.sleep(POLL_SECONDS)
                elapsed = time.perf_counter() - started
                if data["status"] != Execution.Status.COMPLETED:
                    msg = f"run {run} ended {data['status']}: {data.get('reason')}"
                    raise RuntimeError(msg)
                if run:
                    seconds.append(elapsed)
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    p50 = statistics.median(seconds)
    return {
        "benchmark": "B7 admin upload → confirm → completed, through gunicorn and a Celery worker",
        "csv_rows": ROWS,
        "runs": len(seconds),
        "seconds": [round(s, 3) for s in seconds],
        "p50_seconds": round(p50, 3),
        "p95_seconds": round(statistics.quantiles(seconds, n=20)[-1], 3)
        if len(seconds) >= 2
        else None,
        "target": f"p50 < {TARGET_SECONDS} s",
        "met": p50 < TARGET_SECONDS,
    }
