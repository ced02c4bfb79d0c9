"""How `vm restore` reads its file: from a thread that keeps the disk busy
while the domain is being built from the file's header, the restore's own
reads never working the disk beside it.

While the domain is built, the thread reads the file into the page cache,
64 MiB a call, into one MiB of scratch named 64 times over (POSIX_FADV_
WILLNEED would be the call for it, but Linux caps it at one readahead
window, a few hundred KiB). It takes the GIL only between calls, so the
build beside it does not hold the disk up (reads of a few MiB waited for
the GIL after each, and finished the file up to half as slow again as a
plain read while the build ran); its copy touches every page it brings in,
which on a virtualised host is the costly part of a first touch (sendfile
to /dev/null, which brings pages in without touching them, left the
restore's own copy out of them up to eight times slower). The restore's
reads wait for the thread to be past them: with both reading the disk,
each with its own readahead, the last quarter of a file went up to four
times slower.

Once the restore takes page data (it is past the file's first MiB: the
domain is built), the thread reads the rest with O_DIRECT into a ring of
a few buffers, which the restore copies from: the disk writes into memory
that is used over and over, not into fresh page cache. Where the file
system refuses O_DIRECT (tmpfs), the page cache serves to the end; where
the file has no size (a pipe), the restore reads it by itself.
"""

from __future__ import annotations

import mmap
import os
import queue
import threading

READ_BUFFER = 1 << 20  # the restore's buffered reads
AHEAD_MIB = 64  # per read of the page-cache phase (one iovec a MiB; IOV_MAX is 1024)
RING_SLOTS = 4
RING_SLOT = 16 << 20  # a multiple of every logical block size O_DIRECT asks alignment to
_SWITCH_AT = 1 << 20  # the restore past its first MiB: the domain is built, page data is being read


class ReadAhead:
    """`f` (a buffered file of `size` bytes) read through: `read`, `readinto`
    as the file's, `stop` when done with it."""

    def __init__(self, f, size: int):
        self.f, self.size, self.done = f, size, 0
        self.pos = 0  # the restore's position: what read and readinto have returned
        self.ring_from: int | None = None  # where the ring takes over from the page cache
        self._cond = threading.Condition()
        self._stop = False
        self._filled: queue.Queue = queue.Queue()  # (slot, offset, n) | OSError | None (end)
        self._free: queue.Queue = queue.Queue()
        self._slots: list[memoryview] = []
        self._slot: tuple[int, int, int] | None = None  # (slot, n, used): the one the restore reads from
        own = os.dup(f.fileno())  # the file may be closed (the restore failed) before the thread is done
        threading.Thread(target=self._read_through, args=(own,), name="pvdsl-readahead", daemon=True).start()

    # ---- the thread ----
    def _read_through(self, own: int) -> None:
        scratch = [bytearray(1 << 20)] * AHEAD_MIB
        calls = 0
        try:
            while not self._stop and self.done < self.size:
                if self.pos >= _SWITCH_AT and self._direct(own):
                    return
                # The first MiB alone: the headers the build starts from.
                n = os.preadv(own, scratch if calls else scratch[:1], self.done)
                calls += 1
                if n <= 0:
                    break
                with self._cond:
                    self.done += n
                    self._cond.notify_all()
        except OSError:
            pass  # the restore's own read meets the error, and names it
        finally:
            os.close(own)
            with self._cond:
                if self.ring_from is None:
                    self.done = self.size = -1  # from here on, the restore reads by itself
                self._cond.notify_all()

    def _direct(self, own: int) -> bool:
        """The rest of the file into the ring; False where O_DIRECT is refused
        (before anything is read: the page cache goes on)."""
        try:
            fd = os.open(f"/proc/self/fd/{own}", os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
        except OSError:
            return False
        ring = mmap.mmap(-1, RING_SLOTS * RING_SLOT)  # page-aligned, as O_DIRECT wants
        self._slots = [memoryview(ring)[i * RING_SLOT:(i + 1) * RING_SLOT] for i in range(RING_SLOTS)]
        at = self.done  # a multiple of a MiB
        try:
            try:
                n = os.preadv(fd, [self._slots[0]], at)
            except OSError:
                return False
            with self._cond:
                self.ring_from = at
                self._cond.notify_all()
            for i in range(1, RING_SLOTS):
                self._free.put(i)
            slot = 0
            while True:
                self._filled.put((slot, at, n))
                if n < RING_SLOT:
                    self._filled.put(None)
                    return True
                at += n
                slot = self._next_free()
                if slot is None:
                    return True
                n = os.preadv(fd, [self._slots[slot]], at)
        except OSError as err:
            self._filled.put(err)
            return True
        finally:
            os.close(fd)

    def _next_free(self) -> int | None:
        while not self._stop:
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                continue
        self._filled.put(None)
        return None

    # ---- the restore's side ----
    def _wait_for(self, n: int) -> None:
        if self.done >= self.size:  # all read ahead, the thread gone, or no size to read to (a pipe)
            return
        # A buffered read may fill its buffer beyond the n bytes asked for.
        want = min(self.size, self.f.tell() + n + READ_BUFFER)
        with self._cond:
            self._cond.wait_for(lambda: self.done >= want or self.size < 0 or self.ring_from is not None)

    def _from_file(self, buf: memoryview) -> int:
        if self.ring_from is not None:
            buf = buf[:self.ring_from - self.pos]
        self._wait_for(buf.nbytes)
        return self.f.readinto(buf)

    def _from_ring(self, buf: memoryview) -> int:
        while self._slot is None:
            item = self._filled.get()
            if item is None:
                self._filled.put(None)  # the end stays the end
                return 0
            if isinstance(item, OSError):
                raise item
            slot, at, n = item
            if at + n <= self.pos:  # read from the file already (the switch came during a read)
                self._free.put(slot)
                continue
            self._slot = (slot, n, max(0, self.pos - at))
        slot, n, used = self._slot
        k = min(buf.nbytes, n - used)
        buf[:k] = self._slots[slot][used:used + k]
        if used + k == n:
            self._slot = None
            self._free.put(slot)
        else:
            self._slot = (slot, n, used + k)
        return k

    def readinto(self, buf) -> int:
        buf = memoryview(buf).cast("B")
        got = 0
        while got < buf.nbytes:
            ring = self.ring_from is not None and self.pos >= self.ring_from
            r = self._from_ring(buf[got:]) if ring else self._from_file(buf[got:])
            if not r:
                break
            got += r
            self.pos += r
            if not ring and self.ring_from is None:
                break  # as a file's readinto: what one read gave (the stream reader asks again)
        return got

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        got = self.readinto(buf)
        return bytes(buf[:got])

    def stop(self) -> None:
        self._stop = True
