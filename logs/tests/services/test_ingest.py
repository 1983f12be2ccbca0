"""Every rule of SPEC §4: one test per row of the cell table and per file-level rule."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from logs.messages import FILE_CHANGED
from logs.models import Execution, ProcessingError, ProcessingLog
from logs.services.failed_rows import execution_failed_rows
from logs.services.ingest import (
    IngestRejected,
    execution_create,
    execution_run,
    header_parse,
    ingest_preview,
)
from logs.services.sources import SourceError, local_copy, path_local, path_text
from logs.tests.support import command_run, database_url_for_processes
from users.models import ServiceUser, UserStatistics
from users.services import demo_users_seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def write(tmp_path):
    """Write CSV text (or bytes) to a file and return its path."""
    counter = iter(range(1, 10_000))

    def _write(content: str | bytes, name: str | None = None, encoding: str = "utf-8"):
        path = tmp_path / (name or f"activity-{next(counter)}.csv")
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return _write


@pytest.fixture
def ingest(write):
    """Import CSV content through the real engine; return the IngestResult."""

    def _ingest(content, *, name=None, execution_name=None, force=False, encoding="utf-8"):
        path = write(content, name=name, encoding=encoding)
        execution = execution_create(
            file_name=path.name, source=str(path), execution_name=execution_name, force=force
        )
        return execution_run(execution=execution)

    return _ingest


def logs_of(result) -> list[tuple]:
    return list(
        ProcessingLog.objects.filter(execution_name=result.execution_name)
        .order_by("log_id")
        .values_list(
            "user_id", "processing_type", "old_value", "new_value", "status", "error_message"
        )
    )


def counters(user_id: str) -> tuple[int, int] | None:
    stats = UserStatistics.objects.filter(user_id=user_id).first()
    return (stats.login_count, stats.post_count) if stats else None


def set_counters(user_id: str, login: int, post: int) -> None:
    UserStatistics.objects.update_or_create(
        user_id=user_id, defaults={"login_count": login, "post_count": post}
    )


# The digest's definition (logs/services/integrity.py), restated: sha256 over the execution's
# log rows in log_id order, each row one line of COPY's text format: these columns in this order,
# tab-separated, \N for NULL, backslash escapes, "\n" after every row, times in UTC ISO.
DIGEST_FIELDS = (
    "log_id",
    "execution_name",
    "user_id",
    "processing_type",
    "old_value",
    "new_value",
    "status",
    "error_message",
    "processed_at",
)
COPY_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
)


def _copy_text(value) -> str:
    """One value as COPY TO writes it with TimeZone UTC and DateStyle ISO."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
        if moment.microsecond:  # PostgreSQL drops trailing zeros of the fraction
            text += f".{moment.microsecond:06d}".rstrip("0")
        return text + "+00"
    return str(value).translate(COPY_ESCAPES)


def _digest_of_stored_rows(execution_name: str) -> str:
    """The digest recomputed from the rows as the ORM reads them back."""
    rows = (
        ProcessingLog.objects.filter(execution_name=execution_name)
        .order_by("log_id")
        .values_list(*DIGEST_FIELDS)
    )
    text = "".join("\t".join(_copy_text(value) for value in row) + "\n" for row in rows)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the cell table, row by row -----------------------------------------------------------


def test_success_adds_increment(service_users, ingest):
    """A positive value adds to the counter: old = current, new = current + value."""
    set_counters("U00001", 10, 3)
    result = ingest("user_id,login_count,post_count\nU00001,2,5\n")
    assert logs_of(result) == [
        ("U00001", "login_update", 10, 12, "success", None),
        ("U00001", "post_update", 3, 8, "success", None),
    ]
    assert counters("U00001") == (12, 8)


def test_malformed_row_fails_every_cell(service_users, ingest):
    """A row with another number of fields than the header fails with 'malformed row'."""
    result = ingest("user_id,login_count,post_count\nU00001,1\nU00002,1,2,3\n,\n")
    rows = logs_of(result)
    assert [row[0] for row in rows] == ["U00001", "U00001", "U00002", "U00002", None, None]
    assert all(row[2:5] == (None, None, "failed") for row in rows)
    assert all(row[5].startswith("malformed row") for row in rows)
    assert counters("U00001") == (0, 0)


def test_malformed_row_with_invalid_id_logs_null_user(service_users, ingest):
    """A malformed row whose user_id is too long logs user_id NULL."""
    result = ingest("user_id,login_count\nU000000000001,1,9\n")
    assert logs_of(result)[0][:5] == (None, "login_update", None, None, "failed")


def test_missing_user_id_fails(service_users, ingest):
    """An empty user_id fails every cell with 'missing user_id' and user NULL."""
    result = ingest("user_id,login_count,post_count\n ,1,2\n")
    assert logs_of(result) == [
        (None, "login_update", None, None, "failed", "missing user_id"),
        (None, "post_update", None, None, "failed", "missing user_id"),
    ]


def test_user_id_longer_than_ten_fails_naming_it(service_users, ingest):
    """A user_id over 10 characters fails, logs NULL, and the message names the raw id."""
    result = ingest("user_id,login_count\nU0000000000042,1\n")
    ((user_id, _, old, new, status, message),) = logs_of(result)
    assert (user_id, old, new, status) == (None, None, None, "failed")
    assert "U0000000000042" in message


def test_unknown_user_fails_keeping_parsed_value(service_users, ingest):
    """An id not in users fails with the seed's message, new_value = the CSV value if it parses."""
    result = ingest("user_id,login_count,post_count\nU99999,5,abc\n")
    assert logs_of(result) == [
        ("U99999", "login_update", None, 5, "failed", "User not found in users table"),
        ("U99999", "post_update", None, None, "failed", "User not found in users table"),
    ]
    assert not UserStatistics.objects.filter(user_id="U99999").exists()


def test_empty_value_is_skipped(service_users, ingest):
    """An empty value is skipped: old = new = current, no message."""
    set_counters("U00001", 4, 7)
    result = ingest("user_id,login_count,post_count\nU00001,,1\n")
    assert logs_of(result)[0] == ("U00001", "login_update", 4, 4, "skipped", None)
    assert counters("U00001") == (4, 8)


def test_non_integer_value_fails_naming_column_and_text(service_users, ingest):
    """A value that is not an integer fails: old = current, new NULL, column and text named."""
    set_counters("U00001", 4, 7)
    result = ingest("user_id,login_count,post_count\nU00001,1.5,x2\n")
    (login, post) = logs_of(result)
    assert login[:5] == ("U00001", "login_update", 4, None, "failed")
    assert "login_count" in login[5] and '"1.5"' in login[5]
    assert post[:5] == ("U00001", "post_update", 7, None, "failed")
    assert "post_count" in post[5] and '"x2"' in post[5]
    assert counters("U00001") == (4, 7)


def test_negative_value_fails(service_users, ingest):
    """A negative increment fails naming the column and value; the counter is unchanged."""
    set_counters("U00002", 5, 5)
    result = ingest("user_id,login_count\nU00002,-3\n")
    ((user_id, _, old, new, status, message),) = logs_of(result)
    assert (user_id, old, new, status) == ("U00002", 5, None, "failed")
    assert "login_count" in message and "-3" in message
    assert counters("U00002") == (5, 5)


def test_zero_value_is_skipped(service_users, ingest):
    """A zero increment is skipped with old = new = current."""
    set_counters("U00003", 9, 1)
    result = ingest("user_id,login_count\nU00003,0\n")
    assert logs_of(result) == [("U00003", "login_update", 9, 9, "skipped", None)]


def test_result_above_int_max_fails_with_bound(service_users, ingest):
    """A result above 2,147,483,647 fails saying the bound; the chain continues from current."""
    set_counters("U00004", 2_147_483_640, 0)
    result = ingest("user_id,login_count\nU00004,10\nU00004,7\nU00004,1\n")
    rows = logs_of(result)
    assert rows[0][:5] == ("U00004", "login_update", 2_147_483_640, None, "failed")
    assert "2147483647" in rows[0][5]
    assert rows[1] == ("U00004", "login_update", 2_147_483_640, 2_147_483_647, "success", None)
    assert rows[2][:5] == ("U00004", "login_update", 2_147_483_647, None, "failed")
    assert counters("U00004") == (2_147_483_647, 0)


def test_result_above_int_max_on_a_single_row(service_users, ingest):
    """The bound holds when every user is on one row only (no chain to replay)."""
    set_counters("U00004", 2_147_483_640, 0)
    result = ingest("user_id,login_count\nU00004,10\nU00005,1\n")
    rows = logs_of(result)
    assert rows[0][:5] == ("U00004", "login_update", 2_147_483_640, None, "failed")
    assert "2147483650 is above the maximum 2147483647" in rows[0][5]
    assert rows[1] == ("U00005", "login_update", 0, 1, "success", None)
    assert counters("U00004") == (2_147_483_640, 0)


def test_huge_value_fails_on_bound(service_users, ingest):
    """A value beyond 64-bit integers is still a clean bound failure, not a crash."""
    result = ingest("user_id,post_count\nU00001,99999999999999999999999\n")
    ((_, _, old, new, status, message),) = logs_of(result)
    assert (old, new, status) == (0, None, "failed") and "2147483647" in message


def test_user_without_statistics_row_starts_at_zero(service_users, ingest):
    """A user with no statistics row starts at 0; the row is created on first success."""
    ServiceUser.objects.create(user_id="U00777")
    ingest("user_id,login_count\nU00777,0\n")
    assert counters("U00777") is None  # a skipped cell creates nothing
    result = ingest("user_id,login_count\nU00777,3\n")
    assert logs_of(result) == [("U00777", "login_update", 0, 3, "success", None)]
    assert counters("U00777") == (3, 0)


# --- several rows, formats ----------------------------------------------------------------


def test_rows_of_one_user_chain_in_order(service_users, ingest):
    """Several rows of one user apply in order: each old_value is the previous new_value."""
    set_counters("U00001", 1, 0)
    result = ingest("user_id,login_count\nU00001,2\nU00002,1\nU00001,\nU00001,x\nU00001,3\n")
    assert logs_of(result) == [
        ("U00001", "login_update", 1, 3, "success", None),
        ("U00002", "login_update", 0, 1, "success", None),
        ("U00001", "login_update", 3, 3, "skipped", None),
        ("U00001", "login_update", 3, None, "failed", 'login_count: not an integer: "x"'),
        ("U00001", "login_update", 3, 6, "success", None),
    ]
    assert counters("U00001") == (6, 0)


@pytest.mark.parametrize(
    "content",
    [
        # sorted by user_id but for one repeat at the end; bad ids in between do not count
        "user_id,login_count\nU00001,2\n,5\nU00002,1\nU00003,1\nU00001,3\n",
        # sorted, the repeat next to its first row
        "user_id,login_count\nU00001,2\nU00001,3\nU00002,1\nU00003,1\n",
    ],
    ids=["repeat-after-others", "adjacent-repeat"],
)
def test_user_repeated_in_a_sorted_file_chains(service_users, ingest, content):
    """In a file sorted by user_id, a user on a second row still chains from the first row."""
    set_counters("U00001", 10, 0)
    result = ingest(content)
    chain = [row[2:4] for row in logs_of(result) if row[0] == "U00001"]
    assert chain == [(10, 12), (12, 15)]
    assert counters("U00001") == (15, 0)


def test_users_ascending_with_bad_rows_between_apply_each_once(service_users, ingest):
    """A file sorted by user_id with missing, long and malformed ids between its rows applies
    each user's one row and fails the bad ones."""
    result = ingest(
        "user_id,login_count\nU00001,1\n,2\nU00002,3\nU0000000000099,4\nU00002x\nU00003,5\n"
    )
    assert [row[0] for row in logs_of(result) if row[4] == "success"] == [
        "U00001",
        "U00002",
        "U00003",
    ]
    assert [counters(user)[0] for user in ("U00001", "U00002", "U00003")] == [1, 3, 5]
    assert result.failed_count == 3


def test_log_order_is_row_then_registry(service_users, ingest):
    """log_id order is (row order, registry order) whatever the column order in the file."""
    result = ingest("post_count,user_id,login_count\n1,U00001,2\n3,U00002,4\n")
    assert [(row[0], row[1]) for row in logs_of(result)] == [
        ("U00001", "login_update"),
        ("U00001", "post_update"),
        ("U00002", "login_update"),
        ("U00002", "post_update"),
    ]
    assert counters("U00001") == (2, 1) and counters("U00002") == (4, 3)


def test_crlf_bom_whitespace_and_case(service_users, ingest):
    """CRLF, a UTF-8 BOM, spaces around names and values, and header case are all accepted."""
    content = "\ufeff User_ID , LOGIN_COUNT ,post_count\r\n U00001 , 2 , +3 \r\n\r\n"
    result = ingest(content)
    assert result.rows_total == 1
    assert counters("U00001") == (2, 3)


def test_cp932_file(service_users, ingest):
    """A Shift_JIS/CP932 file (Excel in Japan) is detected and decoded."""
    ServiceUser.objects.create(user_id="ユーザー1")
    content = "user_id,login_count,備考\nユーザー1,4,テスト\n"
    result = ingest(content, encoding="cp932")
    assert logs_of(result)[0] == ("ユーザー1", "login_update", 0, 4, "success", None)
    assert result.warnings == ["unknown column ignored: '備考'"]


def test_only_columns_present_are_logged(service_users, ingest):
    """A file with only post_count writes only post_update rows and leaves logins alone."""
    set_counters("U00001", 7, 1)
    result = ingest("user_id,post_count\nU00001,2\n")
    assert logs_of(result) == [("U00001", "post_update", 1, 3, "success", None)]
    assert counters("U00001") == (7, 3)


def test_blank_lines_are_ignored(service_users, ingest):
    """Blank lines anywhere produce no log rows."""
    result = ingest("\n\nuser_id,login_count\n\nU00001,1\n   \n\nU00002,1\n\n")
    assert result.rows_total == 2 and result.log_rows == 2


def test_counts_warnings_and_digest_are_stored(service_users, ingest):
    """The Execution stores counts per type and status, warnings and a digest of its rows."""
    result = ingest("user_id,login_count,post_count,extra\nU00001,1,0,z\nU99999,1,1,z\n")
    execution = result.execution
    assert execution.status == Execution.Status.COMPLETED
    assert (execution.rows_total, execution.log_rows) == (2, 4)
    assert (execution.success_count, execution.failed_count, execution.skipped_count) == (1, 2, 1)
    assert execution.counts == {
        "login_update": {"success": 1, "failed": 1, "skipped": 0},
        "post_update": {"success": 0, "failed": 1, "skipped": 1},
    }
    assert execution.warnings == ["unknown column ignored: 'extra'"]
    assert execution.digest == _digest_of_stored_rows(execution.name)


def test_digest_covers_escaped_text(service_users, ingest):
    """Tabs, newlines and backslashes in a logged message are hashed in COPY's escaped form."""
    result = ingest('user_id,login_count\nU00001,"a\tb\\c\nd"\n')
    (message,) = ProcessingLog.objects.filter(execution_name=result.execution_name).values_list(
        "error_message", flat=True
    )
    assert "\t" in message and "\\" in message and "\n" in message
    assert result.execution.digest == _digest_of_stored_rows(result.execution_name)


def test_failed_cells_become_processing_errors(service_users, ingest, settings):
    """Every failed cell is a ProcessingError expiring after ERROR_RETENTION_DAYS."""
    result = ingest("user_id,login_count,post_count\nU99999,1,1\nU00001,x,1\n")
    errors = list(ProcessingError.objects.order_by("id"))
    assert len(errors) == result.failed_count == 3
    assert {error.kind for error in errors} == {"cell"}
    assert [error.row_number for error in errors] == [2, 2, 3]
    assert errors[2].raw_value == "x"
    lifetime = errors[0].expires_at - errors[0].created_at
    assert lifetime.days == settings.ERROR_RETENTION_DAYS


# --- file-level rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "no header"),
        (b"user_id,foo\nU00001,1\n", "no statistic column"),
        (b"login_count,post_count\n1,2\n", "no user_id column"),
        (b"user_id,login_count,Login_Count\nU00001,1,1\n", "repeated column"),
        ("user_id,login_count\nU00001,1\n".encode("utf-16"), "UTF-16"),
        (b"user_id,login_count\nU00001,\x00\x01\x02\n", "binary"),
        (b"user_id,login_count\n\x80\xff\x80\xff,1\n", "encoding"),
    ],
    ids=["empty", "blank", "no-statistic", "no-user-id", "repeated", "utf16", "nul", "encoding"],
)
def test_rejected_files_write_nothing(service_users, ingest, content, reason):
    """A rejected file: a rejected Execution with the reason, a file error, no log rows."""
    result = ingest(content)
    assert result.rejected and reason in result.message
    execution = Execution.objects.get(pk=result.execution.pk)
    assert execution.status == Execution.Status.REJECTED
    assert reason in execution.error_message
    assert ProcessingError.objects.filter(kind="file", execution=execution).count() == 1
    assert not ProcessingLog.objects.exists()
    assert counters("U00001") == (0, 0)


def test_file_over_size_limit_rejected(service_users, ingest, settings):
    """A file larger than MAX_UPLOAD_MB is rejected."""
    settings.MAX_UPLOAD_MB = 1
    result = ingest("user_id,login_count\n" + "U00001,1\n" * 150_000)
    assert result.rejected and "MAX_UPLOAD_MB" in result.message
    assert not ProcessingLog.objects.exists()


def test_duplicate_content_rejected_naming_first_run_unless_forced(service_users, ingest):
    """The same bytes as a completed run are rejected naming it; --force processes them."""
    content = "user_id,login_count\nU00001,1\n"
    first = ingest(content, name="user-log-20250802-093000.csv")
    second = ingest(content, name="again.csv")
    assert second.rejected and "user-log-20250802-093000" in second.message
    forced = ingest(content, name="again.csv", force=True)
    assert not forced.rejected
    assert counters("U00001") == (2, 0)
    assert first.execution.status == Execution.Status.COMPLETED


def test_execution_name_from_file_stem_or_clock(service_users, ingest):
    """The stem names the run when it looks like user-log-YYYYMMDD-HHMMSS; else the clock does."""
    named = ingest("user_id,login_count\nU00001,1\n", name="user-log-20250802-093000.csv")
    assert named.execution_name == "user-log-20250802-093000"
    clocked = ingest("user_id,login_count\nU00001,2\n", name="daily.csv")
    assert clocked.execution_name.startswith("user-log-") and len(clocked.execution_name) == 24


def test_generated_name_taken_gets_suffix(service_users, ingest):
    """A generated name already used gets -2, then -3."""
    names = [
        ingest(
            f"user_id,login_count\nU00001,{n}\n", name="user-log-20250802-093000.csv"
        ).execution_name
        for n in (1, 2, 3)
    ]
    assert names == [
        "user-log-20250802-093000",
        "user-log-20250802-093000-2",
        "user-log-20250802-093000-3",
    ]


def test_explicit_name_used_by_completed_run_rejected(service_users, ingest):
    """An explicit name already used by a completed run is rejected and recorded."""
    ingest("user_id,login_count\nU00001,1\n", execution_name="monthly-fix")
    with pytest.raises(IngestRejected, match="already used by a completed run"):
        ingest("user_id,login_count\nU00001,2\n", execution_name="monthly-fix")
    assert Execution.objects.filter(name="monthly-fix", status="rejected").count() == 1
    assert counters("U00001") == (1, 0)


def test_explicit_name_longer_than_80_rejected(service_users, ingest):
    """An execution name over 80 characters is rejected."""
    with pytest.raises(IngestRejected, match="80 characters"):
        ingest("user_id,login_count\nU00001,1\n", execution_name="x" * 81)


def test_dry_run_reports_the_same_and_writes_nothing(service_users, write):
    """ingest_preview gives the real run's counts and problems and writes nothing at all."""
    path = write("user_id,login_count,post_count\nU00001,1,0\nU99999,2,\nU00002,x,1\n")
    preview = ingest_preview(path=path, file_name=path.name)
    assert not ProcessingLog.objects.exists() and not Execution.objects.exists()
    assert not ProcessingError.objects.exists()
    assert counters("U00001") == (0, 0)
    real = execution_run(execution=execution_create(file_name=path.name, source=str(path)))
    assert (preview.counts, preview.rows_total) == (real.counts, real.rows_total)
    assert [p.message for p in preview.problems] == [p.message for p in real.problems]
    assert preview.problems[0].row_number == 3


def test_header_parse_lists_unknown_columns():
    """Unknown columns are ignored and listed as warnings; registry order is kept."""
    header = header_parse(["post_count", "user_id", "x", "login_count"])
    assert [s.column for s in header.statistics] == ["login_count", "post_count"]
    assert header.positions == (3, 0)
    assert header.warnings == ("unknown column ignored: 'x'",)
    with pytest.raises(SourceError, match="repeated"):
        header_parse(["user_id", "login_count", " LOGIN_COUNT"])


# --- the command ---------------------------------------------------------------------------


def test_command_prints_summary_and_exits_zero(service_users, write, capsys):
    """import_activity prints rows read, per-type counts, warnings and rows/s."""
    path = write("user_id,login_count,post_count,x\nU00001,1,2,\nU99999,1,1,\n")
    call_command("import_activity", str(path))
    out = capsys.readouterr().out
    assert "rows read: 2" in out
    assert "login_update: success 1, failed 1, skipped 0" in out
    assert "warning: unknown column ignored: 'x'" in out
    assert "rows/s" in out


def test_command_dry_run_writes_nothing(service_users, write, capsys):
    """--dry-run prints the summary and writes nothing."""
    path = write("user_id,login_count\nU00001,1\n")
    call_command("import_activity", str(path), "--dry-run")
    assert "dry run" in capsys.readouterr().out
    assert not Execution.objects.exists() and not ProcessingLog.objects.exists()


def test_command_rejection_exits_two(service_users, write, capsys):
    """A rejected file exits 2 with the reason on stderr."""
    path = write("user_id,foo\nU00001,1\n")
    run = command_run("import_activity", str(path))
    assert run.code == 2
    assert "no statistic column" in run.stderr


def test_command_missing_file_exits_two(db, tmp_path, capsys):
    """A path that does not exist is a rejection, not a traceback."""
    run = command_run("import_activity", str(tmp_path / "nope.csv"))
    assert run.code == 2
    assert "no such file" in run.stderr


# A file name that is not UTF-8 (bytes 0xFF 0xFE), as Linux has it and as Python hands it over.
NOT_UTF8_NAME = os.fsdecode(b"\xff\xfeactivity.csv")
NOT_UTF8_TEXT = "\\xff\\xfeactivity.csv"  # the name as it is recorded
GENERATED_NAME = re.compile(r"user-log-\d{8}-\d{6}(-\d+)?")


def test_a_path_that_is_not_utf8_is_recorded_as_text_and_found_again(tmp_path):
    """path_text writes a name's bytes that are not UTF-8 as \\xNN (a valid name as it is);
    path_local finds the file from that text, preferring a file named by the text itself."""
    path = tmp_path / NOT_UTF8_NAME
    path.write_bytes(b"x")
    assert path_text(NOT_UTF8_NAME) == NOT_UTF8_TEXT
    assert path_text(str(path)) == f"{tmp_path}/{NOT_UTF8_TEXT}"
    assert path_text("ユーザー.csv") == "ユーザー.csv"
    assert path_text("\ud800.csv") == "\\ud800.csv"  # a surrogate no byte decodes to
    assert path_local(path_text(str(path))) == path
    assert path_local(str(tmp_path / "nope\\xff.csv")) == tmp_path / "nope\\xff.csv"
    literal = tmp_path / NOT_UTF8_TEXT  # a valid name that happens to read like one
    literal.write_bytes(b"y")
    assert path_local(path_text(str(path))) == literal
    with local_copy(path_text(str(path))) as found:
        assert found == literal


def test_command_imports_a_file_whose_name_is_not_utf8(service_users, tmp_path):
    """import_activity of a file whose name holds bytes that are not UTF-8 processes it: the
    file name and source are recorded as their path_text, the execution named as SPEC §4 says
    (the stem is no ``user-log-…`` name: generated), and the failed rows download from it."""
    path = tmp_path / NOT_UTF8_NAME
    path.write_bytes(b"user_id,login_count\nU00001,1\nU00002,x\n")
    run = command_run("import_activity", str(path))
    assert run.code == 0, run.stderr
    execution = Execution.objects.get()
    assert execution.status == Execution.Status.COMPLETED
    assert execution.file_name == NOT_UTF8_TEXT
    assert execution.source == f"{tmp_path}/{NOT_UTF8_TEXT}"
    assert GENERATED_NAME.fullmatch(execution.name)
    assert (execution.success_count, execution.failed_count) == (1, 1)
    download = execution_failed_rows(execution=execution)
    assert download.file_name == "\\xff\\xfeactivity-failed-rows.csv"
    content = b"".join(download.content).decode("utf-8-sig")
    assert content.startswith("user_id,login_count,error\r\nU00002,x,")
    named = tmp_path / f"user-log-20260105-093000{NOT_UTF8_NAME}"
    named.write_bytes(b"user_id,post_count\nU00001,1\n")
    assert command_run("import_activity", str(named)).code == 0
    latest = Execution.objects.latest("pk").name
    assert GENERATED_NAME.fullmatch(latest) and not latest.startswith("user-log-20260105")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_manage_py_imports_a_file_whose_name_is_not_utf8(tmp_path):
    """``manage.py import_activity`` as a whole process (local settings), given the name's own
    bytes on its command line: exit 0, the file name recorded as its path_text."""
    demo_users_seed(count=2)
    path = tmp_path / NOT_UTF8_NAME
    path.write_bytes(b"user_id,login_count\nU00001,1\n")
    environment = {
        key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"
    }
    environment["DATABASE_URL"] = database_url_for_processes()
    manage = Path(settings.BASE_DIR) / "manage.py"
    run = subprocess.run(  # noqa: S603 - our interpreter, our command
        [sys.executable, str(manage), "import_activity", os.fsencode(path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    execution = Execution.objects.get()
    assert (execution.status, execution.file_name) == (Execution.Status.COMPLETED, NOT_UTF8_TEXT)
    assert f"{execution.name}: completed" in run.stdout
    assert ProcessingLog.objects.get().new_value == 1


def test_command_unexpected_error_exits_one(service_users, write, monkeypatch):
    """An unexpected failure marks the Execution failed and exits 1 (CommandError)."""
    from django.core.management.base import CommandError

    from logs.services.ingest import run as ingest_run

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest_run, "apply", explode)
    path = write("user_id,login_count\nU00001,1\n")
    with pytest.raises(CommandError, match="disk on fire"):
        call_command("import_activity", str(path))
    execution = Execution.objects.get()
    assert execution.status == Execution.Status.FAILED
    assert "disk on fire" in execution.error_message
    assert not ProcessingLog.objects.exists()


@pytest.mark.parametrize(
    "content",
    [
        "user_id,login_count,post_count\nU00001,3,4\nU00002,x,\n",
        # U00001 twice near the maximum: a chain whose second cell fails.
        "user_id,login_count\nU00001,2147483000\nU00001,1000\n",
    ],
    ids=["plain", "chain-past-the-maximum"],
)
def test_import_runs_under_the_debug_cursor(service_users, ingest, content):
    """With DEBUG's debug cursor on (local settings), an import completes and its COPY
    statements are recorded in connection.queries."""
    from django.db import connection

    connection.force_debug_cursor = True
    try:
        connection.queries_log.clear()
        result = ingest(content)
        recorded = [query["sql"] for query in connection.queries]
    finally:
        connection.force_debug_cursor = False
    execution = Execution.objects.get(name=result.execution_name)
    assert execution.status == Execution.Status.COMPLETED
    assert execution.digest
    assert any(sql.startswith("COPY ingest_rows") for sql in recorded)
    for table in ("processing_logs", "ingest_failed", "ingest_finals"):
        assert any(sql.startswith(f"COPY {table} ") for sql in recorded), table
    # the users read back through a server-side cursor are recorded too
    assert any("FROM ingest_rows r LEFT JOIN users" in sql for sql in recorded)


@pytest.mark.parametrize(
    "changed",
    [
        "user_id,login_count\nU00001,9\nU00002,1\n",
        "user_id,login_count\nU00001,1\nU00002,1\nU00003,1\n",
    ],
    ids=["value-changed", "row-added"],
)
def test_file_changed_between_the_two_passes_writes_nothing(
    service_users, write, monkeypatch, changed
):
    """A run reads its file twice; a file rewritten in between (same size or not) is rejected
    with the reason, and no log row, counter or error is written."""
    from logs.services.ingest import run as ingest_run

    path = write("user_id,login_count\nU00001,1\nU00002,1\n")
    real_stage = ingest_run.stage

    def stage_then_rewrite(*args, **kwargs):
        staged = real_stage(*args, **kwargs)
        path.write_text(changed)
        return staged

    monkeypatch.setattr(ingest_run, "stage", stage_then_rewrite)
    result = execution_run(execution=execution_create(file_name=path.name, source=str(path)))
    assert result.rejected
    assert result.message == FILE_CHANGED.render()
    execution = Execution.objects.get()
    assert (execution.status, execution.error_message) == (
        Execution.Status.REJECTED,
        FILE_CHANGED.render(),
    )
    assert not ProcessingLog.objects.exists()
    assert not ProcessingError.objects.filter(kind="cell").exists()
    assert set(UserStatistics.objects.values_list("login_count", flat=True)) == {0}
