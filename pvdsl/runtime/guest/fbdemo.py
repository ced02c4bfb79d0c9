"""The demo a framebuffer guest runs: what a console and a small animation
draw through the kernel's framebuffer (guest/xenfb.py), one frame per turn
of the kernel's event loop. Each frame touches only what moved: the box's
old and new places and the frame counter, so most updates are small
rectangles, as a real desktop's are.

Its state (the box's place and direction, the frame counter) is a small
kernel allocation, read and written each frame: it is guest memory, so a
saved and restored guest goes on from where it stopped."""

from __future__ import annotations

import struct

BACKGROUND = (16, 24, 48)
BOX = (240, 180, 40)
TEXT = (220, 220, 220)
BOX_SIZE = 48
STATE = struct.Struct("<4iQ")  # x, y, dx, dy, frame


class FbDemo:
    def __init__(self, fe, title: str):
        self.fe = fe
        self.state_va = fe.k.domain.kernel.alloc(STATE.size, 8, "fbdemo state")
        self._store(10, 40, 5, 3, 0)
        fe.fill(0, 0, fe.width, fe.height, BACKGROUND)
        fe.fill(0, 0, fe.width, 18, (60, 60, 90))
        fe.text(4, 3, title, TEXT, background=(60, 60, 90))
        for i, color in enumerate(((200, 40, 40), (40, 200, 40), (40, 40, 200), (255, 255, 255))):
            fe.fill(8 + i * 28, fe.height - 28, 24, 20, color)

    def _load(self) -> tuple[int, int, int, int, int]:
        return STATE.unpack(self.fe.k.read_va(self.state_va, STATE.size))

    def _store(self, x: int, y: int, dx: int, dy: int, frame: int) -> None:
        self.fe.k.write_va(self.state_va, STATE.pack(x, y, dx, dy, frame))

    @property
    def frame(self) -> int:
        return self._load()[4]

    def step(self) -> None:
        fe = self.fe
        x, y, dx, dy, frame = self._load()
        fe.fill(x, y, BOX_SIZE, BOX_SIZE, BACKGROUND)
        if not 0 <= x + dx <= fe.width - BOX_SIZE:
            dx = -dx
        if not 20 <= y + dy <= fe.height - 32 - BOX_SIZE:
            dy = -dy
        x, y, frame = x + dx, y + dy, frame + 1
        self._store(x, y, dx, dy, frame)
        fe.fill(x, y, BOX_SIZE, BOX_SIZE, BOX)
        fe.text(fe.width - 110, 3, f"frame {frame:7d}", TEXT, background=(60, 60, 90))
