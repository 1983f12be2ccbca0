from django.core.management.base import BaseCommand, CommandError

from logs.models import AccessLog
from logs.months import Month
from logs.services.access import access_record
from logs.services.evidence import EvidenceRefused, evidence_pack_write


class Command(BaseCommand):
    help = (
        "Write the evidence pack of a sealed month: its log rows, executions, seal and chain, "
        "archive manifest, and verify.py (python3 verify.py OUT.zip). Exit 0, 2 no such month."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("out", help="the zip file to write")

    def handle(self, *args, **options) -> None:
        try:
            month = Month.parse(options["month"])
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        try:
            with open(options["out"], "wb") as out:
                pack = evidence_pack_write(month=month, out=out)
        except EvidenceRefused as exc:
            raise CommandError(str(exc), returncode=2) from exc
        access_record(
            request=None,
            kind=AccessLog.Kind.EVIDENCE,
            target=f"{pack.month} → {options['out']}",
            rows=pack.rows,
        )
        self.stdout.write(
            f"{pack.month}: {pack.executions} executions, {pack.rows} log rows "
            f"(from {pack.source}) written to {options['out']}"
        )
