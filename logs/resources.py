"""django-import-export resources for the log admin's CSV/XLSX export."""

from __future__ import annotations

from django.utils import timezone
from import_export import fields

from auditsite.exports import FormulaSafeResource
from logs.models import ProcessingLog
from logs.services.partitions import business_tz


class ProcessingLogResource(FormulaSafeResource):
    """The seed's columns in the seed's order; processed_at in the business time zone (ISO 8601)."""

    processed_at = fields.Field(attribute="processed_at", column_name="processed_at")

    class Meta:
        model = ProcessingLog
        fields = (
            "log_id",
            "execution_name",
            "user_id",
            "processing_type",
            "old_value",
            "new_value",
            "status",
            "error_message",
            "processed_at",
        )
        export_order = fields

    def dehydrate_processed_at(self, log: ProcessingLog) -> str:
        # Spreadsheets cannot hold a time zone: the offset in the text keeps the instant exact.
        return timezone.localtime(log.processed_at, business_tz()).isoformat()
