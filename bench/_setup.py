"""A fresh, migrated database for a benchmark, on DATABASE_URL's server (else the embedded one)."""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit, urlunsplit

import environ
import psycopg


def django_bench_db(name: str = "auditsite_bench", *, reuse: bool = False) -> bool:
    """Point Django at a new database ``name`` (dropped first if it exists) and migrate it.

    With ``reuse``, an existing database of that name is kept (and migrated) instead: returns
    whether it existed, so a benchmark with costly data can skip loading it again.
    """
    # Before anything of auditsite is imported: its package sets the local settings as default.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditsite.settings.test")
    base = os.environ.get("DATABASE_URL")
    if not base:
        from auditsite import embedded

        embedded.postgres_ensure()  # held by this process until it exits
        db = embedded.postgres_settings()
        socket_dir = quote(db["HOST"], safe="/")
        base = f"postgres://{quote(db['USER'], safe='')}@/{db['NAME']}?host={socket_dir}"
    config = environ.Env.db_url_config(base)
    params = {
        "dbname": "postgres",
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
        "host": config["HOST"] or config["OPTIONS"].get("host"),
        "port": config["PORT"] or None,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        existed = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not (reuse and existed):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(base)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return bool(reuse and existed)


def checkpoint() -> None:
    """Flush what preparing the data wrote, so each timed step starts from the same state."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
