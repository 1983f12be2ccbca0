"""The statistics registry is checked when it is imported: a registry the ingestion SQL could
not use is refused, saying why."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from users.statistics import STATISTICS, Statistic, registry_check


def test_the_shipped_registry_passes():
    """login_count and post_count, in that order, are a valid registry."""
    registry_check(STATISTICS)
    assert [statistic.column for statistic in STATISTICS] == ["login_count", "post_count"]


@pytest.mark.parametrize(
    "statistics, problem",
    [
        ((), "no statistic"),
        ((Statistic('x"; DROP TABLE users; --', "x_update", "X"),), "not a lower-case identifier"),
        ((Statistic("Login", "login_update", "X"),), "not a lower-case identifier"),
        ((Statistic("user_id", "user_update", "X"),), "'user_id' cannot be a statistic"),
        (
            (Statistic("a", "same", "A"), Statistic("b", "same", "B")),
            "columns and processing types must be unique",
        ),
        ((Statistic("a", "t" * 51, "A"),), "longer than 50 characters"),
    ],
)
def test_an_unusable_registry_is_refused(statistics, problem):
    """Each kind of bad entry is named in the error."""
    with pytest.raises(ImproperlyConfigured, match=problem):
        registry_check(statistics)
