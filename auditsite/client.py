"""The client address of a request, as the login throttle (django-axes) and the access log
both see it: REMOTE_ADDR, or the proxy-set X-Forwarded-For entry when AXES_IPWARE_PROXY_COUNT
says how many proxies stand in front."""

from __future__ import annotations

from axes.helpers import get_client_ip_address
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The address the request came from, as django-axes computes it."""
    return get_client_ip_address(request) or None
