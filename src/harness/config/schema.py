"""The stack definition's models: ``[stack]``, ``[steps]``, ``[profiles]``, ``[suites]`` and the
whole :class:`Stack` (each service validated by its kind's model; see ``loader.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.config.conventions import Conventions
from harness.config.models import NAME, Model, NodeModel, ServiceModel, split_command


class Step(NodeModel):
    """A one-shot command or Python callable; cached when ``inputs`` and ``outputs`` are given."""

    run: str | None = None
    call: str | None = None
    args: dict[str, Any] = {}
    shell: bool = False
    inputs: list[str] = []
    outputs: list[str] = []
    timeout: float = Field(600.0, gt=0)
    snapshot: str | None = None  # the service whose data it changes: saved after it, restored instead

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        if bool(self.run) == bool(self.call):
            raise ValueError("give exactly one of 'run' (a command) or 'call' ('module:function')")
        if self.snapshot and not self.inputs:
            raise ValueError("'snapshot' needs 'inputs': the files whose change means the step must run again")
        if self.call and ":" not in self.call:
            raise ValueError(f"'call' must look like 'module:function', got {self.call!r}")
        if self.run and not self.shell:  # run without a shell: split as a command line
            try:
                split_command(self.run)
            except ValueError as exc:
                raise ValueError(f"'run' {exc}") from None
        return self


class Profile(Model):
    services: list[Annotated[str, Field(pattern=NAME)]]
    description: str = ""


class Suite(Model):
    profile: str
    markers: str | None = None
    paths: list[str] = []
    command: list[str] = ["python", "-m", "pytest"]
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    path: list[str] = []
    description: str = ""
    session: str | None = None  # its nox session's name (default: integration_<suite>)
    plugin: bool = True  # load the harness's pytest plugin; false: results are read from JUnit XML
    backend_errors: bool = True  # a service logging an ERROR or traceback during a test fails it
    watch: bool = True  # watch the services while the tests run (liveness, restarts, resources)
    workers: Annotated[int, Field(ge=0, le=256)] | Literal["auto"] = 0  # pytest-xdist workers (0: none)
    early_start: bool = True  # start pytest while the stack comes up (false: a conftest needs it at import)
    stop_on_death: bool | None = None  # end the run at the first service failure (None: only under CI)
    stop_on_backend_error: bool = False  # end the run at the first unallowed backend error
    reruns: int = Field(0, ge=0, le=10)  # failed tests run again on the live stack up to N times (flaky if one passes)
    fail_on_flaky: bool = False  # a test that passed only on a rerun fails the run
    # Services whose data each xdist worker gets a copy of (a database, a Redis index, buckets).
    isolate: list[str] = []
    # Services measured by coverage.py while the tests run (true: every Python service of the
    # profile); what is measured and left out (default: the project's coverage configuration).
    coverage: bool | list[str] = False
    coverage_source: list[str] = []
    coverage_omit: list[str] = []


class StackSettings(Model):
    name: str = "stack"
    port_offset: int = Field(100, ge=1, le=5000)
    max_instance: int = Field(20, ge=0, le=200)
    state_dir: str = ".harness"
    log_dir: str = "logs"
    default_profile: str | None = None
    compose_file: str | None = None  # the project's compose file (compose_service = ...)
    # Where postgres, s3 and temporal run: "docker" from compose_file, "native", or "auto" (docker when an
    # engine answers and compose_file is set). HARNESS_BACKEND overrides it. Container nodes need an engine anyway.
    backend: Literal["auto", "native", "docker"] = "auto"
    python: str | None = None  # the project's interpreter ({python}); default: the harness's own
    path: list[str] = []  # prepended to PATH for every service, step and suite
    dotenv: str | bool = ".env"  # the .env file beside stack.toml (false: none; or another file)


class Stack(Model):
    stack: StackSettings = StackSettings()
    tests: Conventions = Conventions()
    env: dict[str, str] = {}
    services: dict[Annotated[str, Field(pattern=NAME)], ServiceModel] = {}  # each its kind's model
    steps: dict[Annotated[str, Field(pattern=NAME)], Step] = {}
    profiles: dict[Annotated[str, Field(pattern=NAME)], Profile] = {}
    suites: dict[Annotated[str, Field(pattern=NAME)], Suite] = {}

    # Set by load_stack; excluded from validation input.
    file: Path = Path("stack.toml")
    root: Path = Path(".")

    def node(self, name: str) -> NodeModel:
        return self.services.get(name) or self.steps[name]

    def deps(self, name: str) -> list[str]:
        return list(self.node(name).after)

    def task_of(self, name: str) -> str:
        """The Invoke lifecycle task a node belongs to (``invoke <task>`` runs it)."""
        node = self.node(name)
        if node.task:
            return node.task
        if name in self.steps:
            return name.replace("_", "-")
        return "start" if getattr(node, "kind", "process") == "process" else "infra"

    def profile_nodes(self, profile: str | None) -> list[str]:
        """Every node a profile needs, dependencies included, in declaration order."""
        if profile is None:
            profile = self.stack.default_profile
        roots = list(self.services) + list(self.steps) if profile is None else self.profiles[profile].services
        return closure(self, roots)


def closure(stack: Stack, roots: list[str]) -> list[str]:
    seen: set[str] = set()
    stack_: list[str] = list(roots)
    while stack_:
        name = stack_.pop()
        if name not in seen:
            seen.add(name)
            stack_.extend(stack.deps(name))
    order = list(stack.services) + list(stack.steps)
    return [n for n in order if n in seen]
