"""Archive of a month to S3: streamed gzip CSV in parts, verified, with a manifest; reused once."""

import gzip
import hashlib
import json
from datetime import datetime

import moto.s3.models
import pytest
from botocore.exceptions import ClientError

from logs.models import JobRun, ProcessingLog
from logs.months import Month
from logs.services import archive
from logs.services.archive import (
    ArchiveVerificationError,
    CsvDigest,
    archive_key,
    partition_archive,
    partition_digest,
)
from logs.services.partitions import partition_create
from logs.tests.support import (
    ARCHIVE_BUCKET,
    TOKYO,
    archive_rows,
    month_logs,
    orm_rows,
    record_calls,
    s3_keys,
)

pytestmark = pytest.mark.django_db

MARCH = Month(2023, 3)
TABLE = MARCH.partition_name
KEY = "processing_logs/2023/processing_logs_2023_03.csv.gz"
MANIFEST_KEY = "processing_logs/2023/processing_logs_2023_03.manifest.json"


@pytest.fixture
def march(db) -> Month:
    """March 2023 alone, partitioned, with its generated rows (the archive needs no more)."""
    partition_create(month=MARCH)
    ProcessingLog.objects.bulk_create(month_logs(MARCH))
    return MARCH


def _march_rows() -> int:
    return ProcessingLog.objects.filter(
        processed_at__gte=MARCH.start, processed_at__lt=MARCH.end
    ).count()


@pytest.fixture
def upload_calls(monkeypatch) -> list[dict]:
    """The calls of the archive's multipart upload, in order."""
    return record_calls(monkeypatch, archive, "_upload")


def _keys(calls: list[dict]) -> list[str]:
    return [call["key"] for call in calls]


def test_key_layout_follows_prefix_and_year(settings):
    """Archives go under ARCHIVE_S3_PREFIX/<year>/, named after the partition."""
    settings.ARCHIVE_S3_PREFIX = "processing_logs/"
    assert archive_key(month=Month(2025, 1)) == (
        "processing_logs/2025/processing_logs_2025_01.csv.gz"
    )
    settings.ARCHIVE_S3_PREFIX = "/audit/archive"
    assert archive_key(month=Month(2025, 1)) == "audit/archive/2025/processing_logs_2025_01.csv.gz"


def test_archive_holds_exactly_the_month_with_a_true_manifest(march, s3):
    """The object decompresses to the month's rows; the manifest has its CSV's sha256 and count."""
    run = JobRun.objects.create(job=JobRun.Job.RETENTION)
    manifest = partition_archive(table=TABLE, month=MARCH, rows=_march_rows(), job_run=run)
    assert s3_keys(s3) == [KEY, MANIFEST_KEY]
    march = ProcessingLog.objects.filter(processed_at__gte=MARCH.start, processed_at__lt=MARCH.end)
    assert archive_rows(s3, KEY) == orm_rows(march)
    csv_bytes = gzip.decompress(s3.get_object(Bucket=ARCHIVE_BUCKET, Key=KEY)["Body"].read())
    stored = json.loads(s3.get_object(Bucket=ARCHIVE_BUCKET, Key=MANIFEST_KEY)["Body"].read())
    assert stored == manifest.stored()
    assert stored["rows"] == march.count() == 8
    assert stored["sha256"] == hashlib.sha256(csv_bytes).hexdigest()
    assert stored["csv_bytes"] == len(csv_bytes)
    assert stored["job_run_id"] == run.pk
    assert (stored["bucket"], stored["key"], stored["partition"]) == (ARCHIVE_BUCKET, KEY, TABLE)
    assert not manifest.reused
    head = s3.head_object(Bucket=ARCHIVE_BUCKET, Key=KEY)
    assert head["ContentLength"] == stored["gzip_bytes"]
    assert head["Metadata"]["manifest"] == MANIFEST_KEY


def test_large_month_is_streamed_in_several_parts(march, s3, monkeypatch):
    """With a small part size the upload has many parts and still reads back row for row."""
    monkeypatch.setattr(archive, "ARCHIVE_PART_BYTES", 2048)
    monkeypatch.setattr(archive, "_BATCH_BYTES", 512)
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 256)
    ProcessingLog.objects.bulk_create(
        ProcessingLog(
            execution_name=f"bulk-{n % 7}",
            user_id=f"U{n:05d}",
            processing_type="login_update",
            old_value=n,
            new_value=n * 7919 % 100_003,
            status="success",
            error_message=hashlib.sha256(str(n).encode()).hexdigest(),  # barely compressible
            processed_at=datetime(2023, 3, 10, tzinfo=TOKYO),
        )
        for n in range(3000)
    )
    manifest = partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    parts = s3.head_object(Bucket=ARCHIVE_BUCKET, Key=KEY, PartNumber=1)["PartsCount"]
    assert parts >= 3
    assert manifest.rows == 3008
    march = ProcessingLog.objects.filter(processed_at__gte=MARCH.start, processed_at__lt=MARCH.end)
    assert archive_rows(s3, KEY) == orm_rows(march)


def test_verified_archive_is_reused_not_uploaded_again(march, s3, upload_calls):
    """A second archive of an unchanged month verifies the stored one and uploads nothing."""
    first = partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    second = partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    assert _keys(upload_calls) == [KEY]
    assert second.reused
    assert second.stored() == first.stored()


def test_month_with_new_rows_is_archived_again(march, s3, upload_calls):
    """A manifest whose row count no longer matches the table is replaced by a new archive."""
    first = partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    ProcessingLog.objects.create(
        execution_name="late", status="success", processed_at=datetime(2023, 3, 30, tzinfo=TOKYO)
    )
    second = partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    assert _keys(upload_calls) == [KEY, KEY]
    assert (first.rows, second.rows) == (8, 9)
    assert not second.reused
    assert len(archive_rows(s3, KEY)) == 9


def test_damaged_archive_is_replaced(march, s3, upload_calls):
    """An object that no longer matches its manifest (here: not even gzip) is uploaded again."""
    partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    s3.put_object(Bucket=ARCHIVE_BUCKET, Key=KEY, Body=b"not gzip at all")
    manifest = partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    assert _keys(upload_calls) == [KEY, KEY]
    assert not manifest.reused
    assert len(archive_rows(s3, KEY)) == 8


def test_manifest_without_its_object_is_archived_again(march, s3, upload_calls):
    """A manifest left without its object (deleted by hand) does not count as an archive."""
    partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    s3.delete_object(Bucket=ARCHIVE_BUCKET, Key=KEY)
    assert not partition_archive(table=TABLE, month=MARCH, rows=_march_rows()).reused
    assert _keys(upload_calls) == [KEY, KEY]


def test_archive_of_other_rows_with_same_count_is_not_reused(march, s3, upload_calls):
    """A stored archive whose sha256 differs from the table's (another database) is replaced."""
    partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    stored = json.loads(s3.get_object(Bucket=ARCHIVE_BUCKET, Key=MANIFEST_KEY)["Body"].read())
    other_csv = b"header\n" + b"row\n" * stored["rows"]
    stored.update(
        sha256=hashlib.sha256(other_csv).hexdigest(),
        gzip_bytes=len(gzip.compress(other_csv, mtime=0)),
    )
    s3.put_object(Bucket=ARCHIVE_BUCKET, Key=KEY, Body=gzip.compress(other_csv, mtime=0))
    s3.put_object(Bucket=ARCHIVE_BUCKET, Key=MANIFEST_KEY, Body=json.dumps(stored).encode())
    assert not partition_archive(table=TABLE, month=MARCH, rows=_march_rows()).reused
    assert _keys(upload_calls) == [KEY, KEY]


def test_foreign_manifest_is_not_trusted(march, s3, upload_calls):
    """A manifest not shaped like ours (another tool's) is not taken as proof: archive again."""
    s3.put_object(
        Bucket=ARCHIVE_BUCKET,
        Key=MANIFEST_KEY,
        Body=json.dumps({"rows": _march_rows(), "key": KEY, "sha256": "0" * 64}).encode(),
    )
    assert not partition_archive(table=TABLE, month=MARCH, rows=_march_rows()).reused
    assert _keys(upload_calls) == [KEY]


def test_missing_bucket_raises(march, s3, settings):
    """An S3 error surfaces as an exception: the caller must not drop anything."""
    with pytest.raises(ClientError, match="NoSuchBucket"):
        partition_archive(table=TABLE, month=MARCH, rows=_march_rows(), bucket="no-such-bucket")


def test_read_back_mismatch_raises_and_writes_no_manifest(march, s3, monkeypatch):
    """If the object does not read back as what was sent, no manifest is written."""
    monkeypatch.setattr(
        archive,
        "archive_read_digest",
        lambda **kwargs: (CsvDigest(rows=1, sha256="0" * 64, size=1), 1),
    )
    with pytest.raises(ArchiveVerificationError, match="reads back"):
        partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    assert MANIFEST_KEY not in s3_keys(s3)


def test_size_mismatch_after_upload_raises(march, s3, monkeypatch):
    """An object whose stored size is not the size sent is not accepted as the archive."""
    real_client = archive.s3_client

    def client_with_wrong_size():
        client = real_client()
        real_head = client.head_object
        client.head_object = lambda **kw: {**real_head(**kw), "ContentLength": 1}
        return client

    monkeypatch.setattr(archive, "s3_client", client_with_wrong_size)
    with pytest.raises(ArchiveVerificationError, match="holds 1 bytes"):
        partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    assert MANIFEST_KEY not in s3_keys(s3)


@pytest.mark.parametrize("step", [partition_digest, "upload"])
def test_copy_count_disagreeing_with_the_csv_raises(march, s3, monkeypatch, step):
    """If COPY's row count and the records in its CSV differ, nothing is trusted."""

    def copy_claiming_three_rows(**kwargs):
        kwargs["sink"](b"log_id\n1\n2\n")
        return 3

    monkeypatch.setattr(archive, "_copy_out", copy_claiming_three_rows)
    with pytest.raises(ArchiveVerificationError, match="COPY sent 3 rows but the CSV holds 2"):
        if step == "upload":
            partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
        else:
            step(table=TABLE)


def test_s3_error_while_checking_an_existing_archive_raises(march, s3, monkeypatch):
    """An S3 error other than "no such key" while verifying an old archive is not ignored."""
    partition_archive(table=TABLE, month=MARCH, rows=_march_rows())

    def denied(**kwargs):
        error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
        raise ClientError(error, "GetObject")

    monkeypatch.setattr(archive, "archive_read_digest", denied)
    with pytest.raises(ClientError, match="AccessDenied"):
        partition_archive(table=TABLE, month=MARCH, rows=_march_rows())


def test_failed_upload_is_aborted(march, s3, monkeypatch):
    """A failure mid-upload aborts the multipart upload: no object, no parts left behind."""

    def broken_copy(**kwargs):
        kwargs["sink"](b"log_id\n1\n")
        msg = "connection lost"
        raise OSError(msg)

    monkeypatch.setattr(archive, "_copy_out", broken_copy)
    with pytest.raises(OSError, match="connection lost"):
        partition_archive(table=TABLE, month=MARCH, rows=_march_rows())
    assert s3_keys(s3) == []
    assert s3.list_multipart_uploads(Bucket=ARCHIVE_BUCKET).get("Uploads", []) == []


def test_digest_counts_records_not_lines():
    """Quoted newlines and doubled quotes, split across chunks anywhere, do not end a record."""
    data = b'log_id,error_message\n1,"a\nb ""x"" c"\n2,\n3,"\n\n"\n'
    expected = hashlib.sha256(data).hexdigest()
    for cut in range(len(data)):
        counter = archive._CsvCounter()
        counter.update(data[:cut])
        counter.update(data[cut:])
        assert counter.digest() == CsvDigest(rows=3, sha256=expected, size=len(data))


def test_partition_digest_is_stable(march):
    """Two reads of an unchanged month give the same sha256, and COPY's count agrees."""
    first = partition_digest(table=TABLE)
    assert first == partition_digest(table=TABLE)
    assert first.rows == 8
