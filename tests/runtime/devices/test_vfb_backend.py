"""dom0's framebuffer backend against a hostile frontend: whatever the guest
writes in its shared page, its directory or its out ring, the backend refuses
or ignores it with a reason, reads nothing outside the guest's frames, keeps
no reference to a refused frame, and the host goes on."""

from __future__ import annotations

import numpy as np
import pytest
from fbsupport import TARGETS, FbGuest

from pvdsl.runtime.devices.vfb_backend import CONNECTED, INIT_WAIT


@pytest.fixture(params=TARGETS)
def target(request):
    return request.param


def refused_after(g: FbGuest, corrupt) -> str:
    """Corrupt the page once the frontend is Initialised, before the backend maps it."""
    g.fe.start()
    corrupt(g)
    counts = list(g.hv.mem.count)
    g.settle()
    assert g.be.state == INIT_WAIT and g.be_state() == INIT_WAIT
    assert g.be.image is None and g.be.held == []
    assert list(g.hv.mem.count) == counts  # every reference taken was dropped
    assert g.xs.read(f"{g.be_path}/error").decode() == g.be.error
    assert g.be.stats["refused"] >= 1
    assert g.hv.check_invariants() == []
    return g.be.error


@pytest.mark.parametrize("field,value,needle", [
    ("depth", 7, "depth 7"),
    ("depth", 0, "depth 0"),
    ("width", -5, "-5x"),
    ("height", 0, "x0 screen"),
    ("width", 1 << 30, "line_length"),
    ("line_length", 3, "line_length 3"),
    ("line_length", 0xFFFFFFFF, "line_length"),
    ("mem_length", 0xFFFFFFFF, "mem_length"),
    ("mem_length", 0, "mem_length 0"),
])
def test_bad_geometry_is_refused(target, field, value, needle):
    g = FbGuest(target, connect=False)
    assert needle in refused_after(g, lambda g: g.set_page_field(field, value))


def test_directory_entry_of_another_domain(target):
    g = FbGuest(target, connect=False)
    dom0_frame = next(iter(g.m.dom0.p2m.values()))
    why = refused_after(g, lambda g: g.set_page_field("pd[0]", dom0_frame))
    assert "pd[0]" in why and "not a frame of domain" in why


def test_directory_entry_outside_memory(target):
    g = FbGuest(target, connect=False)
    assert "no machine frame" in refused_after(g, lambda g: g.set_page_field("pd[0]", g.hv.mem.nframes + 5))


def test_framebuffer_frame_of_another_domain(target):
    g = FbGuest(target, connect=False)
    word = g.d.rt.word
    dom0_frame = next(iter(g.m.dom0.p2m.values()))
    why = refused_after(g, lambda g: g.k.write_va(g.fe.dirs_va + 1 * word, dom0_frame.to_bytes(word, "little")))
    assert "framebuffer frame 1" in why


def test_bad_page_ref_and_protocol(target):
    g = FbGuest(target, connect=False)
    assert "page-ref" in refused_after(g, lambda g: g.xs.write(f"{g.fe_path}/page-ref", "0x7fffffff"))
    g2 = FbGuest(target, connect=False)
    assert "protocol" in refused_after(g2, lambda g: g.xs.write(f"{g.fe_path}/protocol", "vax-abi"))
    g3 = FbGuest(target, connect=False)
    assert "not a number" in refused_after(g3, lambda g: g.xs.write(f"{g.fe_path}/event-channel", "many"))


def test_mem_length_above_the_backends_limit(target):
    g = FbGuest(target, connect=False, max_mem=8192)
    assert "mem_length" in refused_after(g, lambda g: None)


def raw_event(g: FbGuest, struct: str, fields: dict) -> None:
    """An out event written straight into the ring, as a hostile frontend would."""
    abi = g.d.abi
    prod = g.page_field("out_prod")
    ev = bytearray(abi.c("XENFB_OUT_EVENT_SIZE"))
    for name, v in fields.items():
        abi.put(ev, struct, name, v)
    at = abi.c("XENFB_OUT_RING_OFFS") + prod % abi.c("XENFB_OUT_RING_LEN") * abi.c("XENFB_OUT_EVENT_SIZE")
    g.k.write_va(g.fe.page_va + at, bytes(ev))
    g.set_page_field("out_prod", prod + 1)
    g.be.kicked = True


def raw_update(g: FbGuest, x: int, y: int, w: int, h: int, kind: int | None = None) -> None:
    kind = g.d.abi.c("XENFB_TYPE_UPDATE") if kind is None else kind
    raw_event(g, "xenfb_update", {"type": kind, "x": x, "y": y, "width": w, "height": h})


def test_bogus_rectangles_are_clipped_or_ignored(target):
    g = FbGuest(target, 64, 48)
    g.fe.fill(0, 0, 64, 48, (50, 60, 70), notify=False)
    before = g.be.snapshot()
    for rect in ((-10, -10, 5, 5), (64, 0, 10, 10), (0, 48, 1, 1), (10, 10, -3, 4), (10, 10, 0, 0),
                 (0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF), (-0x80000000, 0, 1, 1)):
        raw_update(g, *rect)
    g.be.process()
    assert g.be.stats["updates_ignored"] == 7
    assert np.array_equal(g.be.snapshot(), before)  # nothing copied
    raw_update(g, -5, -5, 0x7FFFFFFF, 0x7FFFFFFF)  # the whole screen, clipped
    raw_update(g, 0, 0, 1, 1, kind=99)
    g.be.process()
    assert g.be.stats["updates_clipped"] == 1 and g.be.stats["unknown_events"] == 1
    assert np.array_equal(g.be.snapshot(), g.fe.pixels())


def test_bogus_ring_indices_drop_the_ring(target):
    g = FbGuest(target)
    g.set_page_field("out_prod", g.page_field("out_cons") + 1000)
    g.be.kicked = True
    g.be.process()
    assert g.be.stats["bad_ring_indices"] == 1
    assert g.page_field("out_cons") == g.page_field("out_prod")
    g.fe.fill(0, 0, 3, 3, (1, 2, 3))
    g.be.process()
    assert np.array_equal(g.be.snapshot(), g.fe.pixels())  # still serving


def test_bad_resizes_are_ignored(target):
    g = FbGuest(target, 64, 48)
    abi = g.d.abi
    for w, h, stride, depth, offset in ((64, 48, 256, 12, 0), (0, 48, 256, 32, 0), (64, 48, 10, 32, 0),
                                        (64, 48, 256, 32, 4096), (64, 4800, 256, 32, 0), (64, 48, 256, 32, -4)):
        raw_event(g, "xenfb_resize", {"type": abi.c("XENFB_TYPE_RESIZE"), "width": w, "height": h,
                                      "stride": stride, "depth": depth, "offset": offset})
    g.be.kicked = True
    g.be.process()
    assert g.be.stats["resizes_ignored"] == 6 and g.be.snapshot().shape == (48, 64, 3)


def test_frames_stay_held_while_mapped_and_are_released_on_close(target):
    g = FbGuest(target)
    assert g.be.state == CONNECTED
    page = g.be.page_mfn
    held = g.hv.mem.count[page]
    g.k.xenbus.write(f"{g.fe.nodes}/state", "6")  # Closed
    g.be.process()
    assert g.be.state == INIT_WAIT and g.be.held == []
    assert g.hv.mem.count[page] == held - 1
