"""Xen's own xenstore tools (Debian's xenstore-utils, libxenstore 4.17)
against the simulated host's xenstored, through $XENSTORED_PATH: in-process
on a small host, and on a `pvdsl host start` server with `pvdsl vm create`."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pvdsl.runtime.host.builder import MIB, build_pv_domain
from pvdsl.runtime.host.server import request
from pvdsl.runtime.xen.hypervisor import Hypervisor
from pvdsl.runtime.xenstore.xenstored import PAYLOAD_MAX, XS
from pvdsl.runtime.xenstore.host import HostXenstore

ROOT = Path(__file__).resolve().parents[3]
SPEC = str(ROOT / "examples" / "irq.pv")
LAUNCH = "import sys; from pvdsl.cli.host import main_host; sys.exit(main_host(sys.argv[1:]))"
TOOLS = ("xenstore-read", "xenstore-write", "xenstore-ls", "xenstore-rm", "xenstore-list", "xenstore-chmod",
         "xenstore-watch", "xenstore-exists")


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: tools/bootstrap installs Debian's xenstore-utils"
    return path


def run(sock: str, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
    env = dict(os.environ, XENSTORED_PATH=sock)
    return subprocess.run([tool(argv[0]), *argv[1:]], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def store(tmp_path):
    hv = Hypervisor(48 * MIB)
    build_pv_domain(hv, "x86_64", 16 * MIB, 0, True)
    guest = build_pv_domain(hv, "x86_64", 16 * MIB, 1, False)
    xs = HostXenstore(hv)
    xs.domain_created(guest, "web", 16 * MIB, 1)
    sock = str(tmp_path / "xs.sock")
    xs.serve(sock)
    try:
        yield xs, sock
    finally:
        xs.stop()
    assert not os.path.exists(sock)


def test_every_tool_is_installed():
    for name in TOOLS:
        tool(name)


def test_write_read_list_ls_chmod_rm(store):
    xs, sock = store
    r = run(sock, "xenstore-write", "/app/greeting", "hello", "/app/count", "2")
    assert r.returncode == 0, r.stderr
    assert run(sock, "xenstore-read", "/app/greeting").stdout == "hello\n"
    assert run(sock, "xenstore-exists", "/app/count").returncode == 0
    assert sorted(run(sock, "xenstore-list", "/app").stdout.split()) == ["count", "greeting"]
    ls = run(sock, "xenstore-ls", "/app").stdout.splitlines()
    assert ls == ['greeting = "hello"', 'count = "2"']
    assert xs.read("/app/greeting") == b"hello"  # the same store the guests see
    r = run(sock, "xenstore-chmod", "/app/greeting", "n0", "r1")
    assert r.returncode == 0, r.stderr
    assert "(n0,r1)" in run(sock, "xenstore-ls", "-p", "/app").stdout
    assert run(sock, "xenstore-rm", "/app").returncode == 0
    r = run(sock, "xenstore-read", "/app/greeting")
    assert r.returncode == 1 and "couldn't read path /app/greeting" in r.stderr
    assert run(sock, "xenstore-exists", "/app").returncode == 1


def test_ls_shows_what_the_toolstack_wrote_for_a_domain(store):
    _, sock = store
    out = run(sock, "xenstore-ls", "-p", "/local/domain/1").stdout
    lines = {ln.split(" = ")[0].strip(): ln for ln in out.splitlines()}
    assert lines["name"].startswith('name = "web"') and "(n0,r1)" in lines["name"]
    assert '"1"' in lines["domid"] and "(n0,r1)" in lines["domid"]
    assert "(n1)" in lines["data"]  # a directory the guest may write
    for key in ("port", "ring-ref", "target", "static-max"):
        assert key in lines
    vm = run(sock, "xenstore-read", "/local/domain/1/vm").stdout.strip()
    assert run(sock, "xenstore-read", f"{vm}/name").stdout == "web\n"


def test_watch_prints_each_event_then_exits(store):
    xs, sock = store
    env = dict(os.environ, XENSTORED_PATH=sock)
    proc = subprocess.Popen([tool("xenstore-watch"), "-n", "3", "/w"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not any(w.node == "/w" for c in list(xs.daemon.conns) for w in list(c.watches)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "xenstore-watch did not register its watch"
            time.sleep(0.02)
        assert run(sock, "xenstore-write", "/w/a", "1").returncode == 0
        assert run(sock, "xenstore-write", "/elsewhere", "1").returncode == 0
        assert run(sock, "xenstore-rm", "/w").returncode == 0
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    assert out.splitlines() == ["/w", "/w/a", "/w"]  # the first one fires when the watch is set


def _frame(msg_type: int, req_id: int, tx_id: int, body: bytes) -> bytes:
    return struct.pack("<IIII", msg_type, req_id, tx_id, len(body)) + body


def test_the_socket_speaks_xsd_sockmsg(store):
    _, sock = store
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    s.sendall(_frame(XS["XS_READ"], 0xABCD, 0, b"/nope\0")[:7])  # in two pieces
    s.sendall(_frame(XS["XS_READ"], 0xABCD, 0, b"/nope\0")[7:])
    head = s.recv(16, socket.MSG_WAITALL)
    assert struct.unpack("<IIII", head) == (XS["XS_ERROR"], 0xABCD, 0, 7)
    assert s.recv(7, socket.MSG_WAITALL) == b"ENOENT\0"
    # A header announcing more than XENSTORE_PAYLOAD_MAX: the daemon drops the client.
    s.sendall(struct.pack("<IIII", XS["XS_WRITE"], 1, 0, PAYLOAD_MAX + 1))
    assert s.recv(16) == b""
    s.close()


@pytest.fixture
def host(tmp_path):
    sock = str(tmp_path / "h.sock")
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "host", "start", "--socket", sock, "--memory", "256M"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    xs_sock = str(tmp_path / "h-xenstore.sock")  # the default: next to the host's socket
    try:
        deadline = time.monotonic() + 30
        while not (os.path.exists(sock) and os.path.exists(xs_sock)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "host did not start"
            time.sleep(0.05)
        yield sock, xs_sock, proc
    finally:
        if proc.poll() is None:
            try:
                request(sock, {"op": "stop"}, timeout=10)
                proc.wait(15)
            except Exception:
                proc.kill()
                proc.wait(5)


def _pvdsl(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LAUNCH, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_vm_create_and_destroy_through_the_tools(host):
    sock, xs_sock, proc = host
    r = _pvdsl("vm", "create", SPEC, "--target", "i386-domu", "--memory", "16M", "--name", "old", "--socket", sock)
    assert r.returncode == 0, r.stderr
    assert run(xs_sock, "xenstore-read", "/local/domain/1/name").stdout == "old\n"
    assert run(xs_sock, "xenstore-read", "/local/domain/0/name").stdout == "Domain-0\n"
    ports = run(xs_sock, "xenstore-read", "/local/domain/1/store/port", "/local/domain/1/console/port").stdout
    assert len(ports.split()) == 2 and all(p.isdigit() for p in ports.split())
    assert "memory" in run(xs_sock, "xenstore-list", "/local/domain/1").stdout.split()
    status = _pvdsl("host", "status", "--socket", sock)
    assert f"xenstore at {xs_sock}" in status.stdout
    r = _pvdsl("vm", "destroy", "old", "--socket", sock)
    assert r.returncode == 0, r.stderr
    assert run(xs_sock, "xenstore-exists", "/local/domain/1").returncode == 1
    assert run(xs_sock, "xenstore-list", "/vm").stdout == ""
    request(sock, {"op": "stop"}, timeout=10)
    proc.wait(15)
    assert not os.path.exists(xs_sock) and not os.path.exists(sock)


def test_the_xenstore_socket_can_be_chosen(tmp_path):
    sock, xs_sock = str(tmp_path / "a.sock"), str(tmp_path / "elsewhere" / "store")
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "host", "start", "--socket", sock, "--memory", "128M",
                             "--xenstore-socket", xs_sock], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(xs_sock):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "host did not start"
            time.sleep(0.05)
        assert run(xs_sock, "xenstore-read", "/local/domain/0/domid").stdout == "0\n"
    finally:
        request(sock, {"op": "stop"}, timeout=10)
        proc.wait(15)
    assert not os.path.exists(xs_sock)
