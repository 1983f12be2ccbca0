"""Evidence packs (SPEC §10a): one sealed month as a zip an auditor verifies with Python alone.

The pack holds the month's log rows in the digest's text form (``LOG_COLUMNS`` as COPY text,
UTC ISO times, ``log_id`` order), its completed executions as the database holds them now, its
seal and the seal it chains to, the archive manifest when there is one, and ``verify.py``
(``logs/evidence_verify.py``, standard library only). A month that retention dropped is read
back from its S3 archive, which must match its manifest first.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from auditsite.db import UTC_ISO_SESSION, cursor_copy
from logs import evidence_verify
from logs.evidence_verify import EXECUTION_FIELDS, LOG_FIELDS
from logs.models import MonthSeal
from logs.months import Month
from logs.s3 import s3_client
from logs.services.archive import archive_manifest_read
from logs.services.integrity import LOG_COLUMNS
from logs.services.seals import month_executions, month_rows, seal_record

PACK_FORMAT = "auditsite-evidence-v1"
_READ_BYTES = 1024 * 1024


class EvidenceRefused(Exception):
    """No pack can be made for the month (not sealed, or its archive does not verify)."""


@dataclass(frozen=True)
class EvidencePack:
    """What a written pack holds."""

    month: str
    executions: int
    rows: int  # log rows in processing_logs.tsv
    source: str  # "database" or the s3:// archive the rows came from


def _utc(moment) -> str:
    return moment.astimezone(UTC).isoformat(sep=" ")


def _rows_sql(table: str) -> str:
    # The month's rows, and any row of its sealed executions (a run that straddled midnight).
    return (
        f"COPY (SELECT {LOG_COLUMNS} FROM {connection.ops.quote_name(table)} "  # noqa: S608
        "WHERE (processed_at >= %s AND processed_at < %s) OR execution_name = ANY(%s) "
        "ORDER BY log_id) TO STDOUT"
    )


def _rows_write(*, cursor, table: str, month: Month, names: list[str], sink: IO[bytes]) -> int:
    rows = 0
    with cursor_copy(cursor, _rows_sql(table), [month.start, month.end, names]) as copy:
        for block in copy:
            sink.write(block)
            rows += bytes(block).count(b"\n")
    return rows


def _archive_load(*, cursor, bucket: str, manifest: dict[str, Any]) -> None:
    """Load an archived month into the temporary table ``evidence_rows``, checking that the
    archive is what its manifest says."""
    cursor.execute("CREATE TEMP TABLE evidence_rows (LIKE processing_logs) ON COMMIT DROP")
    response = s3_client().get_object(Bucket=bucket, Key=manifest["key"])
    sha = hashlib.sha256()
    with (
        gzip.GzipFile(fileobj=response["Body"], mode="rb") as archive,
        cursor_copy(cursor, "COPY evidence_rows FROM STDIN WITH (FORMAT csv, HEADER)") as copy,
    ):
        while chunk := archive.read(_READ_BYTES):
            sha.update(chunk)
            copy.write(chunk)
    if sha.hexdigest() != manifest["sha256"]:
        msg = f"s3://{bucket}/{manifest['key']} does not match its manifest: no pack made"
        raise EvidenceRefused(msg)


def _executions_csv(month: Month) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=EXECUTION_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for entry in month_executions(month=month):
        writer.writerow({**entry, "status": "completed"})
    return text.getvalue().encode()


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).encode()


def evidence_pack_write(*, month: Month, out: IO[bytes]) -> EvidencePack:
    """Write the evidence pack of a sealed ``month`` into ``out`` (a zip)."""
    seal = MonthSeal.objects.filter(month=str(month)).first()
    if seal is None:
        msg = f"no such month: {month} is not sealed (the summarize job seals complete months)"
        raise EvidenceRefused(msg)
    previous = MonthSeal.objects.filter(seal=seal.previous_seal).first()
    bucket = settings.ARCHIVE_S3_BUCKET
    manifest = archive_manifest_read(month=month, bucket=bucket) if bucket else None
    names = [str(entry["name"]) for entry in seal.chain]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as pack:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(UTC_ISO_SESSION)
            if month_rows(month=month) or manifest is None:
                table, source = "processing_logs", "database"
            else:  # dropped by retention: read back from its archive
                _archive_load(cursor=cursor, bucket=bucket, manifest=manifest)
                table, source = "evidence_rows", f"s3://{bucket}/{manifest['key']}"
            with pack.open("processing_logs.tsv", "w", force_zip64=True) as sink:
                sink.write(("\t".join(LOG_FIELDS) + "\n").encode())
                rows = _rows_write(cursor=cursor, table=table, month=month, names=names, sink=sink)
        pack.writestr("executions.csv", _executions_csv(month))
        pack.writestr("seal.json", _json(seal_record(seal)))
        if previous is not None:
            pack.writestr("previous_seal.json", _json(seal_record(previous)))
        if manifest is not None:
            pack.writestr("archive_manifest.json", _json(manifest))
        pack.writestr("verify.py", Path(evidence_verify.__file__).read_bytes())
        pack.writestr(
            "pack.json",
            _json(
                {
                    "format": PACK_FORMAT,
                    "month": str(month),
                    "start": _utc(month.start),
                    "end": _utc(month.end),
                    "time_zone": settings.TIME_ZONE,
                    "created_at": _utc(timezone.now()),
                    "rows_from": source,
                    "verify": "python3 verify.py THIS.zip",
                }
            ),
        )
    return EvidencePack(month=str(month), executions=len(names), rows=rows, source=source)
