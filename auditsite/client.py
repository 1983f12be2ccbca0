"""The client address of a request, as the access log and the login throttle both see it."""

from __future__ import annotations

from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The address the request came from: REMOTE_ADDR, or the proxy-given X-Forwarded-For
    entry when AXES_IPWARE_PROXY_COUNT says how many proxies stand in front."""
    return request.META.get("REMOTE_ADDR") or None
