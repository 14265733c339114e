"""Optional places a run's record is also sent: a Postgres database and an S3 prefix.

``HARNESS_RESULTS_DSN`` (psycopg) gets one row per run and one per test, in tables created
idempotently. ``HARNESS_RESULTS_S3=s3://bucket/prefix`` gets the run directory uploaded (boto3,
credentials from ``HARNESS_RESULTS_S3_*`` or the usual AWS variables). A sink that fails prints a
warning and changes nothing else: the local record is already on disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.config.masking import mask_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS harness_runs (
    run_id text PRIMARY KEY, suite text NOT NULL, backend text, git_commit text,
    started_at timestamptz, completed_at timestamptz, exit_code int, status text,
    total int, passed int, failed int, errors int, skipped int, results jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS harness_tests (
    run_id text REFERENCES harness_runs(run_id) ON DELETE CASCADE, nodeid text NOT NULL,
    int_id text, outcome text NOT NULL, duration_s double precision, message text,
    PRIMARY KEY (run_id, nodeid)
);
"""


def to_postgres(dsn: str, data: Mapping[str, Any]) -> str:
    import psycopg
    from psycopg.types.json import Jsonb

    t = data["tests"]
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute(SCHEMA)
        conn.execute(
            "INSERT INTO harness_runs VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (run_id) DO UPDATE SET results = EXCLUDED.results, status = EXCLUDED.status",
            (
                data["run_id"],
                data["suite"],
                data["backend"],
                data["git_commit"],
                data["started_at"],
                data["completed_at"] or None,
                data["exit_code"],
                data["status"],
                t["total"],
                t["passed"],
                t["failed"],
                t["errors"],
                t["skipped"],
                Jsonb(dict(data)),
            ),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO harness_tests VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                [
                    (data["run_id"], c["nodeid"], c["int_id"], c["outcome"], c["duration_s"], c["message"])
                    for c in t["cases"]
                ],
            )
    return f"{len(t['cases'])} test row(s)"


def s3_target(env: Mapping[str, str]) -> tuple[Any, str, str]:
    """(client, bucket, prefix) of ``HARNESS_RESULTS_S3``, with its endpoint and credentials."""
    from harness.kinds.s3 import s3_client

    url = env.get("HARNESS_RESULTS_S3", "")
    if not url.startswith("s3://") or len(url) <= 5:
        raise ValueError(f"HARNESS_RESULTS_S3 must look like s3://bucket/prefix, got {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    client = (
        s3_client(
            env.get("HARNESS_RESULTS_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL") or "",
            env.get("HARNESS_RESULTS_S3_ACCESS_KEY") or env.get("AWS_ACCESS_KEY_ID", ""),
            env.get("HARNESS_RESULTS_S3_SECRET_KEY") or env.get("AWS_SECRET_ACCESS_KEY", ""),
            env.get("HARNESS_RESULTS_S3_REGION") or env.get("AWS_DEFAULT_REGION", "us-east-1"),
        )
        if (env.get("HARNESS_RESULTS_S3_ENDPOINT") or env.get("AWS_ENDPOINT_URL"))
        else _default_s3()
    )
    return client, bucket, prefix.strip("/")


def to_s3(run_dir: Path, env: Mapping[str, str]) -> str:
    client, bucket, prefix = s3_target(env)
    files = [p for p in sorted(run_dir.rglob("*")) if p.is_file()]
    for path in files:
        key = "/".join(x for x in (prefix, run_dir.name, str(path.relative_to(run_dir))) if x)
        client.upload_file(str(path), bucket, key)
    return f"{len(files)} file(s) to s3://{bucket}/{prefix}"


def _default_s3() -> Any:
    import boto3

    return boto3.client("s3")


def send(data: Mapping[str, Any], run_dir: Path, env: Mapping[str, str], console: Console) -> dict[str, str]:
    """Run every configured sink; returns {sink: "ok: ..." | "failed: ..."}."""
    outcomes: dict[str, str] = {}
    sinks: list[tuple[str, Callable[[], str]]] = []
    if env.get("HARNESS_RESULTS_DSN"):
        sinks.append(("postgres", lambda: to_postgres(env["HARNESS_RESULTS_DSN"], data)))
    if env.get("HARNESS_RESULTS_S3"):
        sinks.append(("s3", lambda: to_s3(run_dir, env)))
    for name, action in sinks:
        try:
            outcomes[name] = "ok: " + action()
        except Exception as exc:
            text = mask_text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, env)
            outcomes[name] = "failed: " + text
            console.print(
                f"[yellow]warning: results sink {name} failed: {text}; "
                f"the local record in {run_dir} is complete[/yellow]"
            )
    if outcomes:
        (run_dir / "sinks.json").write_text(json.dumps(outcomes, indent=2))
    return outcomes
