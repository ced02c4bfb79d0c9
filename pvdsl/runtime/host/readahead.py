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
import threading

READ_BUFFER = 1 << 20  # the restore's buffered reads
AHEAD_MIB = 64  # per read of the page-cache phase (one iovec a MiB; IOV_MAX is 1024)
RING_SLOTS = 4
RING_READERS = 2
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
        self._ring: _Ring | None = None
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
        probe = mmap.mmap(-1, 4096)
        try:
            os.preadv(fd, [probe], self.done)  # a file system may refuse only at the first read
        except OSError:
            os.close(fd)
            return False
        ring = _Ring(fd, self.done)
        with self._cond:
            self._ring, self.ring_from = ring, self.done
            self._cond.notify_all()
        for j in range(1, RING_READERS):
            threading.Thread(target=ring.fill, args=(j,), name="pvdsl-readahead", daemon=True).start()
        ring.fill(0)
        return True

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
        ring = self._ring
        while ring.taken < self.pos - self.ring_from:  # read from the file already: the switch came mid-read
            skip = memoryview(bytearray(min(RING_SLOT, self.pos - self.ring_from - ring.taken)))
            if not ring.readinto(skip):
                return 0
        return ring.readinto(buf)

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
        if self._ring is not None:
            self._ring.stop()


class _Ring:
    """The file from `start` on, RING_SLOT bytes a chunk: chunk c goes into
    slot c % nslots, read by reader c % RING_READERS (two reads in
    flight keep the disk busier than one: O_DIRECT has no readahead), and
    the restore takes the chunks in order."""

    def __init__(self, fd: int, start: int):
        self.fd, self.start = fd, start
        # Each slot one reader's (a multiple of the readers): two readers
        # waiting on one slot could fill it out of turn.
        self.nslots = max(1, RING_SLOTS // RING_READERS) * RING_READERS
        self._mem = mmap.mmap(-1, self.nslots * RING_SLOT)  # page-aligned, as O_DIRECT wants
        self.views = [memoryview(self._mem)[i * RING_SLOT:(i + 1) * RING_SLOT] for i in range(self.nslots)]
        self.full = [threading.Event() for _ in range(self.nslots)]
        self.free = [threading.Event() for _ in range(self.nslots)]
        for e in self.free:
            e.set()
        self.got: list[int | OSError] = [0] * self.nslots
        self.last: int | None = None  # the chunk the file ends in
        self.taken = 0  # bytes the restore has taken
        self._chunk, self._used = 0, 0
        self._stopped = False
        self._readers, self._lock = RING_READERS, threading.Lock()

    def fill(self, reader: int) -> None:
        try:
            c = reader
            while self.last is None or c <= self.last:
                slot = c % self.nslots
                if not self._wait(self.free[slot]):
                    return
                self.free[slot].clear()
                try:
                    n = os.preadv(self.fd, [self.views[slot]], self.start + c * RING_SLOT)
                except OSError as err:
                    n = err
                self.got[slot] = n
                if isinstance(n, OSError) or n < RING_SLOT:
                    self.last = c if self.last is None else min(self.last, c)
                self.full[slot].set()
                c += RING_READERS
        finally:
            with self._lock:
                self._readers -= 1
                if not self._readers:
                    os.close(self.fd)

    def _wait(self, event: threading.Event) -> bool:
        while not event.wait(0.1):
            if self._stopped:
                return False
        return not self._stopped

    def readinto(self, buf: memoryview) -> int:
        if self.last is not None and self._chunk > self.last:
            return 0
        slot = self._chunk % self.nslots
        if not self._wait(self.full[slot]):
            return 0
        n = self.got[slot]
        if isinstance(n, OSError):
            raise n
        k = min(buf.nbytes, n - self._used)
        buf[:k] = self.views[slot][self._used:self._used + k]
        self._used += k
        self.taken += k
        if self._used == n:
            self.full[slot].clear()
            self.free[slot].set()
            self._chunk, self._used = self._chunk + 1, 0
        return k

    def stop(self) -> None:
        self._stopped = True
