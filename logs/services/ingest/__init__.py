"""CSV ingestion: every cell of an activity file becomes exactly one processing log row.

The file is parsed once in Python (``parsing``: the header, row-level problems and each value's
syntax) and streamed with ``COPY`` into a temporary staging table (``staging``); everything else
is set-based SQL in ONE transaction per Execution (``run``). One statement classifies each cell
(``classify``, generated from the cell table in ``cells``), with running totals by a window
function when a user is on several rows, keeps the failed cells and the counts, inserts the log
rows with one ``INSERT … SELECT`` in (row, registry) order and streams them back for the digest;
a second statement updates ``user_statistics`` and creates the rows of users that had none
(``apply``). The rare chain that passes 2,147,483,647 is replayed cell by cell (``overflow``).
No loop over rows touches the database.

Concurrency: before reading any counter, the run locks the ``users`` rows of the file's users in
``user_id`` order (``FOR NO KEY UPDATE``), so two imports over the same users serialize per user,
never deadlock, and never lose an update. The Execution's states are changed by
``logs.services.executions`` only.
"""

from logs.messages import message_localize
from logs.services.executions import execution_fail_if_abandoned, execution_run_lock_try
from logs.services.ingest.apply import CellProblem
from logs.services.ingest.cells import MAX_COUNTER, CellKind
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
