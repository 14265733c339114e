"""Which shard of how many this job is, and which run its shards share, from the CI it runs under.

``--shard auto`` reads the index and total each CI sets for its parallel jobs, so a pipeline
says how many shards it wants in one place (its matrix, ``parallelism``, ``parallel:``) instead
of again in each job's command. The group id is what every shard of one pipeline run shares,
and what ``harness merge`` checks. Pure: both read a mapping (the settings' environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.plugin.shards import parse

TOTAL_VAR = "HARNESS_SHARD_TOTAL"
GROUP_VAR = "HARNESS_GROUP_ID"


@dataclass(frozen=True)
class Parallel:
    """How one CI numbers its parallel jobs."""

    ci: str
    index: str  # the variable holding this job's index
    total: str  # the variable holding the number of jobs
    first: int  # the index of the first job: 0 or 1
    own_run: bool = True  # False: nothing names the run its jobs share; the group id must be passed


# In this order: a variable the user sets (on GitHub Actions from the matrix) wins over a CI's own.
PARALLEL = (
    Parallel("your CI (GitHub Actions: from the matrix)", "HARNESS_SHARD_INDEX", TOTAL_VAR, 1),
    Parallel("Buildkite", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0),
    Parallel("CircleCI", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0),
    Parallel("GitLab CI", "CI_NODE_INDEX", "CI_NODE_TOTAL", 1),
    Parallel("a Kubernetes Indexed Job", "JOB_COMPLETION_INDEX", TOTAL_VAR, 0, own_run=False),
)
# The run every shard of a pipeline shares, in this order. GitHub's run id is the same for every
# attempt; with the attempt, a re-run of the whole workflow is a group of its own.
GROUPS = (GROUP_VAR, "GITHUB_RUN_ID", "BUILDKITE_BUILD_ID", "CIRCLE_WORKFLOW_ID", "CI_PIPELINE_ID")


@dataclass(frozen=True)
class Shard:
    k: int  # 1-based
    n: int
    source: str = ""  # "BUILDKITE_PARALLEL_JOB=2 of BUILDKITE_PARALLEL_JOB_COUNT=4"; "" when given as K/N
    parallel: Parallel | None = None  # the CI it came from

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


def resolve_shard(spec: str, environ: Mapping[str, str]) -> Shard:
    """``K/N`` as given; ``auto`` (or ``auto/N``, the total given) from the first CI whose index
    variable is set; an error naming what is missing or wrong otherwise."""
    if spec != "auto" and not spec.startswith("auto/"):
        try:
            k, n = parse(spec)
        except ValueError as exc:
            raise HarnessError(str(exc)) from None
        return Shard(k, n)
    given = _given_total(spec)
    for ci in PARALLEL:
        raw = environ.get(ci.index, "").strip()
        if raw:
            return _from(ci, raw, environ.get(ci.total, "").strip(), given)
    found = ", ".join(f"{ci.ci}: {ci.index} and {ci.total}" for ci in PARALLEL[1:-1])
    raise HarnessError(
        f"--shard {spec}: no CI variable says which shard this job is: set HARNESS_SHARD_INDEX (1 to N) and "
        f"{TOTAL_VAR} (on GitHub Actions from the matrix), or run under one that sets them ({found}; "
        f"a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, with --shard auto/N or {TOTAL_VAR})"
    )


def _given_total(spec: str) -> int | None:
    if spec == "auto":
        return None
    text = spec.removeprefix("auto/")
    if not text.isdigit() or int(text) < 1:
        raise HarnessError(f"--shard {spec}: auto/N takes the number of shards N (for example auto/4)")
    return int(text)


def _from(ci: Parallel, raw: str, raw_total: str, given: int | None) -> Shard:
    """The shard ``ci``'s variables say, checked: numbers, in range, and the total agreed on."""
    if not raw.isdigit():
        raise HarnessError(f"--shard auto: {ci.index}={raw!r} is not a shard index (a number)")
    if raw_total and not raw_total.isdigit():
        raise HarnessError(f"--shard auto: {ci.total}={raw_total!r} is not a number of shards")
    said = int(raw_total) if raw_total else None
    if given is not None and said is not None and given != said:
        raise HarnessError(f"--shard auto/{given}: {ci.total}={said} says {said} shards")
    n = given if given is not None else said
    if not n:
        raise HarnessError(
            f"--shard auto: {ci.index}={raw} ({ci.ci}) says which shard, but not of how many: "
            f"set {ci.total} or pass --shard auto/N"
        )
    k = int(raw) + 1 - ci.first
    if not 1 <= k <= n:
        first = f"{ci.first} to {n - 1 + ci.first}"
        raise HarnessError(f"--shard auto: {ci.index}={raw} is not a shard of {n} ({ci.ci} counts {first})")
    total = f"{ci.total}={said}" if said is not None else f"auto/{given}"
    return Shard(k, n, f"{ci.index}={raw} of {total}", ci)


def ci_group(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(group id, the variable it came from) of the pipeline run, or None outside one."""
    for var in GROUPS:
        value = environ.get(var, "").strip()
        if value:
            attempt = environ.get("GITHUB_RUN_ATTEMPT", "").strip() if var == "GITHUB_RUN_ID" else ""
            return (f"{value}-{attempt}" if attempt else value), var
    return None
