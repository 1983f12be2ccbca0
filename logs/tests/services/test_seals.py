"""Month seals: written by the summarize job, chained month to month, checked by verify_logs."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from logs.evidence_verify import GENESIS, chain_links, seal_hash
from logs.models import Execution, MonthSeal, ProcessingLog
from logs.months import Month
from logs.services.ingest import execution_create
from logs.services.integrity import logs_verify
from logs.services.retention import retention_run
from logs.services.seals import seal_s3_key
from logs.services.summaries import summaries_update
from logs.tests.support import (
    ARCHIVE_BUCKET,
    NEXT_MONTH,
    command_run,
    fake_execution,
    without_triggers,
)

pytestmark = pytest.mark.django_db


def test_summarize_seals_the_complete_month(sealed):
    """The seal chains the month's executions in finished_at, id order from GENESIS, counts its
    rows, and the job run names the month it sealed."""
    seal = MonthSeal.objects.get()
    month = Month.current()
    assert seal.month == str(month)
    assert [entry["name"] for entry in seal.chain] == [e.name for e in sealed]
    assert seal.previous_seal == GENESIS
    links = chain_links(GENESIS, seal.chain)
    assert [entry["link"] for entry in seal.chain] == links
    assert seal.chain_head == links[-1]
    assert seal.rows == ProcessingLog.objects.count() == sum(e.log_rows for e in sealed)
    assert seal.seal == seal_hash(
        month=str(month), previous=GENESIS, head=links[-1], executions=3, rows=seal.rows
    )
    assert logs_verify() == []


def test_link_formula_is_sha256_of_previous_name_counts_digest():
    """One link, computed by hand: sha256 of the previous link, then name, counts and digest."""
    entry = {
        "name": "user-log-20250101-000000",
        "log_rows": 4,
        "success_count": 2,
        "failed_count": 1,
        "skipped_count": 1,
        "digest": "ab" * 32,
    }
    text = f"{GENESIS}\nuser-log-20250101-000000\t4\t2\t1\t1\t{'ab' * 32}"
    assert chain_links(GENESIS, [entry]) == [hashlib.sha256(text.encode()).hexdigest()]


def test_next_month_chains_to_the_previous_seal(sealed, tmp_path):
    """Running the job again seals nothing twice; the next month's seal starts from this one."""
    summaries_update(today=NEXT_MONTH)
    assert MonthSeal.objects.count() == 1
    summaries_update(today=NEXT_MONTH + timedelta(days=31))
    first, second = MonthSeal.objects.order_by("month")
    assert second.previous_seal == first.seal
    assert second.chain == [] and second.chain_head == first.seal
    assert logs_verify() == []


def test_month_with_a_running_import_is_not_sealed(service_users):
    """A run still pending from before the month ended may write into it: the seal waits."""
    execution_create(file_name="late.csv", source="/nonexistent.csv")
    summaries_update(today=NEXT_MONTH)
    assert not MonthSeal.objects.exists()


def test_seals_refuse_update_delete_truncate(sealed):
    """month_seals is append-only for the table owner too."""
    for sql, message in (
        ("UPDATE month_seals SET rows = 0", "Cannot update rows"),
        ("DELETE FROM month_seals", "Cannot delete rows"),
        ("TRUNCATE month_seals", "month_seals is append-only: TRUNCATE is refused"),
    ):
        with pytest.raises(DatabaseError, match=message), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)


def test_deleted_execution_is_caught(sealed):
    """An execution removed whole (its log rows with triggers off, and its record) is named."""
    victim = sealed[1]
    without_triggers("DELETE FROM processing_logs WHERE execution_name = %s", [victim.name])
    Execution.objects.filter(pk=victim.pk).delete()
    problems = logs_verify()
    assert f"{Month.current()}: execution {victim.name!r} was removed (it is in the seal)" in (
        problems
    )
    assert any("log rows, its seal says" in problem for problem in problems)
    run = command_run("verify_logs")
    assert run.code == 1 and victim.name in run.stdout


def test_edited_digest_is_caught(sealed):
    """A digest edited on the Execution record is an altered execution (and a digest problem)."""
    victim = sealed[0]
    Execution.objects.filter(pk=victim.pk).update(digest="0" * 64)
    problems = logs_verify()
    assert (
        f"{Month.current()}: execution {victim.name!r} was altered since it was sealed (digest)"
        in problems
    )
    assert f"execution {victim.name!r}: log rows differ from their digest" in problems


def test_inserted_execution_is_caught(sealed):
    """A fake execution with consistent rows and digest is still named: the seal lacks it."""
    fake_execution()
    problems = logs_verify()
    assert (
        f"{Month.current()}: execution 'user-log-fake' was added after the month was sealed"
        in problems
    )


def test_removed_seal_breaks_the_chain(sealed):
    """Removing a month's seal (triggers off) leaves the next seal pointing at nothing."""
    summaries_update(today=NEXT_MONTH + timedelta(days=31))
    without_triggers("DELETE FROM month_seals WHERE month = %s", [str(Month.current())])
    problems = logs_verify()
    assert any("does not follow the start of the chain" in problem for problem in problems)


def test_edited_seal_does_not_recompute(sealed):
    """A seal whose row count is edited in the database no longer recomputes."""
    without_triggers("UPDATE month_seals SET rows = rows + 1")
    problems = logs_verify()
    assert f"seal of {Month.current()}: the seal hash does not recompute" in problems


def test_seal_copied_to_s3_and_dropped_month_checked_against_manifest(s3, sealed, settings):
    """With archiving on the seal goes to seals/YYYY-MM.json; once retention drops the month,
    verify_logs compares the seal with the archive manifest and names a disagreement."""
    month = Month.current()
    seal = MonthSeal.objects.get(month=str(month))
    assert seal.s3_key == seal_s3_key(month=month) == f"seals/{month}.json"
    stored = json.loads(s3.get_object(Bucket=ARCHIVE_BUCKET, Key=seal.s3_key)["Body"].read())
    assert stored["seal"] == seal.seal

    settings.LOG_RETENTION_MONTHS = 1
    run = retention_run(today=NEXT_MONTH + timedelta(days=31))
    assert month.partition_name in run.partitions_dropped
    assert logs_verify() == []

    manifest_key = run.archives[0]["manifest_key"]
    manifest = json.loads(s3.get_object(Bucket=ARCHIVE_BUCKET, Key=manifest_key)["Body"].read())
    manifest["rows"] -= 1
    s3.put_object(Bucket=ARCHIVE_BUCKET, Key=manifest_key, Body=json.dumps(manifest).encode())
    problems = logs_verify()
    assert any(p.startswith(f"{month}: dropped; its archive manifest says") for p in problems)

    s3.delete_object(Bucket=ARCHIVE_BUCKET, Key=seal.s3_key)
    assert f"seal of {month}: its copy in S3 is missing or differs" in logs_verify()
