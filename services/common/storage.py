"""The S3 client every service builds the same way, from the environment the harness derives."""

from __future__ import annotations

from typing import Any

from services.common import settings


def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.need("S3_ENDPOINT"),
        aws_access_key_id=settings.need("S3_ACCESS_KEY"),
        aws_secret_access_key=settings.need("S3_SECRET_KEY"),
        region_name=settings.get("S3_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", retries={"max_attempts": 2}),
    )


def artifacts_bucket() -> str:
    return settings.get("ARTIFACTS_BUCKET", "artifacts")
