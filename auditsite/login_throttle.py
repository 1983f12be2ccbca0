"""Brute-force protection for the admin login: failures counted per client address and username."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def _key(*, request: HttpRequest, username: str) -> str:
    # Hashed: usernames are free text and cache keys must be short and safe (memcached rules).
    client = request.META.get("REMOTE_ADDR", "")
    digest = hashlib.sha256(f"{client}\0{username.strip().lower()}".encode()).hexdigest()
    return f"login-failures:{digest}"


def login_blocked(*, request: HttpRequest, username: str) -> bool:
    """Whether this address has failed to log in as this username too often lately."""
    failures = cache.get(_key(request=request, username=username), 0)
    return failures >= settings.LOGIN_FAILURE_LIMIT


def login_failure_record(*, request: HttpRequest, username: str) -> int:
    """Count one failed login; the count expires LOGIN_FAILURE_WINDOW_SECONDS after the first."""
    key = _key(request=request, username=username)
    cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
        return 1


def login_failures_clear(*, request: HttpRequest, username: str) -> None:
    """Forget the failures of this address and username (after a successful login)."""
    cache.delete(_key(request=request, username=username))
