"""The statistics registry: the one place that says which counters a CSV can update.

Adding a statistic = an IntegerField on ``UserStatistics`` + one entry here (+ a migration).
Order matters: log rows of a CSV row are written in registry order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Statistic:
    column: str  # CSV header and user_statistics column
    processing_type: str  # processing_logs.processing_type for changes of this counter
    label: str | Promise  # lazily translated: shown in the language of each request


STATISTICS: tuple[Statistic, ...] = (
    Statistic(column="login_count", processing_type="login_update", label=_("Logins")),
    Statistic(column="post_count", processing_type="post_update", label=_("Posts")),
)


def registry_check(statistics: tuple[Statistic, ...]) -> None:
    """Refuse a registry the ingestion SQL could not use: columns are lower-case identifiers
    (they are CSV headers and table columns), never ``user_id``; columns and processing types
    are unique; a processing type fits ``processing_logs.processing_type`` (50 characters)."""
    problems = []
    columns = [statistic.column for statistic in statistics]
    types = [statistic.processing_type for statistic in statistics]
    if not statistics:
        problems.append("no statistic")
    problems += [
        f"column {column!r} is not a lower-case identifier"
        for column in columns
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", column)
    ]
    if "user_id" in columns:
        problems.append("'user_id' cannot be a statistic")
    if len(set(columns)) != len(columns) or len(set(types)) != len(types):
        problems.append("columns and processing types must be unique")
    problems += [
        f"processing type {t!r} is longer than 50 characters" for t in types if len(t) > 50
    ]
    if problems:
        msg = f"the statistics registry is invalid: {'; '.join(problems)}"
        raise ImproperlyConfigured(msg)


registry_check(STATISTICS)
STATISTICS_BY_COLUMN = {statistic.column: statistic for statistic in STATISTICS}
