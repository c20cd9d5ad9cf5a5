"""Brute-force cat-eye blur: every output pixel gathers its input through its own exact lens
(``disc(0, R) & disc(c, R)``, c = strength R p, see deocused.render.cateye), anti-aliased by a
one-pixel ramp of the signed distance; or through the few-tap approximation with exact discs
(to separate the approximation's error from the pyramid's). One radius for the whole image;
the result is normalised by the kernel's weight, so only pixels at least a kernel's reach
inside the frame are meaningful. Slow (one image pass per kernel offset): test-sized images.
Used by bench/cat_eye_error.py and tests/render/test_cat_eye.py."""

from __future__ import annotations

import math

import numpy as np

from deocused.render.cateye import photo_position, tap_factors


def _positions(h, w, strength, radius):
    """Per pixel: p (x, y) and the centroid offset c / 2 (px)."""
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    px, py = photo_position(xx, yy, (0, 0, w, h))
    return px, py, 0.5 * strength * radius * px, 0.5 * strength * radius * py


def _gather(img, radius_px, weight):
    """sum_d img(x - d) weight(dx, dy) / sum_d weight(dx, dy) over offsets |d| <= radius_px."""
    h, w = img.shape[:2]
    r = int(math.ceil(radius_px)) + 1
    pad = np.pad(img.astype(np.float64), ((r, r), (r, r), (0, 0)))
    num = np.zeros(img.shape, np.float64)
    den = np.zeros((h, w), np.float64)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            wt = weight(dx, dy)
            if not np.any(wt > 0):
                continue
            num += wt[:, :, None] * pad[r - dy: r - dy + h, r - dx: r - dx + w]
            den += wt
    return num / np.maximum(den, 1e-12)[:, :, None]


def exact_lens(img: np.ndarray, radius: float, strength: float) -> np.ndarray:
    """``img`` (h, w, C) blurred with each pixel's exact lens of blur radius ``radius`` px."""
    h, w = img.shape[:2]
    _, _, ox, oy = _positions(h, w, strength, radius)
    cx, cy = 2 * ox, 2 * oy

    def weight(dx, dy):
        sd = np.maximum(math.hypot(dx, dy) - radius, np.hypot(dx - cx, dy - cy) - radius)
        return np.clip(0.5 - sd, 0.0, 1.0)

    return _gather(img, radius * 1.0, weight)


def tap_lens(img: np.ndarray, radius: float, strength: float, taps: int = 3) -> np.ndarray:
    """``img`` blurred with the ``taps``-tap approximation (3: weights 1/4, 1/2, 1/4 at -t, 0, t;
    5: binomial 1, 4, 6, 4, 1 / 16 at -2t', .., 2t' with t' = t / sqrt(2), the same variance) of
    exact discs of the tap radius."""
    h, w = img.shape[:2]
    px, py, ox, oy = _positions(h, w, strength, radius)
    pl = np.hypot(px, py)
    k, t = tap_factors(0.5 * strength * pl)
    a, t = k * radius, t * radius
    with np.errstate(invalid="ignore", divide="ignore"):
        evx, evy = np.where(pl > 0, -py / pl, 0.0), np.where(pl > 0, px / pl, 0.0)
    if taps == 3:
        plan = ((-1.0, 0.25), (0.0, 0.5), (1.0, 0.25))
    else:
        plan = tuple((d / math.sqrt(2.0), wt / 16) for d, wt in zip((-2, -1, 0, 1, 2), (1, 4, 6, 4, 1)))
    out = np.zeros(img.shape, np.float64)
    for d, wt in plan:
        tx, ty = ox + d * t * evx, oy + d * t * evy

        def weight(dx, dy, tx=tx, ty=ty):
            return np.clip(0.5 - (np.hypot(dx - tx, dy - ty) - a), 0.0, 1.0)

        out += wt * _gather(img, radius * 1.5, weight)
    return out
