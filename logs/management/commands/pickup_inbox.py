from collections.abc import Iterable

from django.core.management.base import BaseCommand, CommandError, CommandParser

from logs.management.jobs import EXIT_JOB_FAILED
from logs.management.terminal import terminal_text
from logs.models import JobRun
from logs.services.inbox import inbox_pickup
from logs.services.job_runs import JobError, JobFailed


class Command(BaseCommand):
    help = (
        "Import every new *.csv of INBOX_URI (a folder or s3://bucket/prefix/) once, then move "
        "it to processed/ or rejected/ inside the inbox. Exit 0; 1 when some object could not "
        "be handled (the next pickup tries it again)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be taken; change nothing"
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            run = inbox_pickup(dry_run=bool(options["dry_run"]))
        except JobError as exc:
            if isinstance(exc, JobFailed) and exc.job_run is not None:
                for line in self.report(exc.job_run):
                    self.stdout.write(terminal_text(line))
            raise CommandError(terminal_text(str(exc)), returncode=EXIT_JOB_FAILED) from exc
        if run is None:
            self.stdout.write("INBOX_URI is not set: there is no inbox to pick up from")
            return
        for line in self.report(run):
            self.stdout.write(terminal_text(line))
        self.stdout.write(f"job run #{run.pk} {run.status}")

    def report(self, run: JobRun) -> Iterable[str]:
        details = run.details
        yield f"inbox: {details.get('inbox', '')}"
        for taken in details.get("taken", []):
            if "would" in taken:
                yield f"would {taken['would']}: {taken['object']}"
            else:
                yield (
                    f"took {taken['object']}: {taken['execution']} {taken['status']}, "
                    f"moved to {taken['moved_to']}"
                )
        for left in details.get("left", []):
            yield f"left {left['object']}: {left['why']}"
        for error in details.get("errors", []):
            yield f"error {error['object']}: {error['error']}"
        if not any(details.get(part) for part in ("taken", "left", "errors")):
            yield "nothing to pick up"
