"""Pagination over tens of millions of log rows without an exact ``COUNT(*)``."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from logs.selectors import planner_estimate


class LinkedPage(Page):
    """A page that knows its own elided page links (templates cannot pass arguments)."""

    @property
    def page_links(self) -> list:
        return list(self.paginator.get_elided_page_range(self.number))


class CappedCountPaginator(Paginator):
    """Counts exactly up to ``exact_limit`` rows; beyond that, uses PostgreSQL's estimate.

    ``SELECT count(*) FROM (… LIMIT exact_limit + 1)`` reads at most that many index entries,
    so small results get their true size and huge ones cost no more than a small one. Beyond
    the limit ``is_estimate`` is set, pages are never truncated to the (approximate) total, and
    the page links stop near the current page instead of offering a far "last page".
    """

    object_list: QuerySet[Any]  # a queryset only: the bounded count and the estimate are SQL
    exact_limit = 10_000
    is_estimate = False

    @cached_property
    def count(self) -> int:
        unordered = self.object_list.order_by()
        bounded = unordered[: self.exact_limit + 1].count()
        if bounded <= self.exact_limit:
            return bounded
        self.is_estimate = True
        return max(planner_estimate(queryset=unordered), bounded)

    def _get_page(self, *args, **kwargs):
        return LinkedPage(*args, **kwargs)

    def page(self, number):
        if not self.count or not self.is_estimate:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)

    def get_elided_page_range(self, number=1, *, on_each_side=3, on_ends=2):
        if not self.count or not self.is_estimate:
            yield from super().get_elided_page_range(
                number, on_each_side=on_each_side, on_ends=on_ends
            )
            return
        number = self.validate_number(number)
        first = max(1, number - on_each_side)
        if first > on_ends + 1:
            yield from range(1, on_ends + 1)
            yield self.ELLIPSIS
        else:
            first = 1
        yield from range(first, min(self.num_pages, number + on_each_side) + 1)
        if number + on_each_side < self.num_pages:
            yield self.ELLIPSIS
