"""CSV ingestion: every cell of an activity file becomes exactly one processing log row.

A run reads its file twice, in ONE transaction per Execution (``run``). The first pass
(``parsing``: the header, row-level problems and each value's syntax) streams the rows' user_ids
with ``COPY`` into a temporary table (``staging``); the run locks those users and reads back, in
file order, whether each exists and its counters before the file. The second pass classifies
each cell by the cell table (``classify``, following ``cells.RULES``): a user's cells of one
statistic chain from the counter the previous one left. Its log rows stream into
``processing_logs`` by one ``COPY`` as they are classified, hashed for the digest on the way, so
Python classifies while the database writes (``apply``); then the failed cells and the final
counters go in by ``COPY`` and one statement per table updates ``user_statistics`` and creates
the rows of users that had none. No statement runs per row.

Concurrency: before reading any counter, the run locks the ``users`` rows of the file's users in
``user_id`` order (``FOR NO KEY UPDATE``), so two imports over the same users serialize per user,
never deadlock, and never lose an update. The Execution's states are changed by
``logs.services.executions`` only.
"""

from logs.messages import message_localize
from logs.services.executions import execution_fail_if_abandoned, execution_run_lock_try
from logs.services.ingest.cells import MAX_COUNTER, CellKind
from logs.services.ingest.classify import CellProblem
from logs.services.ingest.naming import MAX_NAME_LENGTH, source_file_name
from logs.services.ingest.parsing import Header, header_parse
from logs.services.ingest.run import (
    ExecutionNotPending,
    IngestRejected,
    IngestResult,
    execution_create,
    execution_run,
    execution_run_queued,
    ingest_preview,
)
from logs.services.ingest.staging import Progress

__all__ = [
    "MAX_COUNTER",
    "MAX_NAME_LENGTH",
    "CellKind",
    "CellProblem",
    "ExecutionNotPending",
    "Header",
    "IngestRejected",
    "IngestResult",
    "Progress",
    "execution_create",
    "execution_fail_if_abandoned",
    "execution_run",
    "execution_run_lock_try",
    "execution_run_queued",
    "header_parse",
    "ingest_preview",
    "message_localize",
    "source_file_name",
]
