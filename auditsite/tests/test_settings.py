"""Settings have no side effects (SPEC §8): importing them starts nothing, the embedded servers
stand in for unset URLs only in local and test settings, and production refuses to start without
its database, broker and secret, and passes Django's deployment checks when given them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditsite.testing import open_tmp_dir
from logs.tests.support import database_url_for_processes

BASE_DIR = Path(__file__).resolve().parent.parent.parent
CONFIGURED = {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DJANGO_SECRET_KEY"}
PRODUCTION_SECRET = "k3v9-Qz7p!Lw2_Rt8mXa5#Ncb4Yd6uHe0JfGs1oTi-7Vq2Ex9Wr4Zn"  # noqa: S105 - a test value


@pytest.fixture
def var_dir():
    """A fresh, empty directory for the embedded servers of the processes a test starts."""
    with open_tmp_dir(prefix="auditsite-settings-") as path:
        yield path / "var"


def _run(settings: str, code_or_args: list[str], var: Path, **env: str):
    environment = {key: value for key, value in os.environ.items() if key not in CONFIGURED}
    environment.update(DJANGO_SETTINGS_MODULE=settings, AUDITSITE_VAR_DIR=str(var), **env)
    return subprocess.run(
        [sys.executable, *code_or_args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _production(args: list[str], var: Path, **env: str):
    """A process on production settings given their database, broker and secret."""
    return _run(
        "auditsite.settings.production",
        args,
        var,
        DATABASE_URL="postgres://auditsite@db.invalid/auditsite",
        CELERY_BROKER_URL="redis://redis.invalid:6379/0",
        DJANGO_SECRET_KEY=PRODUCTION_SECRET,
        **env,
    )


@pytest.mark.parametrize("settings", ["auditsite.settings.local", "auditsite.settings.test"])
def test_importing_settings_starts_no_server(settings, var_dir):
    """Loading local or test settings with no URLs (and `manage.py check`) starts nothing:
    the embedded servers' directory is not even created."""
    loaded = _run(
        settings,
        [
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL)",
        ],
        var_dir,
    )
    assert loaded.returncode == 0, loaded.stderr
    engine, broker = loaded.stdout.split()
    assert engine == "auditsite.db.embedded"
    assert broker.startswith("redis-embedded+socket://")
    assert loaded.stderr == ""
    checked = _run(settings, ["manage.py", "check"], var_dir)
    assert checked.returncode == 0, checked.stderr
    assert not var_dir.exists()


@pytest.mark.django_db(transaction=True)
def test_migrate_against_a_real_database_starts_no_redis(var_dir):
    """`manage.py migrate` with DATABASE_URL set connects there and starts no embedded server."""
    done = _run(
        "auditsite.settings.local",
        ["manage.py", "migrate", "--noinput", "-v", "0"],
        var_dir,
        DATABASE_URL=database_url_for_processes(),
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    assert not var_dir.exists()


def test_production_refuses_to_start_without_its_urls_and_secret(var_dir):
    """Production settings name every missing variable, and boot no embedded server instead."""
    done = _run("auditsite.settings.production", ["manage.py", "check"], var_dir)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "DATABASE_URL, CELERY_BROKER_URL, DJANGO_SECRET_KEY" in done.stderr
    only_secret = _run(
        "auditsite.settings.production",
        ["manage.py", "check"],
        var_dir,
        DATABASE_URL="postgres://auditsite@db.invalid/auditsite",
        CELERY_BROKER_URL="redis://redis.invalid:6379/0",
    )
    assert only_secret.returncode != 0
    assert "need DJANGO_SECRET_KEY in the environment" in only_secret.stderr
    assert not var_dir.exists()


def test_production_passes_the_deployment_checks(var_dir):
    """`check --deploy` with production settings and their variables set reports no issue
    (secure cookies, HSTS, SSL redirect)."""
    done = _production(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        var_dir,
        DJANGO_ALLOWED_HOSTS="auditsite.example.com",
    )
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_production_ssl_redirect_can_be_left_to_the_proxy(var_dir):
    """Behind a proxy that redirects to HTTPS itself, DJANGO_SECURE_SSL_REDIRECT=false turns
    Django's own redirect off (and the deployment check says so)."""
    code = "import django; django.setup(); from django.conf import settings as s; "
    code += "print(s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER[0], s.SECURE_HSTS_SECONDS)"
    done = _production(
        ["-c", code],
        var_dir,
        DJANGO_SECURE_SSL_REDIRECT="false",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "HTTP_X_FORWARDED_PROTO", "31536000"]


def test_plain_http_deployment_passes_the_deployment_checks(var_dir):
    """docker-compose.yml's plain-HTTP localhost stack (DJANGO_PLAIN_HTTP=true) passes
    `check --deploy` too: the redirect, secure cookies and HSTS are off by declared choice."""
    compose = (BASE_DIR / "docker-compose.yml").read_text()
    assert 'DJANGO_PLAIN_HTTP: "true"' in compose
    assert "change-me" not in compose  # no public default secret key (W009)
    done = _production(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        var_dir,
        DJANGO_PLAIN_HTTP="true",
    )
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_tls_proxy_that_redirects_passes_the_deployment_checks(var_dir):
    """Behind a TLS-terminating proxy that redirects itself, DJANGO_SECURE_SSL_REDIRECT=false
    is the documented switch: secure cookies and HSTS stay on and the check is clean."""
    done = _production(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        var_dir,
        DJANGO_SECURE_SSL_REDIRECT="false",
    )
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
