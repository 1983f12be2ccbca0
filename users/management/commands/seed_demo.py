from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from logs.services.demo import demo_trail_seed
from users.services import (
    DEMO_PASSWORD,
    demo_accounts_seed,
    demo_csvs_write,
    demo_user_ids,
    demo_users_seed,
)


class Command(BaseCommand):
    help = (
        "A lived-in demo: service users, one staff account per role, about two months of daily "
        "imports ending today, today's runs (one rejected), a run of every job, and two sample "
        "CSV files. The trail is only seeded when empty, so running this again adds nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users", type=int, default=200, help="number of demo service users")

    def handle(self, *args, **options) -> None:
        count = options["users"]
        if count < 1:
            msg = "--users must be 1 or more"
            raise CommandError(msg)
        users = demo_users_seed(count=count)
        accounts = demo_accounts_seed()
        trail = demo_trail_seed(user_ids=demo_user_ids(count=count))
        samples = demo_csvs_write(directory=Path(settings.MEDIA_ROOT) / "demo", users=count)
        self.stdout.write(f"{users} demo service users")
        self.stdout.write(f"accounts (password {DEMO_PASSWORD!r}): {', '.join(accounts)}")
        if trail.history:
            self.stdout.write(
                f"demo history: {trail.first_day} to yesterday, {len(trail.history)} daily "
                f"imports, {trail.history_total('log_rows'):,} log rows "
                f"({trail.history_total('failed_count'):,} failed, "
                f"{trail.history_total('skipped_count'):,} skipped)"
            )
        else:
            self.stdout.write(f"demo history: {trail.note}")
        for execution in trail.today:
            if execution.status == execution.Status.COMPLETED:
                what = f"{execution.log_rows} log rows, {execution.failed_count} failed"
            else:
                what = execution.error_message
            self.stdout.write(f"today: {execution.name} {execution.status} ({what})")
        if trail.job_runs:
            runs = ", ".join(f"{run.job} {run.status}" for run in trail.job_runs)
            month = (
                f"; month summarized: {trail.summarized_month}" if trail.summarized_month else ""
            )
            self.stdout.write(f"job runs: {runs}{month}")
        for sample in samples:
            self.stdout.write(f"sample CSV: {sample}")
