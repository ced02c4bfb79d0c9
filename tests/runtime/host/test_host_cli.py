"""`pvdsl host` / `pvdsl vm`: a real host server in a subprocess, driven from
the test process like a second shell."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostsupport import served_host

from pvdsl.cli.host import main_host
from pvdsl.runtime.host.server import default_socket_path, request

ROOT = Path(__file__).resolve().parents[3]
SPEC = str(ROOT / "examples" / "irq.pv")
LAUNCH = "import sys; from pvdsl.cli.host import main_host; sys.exit(main_host(sys.argv[1:]))"


@pytest.fixture
def host(tmp_path):
    sock = str(tmp_path / "h.sock")
    with served_host(sock) as proc:
        yield sock, proc


def run(capsys, *argv):
    rc = main_host(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_vm_lifecycle(host, capsys):
    sock, proc = host
    free0 = request(sock, {"op": "info"})["free_frames"]
    rc, out, err = run(capsys, "vm", "create", SPEC, "--target", "x86_64-domu", "--memory", "32M",
                       "--name", "web", "--socket", sock)
    assert rc == 0, err
    assert "created domain web" in out
    rc, out, err = run(capsys, "vm", "create", SPEC, "--target", "i386-domu", "--memory", "16M",
                       "--name", "old", "--socket", sock)
    assert rc == 0, err

    rc, out, _ = run(capsys, "vm", "list", "--socket", sock)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["Name", "ID", "Mem", "MemTarget", "VCPUs", "State", "Target"]
    names = [ln.split()[0] for ln in lines[1:]]
    assert names == ["Domain-0", "web", "old"]
    assert "i386-domu" in out and "x86_64-domu" in out

    rc, out, _ = run(capsys, "vm", "list", "--json", "--socket", sock)
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["web"]["mem"] == 32 and rows["old"]["target"] == "i386-domu" and rows["web"]["id"] == 1

    rc, out, _ = run(capsys, "vm", "console", "web", "--socket", sock)
    assert rc == 0
    assert "console of web" in out and "hooks called" in out and "faults: none" in out

    # Errors: duplicate name, unknown name.
    rc, _, err = run(capsys, "vm", "create", SPEC, "--target", "x86_64-domu", "--memory", "16M",
                     "--name", "web", "--socket", sock)
    assert rc == 1 and "already exists" in err
    rc, _, err = run(capsys, "vm", "destroy", "nosuch", "--socket", sock)
    assert rc == 1 and "no domain named 'nosuch'" in err
    rc, _, err = run(capsys, "vm", "console", "nosuch", "--socket", sock)
    assert rc == 1 and "nosuch" in err

    # Destroy gives every frame of the domain back (x86_64's Xen pages predate it).
    rc, out, err = run(capsys, "vm", "destroy", "web", "--socket", sock)
    assert rc == 0, err
    info = request(sock, {"op": "list"})
    assert [r["name"] for r in info["domains"]] == ["Domain-0", "old"]
    r = request(sock, {"op": "destroy", "name": "old"})
    assert r["ok"] and r["invariant_violations"] == []
    # Only the i386 Xen space (GDT, stubs, tables) created for "old" stays.
    assert 0 <= free0 - request(sock, {"op": "info"})["free_frames"] <= 8

    rc, out, _ = run(capsys, "host", "stop", "--socket", sock)
    assert rc == 0
    proc.wait(10)
    assert proc.returncode == 0
    assert not os.path.exists(sock)


def test_bad_requests(host):
    sock, proc = host
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    f = s.makefile("rwb")

    def send(raw: bytes) -> dict:
        f.write(raw + b"\n")
        f.flush()
        return json.loads(f.readline())

    assert send(b"{not json")["ok"] is False
    r = send(b'{"op": "frobnicate"}')
    assert r["ok"] is False and r["field"] == "op" and "unknown op" in r["error"]
    r = send(b'{"nope": 1}')
    assert r["field"] == "op"
    assert send(b"[1, 2]")["ok"] is False
    r = send(json.dumps({"op": "create", "target": "x86_64-domu", "spec": SPEC}).encode())
    assert r["ok"] is False and r["field"] == "name"
    r = send(json.dumps({"op": "create", "name": "a", "target": "sparc-domu", "spec": SPEC}).encode())
    assert r["field"] == "target"
    r = send(json.dumps({"op": "create", "name": "a", "target": "x86_64-dom0", "spec": SPEC}).encode())
    assert r["field"] == "target"
    r = send(json.dumps({"op": "create", "name": "a", "target": "x86_64-domu", "spec": SPEC,
                         "memory": "lots"}).encode())
    assert r["field"] == "memory"
    r = send(json.dumps({"op": "create", "name": "a", "target": "x86_64-domu", "spec": "/no/such.pv"}).encode())
    assert r["field"] == "spec"
    r = send(json.dumps({"op": "destroy", "name": 5}).encode())
    assert r["field"] == "name"
    assert send(b'{"op": "ping"}')["ok"] is True  # still serving
    s.close()
    assert proc.poll() is None


def test_no_server(tmp_path, capsys):
    sock = str(tmp_path / "none.sock")
    rc, _, err = run(capsys, "vm", "list", "--socket", sock)
    assert rc == 1
    assert sock in err and "pvdsl host start" in err


def test_default_socket(monkeypatch, tmp_path):
    monkeypatch.setenv("PVDSL_HOST", str(tmp_path / "x.sock"))
    assert default_socket_path() == str(tmp_path / "x.sock")
    monkeypatch.delenv("PVDSL_HOST")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert default_socket_path() == str(tmp_path / "pvdsl" / "host.sock")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    assert default_socket_path() == f"/tmp/pvdsl-{os.getuid()}/host.sock"


def test_help_texts(capsys):
    for argv in (["host", "--help"], ["vm", "--help"], ["vm", "create", "--help"]):
        with pytest.raises(SystemExit) as e:
            main_host(argv)
        assert e.value.code == 0
        assert "example" in capsys.readouterr().out


# ---- pvdsl host start --background: a daemon, driven from other processes ----

def _pvdsl(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pvdsl.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    from pvdsl.runtime.host.daemon import _alive

    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def daemons():
    """Pids of the daemons a test started: whatever happens, none outlives it."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if not _wait_gone(pid, 0):
            os.kill(pid, 9)
            _wait_gone(pid)


def _started_pid(out: str) -> int:
    import re

    m = re.search(r"\bpid (\d+)\b", out)
    assert m, out
    return int(m.group(1))


def test_background_start_status_stop(tmp_path, daemons):
    sock = str(tmp_path / "h.sock")
    r = _pvdsl("host", "start", "--background", "--socket", sock, "--memory", "128M")
    if "pid" in r.stdout:
        daemons.append(_started_pid(r.stdout))
    assert r.returncode == 0, r.stderr
    pid = _started_pid(r.stdout)
    assert f"listening at {sock}" in r.stdout
    # It answers at once, it is its own session leader and nobody's child here.
    assert request(sock, {"op": "ping"})["pid"] == pid
    assert os.getsid(pid) == pid
    with open(f"/proc/{pid}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) != os.getpid()
    log = tmp_path / "h.log"  # the default: next to the socket
    assert f"listening at {sock} (pid {pid}" in log.read_text()
    r = _pvdsl("host", "status", "--socket", sock)
    assert r.returncode == 0 and f"pid {pid}" in r.stdout
    r = _pvdsl("vm", "list", "--socket", sock)
    assert r.returncode == 0 and "Domain-0" in r.stdout

    # The socket belongs to a live host: a second start says so and leaves it alone.
    r = _pvdsl("host", "start", "--background", "--socket", sock, "--memory", "128M")
    assert r.returncode == 1 and "already listening" in r.stderr
    assert request(sock, {"op": "ping"})["pid"] == pid

    r = _pvdsl("host", "stop", "--socket", sock)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(sock)
    assert _wait_gone(pid)
    assert "pvdsl host: stopped" in log.read_text()


def test_background_start_that_fails_is_reported(tmp_path, daemons):
    sock, log = str(tmp_path / "h.sock"), tmp_path / "custom.log"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # The xenstore socket cannot be created under a regular file: the host exits during startup.
    r = _pvdsl("host", "start", "--background", "--socket", sock, "--memory", "128M", "--log", str(log),
               "--xenstore-socket", str(blocker / "xs.sock"))
    if "pid" in r.stderr:
        daemons.append(_started_pid(r.stderr))
    assert r.returncode == 1
    assert "exited during startup" in r.stderr and "cannot serve xenstore" in r.stderr
    assert "cannot serve xenstore" in log.read_text()
    assert _wait_gone(_started_pid(r.stderr))
    assert not os.path.exists(sock)


def test_background_host_stops_cleanly_on_sigterm(tmp_path, daemons):
    sock = str(tmp_path / "h.sock")
    r = _pvdsl("host", "start", "--background", "--socket", sock, "--memory", "128M")
    assert r.returncode == 0, r.stderr
    pid = _started_pid(r.stdout)
    daemons.append(pid)
    os.kill(pid, 15)
    assert _wait_gone(pid)
    assert not os.path.exists(sock)


def test_foreground_host_logs_to_the_log_file(tmp_path):
    sock, log = str(tmp_path / "h.sock"), tmp_path / "fg.log"
    proc = subprocess.Popen([sys.executable, "-m", "pvdsl.cli", "host", "start", "--socket", sock, "--memory", "128M",
                             "--log", str(log)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(sock):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        assert request(sock, {"op": "ping"})["pid"] == proc.pid
        r = _pvdsl("host", "stop", "--socket", sock)
        assert r.returncode == 0 and not os.path.exists(sock)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and err == ""
        text = log.read_text()
        assert f"listening at {sock} (pid {proc.pid}" in text and "pvdsl host: stopped" in text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
