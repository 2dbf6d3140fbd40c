"""A real S3 API for upload tests: moto in server mode on a loopback port, with IAM auth on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3

from sdworker.config import Bucket
from tests.conftest import free_port

BUCKET = "worker-output"
# moto lets this many requests through unauthenticated (our set-up), then checks every key.
_SETUP_ACTIONS = 4


class S3Server:
    """auth=True makes moto check access keys (its presigned-URL check then fails, a moto
    limitation), so URL fetches are tested on a server with auth=False."""

    def __init__(self, auth: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        moto = Path(sys.executable).with_name("moto_server")
        env = dict(os.environ)
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(_SETUP_ACTIONS)
        self.proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait()
        self.key_id, self.secret = self._set_up()

    def _wait(self) -> None:
        # A TCP probe, not HTTP: every HTTP request spends one of moto's unauthenticated actions.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start")

    def _client(self, service: str, key_id="setup", secret="setup"):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def _set_up(self) -> tuple[str, str]:
        self._client("s3").create_bucket(Bucket=BUCKET)
        iam = self._client("iam")
        iam.create_user(UserName="worker")
        key = iam.create_access_key(UserName="worker")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="worker", PolicyName="all", PolicyDocument=json.dumps(policy))
        return key["AccessKeyId"], key["SecretAccessKey"]

    def bucket(self, **changes) -> Bucket:
        fields = {
            "endpoint_url": self.url,
            "access_key_id": self.key_id,
            "secret_access_key": self.secret,
            "name": BUCKET,
        }
        return Bucket(**{**fields, **changes})

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        s3 = self._client("s3", self.key_id, self.secret)
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
