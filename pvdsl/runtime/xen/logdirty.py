"""Log-dirty mode: which machine frames were written since they were last
looked at, as Xen's paging log-dirty (XEN_DOMCTL_SHADOW_OP_CLEAN) tells a
live migration.

Xen write-protects a domain's frames and marks a frame dirty on the first
write fault. Here the host kernel does the same for the machine memory's
mapping: userfaultfd write-protection in asynchronous mode (Linux 6.7:
the kernel resolves the fault itself and leaves the page "written"), read
and protected again in one call with the PAGEMAP_SCAN ioctl of
/proc/self/pagemap. Every write counts, whichever path makes it: an
emulated vCPU's store (unicorn writes through the same mapping), the
host's own writes into guest frames (grant copies, backends, the
balloon), and the kernel's (a read(2) into a frame).

Where the kernel has none of it (older, or userfaultfd refused), `LogDirty`
raises LogDirtyUnavailable and the caller finds dirty frames by comparing
them with a copy of what it sent.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

from .memory import PAGE_SHIFT

_NR_USERFAULTFD = {"x86_64": 323, "aarch64": 282}.get(os.uname().machine)

# linux/userfaultfd.h
_UFFD_API = 0xAA
_UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1 << 12  # write-protection of shared memory (the machine memory is)
_UFFD_FEATURE_WP_UNPOPULATED = 1 << 13  # frames not yet committed are protected too
_UFFD_FEATURE_WP_ASYNC = 1 << 15
_UFFDIO_REGISTER_MODE_WP = 1 << 1


def _iowr(kind: int, nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (kind << 8) | nr


_UFFDIO_API = _iowr(_UFFD_API, 0x3F, 24)
_UFFDIO_REGISTER = _iowr(_UFFD_API, 0x00, 32)
# linux/fs.h
_PAGEMAP_SCAN = _iowr(ord("f"), 16, 96)
_PM_SCAN_WP_MATCHING = 1 << 0
_PAGE_IS_WRITTEN = 1 << 1
_REGIONS = 4096  # page_region entries per PAGEMAP_SCAN call

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.ioctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)
_libc.ioctl.restype = ctypes.c_int


class LogDirtyUnavailable(Exception):
    """The host kernel cannot track writes for us (the reason)."""


class LogDirty:
    """Write tracking over all of `mem`'s frames; `clean` says which of the
    frames asked about were written since the last `clean` of them (a frame
    never cleaned counts as written), and protects them again. One at a
    time per machine memory: a second raises LogDirtyUnavailable."""

    def __init__(self, mem):
        if _NR_USERFAULTFD is None:
            raise LogDirtyUnavailable(f"no userfaultfd syscall number known for {os.uname().machine}")
        self.base = mem.host_address
        self.nframes = mem.nframes
        self._uffd = self._pagemap = -1
        try:
            self._uffd = self._check(_libc.syscall(_NR_USERFAULTFD, os.O_CLOEXEC | os.O_NONBLOCK), "userfaultfd")
            want = _UFFD_FEATURE_WP_ASYNC | _UFFD_FEATURE_WP_UNPOPULATED | _UFFD_FEATURE_WP_HUGETLBFS_SHMEM
            self._ioctl(self._uffd, _UFFDIO_API, (ctypes.c_uint64 * 3)(_UFFD_API, want, 0), "UFFDIO_API")
            self._ioctl(self._uffd, _UFFDIO_REGISTER,
                        (ctypes.c_uint64 * 4)(self.base, mem.size, _UFFDIO_REGISTER_MODE_WP, 0), "UFFDIO_REGISTER")
            self._pagemap = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        except (LogDirtyUnavailable, OSError) as err:
            self.close()
            raise LogDirtyUnavailable(str(err)) from None
        self._vec = (ctypes.c_uint64 * (3 * _REGIONS))()

    @staticmethod
    def _check(rc: int, what: str) -> int:
        if rc < 0:
            errno = ctypes.get_errno()
            raise LogDirtyUnavailable(f"{what}: {os.strerror(errno)}")
        return rc

    def _ioctl(self, fd: int, request: int, arg, what: str) -> int:
        return self._check(_libc.ioctl(fd, request, ctypes.addressof(arg)), what)

    def clean(self, mfns: np.ndarray) -> np.ndarray:
        """Of `mfns` (any order), the ones written since their last clean,
        sorted; all of them clean again."""
        frames = np.sort(np.asarray(mfns, dtype=np.int64))  # (np.unique hashes: ten times slower here)
        if not len(frames):
            return frames
        frames = frames[np.r_[True, frames[1:] != frames[:-1]]]
        if frames[0] < 0 or frames[-1] >= self.nframes:
            raise ValueError(f"frame {int(frames[0] if frames[0] < 0 else frames[-1]):#x} outside machine memory")
        breaks = np.flatnonzero(np.diff(frames) != 1) + 1
        starts, ends = frames[np.r_[0, breaks]], frames[np.r_[breaks - 1, len(frames) - 1]] + 1
        written = []
        for lo, hi in zip(starts.tolist(), ends.tolist()):
            written += self._scan(lo, hi)
        if not written:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in written])

    def _scan(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The written runs of frames [lo, hi), protected again."""
        vec, out = self._vec, []
        start, end = self.base + (lo << PAGE_SHIFT), self.base + (hi << PAGE_SHIFT)
        while start < end:
            arg = (ctypes.c_uint64 * 12)(96, _PM_SCAN_WP_MATCHING, start, end, 0, ctypes.addressof(vec), _REGIONS, 0,
                                         0, _PAGE_IS_WRITTEN, 0, _PAGE_IS_WRITTEN)
            n = self._ioctl(self._pagemap, _PAGEMAP_SCAN, arg, "PAGEMAP_SCAN")
            out += [((vec[3 * i] - self.base) >> PAGE_SHIFT, (vec[3 * i + 1] - self.base) >> PAGE_SHIFT)
                    for i in range(n)]
            start = arg[4]  # walk_end: where the scan stopped (the vector was full), or end
        return out

    def close(self) -> None:
        """Tracking off: the kernel drops the protection with the descriptor."""
        for fd in (self._pagemap, self._uffd):
            if fd >= 0:
                os.close(fd)
        self._uffd = self._pagemap = -1

