"""Archive of one month of processing logs to S3: a gzip CSV with header, streamed and verified.

The month's rows go ``COPY … TO STDOUT`` → sha256 and row count → gzip → S3 multipart upload,
one part at a time, so memory holds one part (``ARCHIVE_PART_BYTES``), never the month. The
object is then read back and must give the same sha256 and row count; only then is a small
``.manifest.json`` written beside it. A month whose manifest and object still verify against
the table is not uploaded again.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

from botocore.exceptions import ClientError
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from auditsite.db import UTC_ISO_SESSION
from logs.models import JobRun
from logs.months import Month
from logs.s3 import s3_client

# S3 parts must be at least 5 MiB, except the last one.
ARCHIVE_PART_BYTES = 8 * 1024 * 1024
# COPY hands over one row at a time: batch them before hashing and compressing.
_BATCH_BYTES = 256 * 1024
_READ_BYTES = 1024 * 1024


class ArchiveVerificationError(Exception):
    """What S3 holds is not what was read from the database."""


@dataclass(frozen=True)
class CsvDigest:
    """Fingerprint of an uncompressed CSV (header line included in the hash, not in ``rows``)."""

    rows: int
    sha256: str
    size: int


@dataclass
class ArchiveManifest:
    """What was archived where; stored as ``<key>.manifest.json`` and in the JobRun."""

    month: str
    partition: str
    bucket: str
    key: str
    manifest_key: str
    rows: int
    sha256: str  # of the uncompressed CSV
    csv_bytes: int
    gzip_bytes: int
    archived_at: str
    job_run_id: int | None
    reused: bool = field(default=False, compare=False)

    def stored(self) -> dict[str, object]:
        """The manifest as written to S3 (whether this run reused it is not part of it)."""
        data = asdict(self)
        del data["reused"]
        return data


_MANIFEST_FIELDS = {f.name for f in fields(ArchiveManifest)} - {"reused"}


class _CsvCounter:
    """sha256, byte count and record count of a PostgreSQL CSV stream, fed in chunks.

    Records end at a newline outside double quotes (quoted fields may hold newlines; an escaped
    quote is two quotes, which toggles twice), so counting needs no CSV parser and no field
    size limit.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._size = 0
        self._lines = 0
        self._quoted = False

    def update(self, data: bytes) -> None:
        self._sha.update(data)
        self._size += len(data)
        pieces = data.split(b'"')
        for index, piece in enumerate(pieces):
            if self._quoted == (index % 2 == 1):  # outside quotes
                self._lines += piece.count(b"\n")
        self._quoted ^= len(pieces) % 2 == 0

    def digest(self) -> CsvDigest:
        return CsvDigest(
            rows=max(self._lines - 1, 0), sha256=self._sha.hexdigest(), size=self._size
        )


def archive_key(*, month: Month) -> str:
    """Object key of a month, e.g. ``processing_logs/2025/processing_logs_2025_01.csv.gz``."""
    prefix = settings.ARCHIVE_S3_PREFIX.strip("/")
    name = f"{month.year:04d}/{month.partition_name}.csv.gz"
    return f"{prefix}/{name}" if prefix else name


def archive_manifest_key(*, month: Month) -> str:
    """Key of the month's manifest, beside its archive."""
    return archive_key(month=month).removesuffix(".csv.gz") + ".manifest.json"


def _copy_out(*, table: str, sink: Callable[[bytes], None]) -> int:
    """Stream ``table`` as CSV with header into ``sink``; return the number of rows."""
    # Pinned time zone and date style and a fixed order make the CSV of an unchanged table
    # byte-identical on every read (a parallel seq scan may otherwise start mid-table), so its
    # sha256 can be compared with an earlier archive.
    sql = (
        f"COPY (SELECT * FROM {connection.ops.quote_name(table)} ORDER BY log_id) "  # noqa: S608
        "TO STDOUT WITH (FORMAT csv, HEADER)"
    )
    batch: list[bytes] = []
    batched = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(UTC_ISO_SESSION)
        raw = cursor.cursor  # psycopg 3 cursor: COPY is streamed, never buffered whole
        with raw.copy(sql) as copy:
            for chunk in copy:
                batch.append(chunk)
                batched += len(chunk)
                if batched >= _BATCH_BYTES:
                    sink(b"".join(batch))
                    batch.clear()
                    batched = 0
        if batch:
            sink(b"".join(batch))
        return raw.rowcount


def partition_digest(*, table: str) -> CsvDigest:
    """Fingerprint of the CSV an archive of ``table`` would hold, computed without uploading."""
    counter = _CsvCounter()
    rows = _copy_out(table=table, sink=counter.update)
    digest = counter.digest()
    if digest.rows != rows:
        msg = f"{table}: COPY sent {rows} rows but the CSV holds {digest.rows} records"
        raise ArchiveVerificationError(msg)
    return digest


def _upload(*, s3, bucket: str, key: str, table: str, metadata: dict[str, str]):
    """Multipart-upload ``table`` as gzip CSV; return (digest of the CSV, compressed size)."""
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType="application/gzip", Metadata=metadata
    )["UploadId"]
    parts: list[dict[str, object]] = []
    buffer = io.BytesIO()
    counter = _CsvCounter()
    sent = 0

    def send_part() -> None:
        nonlocal sent
        data = buffer.getvalue()
        number = len(parts) + 1
        response = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        parts.append({"ETag": response["ETag"], "PartNumber": number})
        sent += len(data)
        buffer.seek(0)
        buffer.truncate()

    try:
        # mtime=0: the same rows always give the same compressed bytes.
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=6) as compressor:

            def sink(data: bytes) -> None:
                counter.update(data)
                compressor.write(data)
                if buffer.tell() >= ARCHIVE_PART_BYTES:
                    send_part()

            rows = _copy_out(table=table, sink=sink)
        send_part()  # the gzip trailer at least: never empty
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        # Parts of an unfinished upload are billed until aborted; the original error matters more.
        with contextlib.suppress(Exception):
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    digest = counter.digest()
    if digest.rows != rows:
        msg = f"{table}: COPY sent {rows} rows but the CSV holds {digest.rows} records"
        raise ArchiveVerificationError(msg)
    return digest, sent


def archive_read_digest(*, s3, bucket: str, key: str) -> tuple[CsvDigest, int]:
    """Read an archive back from S3: (digest of its decompressed CSV, compressed size)."""
    response = s3.get_object(Bucket=bucket, Key=key)
    counter = _CsvCounter()
    with gzip.GzipFile(fileobj=response["Body"], mode="rb") as decompressor:
        while chunk := decompressor.read(_READ_BYTES):
            counter.update(chunk)
    return counter.digest(), response["ContentLength"]


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}


def archive_manifest_read(*, month: Month, bucket: str, s3=None) -> dict | None:
    """The stored manifest of ``month``, or None if there is none (a missing bucket raises)."""
    s3 = s3 or s3_client()
    try:
        response = s3.get_object(Bucket=bucket, Key=archive_manifest_key(month=month))
    except ClientError as error:
        if _missing(error):
            return None
        raise
    return json.loads(response["Body"].read())


def _verified_existing(
    *, s3, bucket: str, table: str, month: Month, rows: int
) -> ArchiveManifest | None:
    """The month's existing archive if it still matches ``table`` exactly, else None."""
    stored = archive_manifest_read(month=month, bucket=bucket, s3=s3)
    if (
        stored is None
        or set(stored) != _MANIFEST_FIELDS  # not a manifest this code wrote: archive again
        or stored["rows"] != rows
        or stored["key"] != archive_key(month=month)
    ):
        return None
    # A manifest without its object, or a damaged object: the month is archived again.
    try:
        held, gzip_bytes = archive_read_digest(s3=s3, bucket=bucket, key=stored["key"])
    except ClientError as error:
        if not _missing(error):
            raise
        return None
    except (OSError, EOFError):  # not gzip, or cut short
        return None
    if (held.rows, held.sha256, gzip_bytes) != (
        stored["rows"],
        stored["sha256"],
        stored["gzip_bytes"],
    ):
        return None
    if partition_digest(table=table).sha256 != stored["sha256"]:
        return None
    return ArchiveManifest(**stored, reused=True)


def partition_archive(
    *,
    table: str,
    month: Month,
    rows: int,
    bucket: str | None = None,
    job_run: JobRun | None = None,
) -> ArchiveManifest:
    """Archive ``table`` (month ``month``) to S3 and verify it; reuse a verified earlier one.

    ``rows`` is the table's row count, used to spot a stale manifest cheaply. Raises on any S3
    error or mismatch: the caller then must not drop the month.
    """
    bucket = bucket or settings.ARCHIVE_S3_BUCKET
    s3 = s3_client()
    existing = _verified_existing(s3=s3, bucket=bucket, table=table, month=month, rows=rows)
    if existing is not None:
        return existing
    key = archive_key(month=month)
    manifest_key = archive_manifest_key(month=month)
    metadata = {"partition": table, "month": str(month), "manifest": manifest_key}
    written, gzip_bytes = _upload(s3=s3, bucket=bucket, key=key, table=table, metadata=metadata)
    head = s3.head_object(Bucket=bucket, Key=key)
    if head["ContentLength"] != gzip_bytes:
        msg = f"s3://{bucket}/{key} holds {head['ContentLength']} bytes, {gzip_bytes} were sent"
        raise ArchiveVerificationError(msg)
    held, _ = archive_read_digest(s3=s3, bucket=bucket, key=key)
    if held != written:
        msg = (
            f"s3://{bucket}/{key} reads back as {held.rows} rows sha256 {held.sha256}; "
            f"{written.rows} rows sha256 {written.sha256} were sent"
        )
        raise ArchiveVerificationError(msg)
    manifest = ArchiveManifest(
        month=str(month),
        partition=table,
        bucket=bucket,
        key=key,
        manifest_key=manifest_key,
        rows=written.rows,
        sha256=written.sha256,
        csv_bytes=written.size,
        gzip_bytes=gzip_bytes,
        archived_at=timezone.now().isoformat(),
        job_run_id=job_run.pk if job_run else None,
    )
    s3.put_object(
        Bucket=bucket,
        Key=manifest_key,
        Body=json.dumps(manifest.stored(), indent=2).encode(),
        ContentType="application/json",
    )
    return manifest
