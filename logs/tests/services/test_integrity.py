"""verify_logs finds every kind of damage and stays quiet on a clean trail."""

import datetime
import hashlib

import psycopg
import psycopg.conninfo
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from logs.models import ProcessingLog
from logs.services.ingest import execution_create, execution_run
from logs.services.integrity import LOG_COLUMNS, digest_copy, execution_digest, logs_verify
from logs.tests.support import command_run
from logs.triggers import log_deletion_allowed
from users.models import UserStatistics

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(service_users, tmp_path):
    """Two imports over the same users, so chains span executions."""
    results = []
    for number, content in enumerate(["U00001,2,1\nU00002,1,0\n", "U00001,3,0\nU00001,1,4\n"]):
        path = tmp_path / f"f{number}.csv"
        path.write_text("user_id,login_count,post_count\n" + content)
        results.append(
            execution_run(execution=execution_create(file_name=path.name, source=str(path)))
        )
    return results


def test_clean_trail_verifies(imported):
    """A trail written only by imports has no problems and the command exits 0."""
    assert logs_verify() == []
    call_command("verify_logs")


def test_digest_matches_rows_as_stored(imported):
    """The digest stored at completion equals the digest of the rows read back."""
    execution = imported[0].execution
    assert execution.digest == execution_digest(execution_name=execution.name)


def _copy_text(value) -> str:
    """A value as PostgreSQL's COPY text format writes it (times as set for digests)."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime.datetime):
        text = value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0")
        return text.rstrip(".") + "+00"
    escapes = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
    return "".join(escapes.get(character, character) for character in str(value))


def test_digest_is_sha256_of_the_rows_copy_text(service_users, tmp_path):
    """The digest's definition, recomputed here from the rows: sha256 over one COPY text line
    per log row in log_id order, NULLs as \\N, tabs and newlines of messages escaped."""
    path = tmp_path / "mixed.csv"
    path.write_text(
        'user_id,login_count,post_count\nU00001,2,\nU99999,1,0\nU00002,"x\ty\nz",-1\n',
        encoding="utf-8",
    )
    result = execution_run(execution=execution_create(file_name=path.name, source=str(path)))
    fields = [field.name for field in ProcessingLog._meta.concrete_fields]
    assert fields[0] == "log_id" and fields[-1] == "processed_at"
    lines = [
        "\t".join(_copy_text(value) for value in row) + "\n"
        for row in ProcessingLog.objects.filter(execution_name=result.execution_name)
        .order_by("log_id")
        .values_list(*fields)
    ]
    assert any("\\t" in line and "\\n" in line for line in lines)  # the escaped message
    assert any("\\N" in line for line in lines)
    expected = hashlib.sha256("".join(lines).encode()).hexdigest()
    assert result.execution.digest == expected


def test_rows_out_of_log_id_order_give_no_digest(imported):
    """digest_copy refuses rows whose log_ids do not ascend instead of hashing them."""
    name = imported[1].execution_name
    query = f"SELECT {LOG_COLUMNS} FROM processing_logs WHERE execution_name = %s ORDER BY log_id"
    with transaction.atomic(), connection.cursor() as cursor:
        assert digest_copy(cursor, query, [name]) == imported[1].execution.digest
        assert digest_copy(cursor, query + " DESC", [name]) is None


def _log_id_taken_elsewhere() -> None:
    """Another session takes a log_id (committed at once, as any session's nextval is)."""
    params = connection.get_connection_params()
    keys = ("dbname", "user", "password", "host", "port")
    conninfo = psycopg.conninfo.make_conninfo(**{k: params[k] for k in keys if params.get(k)})
    with psycopg.connect(conninfo, autocommit=True) as other:
        other.execute("SELECT nextval(pg_get_serial_sequence('processing_logs', 'log_id'))")


@pytest.mark.parametrize("interleaved", [False, True], ids=["alone", "log-id-taken-meanwhile"])
def test_import_digest_is_the_one_verify_logs_computes(
    service_users, tmp_path, monkeypatch, interleaved
):
    """An import hashes its rows as it writes them; when another session took a log_id while
    it wrote (so its rows' log_ids are not the ones it counted on), it reads them back in
    order instead. Either way the digest is the one computed from the stored rows."""
    from logs.services.ingest import apply as ingest_apply

    real_classify, real_read_back = ingest_apply.classify, ingest_apply.execution_digest
    read_back = []

    def classify(*args, **kwargs):
        if interleaved:
            _log_id_taken_elsewhere()
        return real_classify(*args, **kwargs)

    def execution_digest_spy(**kwargs):
        read_back.append(kwargs)
        return real_read_back(**kwargs)

    monkeypatch.setattr(ingest_apply, "classify", classify)
    monkeypatch.setattr(ingest_apply, "execution_digest", execution_digest_spy)
    path = tmp_path / "f.csv"
    path.write_text("user_id,login_count,post_count\nU00001,2,1\nU00002,x,0\nU00003,1,\n")
    result = execution_run(execution=execution_create(file_name=path.name, source=str(path)))
    assert len(read_back) == (1 if interleaved else 0)
    assert result.execution.digest == execution_digest(execution_name=result.execution_name)
    assert logs_verify() == []


def test_removed_row_breaks_digest_and_chain(imported):
    """A row removed behind the product's back shows as a digest mismatch and a broken chain."""
    victim = (
        ProcessingLog.objects.filter(
            execution_name=imported[1].execution_name,
            user_id="U00001",
            processing_type="login_update",
        )
        .order_by("log_id")
        .first()
    )
    with log_deletion_allowed():
        ProcessingLog.objects.filter(pk=victim.pk).delete()
    problems = logs_verify()
    assert any("differ from their digest" in problem for problem in problems)
    assert any("chain broken for U00001 login_update" in problem for problem in problems)


def test_counter_edited_outside_imports_is_reported(imported, capsys):
    """A counter changed by hand no longer equals its last logged value: exit 1, listed."""
    UserStatistics.objects.filter(user_id="U00002").update(login_count=99)
    run = command_run("verify_logs")
    assert run.code == 1
    assert "U00002 login_count is 99 but its last logged value is 1" in run.stdout


def test_rows_in_default_partition_are_reported(imported):
    """Rows left in the DEFAULT partition are a problem until ensure_partitions moves them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO processing_logs (execution_name, status, processed_at) "
            "VALUES ('stray', 'failed', '2001-01-01T00:00:00Z')"
        )
    assert "1 rows in the DEFAULT partition (run ensure_partitions)" in logs_verify()


def test_dashboard_counts_checked_against_the_rows(imported):
    """The dashboard's recorded counts must equal the rows: a count edited, a count missing
    and a count without rows are each named."""
    from logs.models import ProcessingLogCount

    first, second = (result.execution_name for result in imported)
    assert logs_verify() == []
    ProcessingLogCount.objects.filter(execution_name=first).update(failed_count=7)
    recorded = ProcessingLogCount.objects.get(execution_name=second)
    recorded.delete()
    ProcessingLogCount.objects.create(
        processed_at=recorded.processed_at - datetime.timedelta(days=1),
        execution_name="never-ran",
        total=3,
        success_count=3,
        failed_count=0,
        skipped_count=0,
    )
    problems = logs_verify()
    assert len(problems) == 3
    assert problems[0].startswith("execution 'never-ran' at ")
    assert problems[0].endswith(
        "the dashboard's counts say 3 (3 success, 0 failed, 0 skipped), "
        "its log rows are 0 (0 success, 0 failed, 0 skipped)"
    )
    assert any(
        problem.startswith(f"execution {first!r}")
        and "the dashboard's counts say 4 (3 success, 7 failed, 1 skipped), "
        "its log rows are 4 (3 success, 0 failed, 1 skipped)"
        in problem
        for problem in problems
    )
    assert any(
        problem.startswith(f"execution {second!r}")
        and problem.endswith(
            "the dashboard's counts say 0 (0 success, 0 failed, 0 skipped), "
            "its log rows are 4 (3 success, 0 failed, 1 skipped)"
        )
        for problem in problems
    )
