from django.core.management.base import BaseCommand, CommandError

from logs.services.corrections import (
    CorrectionRefused,
    CorrectionResult,
    command_requester,
    execution_reverse,
)

EXIT_REFUSED = 2


def print_result(write, result: CorrectionResult) -> None:
    """A correction's summary, as the reverse and adjust commands print it."""
    mode = "dry run (nothing written)" if result.dry_run else "completed"
    write(f"{result.execution_name or result.kind}: {mode}")
    write(f"log rows: {result.log_rows:,}")
    for processing_type, per_status in result.counts.items():
        write(
            f"  {processing_type}: success {per_status['success']:,}, "
            f"failed {per_status['failed']:,}"
        )
    for problem in result.problems[:20]:
        write(f"  {problem.user_id or '-'} {problem.processing_type or '-'}: {problem.message}")
    if result.failed_count > 20:
        write(f"  … {result.failed_count:,} failed cells in all")
    write(f"elapsed: {result.elapsed_seconds:.2f} s")


class Command(BaseCommand):
    help = (
        "Reverse a completed execution by new log rows (SPEC §4a). "
        "Exit 0 applied, 2 refused, 1 unexpected error."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="name of the execution to reverse")
        parser.add_argument("--reason", required=True, help="why it is reversed (kept with it)")
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would happen; write nothing"
        )
        parser.add_argument(
            "--by", help="username of who asked for it (required when approval is on)"
        )

    def handle(self, *args, **options) -> None:
        try:
            requester = command_requester(username=options["by"], dry_run=options["dry_run"])
            result = execution_reverse(
                execution_name=options["name"],
                reason=options["reason"],
                requested_by=requester,
                dry_run=options["dry_run"],
            )
        except CorrectionRefused as exc:
            msg = f"refused: {exc}"
            raise CommandError(msg, returncode=EXIT_REFUSED) from exc
        except Exception as exc:
            msg = f"unexpected error: {type(exc).__name__}: {exc}"
            raise CommandError(msg) from exc
        print_result(self.stdout.write, result)
