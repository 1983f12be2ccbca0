from django.core.management.base import CommandParser

from logs.management.jobs import JobCommand, month_argument
from logs.services.summaries import summaries_update


class Command(JobCommand):
    help = (
        "Upsert processing_logs_summary for every complete month not summarized yet or whose "
        "rows changed since (idempotent); --month forces one month."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", type=month_argument, default=None, help="YYYY-MM")

    def run_job(self, *, month, **options):
        return summaries_update(month=month)

    def report(self, run):
        for month, change in run.details["months"].items():
            yield f"{month}: {change['rows']} rows in {change['executions']} execution summaries"
        if not run.details["months"]:
            checked = run.details["checked"]
            yield f"up to date: {', '.join(checked)}" if checked else "no complete month to check"
        yield f"rows summarized: {run.rows_summarized}"
