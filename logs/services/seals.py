"""Month seals (SPEC §10a): a hash chain over each complete month's executions.

The summarize job seals every complete month after the last sealed one: the month's completed
executions in ``finished_at, id`` order, each link the sha256 of the previous link and the
execution's name, counts and digest, starting from the previous month's seal; the seal adds
the month's row count. The formulas are ``logs/evidence_verify.py``'s, the same file an
evidence pack carries as ``verify.py``. With ``ARCHIVE_S3_BUCKET`` set, each seal is also
written to ``seals/YYYY-MM.json`` in that bucket (write-once under S3 Object Lock).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.db import connection, transaction

from logs.evidence_verify import GENESIS, chain_links, seal_hash
from logs.models import Execution, MonthSeal
from logs.months import Month
from logs.s3 import s3_client

SEALS_PREFIX = "seals/"


class SealConflict(Exception):
    """S3 already holds a different seal for the month: nothing is overwritten."""


def seal_s3_key(*, month: Month) -> str:
    """Where a month's seal is copied in the archive bucket, e.g. ``seals/2025-01.json``."""
    return f"{SEALS_PREFIX}{month}.json"


def month_executions(*, month: Month) -> list[dict[str, Any]]:
    """The month's completed executions (finished in it), in chain order, as chain entries."""
    executions = Execution.objects.filter(
        status=Execution.Status.COMPLETED,
        finished_at__gte=month.start,
        finished_at__lt=month.end,
    ).order_by("finished_at", "id")
    return [
        {
            "id": execution.pk,
            "name": execution.name,
            "finished_at": execution.finished_at.isoformat() if execution.finished_at else "",
            "log_rows": execution.log_rows,
            "success_count": execution.success_count,
            "failed_count": execution.failed_count,
            "skipped_count": execution.skipped_count,
            "digest": execution.digest,
        }
        for execution in executions
    ]


def month_rows(*, month: Month) -> int:
    """Log rows of the month in the database now (its partition, or DEFAULT)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM processing_logs WHERE processed_at >= %s AND processed_at < %s",
            [month.start, month.end],
        )
        return int(cursor.fetchone()[0])


def seal_build(*, month: Month, previous: str) -> dict[str, Any]:
    """The seal ``month`` would get now, chained to ``previous`` (a seal hash or GENESIS)."""
    chain = month_executions(month=month)
    links = chain_links(previous, chain)
    for entry, link in zip(chain, links, strict=True):
        entry["link"] = link
    head = links[-1] if links else previous
    rows = month_rows(month=month)
    return {
        "month": str(month),
        "previous_seal": previous,
        "chain": chain,
        "chain_head": head,
        "executions": len(chain),
        "rows": rows,
        "seal": seal_hash(
            month=str(month), previous=previous, head=head, executions=len(chain), rows=rows
        ),
    }


def seal_record(seal: MonthSeal) -> dict[str, Any]:
    """A stored seal as it is written to S3 and into evidence packs."""
    return {
        "month": seal.month,
        "previous_seal": seal.previous_seal,
        "chain": seal.chain,
        "chain_head": seal.chain_head,
        "executions": seal.executions,
        "rows": seal.rows,
        "seal": seal.seal,
        "sealed_at": seal.sealed_at.isoformat() if seal.sealed_at else "",
    }


def seal_s3_read(*, month: Month, bucket: str, s3=None) -> dict[str, Any] | None:
    """The copy of a month's seal in S3, or None when there is none."""
    s3 = s3 or s3_client()
    try:
        response = s3.get_object(Bucket=bucket, Key=seal_s3_key(month=month))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            return None
        raise
    return json.loads(response["Body"].read())


def _seal_s3_write(*, month: Month, record: dict[str, Any], bucket: str) -> str:
    """Copy a seal to S3; an existing copy of the same seal is kept, a different one refused."""
    s3 = s3_client()
    key = seal_s3_key(month=month)
    existing = seal_s3_read(month=month, bucket=bucket, s3=s3)
    if existing is not None:
        if existing.get("seal") != record["seal"]:
            msg = f"s3://{bucket}/{key} holds another seal for {month}: not overwritten"
            raise SealConflict(msg)
        return key
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(record, indent=2, sort_keys=True).encode(),
        ContentType="application/json",
    )
    return key


def _unfinished_before(month: Month) -> bool:
    """Whether a run created before the month ended may still write rows into it."""
    return Execution.objects.filter(
        status__in=(Execution.Status.PENDING, Execution.Status.RUNNING),
        created_at__lt=month.end,
    ).exists()


def _first_month() -> Month | None:
    """The earliest month holding log rows or a completed execution."""
    first_execution = (
        Execution.objects.filter(status=Execution.Status.COMPLETED, finished_at__isnull=False)
        .order_by("finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(processed_at) FROM processing_logs")
        first_row = cursor.fetchone()[0]
    moments = [moment for moment in (first_execution, first_row) if moment is not None]
    return Month.of(min(moments)) if moments else None


def seals_write(*, before: Month) -> list[MonthSeal]:
    """Seal every complete month (earlier than ``before``) after the last sealed one, oldest
    first. Stops at a month a pending or running import may still write into."""
    last = MonthSeal.objects.order_by("-month").first()
    if last is not None:
        month, previous = Month.parse(last.month).add(1), last.seal
    else:
        first = _first_month()
        if first is None:
            return []
        month, previous = first, GENESIS
    written = []
    bucket = settings.ARCHIVE_S3_BUCKET
    while month < before and not _unfinished_before(month):
        with transaction.atomic():
            record = seal_build(month=month, previous=previous)
            key = _seal_s3_write(month=month, record=record, bucket=bucket) if bucket else ""
            seal = MonthSeal.objects.create(
                month=record["month"],
                previous_seal=record["previous_seal"],
                chain=record["chain"],
                chain_head=record["chain_head"],
                executions=record["executions"],
                rows=record["rows"],
                seal=record["seal"],
                s3_key=key,
            )
        written.append(seal)
        month, previous = month.add(1), seal.seal
    return written
