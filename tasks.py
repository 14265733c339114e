"""Invoke tasks over the harness: one per lifecycle step, plus up/down/status/logs.

Settings live under ``harness`` (stack file, instance) and can be overridden from
``invoke.yaml`` or ``INVOKE_HARNESS_STACK`` / ``INVOKE_HARNESS_INSTANCE``; ``--instance N``
on a task wins over both. Teardown never relies on Invoke post-tasks: it lives in the engine.
"""

from __future__ import annotations

from invoke import Collection, Context, Exit, task

from harness.cli import main


def _harness(c: Context, *argv: str, instance: int | None = None) -> None:
    """Run one harness command; a non-zero code becomes Invoke's exit code."""
    base = ["--stack", c.harness.stack]
    chosen = instance if instance is not None else c.harness.instance
    if chosen is not None:
        base += ["--instance", str(chosen)]
    code = main([*base, *argv])
    if code:
        raise Exit(code=code)


INSTANCE_HELP = {"instance": "instance number (default: $HARNESS_INSTANCE or 0)"}
KEEP_HELP = {**INSTANCE_HELP, "keep_on_failure": "leave started services up when something fails"}


@task(help={**KEEP_HELP, "profile": "profile from stack.toml (default: stack.default_profile)"})
def up(c, profile=None, keep_on_failure=False, instance=None):
    """Bring the whole stack up (parallel where it can) and leave it running."""
    _harness(
        c,
        "up",
        *(["--profile", profile] if profile else []),
        *(["--keep-on-failure"] if keep_on_failure else []),
        instance=instance,
    )


@task(help={**INSTANCE_HELP, "clean": "also delete the instance's data (databases, Temporal history, workspaces)"})
def down(c, clean=False, instance=None):
    """Stop every process of the instance, dependents first, and check none is left."""
    _harness(c, "down", *(["--clean"] if clean else []), instance=instance)


@task(help=INSTANCE_HELP)
def status(c, instance=None):
    """Show each service's state, live health, URL, pid and log."""
    _harness(c, "status", instance=instance)


@task(
    help={
        **INSTANCE_HELP,
        "service": "a service name, or 'all'",
        "follow": "keep printing new lines",
        "lines": "how many lines to show first",
    },
    positional=["service"],
)
def logs(c, service, follow=False, lines=40, instance=None):
    """Show the tail of service logs (one service, or all); -f follows them."""
    chosen = [] if service == "all" else [service]  # Invoke has no optional positionals: 'all' stands in
    _harness(c, "logs", *chosen, *(["-f"] if follow else []), "-n", str(lines), instance=instance)


@task(help={**INSTANCE_HELP, "timeout": "seconds, shared by all services"})
def wait(c, timeout=60.0, instance=None):
    """Wait until every running service answers its readiness probe."""
    _harness(c, "wait", "--timeout", str(timeout), instance=instance)


@task(help={**INSTANCE_HELP, "services": "comma-separated service names"})
def stop(c, services, instance=None):
    """Stop some services only (e.g. temporal), leaving the rest up."""
    _harness(c, "stop", *services.split(","), instance=instance)


@task(help={"limit": "how many runs to show"})
def history(c, limit=10):
    """Show the last runs and the tests whose outcome flipped at the same commit."""
    _harness(c, "history", "-n", str(limit))


@task(help={"apply": "switch the Docker daemon to the vfs storage driver if it needs it"})
def vfs_fix(c, apply=False):
    """Docker backend: check the engine can run containers here (nested Docker)."""
    _harness(c, "vfs-fix", *(["--apply"] if apply else []))


def _lifecycle(name: str, doc: str):
    @task(name=name, help=KEEP_HELP)
    def step(c, keep_on_failure=False, instance=None):
        _harness(c, "task", name, *(["--keep-on-failure"] if keep_on_failure else []), instance=instance)

    step.__doc__ = doc
    step.body.__doc__ = doc
    return step


ngspice = _lifecycle("ngspice", "Make sure the ngspice binary is installed.")
cots_db = _lifecycle("cots-db", "Build the COTS parts database when missing or stale.")
infra = _lifecycle("infra", "Start Postgres, S3 (buckets made) and Temporal: native, or docker compose.")
migrate = _lifecycle("migrate", "Apply database migrations (alembic upgrade head).")
xvfb = _lifecycle("xvfb", "Start the virtual X display.")
start = _lifecycle("start", "Start the app processes: workers, controller, Temporal worker.")
frontend = _lifecycle("frontend", "Build the frontend if its sources changed, then serve it.")

ns = Collection(
    up, down, status, logs, wait, stop, history, vfs_fix, ngspice, cots_db, infra, migrate, xvfb, start, frontend
)
ns.configure({"harness": {"stack": "stack.toml", "instance": None}})
