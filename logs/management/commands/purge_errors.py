from logs.management.jobs import JobCommand
from logs.services.errors import errors_purge


class Command(JobCommand):
    help = "Delete the processing errors past their expires_at (ERROR_RETENTION_DAYS)."

    def run_job(self, **options):
        return errors_purge()

    def report(self, run):
        yield f"expired processing errors deleted: {run.rows_deleted}"
