"""Uploads to an S3-compatible bucket through the runpod SDK's rp_upload (boto3)."""

from __future__ import annotations

from runpod.serverless.utils import rp_upload

from .config import Bucket
from .errors import JobError


def upload(bucket: Bucket, key: str, data: bytes, content_type: str) -> str:
    """Store one object and return a presigned URL to it."""
    creds = {
        "endpointUrl": bucket.endpoint_url,
        "accessId": bucket.access_key_id,
        "accessSecret": bucket.secret_access_key,
    }
    client, _ = rp_upload.get_boto_client(creds)
    if client is None:
        raise JobError("bucket upload needs boto3, which is not installed")
    try:
        client.put_object(Bucket=bucket.name, Key=key, Body=data, ContentType=content_type)
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket.name, "Key": key}, ExpiresIn=bucket.url_expiry
        )
    except Exception as exc:  # boto3 raises many unrelated types; all mean the same here
        raise JobError(
            f"upload to bucket '{bucket.name}' at {bucket.endpoint_url} failed: "
            f"{type(exc).__name__}: {str(exc)[:200]}"
        ) from exc
