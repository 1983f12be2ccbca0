"""What a run of a corpus file may have written: taken before, compared after."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from logs.models import Execution, ProcessingError, ProcessingLog
from logs.tests.corpus.cases import Case
from users.models import UserStatistics


def counters() -> dict[str, tuple[int, int]]:
    """Every user's (login_count, post_count)."""
    return {s.user_id: (s.login_count, s.post_count) for s in UserStatistics.objects.all()}


def counters_set_apart(user_ids: list[str]) -> None:
    """Give each user non-zero counters of its own, so any stray change is visible."""
    for number, user_id in enumerate(user_ids, start=1):
        UserStatistics.objects.filter(user_id=user_id).update(
            login_count=10 * number, post_count=number
        )


def case_write(directory: Path, case: Case) -> Path:
    """The case's file under its own file name, two folders below ``directory`` (a name
    starting with ``../../`` lands in ``directory`` itself)."""
    folder = directory / "in" / "box"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / case.file_name
    path.write_bytes(case.content)
    return path


@dataclass
class Snapshot:
    last_execution_id: int
    counters: dict[str, tuple[int, int]]
    log_rows: int
    errors: int

    @classmethod
    def take(cls) -> Snapshot:
        last = Execution.objects.order_by("-pk").values_list("pk", flat=True).first()
        return cls(
            last_execution_id=last or 0,
            counters=counters(),
            log_rows=ProcessingLog.objects.count(),
            errors=ProcessingError.objects.count(),
        )

    def new_executions(self):
        """The Executions recorded since the snapshot."""
        return Execution.objects.filter(pk__gt=self.last_execution_id)

    def assert_nothing_written(self) -> None:
        assert self.new_executions().count() == 0
        assert ProcessingError.objects.count() == self.errors
        self.assert_nothing_applied()

    def assert_nothing_applied(self) -> None:
        assert ProcessingLog.objects.count() == self.log_rows
        assert counters() == self.counters
