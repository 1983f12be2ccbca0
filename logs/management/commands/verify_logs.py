from django.core.management.base import BaseCommand, CommandError

from logs.management.jobs import EXIT_JOB_FAILED
from logs.management.terminal import terminal_text
from logs.services.integrity import logs_verify_run
from logs.services.job_runs import JobFailed


class Command(BaseCommand):
    help = (
        "Check the audit trail: execution digests, counter chains, an empty DEFAULT partition, "
        "counters equal to their last logged values; recorded as a job run. "
        "Exit 0 clean, 1 problems (listed)."
    )

    def handle(self, *args: object, **options: object) -> None:
        try:
            logs_verify_run()  # recorded as a job run; the output stays what scripts read
        except JobFailed as exc:
            problems = exc.job_run.details.get("problems", []) if exc.job_run else []
            for problem in problems:
                self.stdout.write(terminal_text(f"problem: {problem}"))
            msg = f"{len(problems)} problem(s) in the processing logs" if problems else str(exc)
            raise CommandError(terminal_text(msg), returncode=EXIT_JOB_FAILED) from exc
        self.stdout.write("processing logs verified: no problems")
