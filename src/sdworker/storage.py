"""Uploads to an S3-compatible bucket through the runpod SDK's rp_upload (boto3)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from runpod.serverless.utils import rp_upload

from .errors import JobError

_CRED_VARS = ("BUCKET_ENDPOINT_URL", "BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY")


@dataclass(frozen=True)
class Bucket:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    name: str
    url_expiry: int = 7 * 24 * 3600

    @classmethod
    def from_env(cls) -> Bucket | None:
        """The configured bucket, or None when no credentials are set at all."""
        values = [os.environ.get(var, "").strip() for var in _CRED_VARS]
        if not any(values):
            return None
        missing = [var for var, value in zip(_CRED_VARS, values, strict=True) if not value]
        name = os.environ.get("BUCKET_NAME", "").strip()
        if not name:
            missing.append("BUCKET_NAME")
        if missing:
            raise ValueError(f"bucket upload is half configured: set {', '.join(missing)}")
        expiry = int(os.environ.get("BUCKET_URL_EXPIRY", cls.url_expiry))
        return cls(*values, name=name, url_expiry=expiry)

    def upload(self, key: str, data: bytes, content_type: str) -> str:
        """Store one object and return a presigned URL to it."""
        creds = {
            "endpointUrl": self.endpoint_url,
            "accessId": self.access_key_id,
            "accessSecret": self.secret_access_key,
        }
        client, _ = rp_upload.get_boto_client(creds)
        if client is None:
            raise JobError("bucket upload needs boto3, which is not installed")
        try:
            client.put_object(Bucket=self.name, Key=key, Body=data, ContentType=content_type)
            return client.generate_presigned_url(
                "get_object", Params={"Bucket": self.name, "Key": key}, ExpiresIn=self.url_expiry
            )
        except Exception as exc:  # boto3 raises many unrelated types; all mean the same here
            raise JobError(
                f"upload to bucket '{self.name}' at {self.endpoint_url} failed: "
                f"{type(exc).__name__}: {str(exc)[:200]}"
            ) from exc
