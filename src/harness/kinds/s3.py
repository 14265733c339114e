"""An S3 endpoint: a ``minio`` server when one is on PATH, else moto's standalone server."""

from __future__ import annotations

import shutil
import sys

from botocore.exceptions import ClientError

from harness.kinds.base import Launch, LaunchContext
from harness.probes import Probe, S3Probe, s3_client


class S3Kind:
    def server(self, ctx: LaunchContext) -> str:
        choice = ctx.svc.server
        if choice == "auto":
            return "minio" if shutil.which("minio", path=ctx.env.get("PATH")) else "moto"
        return str(choice)

    def launch(self, ctx: LaunchContext) -> Launch:
        view = ctx.view
        if self.server(ctx) == "minio":
            data = ctx.data_dir / "data"
            data.mkdir(parents=True, exist_ok=True)
            ctx.env.update(MINIO_ROOT_USER=view.access_key, MINIO_ROOT_PASSWORD=view.secret_key)
            argv = ["minio", "server", str(data), "--address", f"{view.host}:{view.port}"]
            console = getattr(view.ports, "console", None)
            if console:
                argv += ["--console-address", f"{view.host}:{console}"]
        else:
            argv = [sys.executable, "-m", "moto.server", "-H", view.host, "-p", str(view.port)]
        # Buckets do not exist until after_ready creates them: startup only needs the endpoint.
        return Launch(argv=argv, startup_probe=self.startup_probe(ctx))

    def startup_probe(self, ctx: LaunchContext) -> S3Probe:
        return self._probe(ctx, [])

    def _probe(self, ctx: LaunchContext, buckets: list[str]) -> S3Probe:
        v = ctx.view
        return S3Probe(v.endpoint, v.access_key, v.secret_key, v.region, buckets)

    def probe(self, ctx: LaunchContext) -> Probe | None:
        return self._probe(ctx, list(ctx.svc.buckets))

    def after_ready(self, ctx: LaunchContext) -> None:
        v = ctx.view
        client = s3_client(v.endpoint, v.access_key, v.secret_key, v.region)
        for bucket in ctx.svc.buckets:
            try:
                client.create_bucket(Bucket=bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise


S3 = S3Kind()
