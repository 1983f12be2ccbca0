"""Corrections running at the same time as imports (SPEC §4a, §10): the users are locked in
user_id order like an import's, so no update is lost and every chain holds.

Overlap is forced as in the import tests: a third connection holds a user's row until both runs
wait on it."""

from __future__ import annotations

import pytest

from logs.models import Execution
from logs.services.corrections import CorrectionRefused, execution_reverse
from logs.services.integrity import execution_digest
from logs.tests.services.test_ingest_concurrency import (
    _assert_chains,
    _counters,
    _expected,
    _import_file,
    _let_contend,
    _random_rows,
    _users_row_locked,
    _Worker,
    _write_rows,
    assert_verify_logs_clean,
)
from users.services import demo_users_seed

pytestmark = pytest.mark.django_db(transaction=True)


def test_reversal_and_import_over_the_same_users_keep_the_chain(tmp_path):
    """A reversal of one file and an import of another, over shared repeated users, started
    at once: the counters are the second file's additions only, every chain is unbroken, both
    digests hold, verify_logs is clean."""
    demo_users_seed(count=50)
    initial = _counters()
    rows_a, rows_b = _random_rows(1, 300, 40), _random_rows(2, 300, 40)
    first = _import_file(_write_rows(tmp_path / "a.csv", rows_a))
    assert first.execution is not None
    file_b = _write_rows(tmp_path / "b.csv", rows_b)

    with _users_row_locked("U00001"):
        workers = [
            _Worker(lambda: execution_reverse(execution_name=first.execution_name, reason="r")),
            _Worker(lambda: _import_file(file_b)),
        ]
        for worker in workers:
            worker.start()
        _let_contend(workers)
    reversal, second = (worker.finish() for worker in workers)

    assert _counters() == _expected(initial, rows_b)
    for name in (reversal.execution_name, second.execution_name):
        execution = Execution.objects.get(name=name)
        assert execution.status == Execution.Status.COMPLETED
        assert execution.digest == execution_digest(execution_name=name)
    _assert_chains(initial)
    assert_verify_logs_clean()


def test_two_reversals_of_one_execution_at_once_apply_once(tmp_path):
    """The same execution reversed twice at once: one reversal runs, the other is refused."""
    demo_users_seed(count=10)
    initial = _counters()
    first = _import_file(_write_rows(tmp_path / "a.csv", _random_rows(3, 50, 10)))

    with _users_row_locked("U00001"):
        workers = [
            _Worker(lambda: execution_reverse(execution_name=first.execution_name, reason="r"))
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        _let_contend(workers)
    outcomes = []
    for worker in workers:
        try:
            outcomes.append(worker.finish())
        except CorrectionRefused as exc:
            outcomes.append(exc)
    assert sum(isinstance(outcome, CorrectionRefused) for outcome in outcomes) == 1
    assert Execution.objects.filter(kind=Execution.Kind.REVERSAL).count() == 1
    assert _counters() == initial
    assert_verify_logs_clean()
