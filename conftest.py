"""Shared fixtures. Every test runs on real PostgreSQL (DATABASE_URL, else the embedded one)."""

from __future__ import annotations

import pgtrigger
import pytest
from django.test import TransactionTestCase

from auditsite.testing import accounts_create
from logs.triggers import ACCESS_LOG_MODEL, PROTECT_TRUNCATE, trigger_uri

# Transactional tests end with Django's flush, a TRUNCATE of every table. processing_logs,
# access_logs and month_seals refuse TRUNCATE for everybody; the test harness alone lifts that
# guard, for its own clean-up.
# _fixture_teardown is a private hook of Django's test case, absent from django-stubs.
_original_fixture_teardown = TransactionTestCase._fixture_teardown  # type: ignore[attr-defined]
_TRUNCATE_GUARDS = (
    trigger_uri(PROTECT_TRUNCATE),
    f"{ACCESS_LOG_MODEL}:{PROTECT_TRUNCATE}",
    f"logs.MonthSeal:{PROTECT_TRUNCATE}",
)


def _fixture_teardown_allowing_log_truncate(self: TransactionTestCase) -> None:
    with pgtrigger.ignore(*_TRUNCATE_GUARDS):
        _original_fixture_teardown(self)


TransactionTestCase._fixture_teardown = _fixture_teardown_allowing_log_truncate  # type: ignore[attr-defined]


@pytest.fixture
def service_users(db):
    """Service users U00001–U00005 with zeroed statistics."""
    from users.services import demo_users_seed

    demo_users_seed(count=5)
    return [f"U{n:05d}" for n in range(1, 6)]


@pytest.fixture
def accounts(db):
    """One staff account per role and a superuser, for one test."""
    return accounts_create()


@pytest.fixture
def client_for(accounts):
    """A test client logged in as the given role ("anonymous" for none)."""
    from django.test import Client

    def _client(role: str) -> Client:
        client = Client()
        if role != "anonymous":
            client.force_login(accounts[role])
        return client

    return _client


@pytest.fixture
def make_logs(db):
    """Insert processing log rows with chosen fields (processed_at included); returns them."""
    from logs.tests.factories import ProcessingLogFactory

    return ProcessingLogFactory.create_rows


@pytest.fixture
def export_form_data():
    """POST data for django-import-export's export form: a format and every field selected."""

    def _data(resource_class, *, format_index: int) -> dict:
        prefix = resource_class.__name__.lower()
        fields = {f"{prefix}_{name}": "on" for name in resource_class().get_export_order()}
        return {"format": str(format_index), "resource": "0", **fields}

    return _data
