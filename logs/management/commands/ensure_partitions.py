from django.core.management.base import CommandParser

from logs.management.jobs import JobCommand
from logs.services.partitions import partitions_maintain


class Command(JobCommand):
    help = (
        "Create the monthly partitions of the current month and the months ahead; "
        "move rows found in DEFAULT into their month's partition."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--months-ahead",
            type=int,
            default=None,
            help="months after the current one to prepare (default: PARTITION_MONTHS_AHEAD)",
        )

    def run_job(self, *, months_ahead: int | None, **options):
        return partitions_maintain(months_ahead=months_ahead)

    def report(self, run):
        yield "created: " + (", ".join(run.partitions_created) or "nothing")
        yield f"rows moved out of DEFAULT: {run.rows_moved}"
        left = run.details["default_rows"]
        if left:
            self.stderr.write(f"rows still in DEFAULT (arrived during the run): {left}")
