"""Admin login brute force (django-axes): a username is locked out from an address after
AXES_FAILURE_LIMIT failures; the records are the auditors' to read and a superuser's to reset."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from auditsite.testing import STAFF_PASSWORD

pytestmark = pytest.mark.django_db

URL = reverse("admin:login")


@pytest.fixture(autouse=True)
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


def _login(client, username: str, password: str, **headers: str):
    return client.post(
        URL,
        {"username": username, "password": password, "next": "/admin/"},
        headers={"accept-language": "en", **headers},
    )


def test_too_many_failures_lock_out_even_the_right_password(client, accounts):
    """Failures up to the limit are ordinary; then even the right password is refused (429)
    from that address; another account from the same address is not affected."""
    for _ in range(2):
        assert _login(client, "test-auditor", "wrong").status_code == 200
    response = _login(client, "test-auditor", "wrong")
    assert response.status_code == 429
    response = _login(client, "test-auditor", STAFF_PASSWORD)
    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert _login(Client(), "test-support", STAFF_PASSWORD).status_code == 302
    attempt = AccessAttempt.objects.get(username="test-auditor")
    assert attempt.ip_address == "127.0.0.1"


def test_lockout_is_per_username_and_address(client, accounts):
    """The same username from another address can still log in (the lockout is by both)."""
    for _ in range(3):
        _login(client, "test-uploader", "wrong")
    assert _login(client, "test-uploader", STAFF_PASSWORD).status_code == 429
    other = Client(REMOTE_ADDR="192.0.2.7")
    assert _login(other, "test-uploader", STAFF_PASSWORD).status_code == 302


def test_forwarded_for_is_ignored_without_a_declared_proxy(client, accounts):
    """Without AXES_IPWARE_PROXY_COUNT a client cannot dodge the lockout with its own
    X-Forwarded-For header."""
    for number in range(3):
        _login(client, "test-support", "wrong", x_forwarded_for=f"198.51.100.{number}")
    response = _login(client, "test-support", STAFF_PASSWORD, x_forwarded_for="198.51.100.99")
    assert response.status_code == 429


def test_forwarded_for_is_the_client_behind_a_declared_proxy(client, accounts, settings):
    """With one proxy declared, the address that proxy appended (the right-most) is the
    client's; what the client put in the header itself is not believed."""
    settings.AXES_IPWARE_PROXY_COUNT = 1
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
    _login(client, "test-support", "wrong", x_forwarded_for="198.51.100.1, 203.0.113.5")
    assert AccessAttempt.objects.get(username="test-support").ip_address == "203.0.113.5"


def test_success_resets_the_count(client, accounts):
    """A successful login forgets earlier failures."""
    for _ in range(2):
        _login(client, "test-uploader", "wrong")
    assert _login(client, "test-uploader", STAFF_PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        assert _login(client, "test-uploader", "wrong").status_code == 200
    assert _login(client, "test-uploader", STAFF_PASSWORD).status_code == 302


def test_superuser_resets_a_lockout_auditor_only_reads(client, accounts, client_for):
    """Auditors see the attempts but cannot delete them; a superuser deletes the attempt and
    the account logs in again."""
    for _ in range(3):
        _login(client, "test-auditor", "wrong")
    attempt = AccessAttempt.objects.get(username="test-auditor")
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert client_for("auditor").get(changelist).status_code == 200
    assert client_for("support").get(changelist).status_code == 403
    delete = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    assert client_for("auditor").post(delete, {"post": "yes"}).status_code == 403
    assert client_for("superuser").post(delete, {"post": "yes"}).status_code == 302
    assert _login(client, "test-auditor", STAFF_PASSWORD).status_code == 302


def test_login_form_keeps_csrf_protection(accounts):
    """CSRF stays on: a login POST without the token is refused."""
    client = Client(enforce_csrf_checks=True)
    assert _login(client, "test-auditor", STAFF_PASSWORD).status_code == 403
