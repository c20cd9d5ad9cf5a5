"""The view transform: the fit view, or a zoom of 1, 2 or 4 framebuffer pixels per photo pixel.

At the fit the whole photo is letterboxed (:mod:`deocused.window.layout`). Zoomed,
the framebuffer shows the photo pixels ``region`` (x0, y0, x1, y1) as blocks of
``zoom`` x ``zoom`` framebuffer pixels starting at ``origin`` (a photo smaller
than the window at that zoom is centred); ``cx, cy`` is the photo point at the
framebuffer's centre. Pointer positions are framebuffer pixels here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..window import layout

#: The zooms above the fit (framebuffer pixels per photo pixel).
ZOOMS = (1, 2, 4)


def _axis(c: float, n: int, z: int, fb: int) -> tuple[int, int, int]:
    """(first photo pixel, end, framebuffer offset) shown along one axis."""
    if n * z <= fb:
        return 0, n, (fb - n * z) // 2
    view = fb / z
    i0 = int(round(min(max(c - view / 2, 0.0), n - view)))
    return i0, min(n, i0 + math.ceil(view)), 0


def zoom_steps(glfw, key: int, mods: int, zoom: int | None) -> int:
    """Zoom steps of a key: Z one in, Shift+Z one out, 1 to 1:1, 0 to the fit."""
    i = (None, *ZOOMS).index(zoom)
    if key == glfw.KEY_0:
        return -i
    if key == glfw.KEY_1:
        return 1 - i
    return -1 if mods & glfw.MOD_SHIFT else 1


@dataclass
class ViewTransform:
    zoom: int | None = None  # None: the fit; else one of ZOOMS
    cx: float = 0.0
    cy: float = 0.0

    def region(self, image_size, fb_size):
        """((x0, y0, x1, y1) photo pixels shown, (x, y) framebuffer pixel of (x0, y0)); None at the fit."""
        if self.zoom is None:
            return None
        (iw, ih), (fw, fh), z = image_size, fb_size, self.zoom
        x0, x1, ox = _axis(self.cx, iw, z, fw)
        y0, y1, oy = _axis(self.cy, ih, z, fh)
        return (x0, y0, x1, y1), (ox, oy)

    def rect(self, image_size, fb_size) -> layout.Rect:
        """Framebuffer rectangle the shown photo pixels fill."""
        r = self.region(image_size, fb_size)
        if r is None:
            return layout.letterbox(fb_size, image_size)
        (x0, y0, x1, y1), (ox, oy) = r
        return layout.Rect(ox, oy, (x1 - x0) * self.zoom, (y1 - y0) * self.zoom)

    def to_image(self, fx: float, fy: float, image_size, fb_size):
        """Photo point (column, row) at framebuffer pixel (fx, fy), or None outside the photo."""
        iw, ih = image_size
        r = self.rect(image_size, fb_size)
        if r.w == 0 or r.h == 0:
            return None
        reg = self.region(image_size, fb_size)
        x0, y0, x1, y1 = reg[0] if reg else (0, 0, iw, ih)
        ix, iy = x0 + (fx - r.x) * (x1 - x0) / r.w, y0 + (fy - r.y) * (y1 - y0) / r.h
        return (ix, iy) if 0.0 <= ix < iw and 0.0 <= iy < ih else None

    def zoom_to(self, zoom: int | None, fx: float, fy: float, image_size, fb_size) -> None:
        """Zoom to ``zoom`` keeping the photo point under framebuffer pixel (fx, fy) there."""
        p = self.to_image(fx, fy, image_size, fb_size)
        if p is None:
            iw, ih = image_size
            p, (fx, fy) = (iw / 2, ih / 2), (fb_size[0] / 2, fb_size[1] / 2)
        self.zoom = zoom
        if zoom is not None:
            self.cx = p[0] - fx / zoom + fb_size[0] / (2 * zoom)
            self.cy = p[1] - fy / zoom + fb_size[1] / (2 * zoom)
            self._clamp(image_size, fb_size)

    def step(self, steps: int, fx: float, fy: float, image_size, fb_size) -> None:
        """Zoom in (``steps`` > 0) or out by whole steps of fit -> 1:1 -> 2:1 -> 4:1 about (fx, fy)."""
        levels = (None, *ZOOMS)
        i = min(len(levels) - 1, max(0, levels.index(self.zoom) + steps))
        if levels[i] != self.zoom:
            self.zoom_to(levels[i], fx, fy, image_size, fb_size)

    def pan(self, dx: float, dy: float, image_size, fb_size) -> None:
        """Move the photo by (dx, dy) framebuffer pixels (a drag)."""
        if self.zoom is not None:
            self.cx -= dx / self.zoom
            self.cy -= dy / self.zoom
            self._clamp(image_size, fb_size)

    def _clamp(self, image_size, fb_size) -> None:
        (iw, ih), (fw, fh), z = image_size, fb_size, self.zoom
        self.cx = min(max(self.cx, fw / (2 * z)), max(fw / (2 * z), iw - fw / (2 * z)))
        self.cy = min(max(self.cy, fh / (2 * z)), max(fh / (2 * z), ih - fh / (2 * z)))
