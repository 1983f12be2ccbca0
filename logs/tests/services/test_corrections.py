"""Corrections (SPEC §4a): reversals and adjustments write new rows, never edit old ones, and keep
every invariant of §4 (chain, digest, counters = last success row)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from logs.messages import BELOW_ZERO
from logs.models import Execution, ProcessingError, ProcessingLog
from logs.services.corrections import CorrectionRefused, counter_adjust, execution_reverse
from logs.services.ingest import IngestResult, execution_create, execution_run
from logs.services.integrity import execution_digest, logs_verify
from users.models import ServiceUser, UserStatistics

pytestmark = pytest.mark.django_db

LogRow = tuple[str | None, str | None, int | None, int | None, str | None, str | None]


@pytest.fixture
def ingest(tmp_path: Path) -> Callable[..., Execution]:
    """Import CSV text through the real engine; returns the completed Execution."""
    counter = iter(range(1, 1000))

    def _ingest(text: str) -> Execution:
        path = tmp_path / f"activity-{next(counter)}.csv"
        path.write_text(text, encoding="utf-8")
        execution = execution_create(file_name=path.name, source=str(path))
        result: IngestResult = execution_run(execution=execution)
        assert result.execution is not None and not result.rejected, result.message
        return result.execution

    return _ingest


def rows_of(name: str) -> list[LogRow]:
    return list(
        ProcessingLog.objects.filter(execution_name=name)
        .order_by("log_id")
        .values_list(
            "user_id", "processing_type", "old_value", "new_value", "status", "error_message"
        )
    )


def counters() -> dict[str, tuple[int, int]]:
    return {
        s.user_id: (s.login_count, s.post_count) for s in UserStatistics.objects.order_by("user_id")
    }


def set_counters(user_id: str, login: int, post: int) -> None:
    UserStatistics.objects.filter(user_id=user_id).update(login_count=login, post_count=post)


def assert_trail_clean() -> None:
    assert logs_verify() == []


# The file of the issue: repeated users, an unknown user, failed and skipped cells.
MIXED = (
    "user_id,login_count,post_count\n"
    "U00001,2,1\n"
    "U99999,5,\n"  # unknown user: two failed cells
    "U00002,abc,3\n"  # failed login, success post
    "U00001,4,0\n"  # repeated user; post skipped
    ",1,1\n"  # missing user_id
    "U00003,,2\n"  # login skipped
    "U00001,1\n"  # malformed
)


def test_reversal_takes_counters_back_to_before_the_import(service_users, ingest):
    """Nothing in between: every counter returns exactly to its value before the import; one
    success row per success row of the original, in its order, and nothing for the others."""
    set_counters("U00001", 10, 20)
    before = counters()
    original = ingest(MIXED)
    assert counters() != before

    result = execution_reverse(execution_name=original.name, reason="uploaded twice")

    assert counters() == before
    reversal = result.execution
    assert reversal is not None
    assert reversal.kind == Execution.Kind.REVERSAL and reversal.reverses == original
    assert reversal.status == Execution.Status.COMPLETED
    assert reversal.correction_reason == "uploaded twice"
    assert rows_of(reversal.name) == [
        ("U00001", "login_update", 16, 14, "success", None),
        ("U00001", "post_update", 21, 20, "success", None),
        ("U00002", "post_update", 3, 0, "success", None),
        ("U00001", "login_update", 14, 10, "success", None),
        ("U00003", "post_update", 2, 0, "success", None),
    ]
    assert (reversal.success_count, reversal.failed_count, reversal.skipped_count) == (5, 0, 0)
    assert reversal.digest == execution_digest(execution_name=reversal.name)
    assert list(original.reversals.all()) == [reversal]
    assert_trail_clean()


def test_reversal_after_other_imports_keeps_what_they_added(service_users, ingest):
    """Another import in between: the reversal removes only what the original added, starting
    from the counter as it is now."""
    original = ingest("user_id,login_count,post_count\nU00001,3,1\nU00002,2,2\n")
    ingest("user_id,login_count,post_count\nU00001,5,0\nU00003,1,1\n")
    result = execution_reverse(execution_name=original.name, reason="wrong day")
    assert counters()["U00001"] == (5, 0)
    assert counters()["U00002"] == (0, 0)
    assert counters()["U00003"] == (1, 1)
    assert result.execution is not None
    assert rows_of(result.execution.name)[0] == ("U00001", "login_update", 8, 5, "success", None)
    assert_trail_clean()


def test_a_cell_that_would_go_below_zero_fails_and_changes_nothing(service_users, ingest):
    """A counter lowered since the import cannot go below 0: that cell fails with a message
    saying so, the counter stays, and the failure is kept in the error store."""
    original = ingest("user_id,login_count,post_count\nU00001,5,1\n")
    counter_adjust(user_id="U00001", column="login_count", amount=2, set_to=True, reason="fix")
    result = execution_reverse(execution_name=original.name, reason="undo")
    assert result.execution is not None
    message = BELOW_ZERO.render(column="login_count", old=2, result=-3)
    assert rows_of(result.execution.name) == [
        ("U00001", "login_update", 2, None, "failed", message),
        ("U00001", "post_update", 1, 0, "success", None),
    ]
    assert counters()["U00001"] == (2, 0)
    error = ProcessingError.objects.get(execution_name=result.execution.name)
    assert error.user_id == "U00001" and error.error_message == message
    assert_trail_clean()


def test_a_failed_cell_leaves_the_chain_where_it_was(service_users, ingest):
    """Several rows of one user: after a cell fails, the next one starts from the counter the
    failed one left, not from where it would have gone."""
    original = ingest("user_id,login_count\nU00001,3\nU00001,4\nU00001,1\n")
    counter_adjust(user_id="U00001", column="login_count", amount=5, set_to=True, reason="fix")
    result = execution_reverse(execution_name=original.name, reason="undo")
    assert result.execution is not None
    assert rows_of(result.execution.name) == [
        ("U00001", "login_update", 5, 2, "success", None),
        (
            "U00001",
            "login_update",
            2,
            None,
            "failed",
            BELOW_ZERO.render(column="login_count", old=2, result=-2),
        ),
        ("U00001", "login_update", 2, 1, "success", None),
    ]
    assert counters()["U00001"][0] == 1
    assert_trail_clean()


def test_a_user_deleted_since_the_import_fails_the_reversal_cell(service_users, ingest):
    """The rows of a user no longer in ``users`` cannot be taken back: failed, named."""
    original = ingest("user_id,login_count\nU00004,3\nU00001,1\n")
    ServiceUser.objects.filter(user_id="U00004").delete()
    result = execution_reverse(execution_name=original.name, reason="undo")
    assert result.execution is not None
    assert [row[4] for row in rows_of(result.execution.name)] == ["failed", "success"]
    assert_trail_clean()


def test_dry_run_counts_what_the_reversal_would_do_and_writes_nothing(service_users, ingest):
    """The dry run has the counts and failing cells of the real run, and writes nothing."""
    original = ingest("user_id,login_count,post_count\nU00001,5,1\nU00002,1,1\n")
    set_counters("U00001", 1, 1)
    logs_before, executions_before = ProcessingLog.objects.count(), Execution.objects.count()
    dry = execution_reverse(execution_name=original.name, reason="undo", dry_run=True)
    assert (ProcessingLog.objects.count(), Execution.objects.count()) == (
        logs_before,
        executions_before,
    )
    assert dry.execution is None and (dry.success_count, dry.failed_count) == (3, 1)
    assert [problem.user_id for problem in dry.problems] == ["U00001"]
    real = execution_reverse(execution_name=original.name, reason="undo")
    assert real.counts == dry.counts


def test_dry_run_messages_are_the_ones_the_real_run_stores(service_users, ingest):
    """A reversal's and an adjustment's dry run name a failing cell by the message the real run
    stores, its values filled in (the dry run's statement has no parameters)."""
    original = ingest("user_id,login_count\nU00001,5\n")
    set_counters("U00001", 2, 0)
    message = BELOW_ZERO.render(column="login_count", old=2, result=-3)
    dry = execution_reverse(execution_name=original.name, reason="undo", dry_run=True)
    assert [problem.message for problem in dry.problems] == [message]
    dry_adjust = counter_adjust(
        user_id="U00001", column="login_count", amount=-5, set_to=False, reason="r", dry_run=True
    )
    assert [problem.message for problem in dry_adjust.problems] == [message]
    real = execution_reverse(execution_name=original.name, reason="undo")
    assert real.execution is not None
    assert [row[5] for row in rows_of(real.execution.name)] == [message]
    real_adjust = counter_adjust(
        user_id="U00001", column="login_count", amount=-5, set_to=False, reason="r"
    )
    assert real_adjust.execution is not None
    assert [row[5] for row in rows_of(real_adjust.execution.name)] == [message]


def test_refusals(service_users, ingest):
    """Refused, writing nothing: a second reversal, a reversal of a reversal, of a run that is
    not completed, of an unknown name, and any correction without a reason."""
    original = ingest("user_id,login_count\nU00001,5\n")
    with pytest.raises(CorrectionRefused, match="needs a reason"):
        execution_reverse(execution_name=original.name, reason="  ")
    first = execution_reverse(execution_name=original.name, reason="undo")
    assert first.execution is not None
    logs_before = ProcessingLog.objects.count()
    with pytest.raises(CorrectionRefused, match=f"already reversed by '{first.execution.name}'"):
        execution_reverse(execution_name=original.name, reason="again")
    with pytest.raises(CorrectionRefused, match="is itself a reversal"):
        execution_reverse(execution_name=first.execution.name, reason="undo the undo")
    failed = Execution.objects.create(name="user-log-20260101-000000", status="failed")
    with pytest.raises(CorrectionRefused, match="is failed: only a completed execution"):
        execution_reverse(execution_name=failed.name, reason="undo")
    with pytest.raises(CorrectionRefused, match="no execution named 'nope'"):
        execution_reverse(execution_name="nope", reason="undo")
    assert ProcessingLog.objects.count() == logs_before
    assert Execution.objects.filter(kind=Execution.Kind.REVERSAL).count() == 1


def test_an_adjustment_can_be_reversed(service_users):
    """Undoing an adjustment puts the counter back where it was."""
    set_counters("U00002", 7, 0)
    adjustment = counter_adjust(
        user_id="U00002", column="login_count", amount=3, set_to=True, reason="typo"
    )
    assert adjustment.execution is not None
    execution_reverse(execution_name=adjustment.execution.name, reason="wrong user")
    assert counters()["U00002"] == (7, 0)
    assert_trail_clean()


# --- adjustments -------------------------------------------------------------------------


def test_adjust_adds_or_sets_with_one_log_row(service_users):
    """--add and --set each write one success row old → new and change that counter only."""
    set_counters("U00001", 4, 9)
    added = counter_adjust(
        user_id="U00001", column="login_count", amount=-3, set_to=False, reason="double count"
    )
    assert added.execution is not None
    assert added.execution.kind == Execution.Kind.ADJUSTMENT
    assert rows_of(added.execution.name) == [("U00001", "login_update", 4, 1, "success", None)]
    setting = counter_adjust(
        user_id="U00001", column="post_count", amount=2, set_to=True, reason="support ticket"
    )
    assert setting.execution is not None
    assert rows_of(setting.execution.name) == [("U00001", "post_update", 9, 2, "success", None)]
    assert counters()["U00001"] == (1, 2)
    assert_trail_clean()


@pytest.mark.parametrize(
    ("amount", "set_to", "message"),
    [
        (-5, False, "login_count: 4 → -1 would take the counter below 0"),
        (2_147_483_647, False, "login_count: 4 → 2147483651 is above the maximum 2147483647"),
        (-1, True, "login_count: 4 → -1 would take the counter below 0"),
    ],
)
def test_adjust_outside_the_counter_range_is_a_failed_row(service_users, amount, set_to, message):
    """A result outside 0 … 2,147,483,647: one failed row with the reason; the counter stays."""
    set_counters("U00001", 4, 0)
    result = counter_adjust(
        user_id="U00001", column="login_count", amount=amount, set_to=set_to, reason="r"
    )
    assert result.execution is not None
    assert rows_of(result.execution.name) == [
        ("U00001", "login_update", 4, None, "failed", message)
    ]
    assert counters()["U00001"] == (4, 0)
    assert_trail_clean()


def test_adjust_a_user_without_counters_creates_them(service_users):
    """A user without a statistics row starts at 0; a success creates the row."""
    ServiceUser.objects.create(user_id="U00077")
    counter_adjust(user_id="U00077", column="post_count", amount=3, set_to=False, reason="r")
    assert counters()["U00077"] == (0, 3)
    assert_trail_clean()


def test_adjust_refusals(service_users):
    """An unknown user or counter, or no reason: refused, nothing written."""
    with pytest.raises(CorrectionRefused, match="'U99999' is not in the users table"):
        counter_adjust(user_id="U99999", column="login_count", amount=1, set_to=False, reason="r")
    with pytest.raises(CorrectionRefused, match="no counter 'logins'"):
        counter_adjust(user_id="U00001", column="logins", amount=1, set_to=False, reason="r")
    with pytest.raises(CorrectionRefused, match="needs a reason"):
        counter_adjust(user_id="U00001", column="login_count", amount=1, set_to=False, reason="")
    assert not ProcessingLog.objects.exists() and not Execution.objects.exists()
