"""The S3 client of every S3 use: CSV sources ``s3://…`` and the archive of expired months."""

from __future__ import annotations

from django.conf import settings


def s3_client():
    """A boto3 S3 client; ``AWS_S3_ENDPOINT_URL`` points it at an S3-compatible store."""
    import boto3  # a fifth of a second to import: only processes that use S3 pay it

    return boto3.client("s3", endpoint_url=settings.AWS_S3_ENDPOINT_URL or None)
