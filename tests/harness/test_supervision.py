"""Real processes under the supervisor: up, status, down, crashes, ports, reaping, instances."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from harness.host.ports import port_free

from .conftest import APP, owned_processes, wait_for

TWO_APPS = """
[stack]
name = "two-apps"
port_offset = 7

[services.api]
command = "{app} --port {port} --need-env DB_URL"
port = {p0}
ready = { http = "/health", expect = "healthy", timeout = 20 }
after = ["helper"]
env = { DB_URL = "fake://{helper.host}:{helper.port}/db" }

[services.helper]
command = "{app} --port {port} --orphan"
port = {p1}
ready = { http = "/health", timeout = 20 }
"""


def test_up_status_down_leaves_nothing(make_stack):
    sd = make_stack(TWO_APPS)
    res = sd.cli("up")
    assert res.returncode == 0, res.stderr
    assert "api" in res.stderr and "ready" in res.stderr
    # The app got its env template rendered with the helper's port.
    value = httpx.get(f"http://127.0.0.1:{sd.ports[0]}/env/DB_URL").json()["value"]
    assert value == f"fake://127.0.0.1:{sd.ports[1]}/db"

    status = sd.cli("status")
    assert status.returncode == 0
    assert status.stderr.count("healthy") == 2, status.stderr

    state = json.loads((sd.state_dir() / "state.json").read_text())
    pids = [rec["pid"] for rec in state["processes"].values()]
    assert len(owned_processes(sd.state_dir())) >= 3  # two apps and the orphaned grandchild

    down = sd.cli("down")
    assert down.returncode == 0, down.stderr
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)
    assert owned_processes(sd.state_dir()) == []  # the grandchild that left the group is gone too
    assert port_free(sd.ports[0]) and port_free(sd.ports[1])


def test_second_up_is_idempotent(make_stack):
    sd = make_stack(TWO_APPS)
    timeline = sd.root / "timeline.json"
    assert sd.cli("up", env={"HARNESS_TIMELINE": str(timeline)}).returncode == 0
    stages = {s["name"]: s for s in json.loads(timeline.read_text())}  # for tools: to the millisecond
    assert set(stages) == {"api", "helper"} and stages["api"]["start_offset"] >= stages["helper"]["duration"]
    pid_before = httpx.get(f"http://127.0.0.1:{sd.ports[0]}/health").json()["pid"]
    again = sd.cli("up")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr
    assert httpx.get(f"http://127.0.0.1:{sd.ports[0]}/health").json()["pid"] == pid_before


def test_crashing_service_fails_fast_with_log_tail_and_cleans_up(make_stack):
    sd = make_stack("""
    [services.slow]
    command = "{app} --port {port}"
    port = {p0}
    ready = { http = "/health", timeout = 30 }

    [services.crashy]
    command = "{app} --port {port} --crash"
    port = {p1}
    ready = { http = "/health", timeout = 60 }
    """)
    t0 = time.monotonic()
    res = sd.cli("up")
    elapsed = time.monotonic() - t0
    assert res.returncode == 2
    assert "crashy: exited while waiting" in res.stderr
    assert "configured to crash: boom" in res.stderr  # the log tail is shown
    assert elapsed < 10, f"took {elapsed:.1f} s; the 60 s readiness timeout must not be waited out"
    assert owned_processes(sd.state_dir()) == []
    assert port_free(sd.ports[0])


def test_foreign_port_holder_is_named_and_left_alone(make_stack):
    sd = make_stack(TWO_APPS)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (f"import socket,time;s=socket.socket();s.bind(('127.0.0.1',{sd.ports[1]}));s.listen();time.sleep(120)"),
        ]
    )
    try:
        wait_for(lambda: not port_free(sd.ports[1]), 10, "the foreign holder to listen")
        t0 = time.monotonic()
        res = sd.cli("up")
        assert time.monotonic() - t0 < 2.5
        assert res.returncode == 2
        assert f"port {sd.ports[1]}" in res.stderr and f"pid {holder.pid}" in res.stderr
        assert "time.sleep(120)" in res.stderr  # its command line
        assert holder.poll() is None
        assert owned_processes(sd.state_dir()) == []
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("moment", ["during startup", "after startup"])
def test_kill_9_of_up_is_reaped_by_next_up(make_stack, moment):
    sd = make_stack("""
    [services.quick]
    command = "{app} --port {port} --orphan"
    port = {p0}

    [services.slow]
    command = "{app} --port {port} --delay 4"
    port = {p1}
    ready = { http = "/health", timeout = 30 }
    after = ["quick"]
    """)
    up = sd.popen("up")
    state_file = sd.state_dir() / "state.json"

    def recorded(names):
        try:
            return set(json.loads(state_file.read_text())["processes"]) >= set(names)
        except (OSError, ValueError, KeyError):
            return False

    if moment == "during startup":
        wait_for(lambda: recorded({"quick", "slow"}), 20, "both services to be recorded")
    else:
        wait_for(lambda: not port_free(sd.ports[1]), 20, "the slow service to listen")
    up.send_signal(signal.SIGKILL)
    up.wait()
    before = {p.pid for p in owned_processes(sd.state_dir())}
    assert before, "the killed run must have left processes behind for this test to mean anything"

    again = sd.cli("up")
    assert again.returncode == 0, again.stderr
    assert "reaped" in again.stderr
    after = {p.pid for p in owned_processes(sd.state_dir())}
    assert not (before & after), "orphans of the killed run survived"
    assert sd.cli("down").returncode == 0
    assert owned_processes(sd.state_dir()) == []


def test_status_and_down_also_reap_a_killed_run(make_stack):
    sd = make_stack("""
    [services.slow]
    command = "{app} --port {port} --delay 30"
    port = {p0}
    ready = { http = "/health", timeout = 60 }
    """)
    up = sd.popen("up")
    wait_for(lambda: owned_processes(sd.state_dir()), 20, "the service to start")
    up.send_signal(signal.SIGKILL)
    up.wait()
    res = sd.cli("status")
    assert "reaped" in res.stderr
    assert owned_processes(sd.state_dir()) == []


def test_one_up_at_a_time_per_instance(make_stack):
    sd = make_stack("""
    [services.slow]
    command = "{app} --port {port} --delay 3"
    port = {p0}
    ready = { http = "/health", timeout = 30 }
    """)
    first = sd.popen("up")
    wait_for(lambda: owned_processes(sd.state_dir()), 20, "the first up to start its service")
    second = sd.cli("up")
    assert second.returncode == 2
    assert "instance 0 is busy" in second.stderr and f"pid {first.pid}" in second.stderr
    assert first.wait(timeout=60) == 0


def test_two_instances_side_by_side(make_stack):
    sd = make_stack(TWO_APPS)
    assert sd.cli("up", instance=0).returncode == 0
    res = sd.cli("up", instance=1)
    assert res.returncode == 0, res.stderr
    p0, p1 = sd.ports[0], sd.ports[0] + 7
    assert httpx.get(f"http://127.0.0.1:{p1}/health").json()["status"] == "healthy"
    assert sd.cli("down", instance=1).returncode == 0
    assert port_free(p1)
    assert httpx.get(f"http://127.0.0.1:{p0}/health").json()["status"] == "healthy"
    assert sd.cli("status", instance=0).stderr.count("healthy") == 2


QUICK_AND_SLOW = """
[services.quick]
command = "{app} --port {port}"
port = {p0}

[services.slow]
command = "{app} --port {port} --delay 30"
port = {p1}
ready = { http = "/health", timeout = 60 }
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_sigint_during_up_runs_the_cleanup_trap(make_stack, sig):
    """Ctrl-C, and SIGTERM and SIGHUP alike."""
    sd = make_stack(QUICK_AND_SLOW)
    up = sd.popen("up")
    wait_for(lambda: len(owned_processes(sd.state_dir())) >= 2, 20, "both services to start")
    up.send_signal(sig)
    out, _ = up.communicate(timeout=30)
    assert up.returncode == 130, out
    assert "interrupted" in out
    assert owned_processes(sd.state_dir()) == []


def test_keep_on_failure_leaves_services_up(make_stack):
    sd = make_stack("""
    [services.good]
    command = "{app} --port {port}"
    port = {p0}

    [services.bad]
    command = "{app} --port {port} --crash"
    port = {p1}
    after = ["good"]
    ready = { http = "/health" }
    """)
    res = sd.cli("up", "--keep-on-failure")
    assert res.returncode == 2
    assert "keep-on-failure" in res.stderr
    with socket.create_connection(("127.0.0.1", sd.ports[0]), timeout=2):
        pass
    assert sd.cli("down").returncode == 0
    assert port_free(sd.ports[0])


def test_down_clean_removes_instance_data_but_keeps_state(make_stack):
    sd = make_stack(TWO_APPS)
    assert sd.cli("up").returncode == 0
    data = sd.state_dir() / "api" / "scratch.txt"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("left by a service")
    res = sd.cli("down", "--clean")
    assert res.returncode == 0 and "removed the instance's data" in res.stderr
    assert not data.parent.exists()
    assert sorted(p.name for p in sd.state_dir().iterdir()) == [".harness-instance", "lock", "state.json"]
    assert owned_processes(sd.state_dir()) == []


def test_changed_settings_restart_only_that_service(make_stack):
    sd = make_stack(TWO_APPS)
    assert sd.cli("up").returncode == 0
    pids = {p: httpx.get(f"http://127.0.0.1:{p}/health").json()["pid"] for p in sd.ports[:2]}
    sd.file.write_text(sd.file.read_text().replace("/db", "/db2"))  # only api's env changes
    res = sd.cli("up")
    assert res.returncode == 0, res.stderr
    assert "settings changed" in res.stderr
    assert httpx.get(f"http://127.0.0.1:{sd.ports[0]}/env/DB_URL").json()["value"].endswith("/db2")
    assert httpx.get(f"http://127.0.0.1:{sd.ports[0]}/health").json()["pid"] != pids[sd.ports[0]]
    assert httpx.get(f"http://127.0.0.1:{sd.ports[1]}/health").json()["pid"] == pids[sd.ports[1]]


@pytest.mark.parametrize(
    "garbage", ["[]", '{"processes":null}', '{"owner_pid":"abc","complete":false}', '{"processes":{"api":{"pid":1}}}']
)
def test_a_state_file_of_the_wrong_shape_is_named_and_the_stack_still_stops(make_stack, garbage):
    sd = make_stack(TWO_APPS)
    assert sd.cli("up").returncode == 0
    state = sd.state_dir() / "state.json"
    state.write_text(garbage)

    status = sd.cli("status")
    assert status.returncode == 0 and "Traceback" not in status.stderr
    assert "state file is unreadable" in status.stderr and str(state) in status.stderr.replace("\n", "")
    assert "stopped" not in status.stderr, "unknown, not stopped"
    assert len(owned_processes(sd.state_dir())) >= 3, "status only looks"

    down = sd.cli("down")
    assert down.returncode == 0 and "Traceback" not in down.stderr, down.stderr
    assert "without the state file" in down.stderr
    assert owned_processes(sd.state_dir()) == []
    assert port_free(sd.ports[0]) and port_free(sd.ports[1])


def test_up_after_a_garbled_state_file_restarts_its_own_stack_instead_of_blaming_it(make_stack):
    sd = make_stack(TWO_APPS)
    assert sd.cli("up").returncode == 0
    state = sd.state_dir() / "state.json"
    state.unlink()
    state.mkdir()  # replaced by a directory
    again = sd.cli("up")
    assert again.returncode == 0, again.stderr
    assert "already in use" not in again.stderr and "state file is unreadable" in again.stderr
    assert json.loads(state.read_text())["processes"].keys() == {"api", "helper"}
    assert sd.cli("down").returncode == 0
    assert owned_processes(sd.state_dir()) == []


STRAY = """
import http.server, socketserver, subprocess, sys
# A double fork: the sleeper ends up a child of init, in its own session, with an empty environment.
spawn = "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], "
spawn += "env={}, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid)"
out = subprocess.run([sys.executable, "-c", spawn], env={}, capture_output=True, text=True).stdout
open(sys.argv[2], "w").write(out.strip())
socketserver.TCPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def test_a_stray_that_cleared_its_environment_and_left_its_session_is_stopped(make_stack, tmp_path):
    from harness.host import cgroups

    if cgroups.hierarchy() is None:
        pytest.skip("no writable cgroup hierarchy here: such a stray escapes (the README says so)")
    script = tmp_path / "stray.py"
    script.write_text(STRAY)
    pid_file = tmp_path / "stray.pid"
    sd = make_stack(f"""
    [services.parent]
    command = "{{python}} {script} {{port}} {pid_file}"
    port = {{p0}}
    ready = {{ tcp = true, timeout = 20 }}
    """)
    assert sd.cli("up").returncode == 0
    wait_for(pid_file.exists, 10, "the stray to be spawned")
    stray = psutil.Process(int(pid_file.read_text()))
    assert "HARNESS_OWNER" not in stray.environ() and stray.pid == os.getsid(stray.pid)
    assert stray.ppid() != int(json.loads((sd.state_dir() / "state.json").read_text())["processes"]["parent"]["pid"])
    down = sd.cli("down")
    assert down.returncode == 0, down.stderr
    assert f"stray pid {stray.pid}" in down.stderr
    wait_for(lambda: not stray.is_running() or stray.status() == psutil.STATUS_ZOMBIE, 5, "the stray to be gone")
    assert not cgroups.group_of(f"{sd.state_dir().resolve()}#").exists(), "its cgroups are removed once empty"


IGNORES_TERM = """
import signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
srv = socket.socket()
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen()
while True:
    time.sleep(1)
"""


def test_a_service_that_ignores_sigterm_is_killed_after_its_grace_period(make_stack, tmp_path):
    script = tmp_path / "stubborn.py"
    script.write_text(IGNORES_TERM)
    sd = make_stack(f"""
    [services.stubborn]
    command = "{{python}} {script} {{port}}"
    port = {{p0}}
    stop_timeout = 1.5
    """)
    assert sd.cli("up").returncode == 0
    pid = json.loads((sd.state_dir() / "state.json").read_text())["processes"]["stubborn"]["pid"]
    t0 = time.monotonic()
    assert sd.cli("down").returncode == 0
    took = time.monotonic() - t0
    assert 1.5 <= took < 8, f"TERM, the 1.5 s grace, then KILL: took {took:.1f} s"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert port_free(sd.ports[0])


def test_each_process_leads_its_own_group_and_is_recorded_before_the_wait(make_stack):
    sd = make_stack("""
    [services.slow]
    command = "{app} --port {port} --delay 3"
    port = {p0}
    ready = { http = "/health", timeout = 30 }
    """)
    up = sd.popen("up")
    state_file = sd.state_dir() / "state.json"

    def recorded():
        try:
            return json.loads(state_file.read_text())["processes"].get("slow")
        except (OSError, ValueError):
            return None

    wait_for(recorded, 20, "the service to be recorded")
    rec = recorded()
    assert port_free(sd.ports[0]), "recorded while the harness is still waiting for it to be ready"
    proc = psutil.Process(rec["pid"])
    assert abs(proc.create_time() - rec["create_time"]) < 0.05
    assert rec["argv"] == [sys.executable, str(APP), "--port", str(sd.ports[0]), "--delay", "3"]
    assert os.getpgid(rec["pid"]) == rec["pid"] and os.getsid(rec["pid"]) == rec["pid"], "its own group and session"
    assert os.getpgid(rec["pid"]) != os.getpgid(up.pid)
    assert up.wait(timeout=60) == 0


def test_a_recycled_pid_in_a_stale_state_file_is_left_alone(make_stack):
    sd = make_stack(TWO_APPS)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state = {
            "owner_pid": 1,
            "owner_create_time": 1.0,  # a dead harness: the next command reaps its run
            "complete": False,
            "run_token": "gone",
            "processes": {
                "api": {
                    "name": "api",
                    "pid": bystander.pid,
                    "create_time": psutil.Process(bystander.pid).create_time() - 1000,  # not this process
                    "argv": ["old"],
                    "log": "/dev/null",
                    "started_at": 0.0,
                }
            },
            "step_hashes": {},
        }
        sd.state_dir().mkdir(parents=True)
        (sd.state_dir() / "state.json").write_text(json.dumps(state))
        assert sd.cli("status").returncode == 0  # reaps the dead run
        assert sd.cli("down").returncode == 0
        assert bystander.poll() is None, "a pid whose start time differs is somebody else's"
    finally:
        bystander.kill()
        bystander.wait()


def test_down_after_a_sigkilled_harness_stops_what_it_left(make_stack):
    sd = make_stack("""
    [services.quick]
    command = "{app} --port {port} --orphan"
    port = {p0}

    [services.slow]
    command = "{app} --port {port} --delay 30"
    port = {p1}
    ready = { http = "/health", timeout = 60 }
    after = ["quick"]
    """)
    up = sd.popen("up")
    wait_for(lambda: len(owned_processes(sd.state_dir())) >= 3, 20, "both services (and the orphan) to start")
    up.send_signal(signal.SIGKILL)
    up.wait()
    down = sd.cli("down")
    assert down.returncode == 0, down.stderr
    assert "reaped" in down.stderr or "stopped" in down.stderr
    assert owned_processes(sd.state_dir()) == []
    assert port_free(sd.ports[0]) and port_free(sd.ports[1])


def test_keep_on_failure_also_holds_on_ctrl_c(make_stack):
    sd = make_stack(QUICK_AND_SLOW)
    up = sd.popen("up", "--keep-on-failure")
    wait_for(lambda: len(owned_processes(sd.state_dir())) >= 2, 20, "both services to start")
    up.send_signal(signal.SIGINT)
    out, _ = up.communicate(timeout=30)
    assert up.returncode == 130, out
    assert "keep-on-failure" in out
    with socket.create_connection(("127.0.0.1", sd.ports[0]), timeout=2):
        pass
    assert len(owned_processes(sd.state_dir())) >= 2
    assert sd.cli("down").returncode == 0
    assert owned_processes(sd.state_dir()) == []


def answering_pid(port: int) -> int:
    """The test app's pid once it answers on ``port`` (polled for up to 10 s)."""
    seen: dict[str, int] = {}

    def answers() -> bool:
        try:
            seen["pid"] = httpx.get(f"http://127.0.0.1:{port}/health").json()["pid"]
        except httpx.HTTPError:
            return False
        return True

    wait_for(answers, 10, f"the app on port {port} to answer")
    return seen["pid"]


def test_an_unchanged_but_unhealthy_service_is_restarted_by_the_next_up(make_stack, tmp_path):
    flag = tmp_path / "healthy"
    flag.write_text("yes")
    sd = make_stack(f"""
    [services.api]
    command = "{{app}} --port {{port}}"
    port = {{p0}}
    ready = {{ command = "test -f {flag}", timeout = 3 }}
    """)
    assert sd.cli("up").returncode == 0
    pid = answering_pid(sd.ports[0])  # its readiness is the flag file: the app may still be binding
    flag.unlink()  # its readiness check now fails, though nothing about it changed
    res = sd.cli("up", timeout=60)
    assert "not healthy" in res.stderr
    flag.write_text("yes")
    wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 10, "the old one"
    )
    assert sd.cli("up").returncode == 0
    assert answering_pid(sd.ports[0]) != pid


SLOW = """
[stack]
port_offset = 7

[services.slow]
command = "{app} --port {port} --delay 3"
port = {p0}
ready = { http = "/health", timeout = 30 }
"""


def test_a_queued_up_waits_for_the_holder_then_proceeds(make_stack):
    sd = make_stack(SLOW)
    first = sd.popen("up")
    wait_for(lambda: owned_processes(sd.state_dir()), 20, "the first up to start its service")
    refused = sd.cli("up")
    assert refused.returncode == 2 and "--queue" in refused.stderr, "without --queue: refused, naming the way out"
    t0 = time.monotonic()
    queued = subprocess.run(
        [sys.executable, "-m", "harness", "--stack", str(sd.file), "--queue", "--queue-timeout", "60", "up"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=sd.root,
    )
    assert queued.returncode == 0, queued.stderr
    assert "queued" in queued.stderr and f"pid {first.pid}" in queued.stderr
    assert first.wait(timeout=60) == 0
    assert "already running" in queued.stderr, "it waited for the first, then found its service up"
    assert time.monotonic() - t0 >= 0.5


def test_a_queue_that_times_out_says_so(make_stack):
    sd = make_stack(SLOW)
    first = sd.popen("up")
    wait_for(lambda: owned_processes(sd.state_dir()), 20, "the first up to start its service")
    res = subprocess.run(
        [sys.executable, "-m", "harness", "--stack", str(sd.file), "--queue", "--queue-timeout", "0.5", "up"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=sd.root,
    )
    assert res.returncode == 2 and "busy (waited" in res.stderr
    assert first.wait(timeout=60) == 0


def test_instance_auto_takes_the_first_free_instance(make_stack):
    sd = make_stack(SLOW)
    first = sd.popen("up")  # holds instance 0 while it waits for its service
    wait_for(lambda: owned_processes(sd.state_dir()), 20, "the first up to start its service")
    auto = subprocess.run(
        [sys.executable, "-m", "harness", "--stack", str(sd.file), "--instance", "auto", "up"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=sd.root,
    )
    assert auto.returncode == 0, auto.stderr
    assert "--instance auto: instance 1" in auto.stderr
    assert httpx.get(f"http://127.0.0.1:{sd.ports[0] + 7}/health").json()["status"] == "healthy"
    assert first.wait(timeout=60) == 0
    assert sd.cli("down", instance=1).returncode == 0


def test_a_data_step_reruns_when_its_inputs_change_and_after_down_clean(make_stack):
    """A step with inputs and no outputs (a migration) is skipped while its inputs and data stand."""
    sd = make_stack("""
    [stack]
    name = "data-step"

    [steps.migrate]
    run = "echo applied >> .harness/0/applied.txt"
    shell = true
    inputs = ["migrations/*.sql"]
    """)
    (sd.root / "migrations").mkdir()
    (sd.root / "migrations" / "0001.sql").write_text("CREATE TABLE t (id int);")
    applied = sd.state_dir() / "applied.txt"

    def up() -> str:
        res = sd.cli("up", "migrate")
        assert res.returncode == 0, res.stderr
        return next(ln.split()[1] for ln in reversed(res.stderr.splitlines()) if ln.strip().startswith("migrate "))

    assert up() == "ran" and applied.read_text().count("applied") == 1
    assert up() == "up", "up to date: the same inputs, the data still there"
    (sd.root / "migrations" / "0002.sql").write_text("ALTER TABLE t ADD name text;")
    assert up() == "ran" and applied.read_text().count("applied") == 2, "a changed migration runs again"
    assert sd.cli("down", "--clean").returncode == 0
    assert not applied.exists()
    assert up() == "ran" and applied.read_text().count("applied") == 1, "after a clean the data is gone: run again"
