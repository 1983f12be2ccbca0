"""Calendar months of the business time zone, and the monthly tables of processing_logs.

``processing_logs`` is range-partitioned by month of ``processed_at`` in the business time
zone (``TIME_ZONE``): one table ``processing_logs_YYYY_MM`` per month, and a DEFAULT partition
for rows of a month without its table. Partitions, summaries, archive and retention all count
in these months; this module knows nothing of the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

PARENT_TABLE = "processing_logs"
DEFAULT_PARTITION = "processing_logs_default"
_TABLE_NAME_RE = re.compile(r"^processing_logs_(\d{4})_(\d{2})$")


def business_tz() -> ZoneInfo:
    """The time zone whose calendar months and days the product counts in."""
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in the business time zone."""

    year: int
    month: int

    @classmethod
    def of(cls, moment: datetime) -> Month:
        local = timezone.localtime(moment, business_tz()) if timezone.is_aware(moment) else moment
        return cls(local.year, local.month)

    @classmethod
    def current(cls) -> Month:
        return cls.of(timezone.now())

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``."""
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            msg = f"invalid month {text!r}: expected YYYY-MM"
            raise ValueError(msg)
        return cls(int(match.group(1)), int(match.group(2)))

    def add(self, months: int) -> Month:
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=business_tz())

    @property
    def end(self) -> datetime:
        return self.add(1).start

    @property
    def partition_name(self) -> str:
        return f"{PARENT_TABLE}_{self.year:04d}_{self.month:02d}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def partition_month(name: str) -> Month | None:
    """The month a ``processing_logs_YYYY_MM`` table holds, or None for any other name."""
    match = _TABLE_NAME_RE.match(name)
    return Month(int(match.group(1)), int(match.group(2))) if match else None
