"""Files from S3 and failed cells to DynamoDB (SPEC §4, §8), against moto's AWS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from logs.models import Execution, ProcessingError, ProcessingLog
from logs.tests.support import command_run
from users.models import UserStatistics

pytestmark = pytest.mark.django_db

BUCKET = "activity-inbox"
TABLE = "auditsite-test-processing-errors"
DAY = 24 * 60 * 60


@pytest.fixture
def aws(monkeypatch, settings) -> Iterator[None]:
    """moto's AWS with fake credentials, and our settings pointed at it."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings.AWS_S3_ENDPOINT_URL = None
    with mock_aws():
        yield


@pytest.fixture
def bucket(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    return s3


@pytest.fixture
def error_table(aws, settings):
    """ERROR_STORE=dynamodb with its table (hash key ``error_id``) created."""
    settings.ERROR_STORE = "dynamodb"
    settings.ERROR_DYNAMODB_TABLE = TABLE
    table = boto3.resource("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "error_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "error_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    return table


def _import(source: str, *args: str) -> tuple[int, str, str]:
    run = command_run("import_activity", source, *args)
    return run.code, run.stdout, run.stderr


def _counters() -> dict[str, tuple[int, int]]:
    return {s.user_id: (s.login_count, s.post_count) for s in UserStatistics.objects.all()}


MIXED = "user_id,login_count,post_count\nU00001,2,1\nU99999,5,\nU00002,abc,3\n,1,1\n"


# --- S3 sources -------------------------------------------------------------------------


def test_import_from_s3_applies_the_object(bucket, service_users):
    """``import_activity s3://bucket/key`` reads the object and names the run after its key."""
    bucket.put_object(
        Bucket=BUCKET,
        Key="daily/user-log-20250401-060000.csv",
        Body=b"user_id,login_count,post_count\nU00001,3,2\nU00002,1,0\n",
    )
    code, out, err = _import(f"s3://{BUCKET}/daily/user-log-20250401-060000.csv")

    assert code == 0, err
    execution = Execution.objects.get()
    assert execution.status == Execution.Status.COMPLETED
    assert execution.name == "user-log-20250401-060000"
    assert execution.source == f"s3://{BUCKET}/daily/user-log-20250401-060000.csv"
    assert execution.success_count == 3
    assert _counters()["U00001"] == (3, 2)
    assert _counters()["U00002"] == (1, 0)


@pytest.mark.parametrize(
    "source",
    [f"s3://{BUCKET}/missing.csv", "s3://no-such-bucket-anywhere/activity.csv"],
    ids=["missing-key", "missing-bucket"],
)
def test_missing_s3_object_is_rejected(bucket, service_users, source):
    """A key or bucket that does not exist: exit 2 naming the location, dry run or not, and a
    rejected Execution with nothing applied."""
    before = _counters()
    code, _, err = _import(source, "--dry-run")
    assert code == 2
    assert f"cannot read {source}" in err
    assert not Execution.objects.exists()

    code, _, err = _import(source)
    assert code == 2
    assert f"cannot read {source}" in err
    execution = Execution.objects.get()
    assert execution.status == Execution.Status.REJECTED
    assert source in execution.error_message
    assert ProcessingError.objects.filter(execution=execution, kind="file").exists()
    assert not ProcessingLog.objects.exists()
    assert _counters() == before


def test_s3_object_over_the_upload_limit_is_rejected(bucket, service_users, settings):
    """An S3 object larger than MAX_UPLOAD_MB is rejected with the limit in the message."""
    settings.MAX_UPLOAD_MB = 1
    body = b"user_id,login_count,post_count\n" + b"U00001,1,1\n" * 110_000
    assert len(body) > 1.05 * 1024 * 1024
    bucket.put_object(Bucket=BUCKET, Key="big.csv", Body=body)
    before = _counters()

    code, _, err = _import(f"s3://{BUCKET}/big.csv")

    assert code == 2
    assert "larger than MAX_UPLOAD_MB (1 MB)" in err
    assert Execution.objects.get().status == Execution.Status.REJECTED
    assert not ProcessingLog.objects.exists()
    assert _counters() == before


# --- DynamoDB error store ----------------------------------------------------------------


def _items(table) -> list[dict]:
    return table.scan(ConsistentRead=True)["Items"]


def test_failed_cells_go_to_dynamodb_with_a_ttl(tmp_path, error_table, service_users, settings):
    """With ERROR_STORE=dynamodb every failed cell is an item keyed ``<run>#<log_id>`` with a
    numeric ``expires_at`` ≈ now + ERROR_RETENTION_DAYS; none is kept in the database."""
    path = tmp_path / "user-log-20250402-060000.csv"
    path.write_text(MIXED, encoding="utf-8")
    started = time.time()

    code, _, err = _import(str(path))

    assert code == 0, err
    execution = Execution.objects.get()
    assert execution.failed_count == 5
    failed = ProcessingLog.objects.filter(execution_name=execution.name, status="failed")
    items = {item["error_id"]: item for item in _items(error_table)}
    assert set(items) == {f"{execution.name}#{log.log_id}" for log in failed}
    for log in failed:
        item = items[f"{execution.name}#{log.log_id}"]
        assert item["execution_name"] == execution.name
        assert item["error_message"] == log.error_message
        assert item["processing_type"] == log.processing_type
        assert item.get("user_id") == log.user_id
    expected_expiry = started + settings.ERROR_RETENTION_DAYS * DAY
    for item in items.values():
        assert isinstance(item["expires_at"], Decimal)  # a DynamoDB number, as TTL requires
        assert isinstance(item["expires_at"], Decimal)
    assert abs(int(item["expires_at"]) - expected_expiry) < 300
    assert not ProcessingError.objects.exists()


def test_rejected_file_goes_to_dynamodb(tmp_path, error_table, service_users, settings):
    """With ERROR_STORE=dynamodb a rejected file's reason is an item with a TTL, not a row."""
    path = tmp_path / "activity.csv"
    path.write_text("user_id,visits\nU00001,3\n", encoding="utf-8")
    started = time.time()

    code, _, err = _import(str(path))

    assert code == 2
    execution = Execution.objects.get()
    assert execution.status == Execution.Status.REJECTED
    (item,) = _items(error_table)
    assert item["execution_name"] == execution.name
    assert item["error_message"] == execution.error_message
    assert "no statistic column" in item["error_message"]
    assert item["error_id"].startswith(f"{execution.name}#file")
    expected_expiry = started + settings.ERROR_RETENTION_DAYS * DAY
    assert isinstance(item["expires_at"], Decimal)
    assert abs(int(item["expires_at"]) - expected_expiry) < 300
    assert not ProcessingError.objects.exists()
