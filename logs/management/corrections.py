"""What the correction commands share: run one correction, print what it did, exit 0, or 2 when
it is refused (1 for anything unexpected)."""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import CommandError

from logs.management.terminal import terminal_text
from logs.services.corrections import CorrectionRefused, CorrectionResult

EXIT_REFUSED = 2


def correction_command_run(write: Callable[[str], None], run: Callable[[], CorrectionResult]):
    """Run ``run`` (a correction service call) and print its summary with ``write``."""

    def write_line(line: str) -> None:
        write(terminal_text(line))

    try:
        result = run()
    except CorrectionRefused as exc:
        msg = terminal_text(f"refused: {exc}")
        raise CommandError(msg, returncode=EXIT_REFUSED) from exc
    except Exception as exc:
        msg = terminal_text(f"unexpected error: {type(exc).__name__}: {exc}")
        raise CommandError(msg) from exc
    mode = "dry run (nothing written)" if result.dry_run else "completed"
    write_line(f"{result.execution_name or result.kind}: {mode}")
    write_line(f"log rows: {result.log_rows:,}")
    for processing_type, per_status in result.counts.items():
        write_line(
            f"  {processing_type}: success {per_status['success']:,}, "
            f"failed {per_status['failed']:,}"
        )
    for problem in result.problems[:20]:
        write_line(
            f"  {problem.user_id or '-'} {problem.processing_type or '-'}: {problem.message}"
        )
    if result.failed_count > 20:
        write_line(f"  … {result.failed_count:,} failed cells in all")
    write_line(f"elapsed: {result.elapsed_seconds:.2f} s")
