"""Choosing the tests a change can affect, from a map of which test ran which line."""

from __future__ import annotations

from harness.suite.impact import select

MAP = {
    "commit": "abc",
    "tests": ["tests/test_a.py::test_a", "tests/test_b.py::test_b@worker_heavy"],
    "test_paths": ["tests"],
    "test_files": ["tests/test_a.py", "tests/test_b.py"],
    "files": {"svc/api.py": {"10": [0], "11": [0, 1]}, "svc/heavy.py": {"5": [1]}},
}


def test_no_map_runs_everything():
    assert select(None, {"svc/api.py": {10}}, [], [], []).everything.startswith("no impact map")


def test_a_changed_line_runs_the_tests_that_ran_it_by_their_selectable_ids():
    chosen = select(MAP, {"svc/heavy.py": {5}}, [], [], [])
    assert chosen.reasons == {"tests/test_b.py::test_b": "ran svc/heavy.py:5"} and not chosen.everything
    assert chosen.describe()[0].endswith("1 of the 2 tests the map knows left out")
    assert set(select(MAP, {"svc/api.py": {11}}, [], [], []).reasons) == {
        "tests/test_a.py::test_a",
        "tests/test_b.py::test_b",
    }


def test_a_line_no_test_ran_runs_nothing():
    assert select(MAP, {"svc/api.py": {99}}, [], [], []).chosen == []


def test_a_file_changed_since_the_map_runs_every_test_that_ran_it():
    chosen = select(MAP, {"svc/heavy.py": {99}}, ["svc/heavy.py"], [], [])
    assert chosen.reasons == {"tests/test_b.py::test_b": "ran svc/heavy.py, which changed since the map was made"}


def test_test_files_changed_since_the_ref_or_the_map_run_whole():
    chosen = select(MAP, {"tests/test_c.py": set(), "tests/test_a.py": {3}}, [], ["tests/test_new.py"], [])
    assert chosen.reasons == {
        "tests/test_new.py": "a test file changed since the map was made",
        "tests/test_a.py": "the test file itself changed",
        "tests/test_c.py": "the test file itself changed",
    }


def test_a_conftest_or_helper_beside_the_tests_runs_everything():
    for helper in ("tests/conftest.py", "tests/support.py", "tests/data/netlist.cir"):
        assert "tests use it in ways the map cannot tell" in select(MAP, {helper: {1}}, [], [], []).everything


def test_a_file_the_map_does_not_know_runs_everything_unless_a_rule_says_which_tests():
    assert select(MAP, {"stack.toml": {3}}, [], [], []).everything.startswith("stack.toml changed")
    ruled = select(MAP, {"frontend/app.ts": {1}}, [], [], [(["frontend/**"], ["tests/test_ui.py"])])
    assert ruled.reasons == {"tests/test_ui.py": "[tests] impact rule for frontend/app.ts"}


def test_the_map_keys_tests_by_the_ids_pytest_selects(tmp_path):
    import subprocess

    import coverage

    from harness.suite.impact import make_map

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x"],
        cwd=tmp_path,
        check=True,
    )
    (tmp_path / "svc.py").write_text("a = 1\nb = 2\n")
    data = coverage.CoverageData(basename=str(tmp_path / ".coverage"))
    data.set_context("tests/test_a.py::test_a@worker_heavy\ntests/test_b.py::test_b[x|y]")  # xdist's group suffix
    data.add_lines({str(tmp_path / "svc.py"): [1]})
    data.set_context("")
    data.add_lines({str(tmp_path / "svc.py"): [2], "/elsewhere/lib.py": [1]})
    data.write()
    made = make_map(
        tmp_path / ".coverage", ["tests/test_a.py::test_a", "tests/test_b.py::test_b[x|y]"], ".", ["tests"], tmp_path
    )
    assert made["files"] == {"svc.py": {"1": [0, 1]}}  # line 2 ran outside any test; lib.py is not in the repository
    assert made["test_paths"] == ["tests"] and len(made["commit"]) == 40


def test_a_rule_without_tests_says_a_path_affects_none():
    chosen = select(MAP, {"docs/x.md": {1}, "svc/heavy.py": {5}}, [], [], [(["docs/*"], [])])
    assert list(chosen.reasons) == ["tests/test_b.py::test_b"] and chosen.unaffecting == ["docs/x.md"]
    assert "affecting no test by a [tests] impact rule: docs/x.md" in chosen.describe()[-1]


def test_changed_lines_whatever_the_users_git_configuration(tmp_path):
    import subprocess

    from harness.suite.impact import changed_lines

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.email=t@e", "-c", "user.name=t", *args], cwd=tmp_path, check=True)

    git("init", "-q")
    for key, value in (("color.ui", "always"), ("diff.noprefix", "true"), ("core.quotePath", "true")):
        git("config", key, value)
    (tmp_path / "my app.py").write_text("a = 1\nb = 2\nc = 3\n")
    git("add", "-A")
    git("commit", "-q", "-m", "x")
    (tmp_path / "my app.py").write_text("a = 1\nb = 20\nc = 3\n")
    (tmp_path / "new.py").write_text("x = 1\n")
    assert changed_lines(tmp_path, "HEAD") == {"my app.py": {2}, "new.py": set()}
