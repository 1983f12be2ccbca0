"""Where failed cells and rejected files are kept for ERROR_RETENTION_DAYS: the database
(``processing_errors``) or, with ``ERROR_STORE=dynamodb``, a DynamoDB table with a TTL attribute.

DynamoDB items: partition key ``error_id`` (S) — ``<execution name>#<log_id>`` for a failed cell,
``<execution name>#file`` for a rejected file — plus ``execution_name``, ``user_id``,
``processing_type``, ``error_message``, ``created_at`` (ISO 8601) and ``expires_at`` (epoch
seconds, the table's TTL attribute).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from logs.models import Execution, ProcessingError, ProcessingLog


def _uses_dynamodb() -> bool:
    return settings.ERROR_STORE == "dynamodb"


def _expires_at(created: datetime) -> datetime:
    return created + timedelta(days=settings.ERROR_RETENTION_DAYS)


def _dynamodb_table():
    import boto3

    return boto3.resource("dynamodb").Table(settings.ERROR_DYNAMODB_TABLE)


def _dynamodb_item(
    *,
    error_id: str,
    execution_name: str,
    message: str,
    created: datetime,
    user_id: str | None = None,
    processing_type: str | None = None,
) -> dict:
    item = {
        "error_id": error_id,
        "execution_name": execution_name,
        "error_message": message,
        "created_at": created.isoformat(),
        "expires_at": int(_expires_at(created).timestamp()),
    }
    if user_id:
        item["user_id"] = user_id
    if processing_type:
        item["processing_type"] = processing_type
    return item


def errors_record_staged_cells(*, execution: Execution, failed_cells: str) -> int:
    """Store the failed cells of the import being applied (database store, same transaction).

    ``failed_cells`` is the engine's query of them (``ingest.apply.failed_cells_sql``: row_no,
    line_no, idx, user_id, raw_user_id, processing_type, raw, error_message); with the DynamoDB
    store nothing is written here (see ``errors_export_cells``, called after commit).
    """
    if _uses_dynamodb():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO processing_errors (execution_id, execution_name, kind, row_number, user_id,
                                           processing_type, raw_value, error_message, created_at,
                                           expires_at)
            SELECT %(id)s, %(name)s, 'cell', line_no, left(coalesce(user_id, raw_user_id), 64),
                   processing_type, left(raw, 1000), error_message, now(),
                   now() + make_interval(days => %(days)s)
            FROM ({failed_cells}) failed ORDER BY row_no, idx
            """,  # noqa: S608 - the engine's own query, no outside input
            {"id": execution.pk, "name": execution.name, "days": settings.ERROR_RETENTION_DAYS},
        )
        return cursor.rowcount


def errors_export_cells(*, execution: Execution) -> int:
    """With ERROR_STORE=dynamodb: copy the committed failed log rows of ``execution`` there."""
    if not _uses_dynamodb():
        return 0
    created = execution.finished_at or timezone.now()
    failed = (
        ProcessingLog.objects.filter(execution_name=execution.name, status="failed")
        .order_by("log_id")
        .values_list("log_id", "user_id", "processing_type", "error_message")
    )
    count = 0
    with _dynamodb_table().batch_writer() as batch:
        for log_id, user_id, processing_type, message in failed.iterator(chunk_size=2000):
            batch.put_item(
                Item=_dynamodb_item(
                    error_id=f"{execution.name}#{log_id}",
                    execution_name=execution.name,
                    message=message or "",
                    created=created,
                    user_id=user_id,
                    processing_type=processing_type,
                )
            )
            count += 1
    return count


def error_record_file(*, execution: Execution, message: str) -> None:
    """Store the reason a whole file was rejected."""
    created = timezone.now()
    if _uses_dynamodb():
        _dynamodb_table().put_item(
            Item=_dynamodb_item(
                error_id=f"{execution.name}#file#{execution.pk}",
                execution_name=execution.name,
                message=message,
                created=created,
            )
        )
        return
    ProcessingError.objects.create(
        execution=execution,
        execution_name=execution.name,
        kind=ProcessingError.Kind.FILE,
        error_message=message,
        created_at=created,
        expires_at=_expires_at(created),
    )
