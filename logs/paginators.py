"""Pagination over tens of millions of log rows without an exact ``COUNT(*)``.

The log list and a user's timeline page by keyset (``keyset_page``): a page is the rows past a
position in (processed_at, log_id) order, read from the index. Smaller lists page by number
with a count bounded by a LIMIT (``CappedCountPaginator``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, ChangeList
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.functional import cached_property

from logs.models import ProcessingLog
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


# --- keyset pagination: newest first by (processed_at, log_id), no count, no OFFSET ---------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# What a page token says of its position: the rows after it in display order, or before it.
AFTER, BEFORE = "a", "b"


@dataclass(frozen=True)
class LogPosition:
    """Where a log row stands in the (processed_at, log_id) order."""

    processed_at: datetime
    log_id: int

    @classmethod
    def of(cls, log: ProcessingLog) -> LogPosition:
        return cls(log.processed_at, log.log_id)

    def token(self, side: str) -> str:
        """``side`` + microseconds since 1970 (UTC) + ``_`` + log_id: exact, and short."""
        return f"{side}{(self.processed_at - _EPOCH) // _MICROSECOND}_{self.log_id}"

    @classmethod
    def parse(cls, token: str) -> tuple[str, LogPosition] | None:
        """(side, position) of a token, or None for anything that is not one."""
        match = re.fullmatch(r"([ab])(-?\d{1,20})_(\d{1,20})", token or "")
        if match is None:
            return None
        try:
            moment = _EPOCH + int(match.group(2)) * _MICROSECOND
        except OverflowError:
            return None
        return match.group(1), cls(moment, int(match.group(3)))


@dataclass(frozen=True)
class KeysetPage:
    """One page of log rows and the tokens of the pages either side (None: none there)."""

    rows: list[ProcessingLog]
    previous_token: str | None  # the rows just before these in display order
    next_token: str | None  # the rows just after them
    is_first: bool  # no token was given: the page starts at the first row

    def links(self, url: Callable[[str | None], str]) -> dict[str, str | None]:
        """URLs of the first, previous and next pages (None where there is none); ``url`` gives
        a token's page, and the first page for None."""
        at_start = self.is_first or (self.previous_token is None and bool(self.rows))
        return {
            "first": None if at_start else url(None),
            "previous": url(self.previous_token) if self.previous_token else None,
            "next": url(self.next_token) if self.next_token else None,
        }


def keyset_page(
    queryset: QuerySet[ProcessingLog], *, token: str | None, per_page: int, newest_first: bool
) -> KeysetPage:
    """The page of ``queryset`` that ``token`` points at, in (processed_at, log_id) order.

    Each page is one indexed range read: rows past the position, in order, ``per_page + 1`` of
    them (the extra one says whether a further page exists). No count and no OFFSET, so page
    1,000 costs what page 1 costs. A token that is not one gives the first page.
    """
    parsed = LogPosition.parse(token or "")
    side, position = parsed if parsed else (AFTER, None)
    # Reading towards the previous page runs the order backwards, then turns the rows round.
    forward = side == AFTER
    descending = newest_first == forward
    direction = "-" if descending else ""
    rows = queryset.order_by(f"{direction}processed_at", f"{direction}log_id")
    if position is not None:
        table = connection.ops.quote_name(ProcessingLog._meta.db_table)
        comparison = "<" if descending else ">"
        # A row comparison: the index on (processed_at, log_id, …) starts its range there.
        sql = f"({table}.processed_at, {table}.log_id) {comparison} (%s, %s)"
        rows = rows.filter(
            RawSQL(  # noqa: S611 - constant identifiers; the position is parameters
                sql,
                [position.processed_at, position.log_id],
                output_field=BooleanField(),
            )
        )
    found = list(rows[: per_page + 1])
    more = len(found) > per_page
    found = found[:per_page]
    if not forward:
        found.reverse()
    first, last = (LogPosition.of(found[0]), LogPosition.of(found[-1])) if found else (None, None)
    if forward:
        previous = first.token(BEFORE) if position is not None and first else None
        following = last.token(AFTER) if more and last else None
    else:
        previous = first.token(BEFORE) if more and first else None
        following = last.token(AFTER) if last else None
    return KeysetPage(
        rows=found, previous_token=previous, next_token=following, is_first=position is None
    )


class KeysetChangeList(ChangeList):
    """The admin's change list, paged by keyset (``keyset_page``) on the page parameter: the
    list runs one query per page, never a count, whichever page is asked for."""

    keyset: KeysetPage

    def get_ordering(self, request, queryset):
        """(processed_at, log_id), newest first unless the list is sorted by time ascending."""
        descending = not self._ascending()
        direction = "-" if descending else ""
        return [f"{direction}processed_at", f"{direction}log_id"]

    def _ascending(self) -> bool:
        """Whether the list is sorted by processed_at, oldest first (its header clicked)."""
        ordering = self.params.get(ORDER_VAR, "").split(".")[0]
        column = list(self.list_display).index("processed_at")
        return ordering == str(column)

    def get_results(self, request):
        self.keyset = keyset_page(
            self.queryset,
            token=request.GET.get(PAGE_VAR),
            per_page=self.list_per_page,
            newest_first=not self._ascending(),
        )
        self.result_list = self.keyset.rows
        self.result_count = len(self.keyset.rows)
        self.full_result_count = None
        self.show_full_result_count = False
        self.show_admin_actions = True
        # Django's page links need a count: ours are the keyset's (pagination.html).
        self.can_show_all = False
        self.multi_page = False
        self.paginator = None

    @property
    def keyset_links(self) -> dict[str, str | None]:
        """The keyset's page links, the list's filters, search and order kept."""
        return self.keyset.links(
            lambda token: self.get_query_string({PAGE_VAR: token}, remove=[PAGE_VAR])
        )
