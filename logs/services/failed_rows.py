"""Fix and re-upload (SPEC §4a): the rows of an execution with at least one failed cell, as a CSV
in the upload format, taken from the stored original: its own header and raw values, in file
order, in its own encoding, plus a trailing ``error`` column that an upload ignores. The file is
opened in a spreadsheet to be fixed: a cell that would run as a formula there is written with an
apostrophe before it (``cell_neutralise``; whole numbers stay as they are)."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from auditsite.exports import cell_neutralise
from logs.messages import message_localize
from logs.models import Execution
from logs.services.ingest.parsing import ERROR_COLUMN, header_parse, is_blank
from logs.services.sources import SourceError, inspect_file, local_copy, stored_copy


class OriginalMissing(Exception):
    """The execution's original file is not stored (or no longer readable)."""


@dataclass(frozen=True)
class FailedRows:
    file_name: str  # of the download
    content: Iterator[bytes]


def _failed_row_messages(
    execution: Execution, cells_per_row: int, localize: Callable[[str], str]
) -> dict[int, str]:
    """{data row number: its failed cells' messages} from the trail: a run writes its log rows
    in (row, registry) order, so the n-th row of the execution belongs to data row
    ⌈n / cells per row⌉."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (n - 1) / %(per_row)s + 1, array_agg(error_message ORDER BY n)
            FROM (SELECT status, error_message, row_number() OVER (ORDER BY log_id) AS n
                  FROM processing_logs WHERE execution_name = %(name)s) logs
            WHERE status = 'failed'
            GROUP BY 1
            """,
            {"per_row": cells_per_row, "name": execution.name},
        )
        return {
            row: "; ".join(dict.fromkeys(localize(message or "") for message in messages))
            for row, messages in cursor.fetchall()
        }


def _rows(path: Path, encoding: str, failed: dict[int, str]) -> Iterator[bytes]:
    """The header and the failed rows of the file, read as the import reads it (blank lines
    skipped, rows counted the same way), encoded again in the file's encoding."""
    encoder = codecs.getincrementalencoder(encoding)()
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> bytes:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return encoder.encode(text)

    with path.open("rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding=encoding, newline=""), strict=True)
        header = next(row for row in reader if not is_blank(row))
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0].lstrip("\ufeff")
        writer.writerow([*map(cell_neutralise, header), ERROR_COLUMN])
        row_no = 0
        for fields in reader:
            if len(fields) <= 1 and is_blank(fields):
                continue
            row_no += 1
            if row_no in failed:
                writer.writerow([*map(cell_neutralise, fields), cell_neutralise(failed[row_no])])
                if buffer.tell() > 64 * 1024:
                    yield flush()
    yield flush() + encoder.encode("", final=True)


def execution_failed_rows(
    *, execution: Execution, localize: Callable[[str], str] = message_localize
) -> FailedRows:
    """The failed-rows CSV of a completed import; its messages are rendered now (``localize``,
    the reader's language), its rows streamed from the stored original."""
    opener = stored_copy(execution.file.name) if execution.file else local_copy(execution.source)
    local = contextlib.ExitStack()  # the local copy stays until the download has streamed
    try:
        path = local.enter_context(opener)
        facts = inspect_file(path)
        if execution.sha256 and facts.sha256 != execution.sha256:
            msg = f"{execution.source} is no longer the file that was imported"
            raise OriginalMissing(msg)
        with path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding=facts.encoding, newline="")
            header = header_parse(next(row for row in csv.reader(text) if not is_blank(row)))
        failed = _failed_row_messages(execution, len(header.statistics), localize)
    except (SourceError, OSError) as exc:
        local.close()
        raise OriginalMissing(str(exc)) from exc
    except BaseException:
        local.close()
        raise

    def content() -> Iterator[bytes]:
        with local:
            yield from _rows(path, facts.encoding, failed)

    stem = Path(execution.file_name or execution.name).stem
    return FailedRows(file_name=f"{stem}-failed-rows.csv", content=content())
