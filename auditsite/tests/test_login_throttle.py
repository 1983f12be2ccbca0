"""Admin login brute force: after LOGIN_FAILURE_LIMIT failures the password is not even checked."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from auditsite.testing import STAFF_PASSWORD

pytestmark = pytest.mark.django_db

URL = reverse("admin:login")


@pytest.fixture(autouse=True)
def empty_cache():
    """Failure counters live in the cache: each test starts from none."""
    cache.clear()
    yield
    cache.clear()


def _login(client, username: str, password: str):
    return client.post(
        URL,
        {"username": username, "password": password, "next": "/admin/"},
        headers={"accept-language": "en"},
    )


def test_too_many_failures_block_even_the_right_password(client, accounts, settings):
    """Failures up to the limit are ordinary; then even the right password is refused (429)."""
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        response = _login(client, "test-auditor", "wrong")
        assert response.status_code == 200
    response = _login(client, "test-auditor", STAFF_PASSWORD)
    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another account from the same address is not affected.
    assert _login(client, "test-support", STAFF_PASSWORD).status_code == 302


def test_success_resets_the_count(client, accounts, settings):
    """A successful login forgets earlier failures."""
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        _login(client, "test-uploader", "wrong")
    assert _login(client, "test-uploader", STAFF_PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        assert _login(client, "test-uploader", "wrong").status_code == 200
    assert _login(client, "test-uploader", STAFF_PASSWORD).status_code == 302


def test_login_form_keeps_csrf_protection(accounts):
    """CSRF stays on: a login POST without the token is refused."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = _login(client, "test-auditor", STAFF_PASSWORD)
    assert response.status_code == 403
