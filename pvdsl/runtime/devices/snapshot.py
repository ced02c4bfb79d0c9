"""PNG snapshots of a guest's framebuffer, as the backend's host image holds it."""

from __future__ import annotations

import numpy as np


def write_png(image: np.ndarray, path) -> tuple[int, int]:
    """An (height, width, 3) RGB array to a PNG file; its (width, height)."""
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), "RGB").save(path, format="PNG")
    return image.shape[1], image.shape[0]


def read_png(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))
