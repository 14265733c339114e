"""The simulation workflow: bundle the workspace, validate, simulate, record artifacts.

Every step is an activity; the episode's status changes are written by activities too, so the
database always says where the episode is. Cancelling the workflow (an interrupt) cancels the
running simulation and leaves the episode ``interrupted``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

WORKFLOW_NAME = "SimulateEpisode"
SHORT = {"start_to_close_timeout": timedelta(seconds=60), "retry_policy": RetryPolicy(maximum_attempts=3)}


@workflow.defn(name=WORKFLOW_NAME)
class SimulateEpisode:
    @workflow.run
    async def run(self, req: dict[str, Any]) -> dict[str, Any]:
        episode = req["episode_id"]
        await workflow.execute_activity("set_running", episode, **SHORT)
        try:
            bundle = await workflow.execute_activity("bundle_workspace", req, **SHORT)
            checked = await workflow.execute_activity("validate_netlist", {**req, **bundle}, **SHORT)
            if not checked["valid"]:
                problems = "; ".join(f"line {p['line']}: {p['message']}" for p in checked["problems"])
                await workflow.execute_activity(
                    "finish",
                    {"episode_id": episode, "status": "failed", "reason": f"invalid netlist: {problems}"},
                    **SHORT,
                )
                return {"status": "failed", "validation": checked}
            result = await workflow.execute_activity(
                "run_simulation",
                {**req, **bundle},
                # Includes the time spent queueing for worker_heavy, which runs one at a time.
                start_to_close_timeout=timedelta(seconds=float(req.get("timeout_s", 30)) + 900),
                heartbeat_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=1),
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            await workflow.execute_activity("record_artifacts", {**req, "result": result}, **SHORT)
            ok = result["outcome"] == "success"
            reason = None if ok else f"{result['outcome']}: {result.get('reason', '')}".rstrip(": ")
            await workflow.execute_activity(
                "finish",
                {
                    "episode_id": episode,
                    "status": "completed" if ok else "failed",
                    "reason": reason,
                    "outcome": result["outcome"],
                },
                **SHORT,
            )
            return {"status": "completed" if ok else "failed", "outcome": result["outcome"]}
        except (asyncio.CancelledError, CancelledError):
            await asyncio.shield(
                asyncio.ensure_future(
                    workflow.execute_activity(
                        "finish",
                        {"episode_id": episode, "status": "interrupted", "reason": "interrupted on request"},
                        **SHORT,
                    )
                )
            )
            raise
        except ActivityError as exc:
            cause = exc.cause.message if exc.cause is not None and hasattr(exc.cause, "message") else str(exc)
            await workflow.execute_activity(
                "finish",
                {"episode_id": episode, "status": "failed", "reason": f"{exc.activity_type} failed: {cause}"},
                **SHORT,
            )
            return {"status": "failed", "reason": cause}
