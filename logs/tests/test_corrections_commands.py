"""reverse_execution and adjust_counter (SPEC §5): exit 0 applied, 2 refused, with --by required
while corrections need approval."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from logs.models import Execution, ProcessingLog
from users.models import UserStatistics

pytestmark = pytest.mark.django_db


@pytest.fixture
def original(service_users, accounts) -> Execution:
    """A completed import of one cell (U00001 login +5), as a run writes it."""
    UserStatistics.objects.filter(user_id="U00001").update(login_count=5)
    execution = Execution.objects.create(
        name="user-log-20260101-000000", status=Execution.Status.COMPLETED, success_count=1
    )
    ProcessingLog.objects.create(
        execution_name=execution.name,
        user_id="U00001",
        processing_type="login_update",
        old_value=0,
        new_value=5,
        status="success",
    )
    return execution


def _out(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_reverse_applies_and_records_who_asked(original, exit_code):
    """With --by the reversal runs (exit 0), recorded as asked by that account."""
    code = exit_code(
        "reverse_execution", original.name, "--reason", "twice", "--by", "test-corrector"
    )
    assert code == 0
    reversal = Execution.objects.get(kind=Execution.Kind.REVERSAL)
    assert reversal.reverses == original and reversal.uploaded_by is not None
    assert reversal.uploaded_by.username == "test-corrector"
    assert UserStatistics.objects.get(user_id="U00001").login_count == 0


def test_reverse_dry_run_prints_and_writes_nothing(original):
    """--dry-run prints the counts and needs no --by."""
    output = _out("reverse_execution", original.name, "--reason", "twice", "--dry-run")
    assert "dry run (nothing written)" in output and "login_update: success 1" in output
    assert not Execution.objects.filter(kind=Execution.Kind.REVERSAL).exists()


def test_reverse_dry_run_prints_the_message_the_real_run_stores(original, exit_code, capsys):
    """--dry-run prints a failing cell with the message the reversal then stores, filled in."""
    UserStatistics.objects.filter(user_id="U00001").update(login_count=2)
    assert exit_code("reverse_execution", original.name, "--reason", "twice", "--dry-run") == 0
    printed = capsys.readouterr().out
    assert (
        exit_code("reverse_execution", original.name, "--reason", "twice", "--by", "test-corrector")
        == 0
    )
    reversal = Execution.objects.get(kind=Execution.Kind.REVERSAL)
    stored = ProcessingLog.objects.get(execution_name=reversal.name).error_message
    assert stored == "login_count: 2 → -3 would take the counter below 0"
    assert f"  U00001 login_update: {stored}\n" in printed


@pytest.mark.parametrize(
    "arguments",
    [
        ("--reason", "twice"),  # no --by while approval is on
        ("--reason", "twice", "--by", "nobody"),
        ("--reason", " ", "--by", "test-corrector"),
    ],
)
def test_reverse_refusals_exit_2(original, exit_code, capsys, arguments):
    """A missing or unknown --by, or an empty reason: exit 2 with the reason, nothing run."""
    assert exit_code("reverse_execution", original.name, *arguments) == 2
    assert "refused:" in capsys.readouterr().err
    assert not Execution.objects.filter(kind=Execution.Kind.REVERSAL).exists()


def test_reverse_twice_exits_2(original, exit_code, capsys):
    """A second reversal of the same execution is refused, naming the first."""
    assert (
        exit_code("reverse_execution", original.name, "--reason", "a", "--by", "test-corrector")
        == 0
    )
    assert (
        exit_code("reverse_execution", original.name, "--reason", "b", "--by", "test-corrector")
        == 2
    )
    assert "already reversed by" in capsys.readouterr().err


def test_without_approval_by_is_optional(original, exit_code, settings):
    """CORRECTIONS_REQUIRE_APPROVAL off: a shell command needs no --by."""
    settings.CORRECTIONS_REQUIRE_APPROVAL = False
    assert exit_code("reverse_execution", original.name, "--reason", "twice") == 0


def test_adjust_counter_add_set_and_failed(service_users, accounts, exit_code):
    """--add and --set apply (exit 0), a result below 0 too (a failed row); an unknown user or
    column, or both --add and --set, is refused."""
    by = ("--by", "test-corrector", "--reason", "ticket 42")
    assert exit_code("adjust_counter", "U00001", "login_count", "--add", "3", *by) == 0
    assert exit_code("adjust_counter", "U00001", "post_count", "--set", "7", *by) == 0
    assert exit_code("adjust_counter", "U00001", "login_count", "--add", "-9", *by) == 0
    stats = UserStatistics.objects.get(user_id="U00001")
    assert (stats.login_count, stats.post_count) == (3, 7)
    statuses = list(ProcessingLog.objects.order_by("log_id").values_list("status", flat=True))
    assert statuses == ["success", "success", "failed"]
    assert exit_code("adjust_counter", "U99999", "login_count", "--add", "1", *by) == 2
    assert exit_code("adjust_counter", "U00001", "logins", "--add", "1", *by) == 2
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("adjust_counter", "U00001", "login_count", "--add", "1", "--set", "2", *by)
