"""Pure geometry of the viewer: letterboxing and window -> image pixel mapping.

Three coordinate systems are involved:

* window coordinates -- what GLFW reports for the cursor (screen units, origin at
  the window's top-left); on HiDPI displays one unit can be several pixels;
* framebuffer pixels -- what OpenGL draws into (``glfw.get_framebuffer_size``),
  origin at the top-left here (OpenGL's own origin is the bottom-left);
* image pixels -- column ``x`` and row ``y`` of the photo, origin at its top-left.

The image is drawn into an integer rectangle of the framebuffer that keeps its
aspect ratio and is centred (letterbox / pillarbox bars are black).
Nothing here touches OpenGL, so it is unit-tested without a display.
"""

from __future__ import annotations

from typing import NamedTuple


class Rect(NamedTuple):
    """An integer rectangle, origin at the top-left: x, y, width, height."""

    x: int
    y: int
    w: int
    h: int

    def gl_viewport(self, fb_height: int) -> tuple[int, int, int, int]:
        """The rectangle as ``glViewport`` arguments (OpenGL's origin is the bottom-left)."""
        return self.x, fb_height - self.y - self.h, self.w, self.h


def letterbox(fb_size: tuple[int, int], image_size: tuple[int, int]) -> Rect:
    """Largest centred rectangle of the framebuffer with the image's aspect ratio.

    ``fb_size`` and ``image_size`` are (width, height). The scale is the same on
    both axes (up to rounding to whole pixels); a 1:1 fit gives the image size.
    """
    fw, fh = fb_size
    iw, ih = image_size
    if fw <= 0 or fh <= 0 or iw <= 0 or ih <= 0:
        return Rect(0, 0, 0, 0)
    scale = min(fw / iw, fh / ih)
    w = min(fw, max(1, round(iw * scale)))
    h = min(fh, max(1, round(ih * scale)))
    return Rect((fw - w) // 2, (fh - h) // 2, w, h)


def window_to_framebuffer(x: float, y: float, win_size: tuple[int, int],
                          fb_size: tuple[int, int]) -> tuple[float, float]:
    """Cursor position in window coordinates -> framebuffer pixels (HiDPI scale)."""
    ww, wh = win_size
    fw, fh = fb_size
    sx = fw / ww if ww > 0 else 1.0
    sy = fh / wh if wh > 0 else 1.0
    return x * sx, y * sy


def window_to_image(x: float, y: float, win_size: tuple[int, int], fb_size: tuple[int, int],
                    image_size: tuple[int, int]) -> tuple[float, float] | None:
    """Image pixel (column, row; floats) under the cursor at window position (x, y).

    Returns ``None`` when the point falls on the letterbox bars or outside the
    window. ``int()`` of the result is the index of the pixel drawn there.
    """
    iw, ih = image_size
    r = letterbox(fb_size, image_size)
    if r.w == 0 or r.h == 0:
        return None
    fx, fy = window_to_framebuffer(x, y, win_size, fb_size)
    ix = (fx - r.x) * iw / r.w
    iy = (fy - r.y) * ih / r.h
    if not (0.0 <= ix < iw and 0.0 <= iy < ih):
        return None
    return ix, iy


def image_to_window(ix: float, iy: float, win_size: tuple[int, int], fb_size: tuple[int, int],
                    image_size: tuple[int, int]) -> tuple[float, float]:
    """Inverse of :func:`window_to_image`: where image point (ix, iy) is in window coordinates."""
    iw, ih = image_size
    r = letterbox(fb_size, image_size)
    fx = r.x + ix * r.w / iw
    fy = r.y + iy * r.h / ih
    ww, wh = win_size
    fw, fh = fb_size
    return fx * ww / fw, fy * wh / fh


def fit_window(image_size: tuple[int, int], area: tuple[int, int], fraction: float = 0.85,
               minimum: tuple[int, int] = (320, 240)) -> tuple[int, int]:
    """Initial window size: the image at 1:1, shrunk (keeping aspect) to ``fraction`` of ``area``."""
    iw, ih = image_size
    aw, ah = area
    s = min(1.0, fraction * aw / iw, fraction * ah / ih) if aw > 0 and ah > 0 else 1.0
    return max(minimum[0], round(iw * s)), max(minimum[1], round(ih * s))
