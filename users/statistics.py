"""The statistics registry: the one place that says which counters a CSV can update.

Adding a statistic = an IntegerField on ``UserStatistics`` + one entry here (+ a migration).
Order matters: log rows of a CSV row are written in registry order.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Statistic:
    column: str  # CSV header and user_statistics column
    processing_type: str  # processing_logs.processing_type for changes of this counter
    label: str


STATISTICS: tuple[Statistic, ...] = (
    Statistic(column="login_count", processing_type="login_update", label=_("Logins")),
    Statistic(column="post_count", processing_type="post_update", label=_("Posts")),
)

STATISTICS_BY_COLUMN = {statistic.column: statistic for statistic in STATISTICS}
PROCESSING_TYPES = tuple(statistic.processing_type for statistic in STATISTICS)
