from django.core.management.base import BaseCommand, CommandError

from logs.services.integrity import logs_verify


class Command(BaseCommand):
    help = (
        "Check the audit trail: execution digests, counter chains, an empty DEFAULT partition, "
        "counters equal to their last logged values. Exit 0 clean, 1 problems (listed)."
    )

    def handle(self, *args, **options) -> None:
        problems = logs_verify()
        if not problems:
            self.stdout.write("processing logs verified: no problems")
            return
        for problem in problems:
            self.stdout.write(f"problem: {problem}")
        msg = f"{len(problems)} problem(s) in the processing logs"
        raise CommandError(msg, returncode=1)
