"""The CPU backend's cat-eye bookkeeping (see :mod:`deocused.render.cateye`): the kernel's arguments,
and which sparse level tiles the taps read. The taps move up to a radius or so from their pixel and
read smaller radii than the pixel's own, so the scale-1 level tiles built per render
(:func:`deocused.render.cpu.refocus.full_levels_needed`) and the bands composited in front per tile
(:func:`deocused.render.cpu.refocus.front_tiles`) are grown accordingly. Strength 0: all unchanged.
"""

from __future__ import annotations

import numpy as np

from ...constants import HIDDEN_FILL_RADIUS
from ..cateye import min_tap_factor, offset_factor, scale1_reach
from ..pyramid import LEVEL_RADII, level_scale, level_weights
from . import refocus as cr
from .pixels import TILE

#: Steps between the tap radii whose levels are marked (below the smallest ratio of two level radii, 1.23).
TAP_SCALE_STEP = 1.2
#: Radius of the first level that is not at full resolution (the scale-1 levels lie below it).
_FIRST_DOWN = next(r for r in LEVEL_RADII if level_scale(r) > 1)


def kernel_args(strength: float, place, band_radius: np.ndarray) -> cr.Cat:
    """The kernel's cat-eye arguments (strength 0: the plain path); ``place``: the renderer's."""
    x0, y0, w, h = place
    f32 = np.float32
    return cr.Cat(f32(strength), f32(x0 + 0.5 - 0.5 * w), f32(y0 + 0.5 - 0.5 * h),
                  f32(1.0 / (0.5 * np.hypot(w, h))), band_radius.astype(np.float32))


def reach_tiles(strength: float) -> int:
    """How many tiles away from a pixel's own its taps read the scale-1 levels (0 when off)."""
    if strength <= 0:
        return 0
    return int(np.ceil((scale1_reach(strength, _FIRST_DOWN) + 2.0) / TILE))


def grow_front(front: np.ndarray, strength: float, band_radius: np.ndarray, act: np.ndarray) -> np.ndarray:
    """:func:`deocused.render.cpu.refocus.front_tiles` for the taps: a tap of band k reads a level of radius at
    most its level pair's, moved by at most offset_factor R_k: each band's tiles grown by that."""
    if strength <= 0:
        return front
    out = front.copy()
    for k in np.flatnonzero(act):
        bit = np.uint64(1) << np.uint64(k)
        g = int(np.ceil((offset_factor(strength) * float(band_radius[k]) + 2.0) / TILE))
        out[dilate((front & bit) != 0, g)] |= bit
    return out


def levels_read(full, strength: float, tile_stats, front, focus, band_radius, n_levels: int, below) -> np.ndarray:
    """The scale-1 level tiles a render reads (``full``: those without the cat-eye): a tap's radius is kf R
    with kf in [min_tap_factor, 1], so each tile's levels are marked for the radii scaled by min_tap_factor,
    then by TAP_SCALE_STEP more at a time up to 1 (each step moves a radius by less than the ratio of two
    level radii, and each mark covers a level pair), around each tile as far as the taps move
    (:func:`reach_tiles`)."""
    if strength <= 0:
        return full
    marks = full.copy()
    radii = np.asarray(LEVEL_RADII, np.float32)
    s = min_tap_factor(strength)
    while s < 1.0:
        k = np.float32(s)
        band_i, _ = level_weights(band_radius * k, n_levels)
        marks |= cr.full_levels_needed(*tile_stats, front, focus[0], np.float32(focus[1] * k), focus[2], radii,
                                       n_levels, band_i.astype(np.int64), below, full.shape[0],
                                       np.float32(HIDDEN_FILL_RADIUS))
        s *= TAP_SCALE_STEP
    return dilate(marks, reach_tiles(strength))


def dilate(mask: np.ndarray, g: int) -> np.ndarray:
    """``mask`` (bool, tiles on its last two axes) grown by ``g`` tiles (a square)."""
    out = mask.copy()
    h, w = mask.shape[-2:]
    for dy in range(-g, g + 1):
        for dx in range(-g, g + 1):
            ys, yd = (slice(0, h - dy), slice(dy, None)) if dy >= 0 else (slice(-dy, None), slice(0, h + dy))
            xs, xd = (slice(0, w - dx), slice(dx, None)) if dx >= 0 else (slice(-dx, None), slice(0, w + dx))
            out[..., yd, xd] |= mask[..., ys, xs]
    return out
