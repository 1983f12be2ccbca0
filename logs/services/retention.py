"""Retention of processing logs: the only code allowed to remove log rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pgtrigger

from logs.models import PROTECT_DELETE_TRIGGER


@contextlib.contextmanager
def log_deletion_allowed() -> Iterator[None]:
    """Lift the DELETE guard of processing_logs (and its partitions) for this block only.

    UPDATE and TRUNCATE stay refused; outside this block DELETE is refused for every role.
    """
    with pgtrigger.ignore(PROTECT_DELETE_TRIGGER):
        yield
