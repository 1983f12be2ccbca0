from django.core.management.base import BaseCommand

from logs.management.corrections import correction_command_run
from logs.services.corrections import command_requester, counter_adjust


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
        correction_command_run(
            self.stdout.write,
            lambda: counter_adjust(
                user_id=options["user_id"],
                column=options["column"],
                amount=options["set"] if set_to else options["add"],
                set_to=set_to,
                reason=options["reason"],
                requested_by=command_requester(username=options["by"], dry_run=False),
            ),
        )
