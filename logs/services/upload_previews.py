"""Previewed uploads nobody confirmed: their stored files expire.

An admin upload is stored when it is previewed and kept for its confirmation. A preview left
alone (the tab closed, the session expired) would keep its file for ever: every stored file
that no Execution refers to and that is older than ``UPLOAD_PREVIEW_HOURS`` is deleted, by each
new upload and by the hourly stale-run job. A confirmation that comes later finds the file gone
and asks for the file again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from logs.models import Execution

UPLOADS_FOLDER = "executions"


def _recent_folders(now: datetime) -> list[str]:
    """The month folders a preview of the last UPLOAD_PREVIEW_HOURS can be in (upload_to's
    ``executions/%Y/%m/``, in the server's time zone)."""
    folders = []
    for moment in (now - timedelta(hours=settings.UPLOAD_PREVIEW_HOURS) - timedelta(days=1), now):
        local = timezone.localtime(moment)
        folder = f"{UPLOADS_FOLDER}/{local:%Y}/{local:%m}"
        if folder not in folders:
            folders.append(folder)
    return folders


def previews_expire(*, now: datetime | None = None) -> list[str]:
    """Delete the stored files of previews older than UPLOAD_PREVIEW_HOURS that no Execution
    refers to; return their names."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.UPLOAD_PREVIEW_HOURS)
    candidates = []
    for folder in _recent_folders(now):
        try:
            _, files = default_storage.listdir(folder)
        except FileNotFoundError:
            continue
        candidates += [f"{folder}/{name}" for name in files]
    kept = set(Execution.objects.filter(file__in=candidates).values_list("file", flat=True))
    expired = []
    for name in candidates:
        if name in kept:
            continue
        try:
            if default_storage.get_modified_time(name) >= cutoff:
                continue
            default_storage.delete(name)
        except FileNotFoundError:  # deleted meanwhile, e.g. by a cancel
            continue
        expired.append(name)
    return expired
