"""Factories of the logs app: executions and processing log rows, with only what a test names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import factory
from factory.django import DjangoModelFactory

from logs.models import Execution, ProcessingLog
from logs.services.log_counts import log_counts_rebuild


class ExecutionFactory(DjangoModelFactory[Execution]):
    """An execution (pending, as the model starts one) under a name of its own."""

    class Meta:
        model = Execution

    name = factory.Sequence(lambda n: f"user-log-20260101-{n:06d}")


class ProcessingLogFactory(DjangoModelFactory[ProcessingLog]):
    """A success row of one execution, processed now unless ``processed_at`` is given."""

    class Meta:
        model = ProcessingLog

    execution_name = "user-log-20260101-000000"
    status = "success"

    @classmethod
    def create_rows(cls, rows: Iterable[dict[str, Any]]) -> list[ProcessingLog]:
        """One row per dict of fields, inserted in that order in one statement (log_id order),
        and counted for the dashboard as the engine counts the rows it writes."""
        created = ProcessingLog.objects.bulk_create([cls.build(**fields) for fields in rows])
        log_counts_rebuild(execution_names={log.execution_name for log in created})
        return created
