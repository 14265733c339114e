"""The Temporal worker process: runs SimulateEpisode and its activities.

python -m services.temporal_worker.worker
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.worker import Worker

from services.common import settings
from services.common.storage import artifacts_bucket, s3_client
from services.common.web import configure_logging, settle_imports
from services.controller import db
from services.temporal_worker.activities import ALL
from services.temporal_worker.workflows import SimulateEpisode

log = logging.getLogger("temporal_worker")


async def health(client: Client, queue: str) -> tuple[int, dict[str, object]]:
    """Every dependency this worker uses, checked: 200 healthy, or 503 naming what fails."""

    async def temporal() -> str | None:
        return None if await asyncio.wait_for(client.service_client.check_health(), 3) else "not serving"

    async def task_queue() -> str | None:
        request = DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        answer = await asyncio.wait_for(client.workflow_service.describe_task_queue(request), 3)
        return None if answer.pollers else f"no worker polls task queue {queue!r}"

    def postgres() -> str | None:
        with db.session() as s:
            s.execute(text("SELECT 1"))
        return None

    def s3() -> str | None:
        s3_client().head_bucket(Bucket=artifacts_bucket())
        return None

    checks: dict[str, Callable[[], Awaitable[str | None]]] = {
        "temporal": temporal,
        "task_queue": task_queue,
        "postgres": lambda: asyncio.to_thread(postgres),
        "s3": lambda: asyncio.to_thread(s3),
    }
    failing: dict[str, str] = {}
    for name, check in checks.items():
        try:
            problem = await asyncio.wait_for(check(), 5)
        except Exception as exc:
            problem = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        if problem:
            failing[name] = problem
    if failing:
        return 503, {"status": "unhealthy", "failing": failing, "task_queue": queue}
    return 200, {"status": "healthy", "checks": sorted(checks), "task_queue": queue}


async def serve_health(client: Client, queue: str, port: int) -> asyncio.AbstractServer:
    """A minimal ``GET /health`` on 127.0.0.1: healthy while Temporal answers its health check."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status, body = 404, {"error": "not found"}
        try:
            request = (await reader.readline()).decode(errors="replace")
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
        except (ValueError, asyncio.LimitOverrunError):  # a line past the reader's 64 KiB limit
            status, body = 414, {"error": "request line or header longer than 64 KiB"}
            # Read the rest away: closing with unread input would reset the connection, and the
            # client would never see the answer.
            with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
                while await asyncio.wait_for(reader.read(65536), 1):
                    pass
            request = ""
        if request.split(" ")[1:2] == ["/health"]:
            status, body = await health(client, queue)
        data = json.dumps(body).encode()
        reason = {200: "OK", 404: "Not Found", 414: "URI Too Long", 503: "Service Unavailable"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        writer.close()
        log.info("GET %s %s", request.split(" ")[1:2], status)

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def main() -> None:
    configure_logging("temporal_worker")
    settle_imports()
    address = settings.need("TEMPORAL_ADDRESS")
    queue = settings.get("TEMPORAL_TASK_QUEUE", "episodes")
    client = await Client.connect(address, namespace=settings.get("TEMPORAL_NAMESPACE", "default"))
    health = await serve_health(client, queue, int(settings.need("TEMPORAL_WORKER_PORT")))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=16) as pool:
        worker = Worker(
            client,
            task_queue=queue,
            workflows=[SimulateEpisode],
            activities=ALL,
            activity_executor=pool,
            graceful_shutdown_timeout=timedelta(seconds=3),
        )
        log.info("polling task queue %s on %s", queue, address)
        async with worker:
            await stop.wait()
        health.close()
        log.info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
