from django.core.management.base import CommandParser

from logs.management.jobs import JobCommand
from logs.services.retention import MonthPlan, RetentionDetails, retention_run


class Command(JobCommand):
    help = (
        "Months past LOG_RETENTION_MONTHS: summarize, archive to S3 (if ARCHIVE_S3_BUCKET), "
        "verify, then detach and drop their partitions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would be summarized, archived and dropped; change nothing",
        )

    def run_job(self, *, dry_run: bool, **options):
        return retention_run(dry_run=dry_run)

    def report(self, run):
        details = RetentionDetails.from_run(run)
        bucket = details.archive_bucket
        if run.dry_run:
            yield "dry run: nothing summarized, archived or dropped"
        yield f"keeping months from {details.keep_from}; archive: " + (
            f"s3://{bucket}" if bucket else "off"
        )
        if not details.months:
            yield "no month past retention"
        for month, entry in details.months.items():
            if isinstance(entry, MonthPlan):
                archive = (
                    f"; archive {entry.rows} rows to {entry.archive_key} ({entry.archive})"
                    if entry.archive is not None
                    else ""
                )
                yield (
                    f"{month} {entry.partition}: {entry.rows} rows; would summarize "
                    f"{entry.summarize_rows} rows{archive}; would drop {entry.rows} rows"
                )
            else:
                archive = f"; archive: {entry.archive}" if entry.archive is not None else ""
                yield (
                    f"{month} {entry.partition}: summarized {entry.summarized_rows} rows"
                    f"{archive}; dropped {entry.dropped_rows} rows"
                )
        if not run.dry_run:
            yield (
                f"rows summarized {run.rows_summarized}, archived {run.rows_archived}, "
                f"deleted {run.rows_deleted}; partitions dropped: "
                + (", ".join(run.partitions_dropped) or "none")
            )
