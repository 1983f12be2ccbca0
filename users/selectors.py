"""Reads about one service user: current counters, change history, recent errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from logs.models import ProcessingError, ProcessingLog
from users.models import ServiceUser, UserStatistics
from users.statistics import STATISTICS


def user_history(*, user_id: str) -> QuerySet[ProcessingLog]:
    """Seed 6.1: every log row of the user, newest first (log_id breaks ties within a run)."""
    return ProcessingLog.objects.filter(user_id=user_id).order_by("-processed_at", "-log_id")


@dataclass(frozen=True)
class Counter:
    label: str
    column: str
    value: int


@dataclass(frozen=True)
class UserCounters:
    """What ``users`` and ``user_statistics`` hold for one user_id right now."""

    user_id: str
    user: ServiceUser | None  # None: the id is not in ``users`` (failed rows may still name it)
    counters: list[Counter]  # empty when there is no user_statistics row yet
    updated_at: datetime | None


def user_counters(*, user_id: str) -> UserCounters:
    """The user's current counters, one per registered statistic."""
    user = ServiceUser.objects.filter(user_id=user_id).first()
    statistics = UserStatistics.objects.filter(user_id=user_id).first()
    counters = []
    if statistics is not None:
        counters = [
            Counter(label=str(s.label), column=s.column, value=getattr(statistics, s.column))
            for s in STATISTICS
        ]
    return UserCounters(
        user_id=user_id,
        user=user,
        counters=counters,
        updated_at=statistics.updated_at if statistics else None,
    )


def user_recent_errors(*, user_id: str, limit: int = 20) -> QuerySet[ProcessingError]:
    """The newest processing errors that name the user (they expire after 30 days)."""
    return ProcessingError.objects.filter(user_id=user_id).order_by("-created_at", "-id")[:limit]
