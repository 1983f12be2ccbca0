"""Factories of the users app: service users and their counters, with only what a test names."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from users.models import ServiceUser, UserStatistics


class ServiceUserFactory(DjangoModelFactory[ServiceUser]):
    """A service user; an existing user_id is reused, so a test may name the same user twice."""

    class Meta:
        model = ServiceUser
        django_get_or_create = ("user_id",)

    user_id = factory.Sequence(lambda n: f"F{n:05d}")  # apart from the U… ids tests spell out


class UserStatisticsFactory(DjangoModelFactory[UserStatistics]):
    """A user's counters (both 0 unless given), with the user made unless it exists."""

    class Meta:
        model = UserStatistics

    user = factory.SubFactory(ServiceUserFactory)
    login_count = 0
    post_count = 0
