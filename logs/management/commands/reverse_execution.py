from django.core.management.base import BaseCommand

from logs.management.corrections import correction_command_run
from logs.services.corrections import command_requester, execution_reverse


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
        correction_command_run(
            self.stdout.write,
            lambda: execution_reverse(
                execution_name=options["name"],
                reason=options["reason"],
                requested_by=command_requester(username=options["by"], dry_run=options["dry_run"]),
                dry_run=options["dry_run"],
            ),
        )
