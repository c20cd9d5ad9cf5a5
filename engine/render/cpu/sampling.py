"""Sampling the CPU renderer's levels (see :mod:`deocused.render.cpu.refocus`, which composites what
these return): a layer between two levels at a pixel, bilinear from the sparse tiles of
:mod:`deocused.render.cpu.kernels`, and through the cat-eye's taps at fractional positions
(:mod:`deocused.render.cateye`). All inlined into the per-pixel kernel. The downsampled levels
(1/2 .. 1/32 of the resolution, where neighbouring pixels share their level pixels) are read
through a per-tile cache of level rows interpolated along the row (:class:`RowCache`), and the
bands in front, at one level pair per band, are blended for a whole tile row at once
(:func:`front_row`); both give the bits of the plain bilinear read.

Arithmetic that must equal NumPy's float32 results (level weights) is written in float32 with
``fastmath=False``. Units: pixels; colours are linear-light premultiplied RGBA.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..pyramid import MAX_SCALE
from .pixels import _JIT, MARGIN, TILE, TILE_SHIFT, split_of

#: 1 / s for each level scale s (powers of two: exact), a table so that the per-pixel loop divides nothing.
_INV_SCALE = np.array([1.0 / s if s else 0.0 for s in range(MAX_SCALE + 1)])


class Levels(NamedTuple):
    """The sparse levels 1.. a render samples (refocus.cu's ``Levels``; see :mod:`deocused.render.cpu.kernels`).
    Level i's slot table starts at ``slots[soff[i]]`` (``ntx[i]`` tiles a row, ``n`` bands a
    tile; slot -1: a zero block); it is stored at 1/``scales[i]`` resolution, ``lh[i]`` x
    ``lw[i]`` level pixels; ``data``: the block pool as a flat float32 array."""

    slots: np.ndarray  # int64, every level's slot table
    soff: np.ndarray  # int64 (levels,)
    ntx: np.ndarray  # int64 (levels,)
    n: int  # bands
    data: np.ndarray  # float32, blocks of TILE x TILE RGBA
    scales: np.ndarray  # int64 (levels,)
    lh: np.ndarray  # int64 (levels,)
    lw: np.ndarray  # int64 (levels,)


class Level0(NamedTuple):
    """Level 0, the pixel itself (refocus.cu reads it into its ``Pixel``): the padded RGBA image
    (MARGIN zeros around), the band map, the outline codes and OUTLINE_STEPS."""

    image: np.ndarray  # float32 (hp + 2 MARGIN, wp + 2 MARGIN, 4)
    band: np.ndarray  # uint8 (hp, wp)
    codes: np.ndarray  # uint8 (hp, wp)
    steps: np.float32


@njit(inline="always", **_JIT)
def level_weights1(r, radii, n_levels):
    """:func:`deocused.render.pyramid.level_weights` for one float32 radius."""
    top = radii[n_levels - 1]
    r = min(max(r, np.float32(0.0)), top)
    c, hi = 0, n_levels  # c: how many of the (ascending) radii are <= r, by bisection
    while c < hi:
        mid = (c + hi) >> 1
        if radii[mid] > r:
            hi = mid
        else:
            c = mid + 1
    i = min(max(c - 1, 0), max(n_levels - 2, 0))
    if n_levels == 1:
        return i, np.float32(1.0)
    lo, hi = radii[i], radii[i + 1]
    w = (hi * hi - r * r) / (hi * hi - lo * lo)
    return i, min(max(w, np.float32(0.0)), np.float32(1.0))


@njit(inline="always", **_JIT)
def _tap2(sl, soff, ntx, n, dt, ly, lx, j, pair):
    """Layers j and j-1 (RGBA each) at level pixel (ly, lx) of one sparse level whose
    slot table (ntx tiles a row, n bands) starts at ``sl[soff]``; ``dt``: the block pool
    as a flat float32 array. ``pair`` False: layer j only (returned twice)."""
    base = soff + ((ly >> TILE_SHIFT) * ntx + (lx >> TILE_SHIFT)) * n  # ly, lx >= 0
    s1 = sl[base + j]
    s0 = (sl[base + j - 1] if j >= 1 else -1) if pair else s1
    pix = ((ly & (TILE - 1)) * TILE + (lx & (TILE - 1))) * 4
    z = np.float32(0.0)
    a0 = a1 = a2 = a3 = z
    if s1 >= 0:
        o = s1 * (TILE * TILE * 4) + pix
        a0, a1, a2, a3 = dt[o], dt[o + 1], dt[o + 2], dt[o + 3]
    if s0 == s1:
        return a0, a1, a2, a3, a0, a1, a2, a3
    if s0 < 0:
        return a0, a1, a2, a3, z, z, z, z
    o = s0 * (TILE * TILE * 4) + pix
    return a0, a1, a2, a3, dt[o], dt[o + 1], dt[o + 2], dt[o + 3]


@njit(inline="always", **_JIT)
def _level2f(sl, soff, ntx, n, dt, s, hl, wl, j, xf, yf, pair):
    """Layers j and j-1 of a level stored at 1/s resolution, bilinear at the fractional full-resolution
    position (xf, yf) (the cat-eye's taps; any scale): pixel centres at (i + 0.5) s, indices clamped
    (cv2.resize INTER_LINEAR)."""
    inv = _INV_SCALE[s]
    return _bilinear2(sl, soff, ntx, n, dt, hl, wl, j, (yf + 0.5) * inv - 0.5, (xf + 0.5) * inv - 0.5, pair)


@njit(inline="always", **_JIT)
def _bilinear2(sl, soff, ntx, n, dt, hl, wl, j, fy, fx, pair):
    """Layers j and j-1 of a level (hl x wl level pixels), bilinear at level position (fx, fy)."""
    y0f, x0f = np.floor(fy), np.floor(fx)
    ty, tx = np.float32(fy - y0f), np.float32(fx - x0f)
    y0, x0 = int(y0f), int(x0f)
    y0c, y1c = min(max(y0, 0), hl - 1), min(max(y0 + 1, 0), hl - 1)
    x0c, x1c = min(max(x0, 0), wl - 1), min(max(x0 + 1, 0), wl - 1)
    ux, uy = np.float32(1.0) - tx, np.float32(1.0) - ty
    if (y0c >> TILE_SHIFT) == (y1c >> TILE_SHIFT) and (x0c >> TILE_SHIFT) == (x1c >> TILE_SHIFT):
        # All four taps in one tile (15 of 16 pixels): one slot lookup per layer.
        base = soff + ((y0c >> TILE_SHIFT) * ntx + (x0c >> TILE_SHIFT)) * n
        s1 = sl[base + j]
        s0 = (sl[base + j - 1] if j >= 1 else -1) if pair else s1
        ry0, ry1 = (y0c & (TILE - 1)) * TILE, (y1c & (TILE - 1)) * TILE
        rx0, rx1 = x0c & (TILE - 1), x1c & (TILE - 1)
        pa, pb, pc, pd = (ry0 + rx0) * 4, (ry0 + rx1) * 4, (ry1 + rx0) * 4, (ry1 + rx1) * 4
        h0, h1, h2, h3 = _bil4(dt, s1, pa, pb, pc, pd, tx, ty, ux, uy)
        if s0 == s1:
            return h0, h1, h2, h3, h0, h1, h2, h3
        l0, l1, l2, l3 = _bil4(dt, s0, pa, pb, pc, pd, tx, ty, ux, uy)
        return h0, h1, h2, h3, l0, l1, l2, l3
    a = _tap2(sl, soff, ntx, n, dt, y0c, x0c, j, pair)
    b = _tap2(sl, soff, ntx, n, dt, y0c, x1c, j, pair)
    c = _tap2(sl, soff, ntx, n, dt, y1c, x0c, j, pair)
    d = _tap2(sl, soff, ntx, n, dt, y1c, x1c, j, pair)
    return ((a[0] * ux + b[0] * tx) * uy + (c[0] * ux + d[0] * tx) * ty,
            (a[1] * ux + b[1] * tx) * uy + (c[1] * ux + d[1] * tx) * ty,
            (a[2] * ux + b[2] * tx) * uy + (c[2] * ux + d[2] * tx) * ty,
            (a[3] * ux + b[3] * tx) * uy + (c[3] * ux + d[3] * tx) * ty,
            (a[4] * ux + b[4] * tx) * uy + (c[4] * ux + d[4] * tx) * ty,
            (a[5] * ux + b[5] * tx) * uy + (c[5] * ux + d[5] * tx) * ty,
            (a[6] * ux + b[6] * tx) * uy + (c[6] * ux + d[6] * tx) * ty,
            (a[7] * ux + b[7] * tx) * uy + (c[7] * ux + d[7] * tx) * ty)


@njit(inline="always", **_JIT)
def _bil4(dt, slot, pa, pb, pc, pd, tx, ty, ux, uy):
    """Bilinear RGBA of block ``slot`` (-1: zero) from its pixels at float offsets
    pa, pb (upper row), pc, pd (lower row), weights as in :func:`_bilinear2`."""
    z = np.float32(0.0)
    if slot < 0:
        return z, z, z, z
    o = slot * (TILE * TILE * 4)
    a, b, c, d = o + pa, o + pb, o + pc, o + pd
    return ((dt[a] * ux + dt[b] * tx) * uy + (dt[c] * ux + dt[d] * tx) * ty,
            (dt[a + 1] * ux + dt[b + 1] * tx) * uy + (dt[c + 1] * ux + dt[d + 1] * tx) * ty,
            (dt[a + 2] * ux + dt[b + 2] * tx) * uy + (dt[c + 2] * ux + dt[d + 2] * tx) * ty,
            (dt[a + 3] * ux + dt[b + 3] * tx) * uy + (dt[c + 3] * ux + dt[d + 3] * tx) * ty)


#: Level rows a :class:`RowCache` entry holds: a tile's TILE pixel rows read at most TILE / 2 + 2 rows of a
#: level at scale 2 (fewer at coarser scales).
ROW_CACHE_ROWS = TILE // 2 + 2
#: Entries of a :class:`RowCache` (pairs of a layer and a level); when a tile needs more, it starts afresh.
ROW_CACHE_ENTRIES = 32


class RowCache(NamedTuple):
    """One thread's cache of the downsampled levels' rows under the tile being rendered: a read of layers j and
    j-1 of level i (scale s >= 2) at a pixel is bilinear from two level rows, each interpolated along the row
    at the pixel's column first (:func:`_bilinear2`'s a * ux + b * tx), and one level row serves up to 2 s
    pixel rows of the tile. Entry e (of the pair (j, i) in ``key``) holds, for the level rows from ``first[e]``,
    those interpolated values at the tile's TILE columns, each row made when a pixel first reads it (``ok``):
    the per-pixel read then blends two cached rows, with the same bits as :func:`_bilinear2`."""

    data: np.ndarray  # float32 (ROW_CACHE_ENTRIES, ROW_CACHE_ROWS, TILE, 8): layers j, j-1 (RGBA each)
    key: np.ndarray  # int64 (bands, levels): the entry of (j, i), -1: none
    first: np.ndarray  # int64 (ROW_CACHE_ENTRIES,): its first level row
    ok: np.ndarray  # uint8 (ROW_CACHE_ENTRIES, ROW_CACHE_ROWS): row made
    used: np.ndarray  # int64 (1,): entries taken
    front: np.ndarray  # float32 (bands, TILE * 8): per band in front, its layers at the pixel row (front_row)


def row_caches(count: int, bands: int, levels: int) -> tuple[np.ndarray, ...]:
    """The arrays of ``count`` :class:`RowCache` (a leading axis each: one per share of a launch)."""
    return (np.empty((count, ROW_CACHE_ENTRIES, ROW_CACHE_ROWS, TILE, 8), np.float32),
            np.full((count, bands, levels), -1, np.int64), np.zeros((count, ROW_CACHE_ENTRIES), np.int64),
            np.zeros((count, ROW_CACHE_ENTRIES, ROW_CACHE_ROWS), np.uint8), np.zeros((count, 1), np.int64),
            np.empty((count, bands, TILE * 8), np.float32))


@njit(inline="always", **_JIT)
def clear_row_cache(RC):
    """Forget every entry (a new tile)."""
    for j in range(RC.key.shape[0]):
        for i in range(RC.key.shape[1]):
            RC.key[j, i] = -1
    RC.used[0] = 0


@njit(inline="always", **_JIT)
def _level_coord(p, inv, n):
    """The two level pixels (rows or columns; ``n`` of them, clamped) that a bilinear read at full-resolution
    pixel ``p`` takes from a level at scale 1 / ``inv``, and their weights (t of the second, 1 - t of the
    first), as :func:`_bilinear2` computes them."""
    f = (p + 0.5) * inv - 0.5
    p0f = np.floor(f)
    t = np.float32(f - p0f)
    p0 = int(p0f)
    return min(max(p0, 0), n - 1), min(max(p0 + 1, 0), n - 1), t, np.float32(1.0) - t


@njit(inline="always", **_JIT)
def _cached_rows(RC, L, i, j, y, xt, yt, w):
    """The row cache's entry of layers j, j-1 of level i (scale >= 2) in the tile at (xt, yt) (made if new),
    the two level rows pixel row ``y`` blends (made if new: their indices in the entry) and their weights
    (ty of the second, uy = 1 - ty). ``w``: the image's width."""
    inv = _INV_SCALE[L.scales[i]]
    hl = L.lh[i]
    e = RC.key[j, i]
    if e < 0:
        if RC.used[0] == ROW_CACHE_ENTRIES:
            clear_row_cache(RC)
        e = RC.used[0]
        RC.used[0] = e + 1
        RC.key[j, i] = e
        RC.first[e] = _level_coord(yt, inv, hl)[0]
        for r in range(ROW_CACHE_ROWS):
            RC.ok[e, r] = 0
    y0c, y1c, ty, uy = _level_coord(y, inv, hl)
    r0, r1 = y0c - RC.first[e], y1c - RC.first[e]
    if not RC.ok[e, r0]:
        _fill_row(RC.data[e, r0], L, i, j, y0c, xt, w)
        RC.ok[e, r0] = 1
    if not RC.ok[e, r1]:
        _fill_row(RC.data[e, r1], L, i, j, y1c, xt, w)
        RC.ok[e, r1] = 1
    return e, r0, r1, ty, uy


@njit(inline="always", **_JIT)
def _cached_level2(RC, L, i, j, x, y, xt, yt, w):
    """Layers j and j-1 of level i (scale >= 2) at pixel (x, y) of the tile at (xt, yt) through the row cache
    ``RC`` (:class:`RowCache`; ``w``: the image's width): :func:`_bilinear2`'s result, the same bits."""
    e, r0, r1, ty, uy = _cached_rows(RC, L, i, j, y, xt, yt, w)
    a, b = RC.data[e, r0, x - xt], RC.data[e, r1, x - xt]
    return (a[0] * uy + b[0] * ty, a[1] * uy + b[1] * ty, a[2] * uy + b[2] * ty, a[3] * uy + b[3] * ty,
            a[4] * uy + b[4] * ty, a[5] * uy + b[5] * ty, a[6] * uy + b[6] * ty, a[7] * uy + b[7] * ty)


@njit(inline="always", **_JIT)
def front_row(RC, L, k, i, wk, y, xt, yt, w):
    """``RC.front[k]`` = layers k and k-1 of band k's level pair (i, i+1; weight ``wk`` of level i, downsampled)
    at each of the tile's TILE pixels of row ``y`` (:func:`_layer2` of a band in front, the same bits): the
    rows of a band in front are the same for every pixel, so they are blended for the whole row at once,
    in a loop the compiler vectorises."""
    z = np.float32(0.0)
    u = np.float32(1.0) - wk
    out = RC.front[k]
    if RC.used[0] + 2 > ROW_CACHE_ENTRIES:  # room for both entries: a fresh start between them would lose the first
        clear_row_cache(RC)
    if wk == 1.0:
        e, r0, r1, ty, uy = _cached_rows(RC, L, i, k, y, xt, yt, w)
        a, b = RC.data[e, r0].reshape(TILE * 8), RC.data[e, r1].reshape(TILE * 8)
        for c in range(TILE * 8):
            out[c] = a[c] * uy + b[c] * ty
        return
    e1, s0, s1, ty1, uy1 = _cached_rows(RC, L, i + 1, k, y, xt, yt, w)
    if wk == 0.0:  # as _layer2: level i is not read, w * 0 + u * hi
        c1, d1 = RC.data[e1, s0].reshape(TILE * 8), RC.data[e1, s1].reshape(TILE * 8)
        for c in range(TILE * 8):
            out[c] = wk * z + u * (c1[c] * uy1 + d1[c] * ty1)
        return
    e, r0, r1, ty, uy = _cached_rows(RC, L, i, k, y, xt, yt, w)
    a, b = RC.data[e, r0].reshape(TILE * 8), RC.data[e, r1].reshape(TILE * 8)
    c1, d1 = RC.data[e1, s0].reshape(TILE * 8), RC.data[e1, s1].reshape(TILE * 8)
    for c in range(TILE * 8):
        out[c] = wk * (a[c] * uy + b[c] * ty) + u * (c1[c] * uy1 + d1[c] * ty1)


@njit(**_JIT)
def _fill_row(R, L, i, j, rc, xt, w):
    """Level row ``rc`` of level i (scale >= 2), layers j and j-1, interpolated along the row at the
    TILE pixel columns from ``xt`` (those < ``w``) into ``R`` (TILE, 8): the first half of :func:`_bilinear2`."""
    inv, wl = _INV_SCALE[L.scales[i]], L.lw[i]
    for xi in range(min(TILE, w - xt)):
        x0c, x1c, tx, ux = _level_coord(xt + xi, inv, wl)
        a = _tap2(L.slots, L.soff[i], L.ntx[i], L.n, L.data, rc, x0c, j, True)
        b = _tap2(L.slots, L.soff[i], L.ntx[i], L.n, L.data, rc, x1c, j, True)
        R[xi, 0], R[xi, 1] = a[0] * ux + b[0] * tx, a[1] * ux + b[1] * tx
        R[xi, 2], R[xi, 3] = a[2] * ux + b[2] * tx, a[3] * ux + b[3] * tx
        R[xi, 4], R[xi, 5] = a[4] * ux + b[4] * tx, a[5] * ux + b[5] * tx
        R[xi, 6], R[xi, 7] = a[6] * ux + b[6] * tx, a[7] * ux + b[7] * tx


@njit(inline="always", **_JIT)
def _read_level2(L, i, j, x, y, pair, RC, xt, yt, w):
    """Layers j and j-1 of level i >= 1 at pixel (x, y): a tap at scale 1, else through the row cache
    (``pair`` False there too: layer j-1 comes along; callers of a single layer read the first four values)."""
    if L.scales[i] == 1:
        return _tap2(L.slots, L.soff[i], L.ntx[i], L.n, L.data, y, x, j, pair)
    return _cached_level2(RC, L, i, j, x, y, xt, yt, w)


@njit(inline="always", **_JIT)
def _pixel_layers(PX, x, y, j):
    """Layers j and j-1 of level 0 at pixel (x, y): the pixel's own part in its band
    plus its outline split's share in the split's band. ``PX``: a :class:`Level0`. Read here, only where level 0 is
    sampled, rather than carried through the per-pixel loop."""
    image, band, codes, steps = PX.image, PX.band, PX.codes, PX.steps
    z = np.float32(0.0)
    pb = np.int64(band[y, x])
    qb, sh, e0, e1, e2 = split_of(image, band, codes, y, x, steps)
    P = (image[y + MARGIN, x + MARGIN, 0] - e0, image[y + MARGIN, x + MARGIN, 1] - e1,
         image[y + MARGIN, x + MARGIN, 2] - e2, np.float32(1.0) - sh)
    a1 = P if pb <= j else (z, z, z, z)
    a0 = P if pb <= j - 1 else (z, z, z, z)
    if qb <= j:
        a1 = (a1[0] + e0, a1[1] + e1, a1[2] + e2, a1[3] + sh)
    if qb <= j - 1:
        a0 = (a0[0] + e0, a0[1] + e1, a0[2] + e2, a0[3] + sh)
    return a1[0], a1[1], a1[2], a1[3], a0[0], a0[1], a0[2], a0[3]


@njit(inline="always", **_JIT)
def _layer2(L, n_levels, j, i, w, x, y, PX, pair, RC, xt, yt, width):
    """Layers j and j-1 at pixel (x, y) between levels i and i+1 (weight w of level i) of
    ``L`` (:class:`Levels`). Level 0 is the pixel itself (see :func:`_pixel_layers`; ``PX``: its
    :class:`Level0`); the downsampled levels are read through ``RC``, the :class:`RowCache` of the tile at
    (xt, yt) (``width``: the image's).
    ``pair`` False: only layer j is needed (the last four values are then not layer j-1)."""
    z = np.float32(0.0)
    if j < 0:
        return z, z, z, z, z, z, z, z
    lo = (z, z, z, z, z, z, z, z)
    if w != 0.0 or n_levels == 1:  # w == 0: the result is hi exactly
        if i == 0:
            lo = _pixel_layers(PX, x, y, j)
        else:
            lo = _read_level2(L, i, j, x, y, pair, RC, xt, yt, width)
    if n_levels == 1 or w == 1.0:  # w == 1: the result is lo exactly
        return lo
    hi = _read_level2(L, i + 1, j, x, y, pair, RC, xt, yt, width)
    u = np.float32(1.0) - w
    return (w * lo[0] + u * hi[0], w * lo[1] + u * hi[1], w * lo[2] + u * hi[2], w * lo[3] + u * hi[3],
            w * lo[4] + u * hi[4], w * lo[5] + u * hi[5], w * lo[6] + u * hi[6], w * lo[7] + u * hi[7])


@njit(inline="always", **_JIT)
def _layer2f(L, n_levels, j, i, w, xf, yf, x, y, PX, pair):
    """:func:`_layer2` with levels 1.. read at the fractional position (xf, yf); level 0 is the
    pixel (x, y) itself, unshifted."""
    z = np.float32(0.0)
    if j < 0:
        return z, z, z, z, z, z, z, z
    lo = (z, z, z, z, z, z, z, z)
    if w != 0.0 or n_levels == 1:
        if i == 0:
            lo = _pixel_layers(PX, x, y, j)
        else:
            lo = _level2f(L.slots, L.soff[i], L.ntx[i], L.n, L.data, L.scales[i], L.lh[i], L.lw[i], j, xf, yf, pair)
    if n_levels == 1 or w == 1.0:
        return lo
    k = i + 1
    hi = _level2f(L.slots, L.soff[k], L.ntx[k], L.n, L.data, L.scales[k], L.lh[k], L.lw[k], j, xf, yf, pair)
    u = np.float32(1.0) - w
    return (w * lo[0] + u * hi[0], w * lo[1] + u * hi[1], w * lo[2] + u * hi[2], w * lo[3] + u * hi[3],
            w * lo[4] + u * hi[4], w * lo[5] + u * hi[5], w * lo[6] + u * hi[6], w * lo[7] + u * hi[7])


@njit(inline="always", **_JIT)
def cat_pixel(x, y, strength, cxo, cyo, hinv):
    """:func:`deocused.render.cateye.pixel_taps` of pixel (x, y), float32: (kf, tf, ox, oy, evx, evy).
    ``cxo``, ``cyo``: x0 + 0.5 - width / 2 and y0 + 0.5 - height / 2 of the prepared image's place;
    ``hinv``: 1 / half the photo's diagonal."""
    f = np.float32
    px = (f(x) + cxo) * hinv
    py = (f(y) + cyo) * hinv
    pl = np.sqrt(px * px + py * py)
    a = min(f(0.5) * strength * pl, f(1.0))
    s = np.sqrt(f(1.0) - a * a)
    ac = np.arccos(a)
    seg = ac - a * s
    i0 = f(0.5) * seg
    i1 = s * s * s / f(3.0)
    i3 = (f(3.0) * ac - a * (f(5.0) - f(2.0) * a * a) * s) / f(8.0)
    i2 = i0 - i3
    vu = f(2.0) / seg * (i2 - f(2.0) * a * i1 + a * a * i0)
    vv = f(2.0) / f(3.0) * i3 / seg
    kf = f(2.0) * np.sqrt(max(vu, f(0.0)))
    tf = np.sqrt(f(2.0) * max(vv - vu, f(0.0)))
    inv = f(1.0) / pl if pl > 0 else f(0.0)
    half = f(0.5) * strength
    return kf, tf, half * px, half * py, -py * inv, px * inv


@njit(inline="always", **_JIT)
def _cat_layer2(L, n_levels, j, R, lower, x, y, PX, pair, radii, kf, tf, ox, oy, evx, evy):
    """Layers j and j-1 at pixel (x, y) through its cat-eye lens of blur radius ``R`` (see
    :func:`cat_pixel`): CAT_EYE_TAPS taps of the isotropic levels at radius kf R, moved by R (ox, oy)
    outward and spread by +-tf R along (evx, evy), weights 1/4, 1/2, 1/4 (one tap where tf R = 0).
    ``lower``: the tap radius's lower level alone."""
    f = np.float32
    i, w = level_weights1(kf * R, radii, n_levels)
    if lower:
        w = f(1.0)
    cy, cx, sp = R * oy, R * ox, tf * R
    d0, d1 = (-1, 2) if sp > 0 else (0, 1)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = f(0.0)
    for d in range(d0, d1):
        tw = (f(0.5) if d == 0 else f(0.25)) if sp > 0 else f(1.0)
        yf = f(y) - (cy + f(d) * sp * evy)
        xf = f(x) - (cx + f(d) * sp * evx)
        v = _layer2f(L, n_levels, j, i, w, xf, yf, x, y, PX, pair)
        a0, a1, a2, a3 = a0 + tw * v[0], a1 + tw * v[1], a2 + tw * v[2], a3 + tw * v[3]
        a4, a5, a6, a7 = a4 + tw * v[4], a5 + tw * v[5], a6 + tw * v[6], a7 + tw * v[7]
    return a0, a1, a2, a3, a4, a5, a6, a7
