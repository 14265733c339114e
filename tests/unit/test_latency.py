from __future__ import annotations

import pytest

from harness.plugin.backend_errors import BadAllowance, compile_allowances, unallowed
from harness.plugin.latency import Call, percentile, route_of, summarize


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/episodes/0123456789abcdef0123456789abcdef/events", "/episodes/{id}/events"),
        ("/episodes/42", "/episodes/{id}"),
        ("/fs/read?x=1", "/fs/read"),
        ("/benchmark/cancel/sim-abc", "/benchmark/cancel/sim-abc"),
        ("/", "/"),
    ],
)
def test_routes_are_normalised(path, route):
    assert route_of(path) == route


def test_nearest_rank_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile([], 99) == 0.0


def test_summary_flags_slow_endpoints_and_counts_errors():
    calls = [Call("api", "GET", "/fast", 200, 10.0)] * 50 + [Call("api", "GET", "/slow", 500, 900.0)] * 3
    summary = summarize(calls)
    assert summary["endpoints"]["api GET /fast"]["count"] == 50
    assert summary["endpoints"]["api GET /slow"]["errors"] == 3
    assert summary["slow_endpoints"] == ["api GET /slow"]


def test_backend_error_lines():
    logs = {"api": ["INFO ok", "ERROR db down", "Traceback (most recent call last):"], "db": ["LOG fine"]}
    assert unallowed(logs, []) == [("api", "ERROR db down"), ("api", "Traceback (most recent call last):")]
    assert unallowed(logs, [], only="session-1") == []


def test_allowances_are_patterns_for_one_service_or_all():
    logs = {"api": ["ERROR db down", "ERROR cache cold"], "worker": ["ERROR db down"]}
    only_api = compile_allowances([r"db down"], "api", where="t")
    assert unallowed(logs, only_api) == [("api", "ERROR cache cold"), ("worker", "ERROR db down")]
    everywhere = compile_allowances([r"db\s+down", "cache"], where="t")
    assert unallowed(logs, everywhere) == []


@pytest.mark.parametrize(
    ("patterns", "said"),
    [
        ([], "allowing every error is refused"),
        ([""], "is not a regular expression"),
        (["(unclosed"], "is not a valid regular expression"),
        ([42], "is not a regular expression"),
    ],
)
def test_bad_allowances_are_refused_naming_the_test(patterns, said):
    with pytest.raises(BadAllowance, match=said) as err:
        compile_allowances(patterns, where="tests/test_x.py::test_y")
    assert str(err.value).startswith("tests/test_x.py::test_y: ")


def test_the_stacks_own_rules_fold_generated_ids_first():
    from harness.plugin.latency import rules_from

    rules = rules_from(
        (
            ("/assets/artifacts/sim-[0-9a-f]+/[^/]+$", "/assets/artifacts/{sim}/{file}"),
            ("/(sim-[0-9a-f]+)(?=/|$)", "/{sim}"),
        )
    )
    eid = "0123456789abcdef0123456789abcdef"
    assert route_of(f"/api/episodes/{eid}/assets/artifacts/sim-17228a619c6d/waveform.png", rules) == (
        "/api/episodes/{id}/assets/artifacts/{sim}/{file}"
    )
    assert route_of("/benchmark/cancel/sim-abc123", rules) == "/benchmark/cancel/{sim}"
    assert route_of("/benchmark/cancel/sim-abc123", []) == "/benchmark/cancel/sim-abc123", "no rule, no folding"
