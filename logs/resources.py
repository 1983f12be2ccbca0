"""django-import-export resources for the log admin's CSV/XLSX export."""

from __future__ import annotations

from django.utils import timezone

from auditsite.exports import FormulaSafeResource
from logs.models import ProcessingLog
from logs.months import business_tz


class ProcessingLogResource(FormulaSafeResource):
    """Every column of processing_logs in the table's (the seed's) order; processed_at in the
    business time zone (ISO 8601)."""

    class Meta:
        model = ProcessingLog

    def dehydrate_processed_at(self, log: ProcessingLog) -> str:
        # Spreadsheets cannot hold a time zone: the offset in the text keeps the instant exact.
        return timezone.localtime(log.processed_at, business_tz()).isoformat()
