"""An S3 endpoint: a ``minio`` server when one is on PATH, else moto's standalone server.

Buckets are created once the endpoint answers, before any dependent starts.
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from harness.config.endpoints import Endpoint
from harness.config.models import ContainerModel, Port
from harness.host.probes import Probe
from harness.kinds.base import Kind, Launch, ServiceContext


class S3Service(ContainerModel):
    kind: Literal["s3"] = "s3"
    port: Port = Field(...)
    # Not a word: a secret this short is masked wherever it stands alone (config/masking.py).
    access_key: str = "harness-s3-access"
    secret_key: str = "harness-secret"
    region: str = "us-east-1"
    buckets: list[str] = []
    server: Literal["auto", "minio", "moto"] = "auto"


@dataclass(frozen=True)
class S3Endpoint(Endpoint):
    endpoint: str = ""
    access_key: str = ""
    secret_key: str = ""
    region: str = ""
    buckets: str = ""  # comma-separated, as the exported variable


Ctx = ServiceContext[S3Service, S3Endpoint]


def s3_client(endpoint: str, access_key: str, secret_key: str, region: str, timeout: float = 5.0) -> Any:
    """A boto3 client for one endpoint, with short timeouts and no retries (probes, set-up, sinks)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            signature_version="s3v4", connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}
        ),
    )


@dataclass
class S3Probe:
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    buckets: Sequence[str] = ()

    @property
    def what(self) -> str:
        return f"S3 at {self.endpoint}" + (f" with buckets {', '.join(self.buckets)}" if self.buckets else "")

    def check(self, timeout: float) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = s3_client(self.endpoint, self.access_key, self.secret_key, self.region, timeout)
        try:
            if not self.buckets:
                client.list_buckets()
            for bucket in self.buckets:
                client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            return f"{exc.response.get('Error', {}).get('Code', 'error')} ({self.endpoint})"
        except BotoCoreError as exc:
            return str(exc)
        return None


@dataclass
class BucketCopies:
    """Each test worker's own buckets: ``<bucket>-<tag>`` per declared bucket, made empty, removed after."""

    endpoint: S3Endpoint
    buckets: list[str]

    @staticmethod
    def bucket_name(bucket: str, tag: str) -> str:
        suffix = f"-{tag}"
        return bucket[: 63 - len(suffix)] + suffix  # a bucket name holds at most 63 characters

    def _client(self) -> Any:
        ep = self.endpoint
        return s3_client(ep.endpoint, ep.access_key, ep.secret_key, ep.region, timeout=10.0)

    def make(self, tag: str, workers: int) -> S3Endpoint:
        self.drop(tag)
        client = self._client()
        names = [self.bucket_name(b, tag) for b in self.buckets]
        for name in names:
            client.create_bucket(Bucket=name)
        return dataclasses.replace(self.endpoint, buckets=",".join(names))

    def drop(self, tag: str) -> None:
        from botocore.exceptions import ClientError

        client = self._client()
        for name in (self.bucket_name(b, tag) for b in self.buckets):
            try:
                for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                    keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                    if keys:
                        client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
                client.delete_bucket(Bucket=name)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                    raise

    def describe(self, tag: str) -> str:
        return f"buckets {', '.join(self.bucket_name(b, tag) for b in self.buckets)}"


class S3Kind(Kind[S3Service, S3Endpoint]):
    name = "s3"
    starter = ("objects", 29010)
    compose_images = ("minio/minio", "bitnami/minio")
    compose_port = 9000
    compose_named_ports = {9001: "console"}
    model = S3Service
    extra = "s3"
    requires = ("boto3", "moto")
    can_isolate = True

    def from_compose(self, environment: Mapping[str, str], command: Sequence[str]) -> dict[str, Any]:
        """MinIO's MINIO_ROOT_USER and MINIO_ROOT_PASSWORD (or the older ACCESS_KEY, SECRET_KEY)."""
        access = environment.get("MINIO_ROOT_USER") or environment.get("MINIO_ACCESS_KEY") or "minioadmin"
        secret = environment.get("MINIO_ROOT_PASSWORD") or environment.get("MINIO_SECRET_KEY") or "minioadmin"
        return {"access_key": access, "secret_key": secret}

    def endpoint(self, svc: S3Service, base: Endpoint, instance: int) -> S3Endpoint:
        return S3Endpoint.extend(
            base,
            endpoint=base.url,
            access_key=svc.access_key,
            secret_key=svc.secret_key,
            region=svc.region,
            buckets=",".join(svc.buckets),
        )

    def exports(self, prefix: str, ep: S3Endpoint) -> dict[str, str]:
        return {
            f"{prefix}_ENDPOINT": ep.endpoint,
            f"{prefix}_ACCESS_KEY": ep.access_key,
            f"{prefix}_SECRET_KEY": ep.secret_key,
            f"{prefix}_REGION": ep.region,
            f"{prefix}_BUCKETS": ep.buckets,
        }

    def compose_env(self, svc: S3Service, ep: S3Endpoint) -> dict[str, str]:
        return {"ACCESS_KEY": svc.access_key, "SECRET_KEY": svc.secret_key, "REGION": svc.region}

    def server(self, ctx: Ctx) -> str:
        choice = ctx.svc.server
        if choice == "auto":
            return "minio" if shutil.which("minio", path=ctx.env.get("PATH")) else "moto"
        return str(choice)

    def launch(self, ctx: Ctx) -> Launch:
        ep = ctx.endpoint
        if self.server(ctx) == "minio":
            data = ctx.data_dir / "data"
            data.mkdir(parents=True, exist_ok=True)
            argv = ["minio", "server", str(data), "--address", f"{ep.host}:{ep.port}"]
            if "console" in dict(ep.ports.items()):
                argv += ["--console-address", f"{ep.host}:{ep.ports.console}"]
            env = {"MINIO_ROOT_USER": ep.access_key, "MINIO_ROOT_PASSWORD": ep.secret_key}
            return Launch(argv=argv, env=env)
        # moto keeps every bucket in memory, so any stop loses them: SIGKILL loses nothing more,
        # and spares its 0.15-0.2 s werkzeug shutdown.
        argv = [sys.executable, "-m", "moto.server", "-H", ep.host, "-p", str(ep.port)]
        return Launch(argv=argv, stop_signal=signal.SIGKILL)

    def startup_probe(self, ctx: Ctx) -> Probe | None:
        # Buckets do not exist until after_ready creates them: startup only needs the endpoint.
        return self._probe(ctx, [])

    def _probe(self, ctx: Ctx, buckets: list[str]) -> S3Probe:
        ep = ctx.endpoint
        return S3Probe(ep.endpoint, ep.access_key, ep.secret_key, ep.region, buckets)

    def probe(self, ctx: Ctx) -> Probe | None:
        return self._probe(ctx, list(ctx.svc.buckets))

    def copies(self, ctx: Ctx) -> BucketCopies:
        return BucketCopies(ctx.endpoint, list(ctx.svc.buckets))

    def after_ready(self, ctx: Ctx) -> None:
        from botocore.exceptions import ClientError

        ep = ctx.endpoint
        client = s3_client(ep.endpoint, ep.access_key, ep.secret_key, ep.region)
        for bucket in ctx.svc.buckets:
            try:
                client.create_bucket(Bucket=bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise


S3 = S3Kind()
