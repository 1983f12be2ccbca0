from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from users.services import DEMO_PASSWORD, demo_accounts_seed, demo_csvs_write, demo_users_seed


class Command(BaseCommand):
    help = "Create demo service users, sample CSV files and one staff account per role."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users", type=int, default=50, help="number of demo service users")

    def handle(self, *args, **options) -> None:
        users = demo_users_seed(count=options["users"])
        accounts = demo_accounts_seed()
        samples = demo_csvs_write(
            directory=Path(settings.MEDIA_ROOT) / "demo", users=options["users"]
        )
        self.stdout.write(f"{users} demo service users")
        self.stdout.write(f"accounts (password {DEMO_PASSWORD!r}): {', '.join(accounts)}")
        for sample in samples:
            self.stdout.write(f"sample CSV: {sample}")
