"""The demo a framebuffer guest runs: what a console and a small animation
draw through the kernel's framebuffer (guest/xenfb.py), one frame per turn
of the kernel's event loop. Each frame touches only what moved: the box's
old and new places and the frame counter, so most updates are small
rectangles, as a real desktop's are."""

from __future__ import annotations

BACKGROUND = (16, 24, 48)
BOX = (240, 180, 40)
TEXT = (220, 220, 220)
BOX_SIZE = 48


class FbDemo:
    def __init__(self, fe, title: str):
        self.fe, self.frame = fe, 0
        self.x, self.y, self.dx, self.dy = 10, 40, 5, 3
        fe.fill(0, 0, fe.width, fe.height, BACKGROUND)
        fe.fill(0, 0, fe.width, 18, (60, 60, 90))
        fe.text(4, 3, title, TEXT, background=(60, 60, 90))
        for i, color in enumerate(((200, 40, 40), (40, 200, 40), (40, 40, 200), (255, 255, 255))):
            fe.fill(8 + i * 28, fe.height - 28, 24, 20, color)

    def step(self) -> None:
        fe = self.fe
        fe.fill(self.x, self.y, BOX_SIZE, BOX_SIZE, BACKGROUND)
        if not 0 <= self.x + self.dx <= fe.width - BOX_SIZE:
            self.dx = -self.dx
        if not 20 <= self.y + self.dy <= fe.height - 32 - BOX_SIZE:
            self.dy = -self.dy
        self.x += self.dx
        self.y += self.dy
        fe.fill(self.x, self.y, BOX_SIZE, BOX_SIZE, BOX)
        self.frame += 1
        fe.text(fe.width - 110, 3, f"frame {self.frame:7d}", TEXT, background=(60, 60, 90))
