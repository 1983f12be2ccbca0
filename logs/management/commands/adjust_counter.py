from django.core.management.base import BaseCommand, CommandError

from logs.management.commands.reverse_execution import EXIT_REFUSED, print_result
from logs.services.corrections import CorrectionRefused, command_requester, counter_adjust


class Command(BaseCommand):
    help = (
        "Add to or set one counter of one user by a logged adjustment (SPEC §4a). "
        "Exit 0 applied (even if the cell failed), 2 refused, 1 unexpected error."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("user_id", help="the service user")
        parser.add_argument("column", help="the counter, e.g. login_count")
        change = parser.add_mutually_exclusive_group(required=True)
        change.add_argument("--add", type=int, help="add N (negative to lower it)")
        change.add_argument("--set", type=int, help="set it to N")
        parser.add_argument("--reason", required=True, help="why it is adjusted (kept with it)")
        parser.add_argument(
            "--by", help="username of who asked for it (required when approval is on)"
        )

    def handle(self, *args, **options) -> None:
        set_to = options["set"] is not None
        try:
            requester = command_requester(username=options["by"], dry_run=False)
            result = counter_adjust(
                user_id=options["user_id"],
                column=options["column"],
                amount=options["set"] if set_to else options["add"],
                set_to=set_to,
                reason=options["reason"],
                requested_by=requester,
            )
        except CorrectionRefused as exc:
            msg = f"refused: {exc}"
            raise CommandError(msg, returncode=EXIT_REFUSED) from exc
        except Exception as exc:
            msg = f"unexpected error: {type(exc).__name__}: {exc}"
            raise CommandError(msg) from exc
        print_result(self.stdout.write, result)
