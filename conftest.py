"""Shared fixtures. Every test runs on real PostgreSQL (DATABASE_URL, else the embedded one)."""

from __future__ import annotations

import pgtrigger
import pytest
from django.test import TransactionTestCase

# Transactional tests end with Django's flush, a TRUNCATE of every table. processing_logs refuses
# TRUNCATE for everybody; the test harness alone lifts that guard, for its own clean-up.
_original_fixture_teardown = TransactionTestCase._fixture_teardown


def _fixture_teardown_allowing_log_truncate(self: TransactionTestCase) -> None:
    with pgtrigger.ignore("logs.ProcessingLog:protect_truncate"):
        _original_fixture_teardown(self)


TransactionTestCase._fixture_teardown = _fixture_teardown_allowing_log_truncate


@pytest.fixture
def service_users(db):
    """Service users U00001–U00005 with zeroed statistics."""
    from users.services import demo_users_seed

    demo_users_seed(count=5)
    return [f"U{n:05d}" for n in range(1, 6)]
