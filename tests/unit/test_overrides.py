"""``--profile`` and ``--isolate``: a suite's settings changed for one run, checked as the file's are."""

from __future__ import annotations

import textwrap

import pytest

from harness.errors import HarnessError
from harness.runtime.overrides import isolate_list, with_suite

from .helpers import plan_of

STACK = """
[services.db]
kind = "postgres"
port = 25432

[services.cache]
kind = "redis"
port = 26379

[services.api]
command = "serve --port {port}"
port = 28000
after = ["db"]

[profiles.small]
services = ["api"]

[profiles.big]
services = ["api", "cache"]

[profiles.none_db]
services = ["cache"]

[suites.t]
profile = "small"
isolate = ["db"]
"""


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "stack.toml"
    path.write_text(textwrap.dedent(STACK))
    return plan_of(path)


def test_no_switch_leaves_the_plan_as_it_is(plan):
    assert with_suite(plan, "t", profile=None, isolate=None) is plan


def test_profile_and_isolate_replace_the_suites_own_for_this_run(plan):
    changed = with_suite(plan, "t", profile="big", isolate="db, cache")
    assert changed.stack.suites["t"].profile == "big"
    assert changed.stack.suites["t"].isolate == ["db", "cache"]
    assert plan.stack.suites["t"].profile == "small"  # the loaded plan is not changed
    assert with_suite(plan, "t", profile=None, isolate="none").stack.suites["t"].isolate == []


@pytest.mark.parametrize(
    ("profile", "isolate", "said"),
    [
        ("huge", None, "--profile huge: unknown profile (profiles in "),
        (None, "nope", "--isolate nope: unknown service 'nope'"),
        (None, "cache", "--isolate cache: 'cache' is not in profile 'small'"),
        (None, "api", "--isolate api: 'api' is of a kind whose data cannot be copied per worker"),
    ],
)
def test_a_bad_switch_is_refused_naming_it(plan, profile, isolate, said):
    with pytest.raises(HarnessError) as caught:
        with_suite(plan, "t", profile=profile, isolate=isolate)
    assert str(caught.value).startswith(said)


def test_a_setting_of_the_file_the_switch_makes_wrong_is_named_with_its_fix(plan):
    with pytest.raises(HarnessError) as caught:
        with_suite(plan, "t", profile="none_db", isolate=None)
    said = str(caught.value)
    assert said.startswith("--profile none_db: ") and "suites.t.isolate[0]: 'db' is not in profile 'none_db'" in said
    assert "or --isolate with services of that profile, or none" in said
    assert with_suite(plan, "t", profile="none_db", isolate="none").stack.suites["t"].profile == "none_db"


def test_isolate_list_reads_commas_and_none():
    assert isolate_list("a,b,a") == ["a", "b"]
    assert isolate_list(" none ") == []
    assert isolate_list("") == []
