"""Untrusted input that reaches a program: netlists (ngspice, worker_heavy) and session code
(worker_light). Each case is what an attacker sent; each test checks the stack's answer over HTTP
and, where the harm would be on the machine, the machine itself (a marker file, the root-only
directory, the ngspice process in /proc).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import secrets
import stat
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.support import ENDLESS, RC_FILTER, Execution, Simulation, poll

pytestmark = pytest.mark.integration_p1


def tar_bundle(files: dict[str, str], symlinks: dict[str, str] | None = None) -> str:
    """A bundle as a client may send it: any members, symlinks included (worker_light's own
    bundles leave symlinks out, an attacker's need not)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return base64.b64encode(buf.getvalue()).decode()


def simulate(stack, bundle: str, **extra) -> httpx.Response:
    body = {"bundle_base64": bundle, "netlist_path": "circuit.cir", "render": False, **extra}
    return poll(
        lambda: stack.heavy.post("/benchmark/simulate", json=body),
        lambda r: r.status_code != 409,
        timeout=120,
        what="worker_heavy to be free",
        max_interval=0.2,
    )


def validate(stack, bundle: str) -> dict:
    resp = stack.heavy.post("/benchmark/validate", json={"bundle_base64": bundle, "netlist_path": "circuit.cir"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def before_end(netlist: str, lines: str) -> str:
    """``lines`` inserted before the netlist's ``.end``."""
    return netlist.replace("\n.end", f"\n{lines}\n.end")


def line_of(netlist: str, needle: str) -> int:
    return next(n for n, line in enumerate(netlist.splitlines(), start=1) if needle in line)


@pytest.mark.int_id("INT-123")
def test_int_123_netlist_commands_are_refused_and_never_run(stack):
    markers = Path(tempfile.mkdtemp(prefix="int123-"))
    try:
        control = before_end(RC_FILTER, f".control\nshell sh -c 'id > {markers}/control'\n.endc")
        star_hash = before_end(RC_FILTER, f"*# shell id > {markers}/star_hash")
        script = f"*ng_script\nshell id > {markers}/script\n"
        title = f".include {markers}/nothing\n" + "\n".join(RC_FILTER.splitlines()[1:])
        cases = [
            (control, line_of(control, ".control")),
            (star_hash, line_of(star_hash, "*#")),
            (script, 1),
            (title, 1),
        ]
        for netlist, line in cases:
            bundle = tar_bundle({"circuit.cir": netlist})
            checked = validate(stack, bundle)
            assert not checked["valid"], netlist
            assert (line, "unsafe") in [(p["line"], p["kind"]) for p in checked["problems"]], checked["problems"]
            resp = simulate(stack, bundle)
            assert resp.status_code == 200, resp.text
            result = Simulation.model_validate(resp.json())
            assert result.outcome == "invalid_netlist" and result.reason.startswith(f"line {line}:"), result.reason
        # A start-up file of ngspice's in the bundle (read from the working directory) is not read.
        spiceinit = tar_bundle(
            {
                "circuit.cir": RC_FILTER,
                ".spiceinit": f"shell id > {markers}/spiceinit\n",
                "spice.rc": f"shell id > {markers}/spice_rc\n",
                "spinit": f"shell id > {markers}/spinit\n",
            }
        )
        ran = Simulation.model_validate(simulate(stack, spiceinit).json())
        assert ran.outcome == "success", ran.reason
        assert sorted(os.listdir(markers)) == [], "a command of the bundle ran on the server"
    finally:
        for name in os.listdir(markers):
            (markers / name).unlink()
        markers.rmdir()


@pytest.mark.int_id("INT-124")
def test_int_124_includes_stay_inside_the_bundle(stack):
    shadow = [line for line in Path("/etc/shadow").read_text().splitlines() if line.strip()]
    passwd = [line for line in Path("/etc/passwd").read_text().splitlines() if line.strip()]
    netlists = {
        ".include /etc/shadow": {},
        ".lib /etc/passwd anything": {},
        ".include ../../../../../../etc/shadow": {},
        ".inc sub/../../../../../../etc/shadow": {},
        ".include ~/.bashrc": {},
        ".include models.lib": {"models.lib": "/etc/shadow"},  # a symlink member of the bundle
        ".include 'nowhere.lib'": {},
    }
    for directive, links in netlists.items():
        netlist = before_end(RC_FILTER, directive)
        bundle = tar_bundle({"circuit.cir": netlist}, links)
        checked = validate(stack, bundle)
        line = line_of(netlist, directive)
        assert not checked["valid"] and (line, "unsafe") in [(p["line"], p["kind"]) for p in checked["problems"]]
        resp = simulate(stack, bundle)
        result = Simulation.model_validate(resp.json())
        assert result.outcome == "invalid_netlist" and result.reason.startswith(f"line {line}:"), result.reason
        assert "include" in result.reason
        for answer in (json.dumps(checked), resp.text):
            leaked = [entry for entry in shadow + passwd if entry in answer]
            assert not leaked, f"{directive}: the answer quotes a system file: {leaked[:1]}"

    # The bundle's own models are included: from a subdirectory, which includes its neighbour.
    clipper = (
        "diode clipper\n"
        "V1 in 0 PULSE(0 5 0 1u 1u 5m 10m)\n"
        "* part: R-0603-1k\n"
        "R1 in out 1k\n"
        "* part: D-1N4148\n"
        "D1 out 0 D1N4148\n"
        ".include lib/models.lib\n"
        ".tran 10u 2m\n"
        ".meas tran vout_max MAX v(out)\n"
        ".end\n"
    )
    bundle = tar_bundle(
        {
            "circuit.cir": clipper,
            "lib/models.lib": "* the diode models\n.include diode.lib\n",
            "lib/diode.lib": ".model D1N4148 D(IS=2.52n RS=0.568 N=1.752 CJO=4p TT=20n)\n",
        }
    )
    assert validate(stack, bundle)["includes"] == ["lib/models.lib", "lib/diode.lib"]
    result = Simulation.model_validate(simulate(stack, bundle).json())
    assert result.outcome == "success", result.reason
    assert 0.5 < result.measurements["vout_max"] < 1.0, "the included diode clips the 5 V pulse"


def ngspice_process(sim_id: str) -> int | None:
    """The pid of the ngspice running the simulation ``sim_id`` (its run's directory, named after
    the simulation, is in its command line or is its working directory)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        if os.path.basename(argv[0]) == b"ngspice" and (sim_id in cwd or any(sim_id.encode() in a for a in argv)):
            return int(entry.name)
    return None


@pytest.mark.int_id("INT-125")
def test_int_125_ngspice_runs_unprivileged_without_network(stack, session_id):
    sim_id = f"sim-{uuid.uuid4().hex[:12]}"
    body = {
        "bundle_base64": stack.bundle_with(session_id, ENDLESS),
        "netlist_path": "circuit.cir",
        "timeout_s": 60,
        "simulation_id": sim_id,
        "render": False,
    }
    poll(lambda: stack.heavy.get("/ready").json(), lambda r: not r["busy"], timeout=120, what="worker_heavy free")
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(stack.heavy.post("/benchmark/simulate", json=body)))
    thread.start()
    try:
        pid = poll(lambda: ngspice_process(sim_id), lambda p: p is not None, timeout=30, what="ngspice to start")
        proc = Path(f"/proc/{pid}")
        status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
        uids = [int(v) for v in status["Uid"].split()]
        gids = [int(v) for v in status["Gid"].split()]
        assert 0 not in uids and 0 not in gids, f"ngspice runs with uid {uids}, gid {gids}"
        assert os.readlink(proc / "ns" / "net") != os.readlink("/proc/self/ns/net"), "ngspice has the host's network"
        assert os.readlink(proc / "ns" / "mnt") != os.readlink("/proc/self/ns/mnt"), "ngspice sees the host's files"
        argv = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
        assert "-n" in argv, f"ngspice reads .spiceinit files: {argv}"
        environ = dict(
            item.decode().split("=", 1) for item in (proc / "environ").read_bytes().split(b"\0") if b"=" in item
        )
        assert set(environ) <= {"PATH", "HOME", "LANG", "SPICE_SCRIPTS", "HARNESS_OWNER"}, sorted(environ)
        secret_values = [v for k, v in stack.env.items() if len(v) >= 8 and re.search(r"KEY|DSN|PASSWORD|SECRET", k)]
        assert not [v for v in environ.values() for s in secret_values if s in v]
    finally:
        stack.heavy.post(f"/benchmark/cancel/{sim_id}")
        thread.join(timeout=60)
    assert answers and Simulation.model_validate(answers[0].json()).outcome == "cancelled"


# Session code racing the service: it swaps ``a`` between a directory of its own and a symlink to
# TARGET (a directory only root may enter) as fast as it can, while the client reads and writes
# ``a/...``. A rename that fails (the service made ``a`` meanwhile) moves the intruder aside.
RACE = """
import os, time
os.mkdir('real')
open('real/secret.txt', 'w').write('mine')
os.symlink(TARGET, 'link')
open('started', 'w').write('1')
deadline = time.monotonic() + 25
swaps = aside = 0
while time.monotonic() < deadline and not os.path.exists('stop'):
    for src, dst in (('real', 'a'), ('a', 'real'), ('link', 'a'), ('a', 'link')):
        try:
            os.rename(src, dst)
        except OSError:
            aside += 1
            try:
                os.rename('a', f'aside-{aside}')
            except OSError:
                pass
            if not os.path.lexists('real'):
                os.mkdir('real')
                open('real/secret.txt', 'w').write('mine')
            if not os.path.lexists('link'):
                os.symlink(TARGET, 'link')
    swaps += 1
print(swaps, aside)
"""
RACE_REQUESTS, RACE_SECONDS = 1500, 20.0


@pytest.mark.int_id("INT-126")
def test_int_126_a_racing_symlink_never_leads_outside_the_workspace(stack, session_id):
    target = Path(tempfile.mkdtemp(prefix="int126-"))  # root's, 0700
    token = secrets.token_hex(16)
    (target / "secret.txt").write_text(token)
    (target / "secret.txt").chmod(0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700 and target.stat().st_uid == 0
    headers = {"X-Session-ID": session_id}
    ran: list[Execution] = []

    def race() -> None:
        resp = stack.light.post(
            "/runtime/execute", headers=headers, json={"code": f"TARGET = {str(target)!r}\n" + RACE, "timeout_s": 40}
        )
        ran.append(Execution.model_validate(resp.json()))

    racer = threading.Thread(target=race)
    racer.start()
    answers: list[tuple[str, httpx.Response]] = []
    try:
        poll(
            lambda: stack.light.post("/fs/read", json={"path": "started"}, headers=headers).status_code,
            lambda code: code == 200,
            timeout=30,
            what="the racing code to start",
        )
        lock = threading.Lock()
        deadline = time.monotonic() + RACE_SECONDS

        def client(kind: str) -> None:
            i = 0
            while time.monotonic() < deadline:
                with lock:
                    if len(answers) >= RACE_REQUESTS:
                        return
                i += 1
                if kind == "read":
                    resp = stack.light.post("/fs/read", json={"path": "a/secret.txt"}, headers=headers)
                else:
                    body = {"path": f"a/{kind}-{i}.txt", "content": "written by the client"}
                    resp = stack.light.post("/fs/write", json=body, headers=headers)
                with lock:
                    answers.append((kind, resp))

        clients = [threading.Thread(target=client, args=(k,)) for k in ("read", "read", "write-1", "write-2")]
        for t in clients:
            t.start()
        for t in clients:
            t.join(timeout=RACE_SECONDS + 60)
    finally:
        stack.light.post("/fs/write", json={"path": "stop", "content": ""}, headers=headers)
        racer.join(timeout=60)
        leftovers = sorted(os.listdir(target))
        for name in leftovers:
            (target / name).unlink()
        target.rmdir()
    assert ran and ran[0].exit_code == 0, ran[0].stderr if ran else "the racing code did not answer"
    assert leftovers == ["secret.txt"], f"written into the root-only directory: {leftovers}"
    reads = [r for kind, r in answers if kind == "read"]
    leaked = [r for r in reads if token in r.text]
    assert not leaked, f"{len(leaked)} of {len(reads)} reads returned the root-only file"
    for kind, resp in answers:
        assert resp.status_code == 200 or (400 <= resp.status_code < 500 and resp.json()["field"] == "path"), (
            kind,
            resp.status_code,
            resp.text,
        )
    through = [r for r in reads if r.status_code == 200]
    assert through and all(r.json()["content"] == "mine" for r in through), "the race never let a read through"
    assert int(ran[0].stdout.split()[0]) > 100, f"the code hardly raced: {ran[0].stdout}"


PROBE = """
import json, os, socket
out = {"files": {}, "ports": {}}
for path in PATHS:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, 'rb').read(1)
        out["files"][path] = "read"
    except OSError as exc:
        out["files"][path] = type(exc).__name__
for name, port in PORTS.items():
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        out["ports"][name] = "connected"
    except OSError as exc:
        out["ports"][name] = type(exc).__name__
print(json.dumps(out))
"""


@pytest.mark.int_id("INT-127")
def test_int_127_session_code_sees_nothing_of_the_project(stack, session_id):
    env = stack.env
    checkout = Path(env["HARNESS_STACK_FILE"]).parent
    logs = Path(env["HARNESS_LOG_DIR"])
    paths = [
        checkout,
        checkout / "stack.toml",
        checkout / ".env",
        checkout / "logs",
        checkout / "logs" / "history.jsonl",
        logs,
        Path(env["CONTROLLER_LOG"]),
        Path(env["WORKER_LIGHT_LOG"]),
        Path(env["HARNESS_STATE_DIR"]) / "state.json",
    ]
    existing = [p for p in paths if p.exists()]
    assert {checkout / "stack.toml", Path(env["CONTROLLER_LOG"]), Path(env["HARNESS_STATE_DIR"]) / "state.json"} <= set(
        existing
    ), "the probe must include files that exist (and are readable to any user on the host)"
    ports = {
        name: int(env[f"{name.upper()}_PORT"])
        for name in ("postgres", "s3", "temporal", "controller", "worker_light", "worker_heavy")
    }
    code = f"PATHS = {[str(p) for p in paths]!r}\nPORTS = {ports!r}\n" + PROBE
    resp = stack.light.post("/runtime/execute", headers={"X-Session-ID": session_id}, json={"code": code})
    result = Execution.model_validate(resp.json())
    assert result.exit_code == 0, result.stderr
    seen = json.loads(result.stdout)
    readable = {path: how for path, how in seen["files"].items() if how == "read"}
    assert not readable, f"session code read the project's files: {sorted(readable)}"
    reached = {name: how for name, how in seen["ports"].items() if how == "connected"}
    assert not reached, f"session code reached the stack's services: {sorted(reached)}"
