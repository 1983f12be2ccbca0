import time

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from logs.management.terminal import terminal_text
from logs.models import Execution
from logs.selectors import corrected_execution
from logs.services.ingest import (
    IngestRejected,
    IngestResult,
    execution_create,
    execution_run,
    ingest_preview,
    source_file_name,
)
from logs.services.sources import SourceError, local_copy

EXIT_REJECTED = 2


class _TerminalProgress:
    """Progress on stderr for long files: one updating line on a terminal, a line per phase
    otherwise."""

    def __init__(self, stream: OutputWrapper) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._phase = ""
        self._last = 0.0

    def __call__(self, phase: str, rows: int, bytes_read: int) -> None:
        now = time.monotonic()
        if phase == self._phase and (not self._tty or now - self._last < 0.2):
            return
        self._phase, self._last = phase, now
        end = "\r" if self._tty else "\n"
        self._stream.write(f"{phase}: {rows:,} rows, {bytes_read / 1e6:,.1f} MB read", ending=end)
        self._stream.flush()


class Command(BaseCommand):
    # The project's checks run with ``manage.py check``, the web server and migrations; an import
    # (often scheduled) skips them, a fifth of a second of start-up spent before any row is read.
    requires_system_checks: list[str] = []
    help = (
        "Import an activity CSV (a path or s3://bucket/key). "
        "Exit 0 processed (even with failed rows), 2 rejected, 1 unexpected error."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help="path of the CSV file, or s3://bucket/key")
        parser.add_argument("--execution-name", help="name of this run (default: from the file)")
        parser.add_argument("--force", action="store_true", help="process a duplicate file")
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would happen; write nothing"
        )
        parser.add_argument(
            "--corrects", help="name of the completed import whose failed rows this file fixes"
        )

    def handle(self, *args, **options) -> None:
        source = options["source"]
        file_name = source_file_name(source)
        try:
            if options["dry_run"]:
                with local_copy(source) as path:
                    result = ingest_preview(
                        path=path,
                        file_name=file_name,
                        execution_name=options["execution_name"],
                        force=options["force"],
                    )
            else:
                corrects = None
                if options["corrects"]:
                    corrects = corrected_execution(options["corrects"])
                    if corrects is None:
                        self._exit_rejected(f"no completed import named {options['corrects']!r}")
                execution = execution_create(
                    file_name=file_name,
                    source=source,
                    source_kind=Execution.SourceKind.COMMAND,
                    execution_name=options["execution_name"],
                    force=options["force"],
                    corrects=corrects,
                )
                result = execution_run(execution=execution, progress=_TerminalProgress(self.stderr))
        except IngestRejected as exc:
            self._exit_rejected(str(exc))
        except SourceError as exc:  # dry run of an unreadable source
            self._exit_rejected(str(exc))
        except Exception as exc:
            msg = terminal_text(f"unexpected error: {type(exc).__name__}: {exc}")
            raise CommandError(msg) from exc
        if result.rejected:
            self._exit_rejected(result.message, result.execution_name)
        self._print_summary(result)

    def _exit_rejected(self, message: str, name: str | None = None) -> None:
        label = f"{name}: " if name else ""
        msg = terminal_text(f"rejected: {label}{message}")
        raise CommandError(msg, returncode=EXIT_REJECTED)

    def _print_summary(self, result: IngestResult) -> None:
        def out(line: str) -> None:
            self.stdout.write(terminal_text(line))

        mode = "dry run (nothing written)" if result.dry_run else "completed"
        out(f"{result.execution_name}: {mode}")
        out(f"rows read: {result.rows_total:,}  log rows: {result.log_rows:,}")
        for processing_type, per_status in result.counts.items():
            out(
                f"  {processing_type}: success {per_status['success']:,}, "
                f"failed {per_status['failed']:,}, skipped {per_status['skipped']:,}"
            )
        for warning in result.warnings:
            out(f"warning: {warning}")
        for problem in result.problems[:20]:
            out(f"  line {problem.row_number}: {problem.message}")
        if result.failed_count > 20:
            out(f"  … {result.failed_count:,} failed cells in all")
        out(f"elapsed: {result.elapsed_seconds:.2f} s ({result.rows_per_second:,.0f} rows/s)")
