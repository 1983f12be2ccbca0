"""Execution names (SPEC §4): given, taken from the file name, or generated from the time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from django.utils import timezone

from logs.messages import NAME_COMPLETED, NAME_EMPTY, NAME_IN_USE, NAME_TOO_LONG
from logs.models import Execution

MAX_NAME_LENGTH = 80  # executions.name and processing_logs.execution_name
IMPORT_PREFIX = "user-log"
_GENERATED_NAME_RE = re.compile(r"^user-log-\d{8}-\d{6}$")


def name_in_use(name: str) -> Execution | None:
    """The latest Execution holding ``name`` (pending, running or completed), if any."""
    return (
        Execution.objects.filter(name=name, status__in=Execution.ACTIVE_STATUSES)
        .order_by("-created_at")
        .first()
    )


def explicit_name_problem(name: str) -> str | None:
    """Why an explicitly given execution name cannot be used, or None."""
    if not name.strip():
        return NAME_EMPTY.render()
    if len(name) > MAX_NAME_LENGTH:
        return NAME_TOO_LONG.render(length=MAX_NAME_LENGTH)
    holder = name_in_use(name)
    if holder is None:
        return None
    if holder.status == Execution.Status.COMPLETED:
        return NAME_COMPLETED.render(name=repr(name))
    return NAME_IN_USE.render(name=repr(name), status=holder.status)


def _generated_name_base(file_name: str, prefix: str) -> str:
    stem = Path(file_name).stem
    if prefix == IMPORT_PREFIX and _GENERATED_NAME_RE.match(stem):
        return stem
    return f"{prefix}-" + timezone.localtime().strftime("%Y%m%d-%H%M%S")


def generated_name_candidates(file_name: str, *, prefix: str = IMPORT_PREFIX) -> Iterator[str]:
    """The file's stem when it is ``user-log-YYYYMMDD-HHMMSS``, else ``prefix`` and the
    business time now; then the same with ``-2``, ``-3``, …"""
    base = _generated_name_base(file_name, prefix)
    yield base
    suffix = 2
    while True:
        yield f"{base}-{suffix}"
        suffix += 1


def free_generated_name(file_name: str, *, prefix: str = IMPORT_PREFIX) -> str:
    """The first generated name no Execution holds now (corrections name theirs by their
    kind: ``reversal-YYYYMMDD-HHMMSS``, ``adjustment-…``)."""
    for candidate in generated_name_candidates(file_name, prefix=prefix):
        if name_in_use(candidate) is None:
            return candidate
    raise AssertionError  # unreachable: the candidates never end


def source_file_name(source: str) -> str:
    """The file name part of a path or ``s3://bucket/key``."""
    return Path(source.removeprefix("s3://")).name
