"""The access log (SPEC §10a): who looked at whose data, when, and how much of it.

Every user lookup, log list narrowed to a user, export (CSV, XLSX, user master, evidence pack)
and download of an original file writes one ``AccessLog`` row, in the request that shows or
sends the data. The table is append-only in the database; rows leave only by
``access_logs_purge``, after ``ACCESS_LOG_RETENTION_MONTHS``.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from auditsite.client import client_address
from logs.models import AccessLog
from logs.months import Month
from logs.triggers import access_log_deletion_allowed

_QUERY_KEYS_SKIPPED = {"csrfmiddlewaretoken"}


def request_filters(request: HttpRequest) -> dict[str, Any]:
    """The query (and form) parameters that narrowed what a request read, as one dict."""
    filters: dict[str, Any] = {}
    for source in (request.GET, request.POST):
        for key in source:
            if key in _QUERY_KEYS_SKIPPED:
                continue
            values = source.getlist(key)
            filters[key] = values[0] if len(values) == 1 else values
    return filters


def access_record(
    *,
    request: HttpRequest | None,
    kind: str,
    user_id: str | None = None,
    filters: dict[str, Any] | None = None,
    target: str = "",
    rows: int | None = None,
) -> AccessLog:
    """Write one access row for what ``request`` read (None: a shell command, recorded as the
    operating-system account that ran it)."""
    if request is not None and request.user.is_authenticated:
        username, account_id = request.user.get_username(), request.user.pk
    else:
        username, account_id = f"shell:{getpass.getuser()}", None
    return AccessLog.objects.create(
        username=username,
        account_id=account_id,
        kind=kind,
        user_id=(user_id or None) and user_id[:64],
        filters=filters or {},
        target=target[:255],
        rows=rows,
        client_address=client_address(request) if request is not None else None,
    )


def access_logs_keep_from(*, today: datetime | None = None) -> datetime:
    """The oldest instant kept: access rows before the month ACCESS_LOG_RETENTION_MONTHS ago."""
    months = settings.ACCESS_LOG_RETENTION_MONTHS
    if months < 1:
        msg = f"ACCESS_LOG_RETENTION_MONTHS must be 1 or more, not {months}"
        raise ImproperlyConfigured(msg)
    current = Month.of(today) if today else Month.current()
    return current.add(-months).start


def access_logs_purge(*, today: datetime | None = None, dry_run: bool = False) -> int:
    """Delete the access rows past their retention (whole months); return how many (would) go."""
    expired = AccessLog.objects.filter(accessed_at__lt=access_logs_keep_from(today=today))
    if dry_run:
        return expired.count()
    with access_log_deletion_allowed():
        deleted, _ = expired.delete()
    return deleted
