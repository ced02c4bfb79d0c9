"""The framebuffer's frontend (runtime/guest/xenfb.py around the compiled
drivers.xenfb) against dom0's backend on both arches: the xenstore
handshake, updates on the out ring and their wrap-around, coalescing into a
bounding box while the ring is full, REFRESH_PERIOD on the in ring, resize."""

from __future__ import annotations

import numpy as np
import pytest
from fbsupport import TARGETS, FbGuest

from pvdsl.runtime.devices.vfb_backend import CONNECTED, INIT_WAIT, INITIALISED, INITIALISING


@pytest.fixture(params=TARGETS)
def target(request):
    return request.param


def test_handshake_states_and_nodes(target):
    g = FbGuest(target, connect=False)
    assert (g.fe_state(), g.be_state()) == (INITIALISING, INIT_WAIT)
    g.fe.start()
    assert g.fe_state() == INITIALISED
    home = g.fe_path
    assert g.xs.read(f"{home}/protocol").decode() == g.d.rt.io_protocol
    assert g.xs.read(f"{home}/feature-update") == b"1"
    assert int(g.xs.read(f"{home}/page-ref")) == g.d.p2m[g.d.kernel.pfn_of(g.fe.page_va)]
    assert int(g.xs.read(f"{home}/event-channel")) == g.fe.port
    g.k.poll()  # the watch's first event: the backend is InitWait
    assert g.fe_state() == CONNECTED
    assert not g.fe.update_wanted  # nothing read from the backend before its Connected
    assert g.fe.fill(0, 0, 4, 4, (1, 2, 3)) == "unwanted"
    g.be.process()  # the frontend is past Initialised: map, bind, Connected
    assert g.be_state() == CONNECTED and g.be.error is None
    g.k.poll()
    assert g.fe.update_wanted and g.fe.feature_resize
    assert g.fe.refresh_period() == g.be.refresh_ms
    g.be.process()
    assert np.array_equal(g.be.snapshot(), g.fe.pixels())


def test_no_updates_without_request_update(target):
    g = FbGuest(target, connect=False)
    g.xs.write(f"{g.be_path}/request-update", "0")
    g.fe.start()
    g.settle()
    assert g.be_state() == CONNECTED and not g.fe.update_wanted
    assert g.fe.fill(0, 0, 8, 8, (255, 255, 255)) == "unwanted"
    assert g.fe.out_pending() == 0


def test_drawing_reaches_the_backend_image(target):
    g = FbGuest(target, 96, 64)
    g.fe.fill(0, 0, 96, 64, (10, 20, 30))
    g.fe.fill(5, 6, 20, 10, (200, 0, 100))
    g.fe.text(2, 30, "xenfb", (0, 255, 0))
    g.fe.fill(90, 60, 50, 50, (1, 1, 1))  # clipped to the screen by the kernel
    g.be.process()
    img = g.be.snapshot()
    assert tuple(img[6, 5]) == (200, 0, 100) and tuple(img[0, 0]) == (10, 20, 30)
    assert tuple(img[63, 95]) == (1, 1, 1)
    assert np.array_equal(img, g.fe.pixels())
    assert g.be.stats["updates_clipped"] == 0 and g.be.stats["updates_ignored"] == 0


@pytest.mark.parametrize("depth", [8, 16, 24])
def test_other_depths(depth):
    g = FbGuest("x86_64-domu", 40, 30, depth)
    g.fe.fill(3, 3, 10, 10, (255, 0, 0))
    g.be.process()
    assert np.array_equal(g.be.snapshot(), g.fe.pixels())
    assert tuple(g.be.snapshot()[5, 5]) == (255, 0, 0)


def test_out_ring_wraps_around(target):
    """Far more events than the ring holds, the backend consuming every few;
    then indices about to wrap at 2**32."""
    g = FbGuest(target)
    n_ring = g.d.abi.c("XENFB_OUT_RING_LEN")
    rng = np.random.default_rng(5)
    for i in range(3 * n_ring + 7):
        x, y = int(rng.integers(0, 60)), int(rng.integers(0, 44))
        assert g.fe.fill(x, y, 4, 4, tuple(int(v) for v in rng.integers(0, 256, 3))) == "sent"
        if i % 5 == 4:
            g.be.process()
    g.be.process()
    assert g.page_field("out_prod") > 3 * n_ring
    assert np.array_equal(g.be.snapshot(), g.fe.pixels())
    for field in ("out_prod", "out_cons"):
        g.set_page_field(field, 0xFFFFFFFF - 3)
    for i in range(10):
        g.fe.fill(i * 6, 0, 5, 5, (i * 20, 0, 0))
        g.be.process()
    assert g.page_field("out_prod") == 6  # wrapped
    assert np.array_equal(g.be.snapshot(), g.fe.pixels())
    assert g.be.stats["bad_ring_indices"] == 0


def test_full_ring_coalesces_into_a_bounding_box(target):
    """The backend does not consume: once the ring is full, later updates
    merge into one pending rectangle, which goes out when the backend has
    made room and notified (xenfb_event_handler), and nothing drawn is lost."""
    g = FbGuest(target)
    n_ring = g.d.abi.c("XENFB_OUT_RING_LEN")
    before = g.be.stats["updates"]
    results = [g.fe.fill(i % 60, 0, 2, 2, (i, 0, 0)) for i in range(n_ring)]
    assert results == ["sent"] * n_ring and g.fe.out_pending() == n_ring
    assert g.fe.fill(3, 10, 5, 5, (0, 255, 0)) == "pending"
    assert g.fe.fill(40, 30, 4, 6, (0, 0, 255)) == "pending"
    assert g.fe.fill(20, 20, 1, 1, (9, 9, 9)) == "pending"
    assert g.fe.out_pending() == n_ring
    box = [g.fe._var(f"xenfb_{c}") for c in ("x1", "y1", "x2", "y2")]
    assert box == [3, 10, 43, 35]
    g.be.process()  # consumes the full ring and notifies
    assert g.fe.out_pending() == 0
    g.k.poll()  # the frontend's handler flushes the box
    assert g.fe.out_pending() == 1
    g.be.process()
    assert np.array_equal(g.be.snapshot(), g.fe.pixels())
    assert g.be.stats["updates"] == before + n_ring + 1  # the ring, then the box


def test_resize_within_memory(target):
    g = FbGuest(target, 64, 48)
    assert g.fe.resize(32, 16) == "sent"
    g.fe.fill(0, 0, 32, 16, (7, 8, 9))
    g.be.process()
    assert g.be.snapshot().shape == (16, 32, 3)
    assert np.array_equal(g.be.snapshot(), g.fe.pixels())
    assert g.fe.resize(64, 100) == "refused"  # 100 rows of 256 bytes exceed the memory of init
    assert g.be.stats["resizes"] == 1
