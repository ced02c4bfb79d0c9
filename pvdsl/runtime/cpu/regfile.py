"""Register access and the run watchdog of the emulated vCPUs.

unicorn's Python layer costs about 1.5 us per register read or write; the
hot paths (a hypercall, a hlt, the batch driver) go through the C API
directly: `RegFile` reads or writes a fixed set of registers in one call,
`FastReg` one register in ~0.4 us.
"""

from __future__ import annotations

import ctypes
import threading
import time

from unicorn import UC_HOOK_BLOCK, Uc
from unicorn.unicorn_py3.unicorn import uclib


class _Watchdog:
    """One thread for every vCPU: stops an emulation that outlives its
    wall-clock limit. (unicorn's own `timeout` starts a thread per run,
    ~100 us each; arming this one costs a dict insertion.)"""

    def __init__(self):
        self._lock = threading.Lock()
        self._runs: dict[int, tuple[Uc, float]] = {}
        self._fired: set[int] = set()
        self._seq = 0
        self._thread: threading.Thread | None = None

    def arm(self, uc: Uc, seconds: float) -> int:
        with self._lock:
            self._seq += 1
            self._runs[self._seq] = (uc, time.monotonic() + seconds)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="pvdsl-vcpu-watchdog", daemon=True)
                self._thread.start()
            return self._seq

    def disarm(self, token: int) -> bool:
        with self._lock:
            self._runs.pop(token, None)
            fired = token in self._fired
            self._fired.discard(token)
            return fired

    def expired(self, token: int | None) -> bool:
        with self._lock:
            return token in self._fired

    def _loop(self) -> None:
        # An expired run is stopped again every tick until it is disarmed:
        # a run made of several emulations (bounces into guest handlers)
        # must not lose a stop that came between two of them.
        while True:
            time.sleep(0.005)
            now = time.monotonic()
            with self._lock:
                for token, (uc, deadline) in self._runs.items():
                    if now >= deadline:
                        uc.emu_stop()
                        self._fired.add(token)


WATCHDOG = _Watchdog()


class RegFile:
    """Fast access to a fixed set of registers (one C call for all)."""

    def __init__(self, uc: Uc, regs: dict[str, int]):
        self.names = list(regs)
        n = len(self.names)
        self._n = n
        self._ids = (ctypes.c_int * n)(*regs.values())
        self.vals = (ctypes.c_uint64 * n)()
        self._ptrs = (ctypes.c_void_p * n)(*[ctypes.addressof(self.vals) + 8 * i for i in range(n)])
        self._read = uclib.uc_reg_read_batch
        self._write = uclib.uc_reg_write_batch
        self._uch = uc._uch
        self.index = {name: i for i, name in enumerate(self.names)}

    def read(self) -> dict[str, int]:
        self._read(self._uch, self._ids, self._ptrs, self._n)
        return dict(zip(self.names, self.vals[:]))  # a slice converts at once: half the cost

    def write(self, values: dict[str, int]) -> None:
        """Some registers of the file (the others keep their values)."""
        self._read(self._uch, self._ids, self._ptrs, self._n)
        for name, v in values.items():
            self.vals[self.index[name]] = v & 0xFFFFFFFFFFFFFFFF
        self._write(self._uch, self._ids, self._ptrs, self._n)

    def write_all(self, values: list[int]) -> None:
        """Every register of the file, in `names` order."""
        self.vals[:] = values
        self._write(self._uch, self._ids, self._ptrs, self._n)


class RegWriter:
    """Writes of register sets that recur (a hypercall's results): one
    RegFile per set of names, made on first use."""

    def __init__(self, uc: Uc, ids: dict[str, int]):
        self._uc, self._ids = uc, ids
        self._files: dict[tuple[str, ...], RegFile] = {}

    def write(self, values: dict[str, int]) -> None:
        key = tuple(values)
        f = self._files.get(key)
        if f is None:
            f = self._files[key] = RegFile(self._uc, {n: self._ids[n] for n in key})
        f.write_all([v & 0xFFFFFFFFFFFFFFFF for v in values.values()])


class FastReg:
    """One register at a time, through unicorn's C API."""

    def __init__(self, uc: Uc):
        self._uch = uc._uch
        self._buf = ctypes.c_uint64()
        self._ref = ctypes.byref(self._buf)
        self._read, self._write = uclib.uc_reg_read, uclib.uc_reg_write

    def get(self, reg: int) -> int:
        self._read(self._uch, reg, self._ref)
        return self._buf.value

    def set(self, reg: int, value: int) -> None:
        self._buf.value = value & 0xFFFFFFFFFFFFFFFF
        self._write(self._uch, reg, self._ref)


__all__ = ["FastReg", "RegFile", "RegWriter", "WATCHDOG"]


# uc_cb_hookcode_t: void (*)(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
_BLOCK_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)


def add_block_hook(uc: Uc, fn) -> object:
    """`fn(uc_handle, address, size, user_data)` for every basic block,
    through the C API: a third of the cost of unicorn's Python hook layer
    (about 1.3 us a block there), which matters for guest loops of a block
    or two per iteration. `fn` must not raise (ctypes would only print it).
    Returns what must be kept alive."""
    cb = _BLOCK_CB(fn)
    handle = ctypes.c_ulong()
    err = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK, ctypes.cast(cb, ctypes.c_void_p), None, 1, 0)
    if err:
        raise RuntimeError(f"uc_hook_add(UC_HOOK_BLOCK) failed: {err}")
    return cb
