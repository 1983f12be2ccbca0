from logs.management.jobs import JobCommand
from logs.services.executions import executions_fail_stale


class Command(JobCommand):
    help = "Mark executions still pending or running after STALE_RUN_MINUTES as failed."

    def run_job(self, **options):
        return executions_fail_stale()

    def report(self, run):
        yield f"stale executions marked failed: {run.details['failed']}"
        for execution in run.details["executions"]:
            yield f"  #{execution['id']} {execution['name']}"
