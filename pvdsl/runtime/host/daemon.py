"""`pvdsl host start --background`: the host as a daemon.

The daemon is the foreground command itself (`python -m pvdsl.cli host start
...` with every path made absolute), started by a short-lived launcher in a
new session, so that it is no child of the caller (nothing has to reap it)
and no terminal signal reaches it; its stdin is /dev/null, its output goes
to the log file, its working directory is /. The caller returns once the
daemon answers a ping on its socket with its own pid, or reports why it did
not start (the end of its log) and exits 1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STARTUP_SECONDS = 60.0
LOG_TAIL_LINES = 20

# Runs as `python -c LAUNCHER LOG ARGV...`: starts ARGV detached, prints its pid.
LAUNCHER = """\
import subprocess, sys
with open(sys.argv[1], "ab", buffering=0) as log:
    p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/",
                         start_new_session=True, close_fds=True)
print(p.pid, flush=True)
"""


def default_log_path(socket_path: str) -> str:
    """Next to the socket: <dir>/<stem>.log."""
    head, tail = os.path.split(socket_path)
    stem = tail[:-5] if tail.endswith(".sock") else tail
    return os.path.join(head, f"{stem}.log")


def _daemon_argv(args, socket_path: str) -> list[str]:
    argv = [sys.executable, "-m", "pvdsl.cli", "host", "start", "--socket", socket_path,
            "--memory", str(args.memory), "--dom0-memory", str(args.dom0_memory)]
    if args.xenstore_socket:
        argv += ["--xenstore-socket", os.path.abspath(args.xenstore_socket)]
    if getattr(args, "vnc", None):
        argv += ["--vnc", args.vnc]
    if getattr(args, "listen", None):
        argv += ["--listen", args.listen]
    if getattr(args, "mem_prealloc", False):
        argv.append("--mem-prealloc")
    return argv


def _environment() -> dict[str, str]:
    """The caller's environment, with this pvdsl first on the import path
    (the daemon runs from /, where a relative or editable path may not resolve)."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


def _tail(path: str) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A daemon that exited is reaped by init; until then it is a zombie, which kill(0) still finds.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def start_background(args, socket_path: str) -> int:
    from .server import HostUnavailable, _socket_in_use, request

    socket_path = os.path.abspath(socket_path)
    log_path = os.path.abspath(args.log or default_log_path(socket_path))
    if os.path.exists(socket_path) and _socket_in_use(socket_path):
        print(f"pvdsl host start: error: a host is already listening at {socket_path}", file=sys.stderr)
        return 1
    try:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a"):
            pass
    except OSError as err:
        print(f"pvdsl host start: error: cannot write the log {log_path}: {err.strerror}", file=sys.stderr)
        return 1
    launcher = subprocess.run([sys.executable, "-c", LAUNCHER, log_path, *_daemon_argv(args, socket_path)],
                              capture_output=True, text=True, env=_environment(), timeout=30)
    if launcher.returncode != 0 or not launcher.stdout.strip().isdigit():
        print(f"pvdsl host start: error: could not start the daemon: {launcher.stderr.strip()}", file=sys.stderr)
        return 1
    pid = int(launcher.stdout.strip())
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not _alive(pid):
            print(f"pvdsl host start: error: the host (pid {pid}) exited during startup; the end of its log "
                  f"({log_path}):\n{_tail(log_path)}", file=sys.stderr)
            return 1
        if os.path.exists(socket_path):
            try:
                resp = request(socket_path, {"op": "ping"}, timeout=5)
            except (HostUnavailable, OSError, ValueError):
                resp = {}  # bound but not accepting yet
            if resp.get("ok") and resp.get("pid") == pid:
                print(f"pvdsl host: started in the background, pid {pid}, listening at {socket_path}, "
                      f"log {log_path}")
                return 0
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass
    print(f"pvdsl host start: error: the host (pid {pid}) did not answer on {socket_path} within "
          f"{STARTUP_SECONDS:.0f} s and was stopped; the end of its log ({log_path}):\n{_tail(log_path)}",
          file=sys.stderr)
    return 1
