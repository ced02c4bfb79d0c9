"""Live migration between two hosts over TCP, as `xl migrate` does it.

The receiver (`pvdsl host start --listen ADDR:PORT`) greets each
connection with xl's banner, reads an xl save file from it (the domain's
configuration, then a live libxc stream) and restores it into a new domain,
then answers with one JSON line: the new domain, or the error.

The sender (`vm migrate N ADDR:PORT`) pre-copies while the guest keeps
running: round 1 sends every page, each later round the pages dirtied
meanwhile; when fewer than STOP_DIRTY pages are dirty, or after
MAX_ROUNDS rounds, it suspends the guest and sends the last dirty pages
and the vCPU state (stop-and-copy). Pages are found dirty in log-dirty
mode (xen/logdirty.py: the host kernel write-protects the frames and marks
each one written at its first write, as Xen's write faults do), or, where
the kernel cannot, by comparing each frame with a copy of what was sent;
a pfn whose frame changed (the balloon) is dirty too. Either way every
write counts, whichever path made it (the emulated vCPU writes straight
to memory). On the receiver's success the source domain is
destroyed; on its failure the source resumes (its suspend hypercall
returns 1) and keeps running.

The host's lock is taken per step, not for the whole migration, so the
guest loop gives the guest its turns between rounds.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import queue
import select
import socket
import threading
import time

import numpy as np

from ..migration import layout as L
from ..migration.image import p2m_frame_count
from ..migration.savefile import begin_save_file
from ..xen.memory import PAGE_SIZE
from .pagebatch import runs

BANNER = b"xl migration receiver ready, send binary domain data.\n"  # xl.h migrate_receiver_banner
MAX_ROUNDS = 5
STOP_DIRTY = 50
CHUNK = L.MAX_BATCH_PAGES


class MigrationError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def parse_addr(spec: str) -> tuple[str, int]:
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise MigrationError(f"'{spec}': expected HOST:PORT, e.g. 127.0.0.1:8002", "to")
    return host or "127.0.0.1", int(port)


# ---- the sender ----
_MADV_POPULATE_WRITE = 23  # Linux 5.14
_libc = ctypes.CDLL(None, use_errno=True)  # a foreign call releases the GIL: the sender goes on meanwhile
_libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


def _commit_downwards(pages: np.ndarray, stop: threading.Event, step: int = 4096) -> None:
    """Commit `pages` (writable, private) 16 MiB at a time from the end;
    stops early when told, or at the first refusal (an older kernel)."""
    base = pages.ctypes.data
    for hi in range(len(pages), 0, -step):
        if stop.is_set():
            return
        lo = max(0, hi - step)
        if _libc.madvise(base + lo * PAGE_SIZE, (hi - lo) * PAGE_SIZE, _MADV_POPULATE_WRITE) != 0:
            return


def _moved(p2m: np.ndarray, invalid: int, sent: np.ndarray) -> np.ndarray:
    """pfns whose frame is not the one last sent (-1: never sent; -2: sent
    as a hole, and still one is no change)."""
    moved = p2m.astype(np.int64) != sent
    moved[(p2m == invalid) & (sent == -2)] = False
    return moved


def _record_frames(sent: np.ndarray, pfns: np.ndarray, p2m: np.ndarray, invalid: int) -> np.ndarray:
    """The frames of `pfns` noted as sent (holes as -2); the pfns with one."""
    mfns = p2m[pfns]
    hole = mfns == invalid
    sent[pfns[hole]] = -2
    keep = pfns[~hole]
    sent[keep] = mfns[~hole].astype(np.int64)
    return keep


class _Logged:
    """Dirty pages from log-dirty mode: what was last sent of each pfn is
    only its frame; the frames written since come from the host kernel. A
    clean forgets what it reports, so the pfns found dirty are kept until
    they are sent: `dirty` answers what is unsent, however often asked."""

    how = "log-dirty"

    def __init__(self, log, p2m: np.ndarray, invalid: int):
        self.log, self.nframes = log, log.nframes
        self.mfn = np.full(len(p2m), -1, dtype=np.int64)
        self.unsent = np.zeros(len(p2m), dtype=bool)
        self.log.clean(p2m[p2m != invalid])  # on before round 1 reads a page: writes from now on count

    def close(self) -> None:
        self.log.close()

    def dirty(self, p2m: np.ndarray, invalid: int) -> np.ndarray:
        valid = p2m != invalid
        frames = p2m[valid].astype(np.int64)
        written = np.zeros(self.nframes, dtype=bool)
        written[self.log.clean(frames)] = True
        self.unsent[valid] |= written[frames]
        return np.nonzero(_moved(p2m, invalid, self.mfn) | self.unsent)[0]

    def record(self, pfns: np.ndarray, p2m: np.ndarray, invalid: int) -> None:
        _record_frames(self.mfn, pfns, p2m, invalid)
        self.unsent[pfns] = False


class _Copy:
    """Dirty pages by comparison, where log-dirty mode is not to be had:
    what was last sent of each pfn is its frame and the frame's bytes."""

    how = "compare"

    def __init__(self, mem, nr: int):
        self.frames = np.frombuffer(mem.mm, dtype=np.uint8).reshape(-1, PAGE_SIZE)
        self._map = mmap.mmap(-1, nr * PAGE_SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.sent = np.frombuffer(self._map, dtype=np.uint8).reshape(nr, PAGE_SIZE)
        self.mfn = np.full(nr, -1, dtype=np.int64)
        # The copy is as big as the guest, and fresh memory: its first touch
        # costs a page fault per page, about 2 s a GiB on a virtualised host.
        # A thread commits it from the top down while round 1 fills it from
        # the bottom up (and while the receiver builds the domain).
        self._stop = threading.Event()
        self._filler = threading.Thread(target=_commit_downwards, daemon=True, name="pvdsl-migration-copy",
                                        args=(self.sent, self._stop))
        self._filler.start()

    def close(self) -> None:
        self._stop.set()
        self._filler.join()

    def dirty(self, p2m: np.ndarray, invalid: int) -> np.ndarray:
        """pfns whose frame or contents changed since they were last sent."""
        moved = _moved(p2m, invalid, self.mfn)
        same = np.nonzero((p2m != invalid) & ~moved)[0]
        changed = np.zeros(len(p2m), dtype=bool)
        mfns = p2m[same].astype(np.int64)
        for a, b in runs(same, mfns):
            for lo in range(a, b, 4096):  # 16 MiB at a time: the comparison's temporary stays small
                hi = min(lo + 4096, b)
                p0, m0 = int(same[lo]), int(mfns[lo])
                n = hi - lo
                # As 64-bit words: an eighth of the elements to compare.
                changed[p0:p0 + n] = (self.frames[m0:m0 + n].view(np.uint64) !=
                                      self.sent[p0:p0 + n].view(np.uint64)).any(axis=1)
        return np.nonzero(moved | changed)[0]

    def record(self, pfns: np.ndarray, p2m: np.ndarray, invalid: int) -> None:
        keep = _record_frames(self.mfn, pfns, p2m, invalid)
        frames = self.mfn[keep]
        for a, b in runs(keep, frames):
            p0, m0 = int(keep[a]), int(frames[a])
            self.sent[p0:p0 + b - a] = self.frames[m0:m0 + b - a]


def dirty_tracker(mem, p2m: np.ndarray, invalid: int):
    """Log-dirty mode where the host kernel has it, else the comparison."""
    from ..xen.logdirty import LogDirty, LogDirtyUnavailable

    try:
        return _Logged(LogDirty(mem), p2m, invalid)
    except LogDirtyUnavailable:
        return _Copy(mem, len(p2m))


def _send_pages(w, host, d, pfns: np.ndarray, copy: _Copy, invalid: int, progress, lock=True,
                answered=None) -> int:
    """The pages of `pfns` as PAGE_DATA records, a batch at a time under
    the host's lock (the guest runs between batches, unless `lock` is
    False: the caller holds it); the bytes written."""
    import contextlib

    from .pagebatch import Frames, model_p2m, read_batch
    from .saverestore import SaveRestoreError, guest_p2m

    before = w.offset
    fr = Frames(host.hv.mem)
    p2m = xen = None
    for lo in range(0, len(pfns), CHUNK):
        part = pfns[lo:lo + CHUNK]
        with host.lock if lock else contextlib.nullcontext():
            for fresh in (False, True):
                if p2m is None or fresh:  # once a round, again if the guest ballooned meanwhile
                    p2m = guest_p2m(d, host.hv.mem)[0]
                    xen = model_p2m(d, len(p2m))
                try:
                    types, data = read_batch(host.hv, d, fr, part, p2m, xen)
                    break
                except SaveRestoreError:
                    if fresh:
                        raise
            copy.record(part, p2m, invalid)
        w.write_pages(part, types, data if len(data) else b"")
        if progress:
            progress("pages", len(part))
        if answered is not None and answered():
            raise _Answered()
    return w.offset - before


class _SendAhead:
    """The file the stream is written to: a thread sends each piece on, so
    that the next batch is read out of guest memory (under the host's lock)
    while this one is on the wire. Pieces are not copied: a batch's pages
    go out from the guest's frames as they are when sent, which changes
    nothing, since the guest may write a page at any time after it was read
    (that write makes it dirty for the next round, as before). Small pieces
    (record headers) are gathered into one send."""

    GATHER = 1 << 16
    DEPTH = 8  # pieces in flight: two batches' pages, with their headers

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._q: queue.Queue = queue.Queue(self.DEPTH)
        self._small = bytearray()
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._send, daemon=True, name="pvdsl-migration-send")
        self._thread.start()

    def _send(self) -> None:
        while True:
            piece = self._q.get()
            try:
                if piece is None:
                    return
                if self._error is None:
                    self._sock.sendall(piece)
            except OSError as err:
                self._error = err
            finally:
                self._q.task_done()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, data) -> int:
        self._check()
        n = memoryview(data).nbytes
        if n < self.GATHER:
            self._small += data
            if len(self._small) < self.GATHER:
                return n
            data = None
        if self._small:
            self._q.put(bytes(self._small))
            self._small.clear()
        if data is not None:
            self._q.put(data)
        return n

    def flush(self) -> None:
        """Every piece written is sent (or the send's error raised)."""
        if self._small:
            self._q.put(bytes(self._small))
            self._small.clear()
        self._q.join()
        self._check()

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()


class _Answered(Exception):
    """The receiver answered before the stream ended: it refused."""


def migrate(host, vm, addr: tuple[str, int], progress=None, timeout: float = 120.0) -> dict:
    """Send `vm` live to the receiver at `addr`; the report (rounds, pages
    per round, bytes, downtime). Takes host.lock itself, step by step."""
    from .saverestore import SaveRestoreError, final_records, guest_p2m
    from .savefile import SaveFileError, _resume_in_place, config_of, suspend_guest

    t0 = time.perf_counter()
    try:
        sock = socket.create_connection(addr, timeout=timeout)
    except OSError as err:
        raise MigrationError(f"cannot connect to {addr[0]}:{addr[1]}: {err.strerror or err}", "to") from None
    with sock:
        f = sock.makefile("rb")
        banner = f.readline(len(BANNER) + 1)
        if banner != BANNER:
            raise MigrationError(f"{addr[0]}:{addr[1]} is not a migration receiver (it said {banner[:60]!r})", "to")
        out = _SendAhead(sock)
        d = vm.machine.guest
        hv = vm.machine.hv
        invalid = L.WIDTHS[d.rt.word].invalid_mfn
        try:
            with host.lock:
                config = json.dumps(config_of(host, vm), sort_keys=True).encode()
                p2m_list, p2m_frames = guest_p2m(d, hv.mem)
                w = begin_save_file(out, d.rt.word, fmt="xl", config=config)
                w.write_p2m_frames(p2m_frames, len(p2m_list) - 1)
                out.flush()  # the receiver builds the domain from these while round 1 is read
                copy = dirty_tracker(hv.mem, p2m_list, invalid)
        except OSError as err:
            out.close()
            raise MigrationError(f"migration of '{vm.name}' failed, it runs on here: {err}", "to") from None
        except BaseException:
            out.close()
            raise
        if progress:
            progress("total", len(p2m_list))
        rounds, nbytes = [], 0
        todo = np.arange(len(p2m_list))
        state = None
        try:
            def answered() -> bool:
                return bool(select.select([sock], [], [], 0)[0])

            for _ in range(MAX_ROUNDS):
                nbytes += _send_pages(w, host, d, todo, copy, invalid, progress, answered=answered)
                rounds.append(len(todo))
                out.flush()
                with host.lock:
                    p2m = guest_p2m(d, hv.mem)[0]
                    todo = copy.dirty(p2m, invalid)
                if len(todo) < STOP_DIRTY:
                    break
            t_stop = time.perf_counter()
            with host.lock:
                state = suspend_guest(host, vm)
                p2m = guest_p2m(d, hv.mem)[0]
                todo = copy.dirty(p2m, invalid)
                if len(todo):
                    nbytes += _send_pages(w, host, d, todo, copy, invalid, progress, lock=False)
                rounds.append(len(todo))
                vcpus, shared, tsc = final_records(vm, state)
                w.write_tsc_info(tsc)
                w.write_shared_info(shared)
                for v in vcpus:
                    w.write_vcpu(v)
                w.end()
            out.flush()
            sock.shutdown(socket.SHUT_WR)
            reply_line = f.readline(1 << 16)
            done = time.perf_counter()  # the guest runs at the destination: what follows is not counted
        except _Answered:
            reply_line = f.readline(1 << 16)
            done = time.perf_counter()
        except (OSError, SaveFileError, SaveRestoreError) as err:
            if state is not None:
                with host.lock:
                    _resume_in_place(vm, state)
            raise MigrationError(f"migration of '{vm.name}' failed, it runs on here: {err}", "to") from None
        finally:
            copy.close()
            out.close()
        try:
            reply = json.loads(reply_line)
        except (ValueError, UnicodeDecodeError):
            reply = {"ok": False, "error": f"no answer from the receiver ({reply_line[:60]!r})"}
        downtime = done - t_stop if state is not None else 0.0
        total_bytes = w.offset
        if not reply.get("ok"):
            resumed = "never suspended"
            if state is not None:
                with host.lock:
                    resumed = f"suspend returned {_resume_in_place(vm, state)}"
            raise MigrationError(f"the receiver refused '{vm.name}': {reply.get('error')}; it runs on here "
                                 f"({resumed})", "to")
        with host.lock:
            host.destroy({"name": vm.name})
    elapsed = done - t0
    return {"name": vm.name, "to": f"{addr[0]}:{addr[1]}", "remote": reply, "rounds": len(rounds),
            "pages_per_round": rounds, "dirty_tracking": copy.how, "page_bytes": nbytes, "bytes": total_bytes, "downtime_s": downtime,
            "seconds": elapsed, "mib_per_s": total_bytes / elapsed / (1 << 20) if elapsed else 0.0,
            "p2m_frames": p2m_frame_count(d.rt.word, len(p2m_list))}


# ---- the receiver ----
def warm_receiver() -> None:
    """Before a receiving host serves: the shipped drivers compiled (about
    2 s; a real guest brings them compiled, in its kernel) and the modules
    a guest's boot and restore import on first use loaded (about 0.03 s
    of the first arrival otherwise). Done alongside an arriving guest, the
    same work would slow it."""
    import unicorn

    from ..devices import vfb_backend  # noqa: F401
    from ..guest import balloon, suspend, xenbus, xenfb  # noqa: F401
    from ..guest.kernel import warm_drivers
    from ..session import report, workload  # noqa: F401
    from . import framebuffers, savefile, saverestore  # noqa: F401

    warm_drivers()
    unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)  # the first one loads unicorn's x86 half


class Receiver:
    """Accepts migrations on (addr, port) for `host`, one at a time."""

    def __init__(self, host, addr: tuple[str, int], log=None):
        self.host, self.log = host, log
        self.sock = socket.create_server(addr)
        self.address = self.sock.getsockname()[:2]
        self.received: list[dict] = []
        self._thread = threading.Thread(target=self._accept, daemon=True, name="pvdsl-migration")
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            with conn:
                self._serve(conn, peer)

    def _serve(self, conn: socket.socket, peer) -> None:
        conn.settimeout(300)
        try:
            conn.sendall(BANNER)
            from .savefile import receive_stream

            answer = receive_stream(self.host, conn.makefile("rb", buffering=1 << 20), None,
                                    f"the stream from {peer[0]}")
            self.received.append(answer)
            if self.log is not None:
                print(f"pvdsl host: migration from {peer[0]}:{peer[1]}: "
                      f"{'domain ' + answer['name'] + ' running' if answer['ok'] else answer['error']}",
                      file=self.log, flush=True)
            conn.sendall(json.dumps(answer).encode() + b"\n")
            if not answer["ok"]:
                # Refused early: let the sender read the answer, not a reset.
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(1 << 20):
                    pass
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
