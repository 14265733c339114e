"""``--shard auto`` and the group id: each CI's variables, what is refused and how it is said, and
the group shards run by hand share."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli.ci import shard_and_group
from harness.config.ci import ci_group, resolve_shard
from harness.errors import HarnessError
from harness.record.groups import local_group_id


@pytest.mark.parametrize(
    ("environ", "spec", "expected"),
    [
        # GitHub Actions: variables the workflow sets from its matrix (1-based)
        ({"HARNESS_SHARD_INDEX": "2", "HARNESS_SHARD_TOTAL": "3"}, "auto", (2, 3)),
        ({"HARNESS_SHARD_INDEX": "3"}, "auto/3", (3, 3)),
        # Buildkite: 0-based
        ({"BUILDKITE_PARALLEL_JOB": "0", "BUILDKITE_PARALLEL_JOB_COUNT": "4"}, "auto", (1, 4)),
        ({"BUILDKITE_PARALLEL_JOB": "3", "BUILDKITE_PARALLEL_JOB_COUNT": "4"}, "auto", (4, 4)),
        # CircleCI: 0-based
        ({"CIRCLE_NODE_INDEX": "1", "CIRCLE_NODE_TOTAL": "2"}, "auto", (2, 2)),
        # GitLab CI: 1-based
        ({"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "5"}, "auto", (1, 5)),
        ({"CI_NODE_INDEX": "5", "CI_NODE_TOTAL": "5"}, "auto/5", (5, 5)),
        # a Kubernetes Indexed Job: 0-based, the total passed
        ({"JOB_COMPLETION_INDEX": "0"}, "auto/4", (1, 4)),
        ({"JOB_COMPLETION_INDEX": "3", "HARNESS_SHARD_TOTAL": "4"}, "auto", (4, 4)),
        # given as K/N, the variables are not read
        ({"BUILDKITE_PARALLEL_JOB": "3", "BUILDKITE_PARALLEL_JOB_COUNT": "4"}, "1/2", (1, 2)),
        # the user's variables win over a CI's own
        ({"HARNESS_SHARD_INDEX": "1", "HARNESS_SHARD_TOTAL": "2", "CIRCLE_NODE_INDEX": "0"}, "auto", (1, 2)),
    ],
)
def test_each_ci_says_which_shard_in_its_own_variables(environ, spec, expected):
    shard = resolve_shard(spec, environ)
    assert (shard.k, shard.n) == expected
    assert str(shard) == f"{expected[0]}/{expected[1]}"


@pytest.mark.parametrize(
    ("environ", "spec", "said"),
    [
        ({}, "auto", r"no CI variable says which shard.*HARNESS_SHARD_INDEX.*HARNESS_SHARD_TOTAL"
         r".*BUILDKITE_PARALLEL_JOB.*CIRCLE_NODE_INDEX.*CI_NODE_INDEX.*JOB_COMPLETION_INDEX"),
        ({"HARNESS_SHARD_INDEX": ""}, "auto", "no CI variable says which shard"),
        ({"JOB_COMPLETION_INDEX": "1"}, "auto", r"JOB_COMPLETION_INDEX=1 \(a Kubernetes Indexed Job\) says which "
         r"shard, but not of how many: set HARNESS_SHARD_TOTAL or pass --shard auto/N"),
        ({"CI_NODE_INDEX": "0", "CI_NODE_TOTAL": "2"}, "auto",
         r"CI_NODE_INDEX=0 is not a shard of 2 \(GitLab CI counts 1 to 2\)"),
        ({"BUILDKITE_PARALLEL_JOB": "4", "BUILDKITE_PARALLEL_JOB_COUNT": "4"}, "auto", r"counts 0 to 3"),
        ({"CIRCLE_NODE_INDEX": "x", "CIRCLE_NODE_TOTAL": "2"}, "auto", r"CIRCLE_NODE_INDEX='x' is not a shard index"),
        ({"CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "2"}, "auto/3", r"auto/3: CIRCLE_NODE_TOTAL=2 says 2 shards"),
        ({"CIRCLE_NODE_INDEX": "0"}, "auto/0", r"auto/N takes the number of shards"),
        ({}, "autumn", r"--shard takes K/N"),
        ({}, "3/2", r"K must be between 1 and N"),
    ],
)  # fmt: skip
def test_what_is_missing_or_wrong_is_named(environ, spec, said):
    with pytest.raises(HarnessError, match=said):
        resolve_shard(spec, environ)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HARNESS_GROUP_ID": "mine", "GITHUB_RUN_ID": "7"}, ("mine", "HARNESS_GROUP_ID")),
        ({"GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "2"}, ("7-2", "GITHUB_RUN_ID")),
        ({"GITHUB_RUN_ID": "7"}, ("7", "GITHUB_RUN_ID")),
        ({"BUILDKITE_BUILD_ID": "0190-abc"}, ("0190-abc", "BUILDKITE_BUILD_ID")),
        ({"CIRCLE_WORKFLOW_ID": "wf-1"}, ("wf-1", "CIRCLE_WORKFLOW_ID")),
        ({"CI_PIPELINE_ID": "991"}, ("991", "CI_PIPELINE_ID")),
        ({"JOB_COMPLETION_INDEX": "0"}, None),
        ({}, None),
    ],
)
def test_each_ci_names_the_run_its_shards_share(environ, expected):
    assert ci_group(environ) == expected


def app(environ: dict[str, str], plan: object = None) -> SimpleNamespace:
    from rich.console import Console

    return SimpleNamespace(settings=SimpleNamespace(environ=environ), console=Console(quiet=True), plan=plan)


def args(**given: str | None) -> argparse.Namespace:
    return argparse.Namespace(**({"shard": None, "group_id": None, "failed_from": None, "suite": "p0"} | given))


def test_a_kubernetes_shard_needs_the_group_id_passed_other_cis_name_their_run():
    k8s = {"JOB_COMPLETION_INDEX": "1"}
    with pytest.raises(
        HarnessError, match=r"a Kubernetes Indexed Job names no run.*--group-id or set HARNESS_GROUP_ID"
    ):
        shard_and_group(app(k8s), args(shard="auto/2"))
    assert shard_and_group(app(k8s), args(shard="auto/2", group_id="run-7")) == ("2/2", "run-7")
    assert shard_and_group(app(k8s | {"HARNESS_GROUP_ID": "g"}), args(shard="auto/2")) == ("2/2", "g")
    buildkite = {"BUILDKITE_PARALLEL_JOB": "0", "BUILDKITE_PARALLEL_JOB_COUNT": "2", "BUILDKITE_BUILD_ID": "b"}
    assert shard_and_group(app(buildkite), args(shard="auto")) == ("1/2", "b")
    assert shard_and_group(app(buildkite), args()) == (None, None), "no shard, no group"


def git(root: Path, *argv: str) -> None:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *ident, *argv], cwd=root, check=True, capture_output=True)


def test_shards_run_by_hand_share_a_group_while_the_code_is_the_same(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "one")
    own = [tmp_path / ".harness", tmp_path / "logs"]
    clean = local_group_id(tmp_path, own, "p0", 2)
    assert clean.startswith("local-") and clean == local_group_id(tmp_path, own, "p0", 2)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "run.json").write_text("{}")
    assert local_group_id(tmp_path, own, "p0", 2) == clean, "the harness's own logs are no change to the code"
    assert local_group_id(tmp_path, own, "p1", 2) != clean
    assert local_group_id(tmp_path, own, "p0", 3) != clean
    (tmp_path / "test_x.py").write_text("def test_x():\n    assert False\n")
    dirty = local_group_id(tmp_path, own, "p0", 2)
    assert dirty != clean and dirty.split("-")[1] == clean.split("-")[1], "the same commit, other changes"
