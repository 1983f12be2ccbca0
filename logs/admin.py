from django.contrib import admin

from logs.models import Execution, JobRun, ProcessingError, ProcessingLog, ProcessingLogSummary


class ReadOnlyAdmin(admin.ModelAdmin):
    """The audit trail is read-only for everybody, superusers included (pghistory's way)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProcessingLog)
class ProcessingLogAdmin(ReadOnlyAdmin):
    list_display = (
        "log_id",
        "processed_at",
        "execution_name",
        "user_id",
        "processing_type",
        "old_value",
        "new_value",
        "status",
        "error_message",
    )
    list_filter = ("status", "processing_type")
    search_fields = ("=user_id",)
    ordering = ("-processed_at", "-log_id")
    show_full_result_count = False


@admin.register(ProcessingLogSummary)
class ProcessingLogSummaryAdmin(ReadOnlyAdmin):
    list_display = (
        "summary_date",
        "execution_name",
        "total_processed",
        "success_count",
        "failed_count",
        "skipped_count",
    )
    search_fields = ("execution_name",)


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "status",
        "uploaded_by",
        "created_at",
        "rows_total",
        "success_count",
        "failed_count",
        "skipped_count",
    )
    list_filter = ("status",)
    search_fields = ("name", "file_name", "sha256")


@admin.register(ProcessingError)
class ProcessingErrorAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "execution_name",
        "kind",
        "row_number",
        "user_id",
        "processing_type",
        "error_message",
        "expires_at",
    )
    list_filter = ("kind",)
    search_fields = ("=user_id", "execution_name")


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("job", "status", "dry_run", "started_at", "finished_at", "error_message")
    list_filter = ("job", "status")
