"""The guest kernel's xenstore client over its own store ring: bytes moved by
the compiled drivers.xenbus hooks on the domU's vCPU, answered by the host's
xenstored (the same one `pvdsl host start` serves to Xen's tools)."""

from __future__ import annotations

import errno

import pytest
from rtsupport import machine

from pvdsl.runtime.guest.kernel import GuestKernel
from pvdsl.runtime.guest.xenbus import XenbusError
from pvdsl.runtime.xenstore.host import HostXenstore

TARGETS = ["x86_64-domu", "i386-domu"]


class Guest:
    def __init__(self, target: str):
        self.m = machine("examples/irq.pv", target)
        self.xs = HostXenstore(self.m.hv)
        self.xs.domain_created(self.m.domu, "guest", 16 << 20, 1)
        self.k = GuestKernel(self.m)
        self.home = f"/local/domain/{self.m.domu.domid}"


@pytest.fixture(params=TARGETS)
def guest(request):
    return Guest(request.param)


def test_reads_what_the_toolstack_wrote(guest):
    k = guest.k
    assert k.xenbus.read("memory/target") == str(16 << 10)
    assert k.xenbus.read("name") == "guest"
    assert k.xenbus.read("no/such/node") is None
    assert {"memory", "control", "data", "device"} <= set(k.xenbus.directory(""))


def test_writes_where_the_guest_may_and_is_refused_elsewhere(guest):
    k = guest.k
    k.xenbus.write("data/greeting", "hello")
    assert guest.xs.read(f"{guest.home}/data/greeting") == b"hello"
    with pytest.raises(XenbusError) as info:
        k.xenbus.write("memory/target", "1")  # the toolstack's: "n0 rN"
    assert info.value.errno == errno.EACCES
    assert guest.xs.read(f"{guest.home}/memory/target") == str(16 << 10).encode()


def test_messages_cross_the_end_of_the_ring(guest):
    """Values longer than the 1024-byte ring go in several pieces, and the
    indices wrap around the ring many times over."""
    k = guest.k
    for i in range(40):
        value = (f"{i:04d}" * 500)[:1000 + 37 * i % 900]
        k.xenbus.write(f"data/v{i % 3}", value)
        assert k.xenbus.read(f"data/v{i % 3}") == value
    page = k.read_va(k.xenbus.intf, 4096)
    abi = k.domain.abi
    req_prod = abi.get(page, "xenstore_domain_interface", "req_prod")
    assert req_prod > 20 * 1024  # wrapped many times


def test_watch_fires_for_the_initial_event_and_for_changes(guest):
    k = guest.k
    seen = []
    k.xenbus.watch("memory/target", lambda path: seen.append((path, k.xenbus.read(path))))
    k.poll()
    assert seen == [(f"{guest.home}/memory/target", str(16 << 10))]
    guest.xs.write(f"{guest.home}/memory/target", "8192")
    assert k.poll() >= 1
    assert seen[-1] == (f"{guest.home}/memory/target", "8192")
    assert k.poll() == 0  # nothing new


def test_transaction_commits_and_conflicts(guest):
    k = guest.k
    tx = k.xenbus.transaction_start()
    k.xenbus.write("data/a", "1", tx=tx)
    assert k.xenbus.read("data/a") is None  # not visible outside before the commit
    assert k.xenbus.transaction_end(tx)
    assert k.xenbus.read("data/a") == "1"
    tx = k.xenbus.transaction_start()
    k.xenbus.read("data/a", tx=tx)
    guest.xs.write(f"{guest.home}/data/a", "2")  # someone else changes it meanwhile
    k.xenbus.write("data/a", "3", tx=tx)
    assert not k.xenbus.transaction_end(tx)  # EAGAIN: run it again
    assert k.xenbus.read("data/a") == "2"


def test_corrupt_ring_indices_are_an_error_not_a_crash(guest):
    k = guest.k
    abi = k.domain.abi
    off = abi.field("xenstore_domain_interface", "rsp_prod").offset
    k.write_va(k.xenbus.intf + off, (0x7000_0000).to_bytes(4, "little"))
    with pytest.raises(XenbusError) as info:
        k.xenbus.read("name")
    assert info.value.errno == errno.EIO
    assert not guest.m.hv.check_invariants()
