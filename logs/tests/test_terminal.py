"""What the commands print of a file's text (``logs/management/terminal.py``): every control
character shown as a visible escape, so a header name, user_id, cell, file name or execution name
cannot drive the operator's terminal; the stored text stays raw."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from logs.management.terminal import terminal_text
from logs.models import Execution, ProcessingLog
from logs.tests.corpus import C1_CSI, CLEAR_SCREEN, SET_TITLE, assert_terminal_safe
from logs.tests.support import command_run
from users.models import ServiceUser, UserStatistics


def _controls(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cs")]


# --- the renderer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (CLEAR_SCREEN, "\\x1b[2J"),
        ("\x1b[1A\x1b[2Kok", "\\x1b[1A\\x1b[2Kok"),  # up a line, erase it
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        (SET_TITLE, "\\x1b]0;ok\\x1b\\"),
        (C1_CSI + "2J", "\\x9b2J"),
        ("\x85\x9d", "\\x85\\x9d"),  # NEL, OSC: the other C1 controls
        ("a\tb\nc\rd", "a\\tb\\nc\\rd"),
        ("\x00\x1a\x7f", "\\x00\\x1a\\x7f"),
        ("a\udc9bb", "a\\udc9bb"),  # a file name byte that is not UTF-8
    ],
)
def test_control_characters_are_shown_as_escapes(raw, shown):
    """C0, DEL, C1 and lone surrogates become their Python escapes; tab, newline, CR too."""
    assert terminal_text(raw) == shown


@pytest.mark.parametrize(
    "text",
    [
        "U00001",
        "<script>alert(1)</script>",
        "全角ユーザー, メモ",
        "unknown column ignored: '\\x1b[2j'",  # already quoted by repr: not escaped again
        "C:\\path\\to\\file.csv",
        "=cmd|' /C calc'!A0 ✓",
    ],
)
def test_printable_text_is_shown_as_is(text):
    """Text without control characters, backslashes included, is printed unchanged."""
    assert terminal_text(text) == text


@given(st.text(st.characters(exclude_categories=())))
def test_any_text_is_shown_with_each_control_character_as_repr_shows_it(text):
    """For any text (surrogates included), each control character is shown as Python's repr
    writes it and every other character as is; nothing raw is left, and a rendering rendered
    again is unchanged."""
    shown = terminal_text(text)
    assert shown == "".join(repr(c)[1:-1] if _controls(c) else c for c in text)
    assert not _controls(shown)
    assert terminal_text(shown) == shown


# --- the commands that print a file's text ----------------------------------------------------
# import_activity: logs/tests/services/test_ingest_corpus.py (in-process and as processes).


@pytest.mark.django_db
def test_job_command_report_escapes_an_execution_name(settings):
    """A job command's report (fail_stale_runs) shows an execution name's controls escaped."""
    settings.STALE_RUN_MINUTES = 120
    name = CLEAR_SCREEN + "daily"
    Execution.objects.create(
        name=name, status="running", started_at=timezone.now() - timedelta(hours=3)
    )
    run = command_run("fail_stale_runs")
    assert run.code == 0, run
    assert_terminal_safe(run.stdout + run.stderr, shown=[name])
    assert Execution.objects.get(name=name).status == Execution.Status.FAILED


@pytest.mark.django_db
def test_pickup_inbox_escapes_file_names(settings, tmp_path, service_users):
    """pickup_inbox prints an inbox file's name with its controls escaped; the execution keeps
    the raw name."""
    settings.INBOX_SETTLE_SECONDS = 0
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings.INBOX_URI = str(inbox)
    path = inbox / f"{CLEAR_SCREEN}{C1_CSI}daily.csv"
    path.write_bytes(b"user_id,login_count\nU00001,2\n")
    run = command_run("pickup_inbox")
    assert run.code == 0, run
    assert_terminal_safe(run.stdout + run.stderr, shown=[str(path)])
    assert Execution.objects.get(source=str(path)).file_name == path.name


@pytest.mark.django_db
def test_verify_logs_escapes_user_ids_in_its_problems():
    """verify_logs lists a problem naming a user_id with controls escaped, and exits 1."""
    user_id = CLEAR_SCREEN + C1_CSI
    ServiceUser.objects.create(user_id=user_id)
    UserStatistics.objects.update_or_create(user_id=user_id, defaults={"login_count": 9})
    ProcessingLog.objects.create(
        execution_name="user-log-20260101-000000",
        user_id=user_id,
        processing_type="login_update",
        old_value=0,
        new_value=5,
        status="success",
    )
    run = command_run("verify_logs")
    assert run.code == 1, run
    assert_terminal_safe(
        run.stdout + run.stderr, shown=[f"problem: {user_id} login_count is 9 but its last"]
    )


@pytest.mark.django_db
def test_reverse_execution_escapes_user_ids_of_failed_cells(accounts, settings):
    """reverse_execution prints a failed cell's user_id with its controls escaped."""
    settings.CORRECTIONS_REQUIRE_APPROVAL = False
    user_id = CLEAR_SCREEN + "U1"
    ServiceUser.objects.create(user_id=user_id)
    UserStatistics.objects.update_or_create(user_id=user_id, defaults={"login_count": 0})
    original = Execution.objects.create(
        name="user-log-20260101-000000", status=Execution.Status.COMPLETED, success_count=1
    )
    ProcessingLog.objects.create(
        execution_name=original.name,
        user_id=user_id,
        processing_type="login_update",
        old_value=0,
        new_value=5,
        status="success",
    )
    run = command_run("reverse_execution", original.name, "--reason", "twice")
    assert run.code == 0, run
    assert_terminal_safe(run.stdout + run.stderr, shown=[f"  {user_id} login_update: "])
