"""The contract between the harness and its pytest plugin: every name both sides use, once.

The harness starts a suite's pytest with a :class:`PluginConfig` in its environment, and reads
back what the plugin writes into the run directory; the plugin reads the same config and writes
those files. Both sides import this module (it travels with the plugin into the suite's own
Python), so a name changed here changes on both sides. Pure Python, standard library only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- what every process of the stack gets (the stack's derived environment) ------------------------
STACK_FILE_VAR = "HARNESS_STACK_FILE"  # set: the process runs under the harness
LOG_DIR_VAR = "HARNESS_LOG_DIR"  # the instance's service logs, <service>.log each
INSTANCE_VAR = "HARNESS_INSTANCE"
STATE_DIR_VAR = "HARNESS_STATE_DIR"


def env_name(name: str) -> str:
    """How a service's name becomes part of a variable name: ``worker-a`` -> ``WORKER_A``."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def url_var(service: str) -> str:
    """The variable holding a service's URL (``service_url`` reads it)."""
    return f"{env_name(service)}_URL"


# -- markers the plugin registers and the harness's phases select on ----------------------------------
DISRUPTIVE = "disruptive"  # stops or restarts services: runs alone, after the parallel phase
ALLOW_BACKEND_ERRORS = "allow_backend_errors"
ALLOW_BROWSER_ERRORS = "allow_browser_errors"
ID_PROPERTY = "int_id"  # the record's and JUnit's name for a test's catalog id, whatever its marker

# -- phases of a suite run (pytest-xdist workers, then the disruptive tests alone) --------------------
PARALLEL = "parallel"
PHASES = (PARALLEL, DISRUPTIVE)

# -- files in the run directory -----------------------------------------------------------------------
EVENTS_FILE = "events.jsonl"  # the watch appends service events; the plugin fails tests on them
TIMELINE_PARTS = "timeline-*.json"  # when each pytest process ran which test (events are attributed by it)
GATE_FILE = "gate"  # "go", or why no test will run (an early-started pytest waits on it)


def results_file(phase: str = "") -> str:
    """The plugin's results: ``pytest-results.json``, or one per phase, combined by the harness."""
    return f"pytest-results-{phase}.json" if phase else "pytest-results.json"


XDIST_GROUP = re.compile(r"@[^\[\]:/@]+$")  # pytest-xdist's loadgroup suffix: ``test_x[1]@db_group``


def selectable(nodeid: str) -> str:
    """A recorded node id as pytest selects it: under ``--dist loadgroup`` pytest-xdist appends
    ``@<group>`` to the ids of grouped tests (in reports and JUnit alike), which no selection
    finds; reruns, ``--failed-from`` and quarantine patterns work on the id without it."""
    return XDIST_GROUP.sub("", nodeid)


def worker_part(worker: str) -> str:
    """What an xdist worker hands the controller process through the run directory: its timed
    calls and the tests it deselected (``{"calls": [...], "deselected": [...]}``)."""
    return f"worker-{worker}.json"


def timeline_part(process: str) -> str:
    """``[[nodeid, start, stop], ...]`` (epoch seconds) of one pytest process, written at its end."""
    return f"timeline-{process}.json"


def disruptive_part(process: str) -> str:
    """The disruptive tests a parallel phase's pytest process deselected (none: no disruptive phase)."""
    return f"disruptive-{process}.json"


DISRUPTIVE_PARTS = "disruptive-*.json"

# -- the early-start gate -------------------------------------------------------------------------------
GATE_VAR = "HARNESS_GATE"  # the gate file an early-started pytest waits on
GATE_PID_VAR = "HARNESS_GATE_PID"  # the harness's pid: a gone harness ends the wait
GO = "go"

# -- data isolated per worker ([suites.X] isolate) ------------------------------------------------------
# A private file ({"gw0": {"DB_DSN": ...}, ...}): each xdist worker's variables pointing at its own
# copies of the isolated services' data, applied in the worker before conftest is imported.
WORKER_ENV_VAR = "HARNESS_WORKER_ENV"

# -- coverage of the services ([suites.X] coverage) -------------------------------------------------------
# A directory: each pytest process writes the test it runs to ``running-<process>``; each covered
# service process switches its coverage context to it and answers in ``ack-<pid>``.
COVERAGE_TESTS_VAR = "HARNESS_COVERAGE_TESTS"
RUNNING_PREFIX = "running-"
ACK_PREFIX = "ack-"
# Between the ids of the tests running at once, in a coverage context: a newline, which pytest
# escapes in every parametrized id (a "|" may be part of one).
TESTS_SEPARATOR = "\n"

_PREFIX = "HARNESS_"


@dataclass(frozen=True)
class PluginConfig:
    """What the harness tells the plugin about one suite run, through ``HARNESS_*`` variables."""

    run_dir: str = ""
    run_id: str = ""
    suite: str = ""
    phase: str = ""  # "", or one of PHASES
    id_marker: str = "test_id"  # the marker carrying a test's catalog id ([tests] id_marker)
    id_pattern: str = ""  # ids that do not match stop collection (empty: any)
    tier_prefix: str = ""  # markers starting with it are recorded per test
    routes: tuple[tuple[str, str], ...] = ()  # latency folding rules (pattern, replace)
    backend_errors: bool = True  # a service's ERROR line during a test fails it
    backend_errors_ignore: tuple[str, ...] = ()  # services whose logs are not checked
    allowed_errors: tuple[tuple[str, str | None], ...] = ()  # (pattern, service) allowed in every test
    watch: bool = True  # fail tests on the watch's service events
    stop_on_death: bool = False
    stop_on_backend_error: bool = False
    shard: str = ""  # "K/N": keep this shard's tests
    durations: str = ""  # recorded durations that balance shards

    _VARS = {
        "run_dir": "RUN_DIR",
        "run_id": "RUN_ID",
        "suite": "SUITE",
        "phase": "PHASE",
        "id_marker": "ID_MARKER",
        "id_pattern": "ID_PATTERN",
        "tier_prefix": "TIER_PREFIX",
        "routes": "ROUTES",
        "backend_errors": "BACKEND_ERRORS",
        "backend_errors_ignore": "BACKEND_ERRORS_IGNORE",
        "allowed_errors": "ALLOWED_ERRORS",
        "watch": "WATCH",
        "stop_on_death": "STOP_ON_DEATH",
        "stop_on_backend_error": "STOP_ON_BACKEND_ERROR",
        "shard": "SHARD",
        "durations": "DURATIONS",
    }

    def to_env(self) -> dict[str, str]:
        """The ``HARNESS_*`` variables that carry this config into the suite's pytest."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                text = "on" if value else "off"
            elif isinstance(value, tuple):
                text = json.dumps([list(v) if isinstance(v, tuple) else v for v in value])
            else:
                text = str(value)
            out[_PREFIX + self._VARS[f.name]] = text
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PluginConfig:
        """The config a suite's pytest was started with (defaults where a variable is missing)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        defaults = cls()
        for f in dataclasses.fields(cls):
            raw = env.get(_PREFIX + cls._VARS[f.name])
            if raw is None or raw == "":
                continue
            default = getattr(defaults, f.name)
            if isinstance(default, bool):
                values[f.name] = raw != "off"
            elif isinstance(default, tuple):
                values[f.name] = tuple(tuple(v) if isinstance(v, list) else v for v in json.loads(raw))
            else:
                values[f.name] = raw
        return cls(**values)

    @classmethod
    def current(cls) -> PluginConfig:
        """This process's config, read from its environment once: it does not change during a
        session, and reading it for every test of a large suite cost more than the tests."""
        pid = os.getpid()  # an xdist worker (or any fork) reads its own
        if pid not in _CURRENT:
            _CURRENT.clear()
            _CURRENT[pid] = cls.from_env()
        return _CURRENT[pid]

    @property
    def results_path(self) -> Path:
        return Path(self.run_dir) / results_file(self.phase)


_CURRENT: dict[int, PluginConfig] = {}


@dataclass
class ServiceEvent:
    """One thing that happened to a service during the tests (a line of ``events.jsonl``)."""

    time: float  # epoch seconds
    service: str
    event: str  # died, unhealthy, recovered, stopped, started, restarting, restarted
    detail: str
    intended: bool = False
    fails: bool = False  # fails the test running then (and may stop the run)
    tests: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, line: str | bytes) -> ServiceEvent:
        data = json.loads(line)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def describe(self) -> str:
        """``service 'api' died during the test: pid 42 killed by SIGKILL`` and the log tail."""
        text = f"service '{self.service}' {self.event} during the test: {self.detail}"
        if self.log_tail:
            text += f"\n--- last lines of {self.service}'s log ---\n" + "\n".join(self.log_tail)
        return text
