"""HTTP response hardening of our own: the Content-Security-Policy header.

Django 5.2 has no CSP of its own. Every response gets ``CONTENT_SECURITY_POLICY`` with a fresh
nonce per request (``request.csp_nonce``, the name django-admin-rangefilter's inline script
reads), so only our static scripts and nonce-carrying inline ones run.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

CSP_HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    """Sets the CSP header (``{nonce}`` in the policy becomes this request's nonce)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce  # type: ignore[attr-defined]
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and CSP_HEADER not in response:
            response[CSP_HEADER] = policy.replace("{nonce}", nonce)
        return response
