"""Synthetic frame sources for tests and benchmarks (no camera needed).

:func:`moving_scene` draws frame ``i`` of a small scene: a textured background
and a bright disc that moves left to right. :func:`scene_disparity` is its
exact disparity (disc near, background far), usable as a ``depth_fn``.
:class:`FakeOpener` is an ``opener`` for :class:`~deocused.live.capture.FrameCapture`
that serves such frames and can fail on schedule (to exercise the reconnect path).
"""

from __future__ import annotations

import threading
import time

import numpy as np


def _disc(i: int, w: int, h: int):
    cx = (0.15 + 0.7 * ((i * 0.02) % 1.0)) * w
    return cx, 0.5 * h, 0.22 * min(w, h)


def moving_scene(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """Frame ``i`` as BGR uint8 (H, W, 3), like ``cv2.VideoCapture.read``."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[..., 0] = 0.5 + 0.4 * np.sin(xx * 0.7 + i * 0.1)
    img[..., 1] = 0.5 + 0.4 * np.sin(yy * 0.9)
    img[..., 2] = 0.3 + 0.3 * ((xx // 4 + yy // 4) % 2)
    cx, cy, r = _disc(i, w, h)
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    img[inside] = (0.95, 0.9, 0.85)
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)


def scene_disparity(image_srgb: np.ndarray) -> np.ndarray:
    """A depth_fn for :func:`moving_scene` frames: the bright disc is near (0.9), the rest far (0.1..0.4)."""
    img = np.asarray(image_srgb, np.float32)
    h, w = img.shape[:2]
    bright = img.min(axis=2) > 0.8
    d = np.tile(np.linspace(0.1, 0.4, h, dtype=np.float32)[:, None], (1, w))
    d[bright] = 0.9
    return d


class FakeCapture:
    """A ``cv2.VideoCapture`` look-alike serving :func:`moving_scene` frames.

    ``fail_after``: ``read()`` returns (False, None) after that many frames
    (a camera unplugged). ``fps``: reported frame rate; ``delay``: seconds per read.
    """

    def __init__(self, opener: FakeOpener, opened: bool, fail_after: int | None):
        self.opener = opener
        self.opened = opened
        self.fail_after = fail_after
        self.count = 0

    def isOpened(self) -> bool:
        return self.opened

    def read(self):
        if not self.opened or (self.fail_after is not None and self.count >= self.fail_after):
            return False, None
        if self.opener.delay:
            time.sleep(self.opener.delay)
        self.count += 1
        with self.opener.lock:
            i = self.opener.served
            self.opener.served += 1
        return True, moving_scene(i, *self.opener.size)

    def get(self, prop) -> float:
        return float(self.opener.fps)

    def release(self) -> None:
        self.opened = False
        self.opener.released += 1


class FakeOpener:
    """Opener whose n-th ``open`` follows ``script[n]``: ("ok", fail_after or None) or ("fail",).

    Past the end of the script every open succeeds with no failure. ``opens``
    records the (monotonic) time of each open, to check the back-off.
    """

    def __init__(self, script=(), size=(64, 48), fps: float = 30.0, delay: float = 0.0):
        self.script = list(script)
        self.size = size
        self.fps = fps
        self.delay = delay
        self.opens: list[float] = []
        self.served = 0
        self.released = 0
        self.lock = threading.Lock()

    def __call__(self, spec) -> FakeCapture:
        n = len(self.opens)
        self.opens.append(time.monotonic())
        step = self.script[n] if n < len(self.script) else ("ok", None)
        if step[0] == "fail":
            return FakeCapture(self, False, None)
        return FakeCapture(self, True, step[1] if len(step) > 1 else None)
