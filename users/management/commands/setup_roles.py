from django.core.management.base import BaseCommand

from users.services import roles_setup


class Command(BaseCommand):
    help = "Create or update the role groups (uploader, support, auditor, corrector). Idempotent."

    def handle(self, *args, **options) -> None:
        for role, count in roles_setup().items():
            self.stdout.write(f"{role}: {count} permissions")
