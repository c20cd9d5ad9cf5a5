"""Numba kernels of the CPU renderer, per focus: level selection and compositing
(see :mod:`deocused.render.cpu.backend` for the algorithm and :mod:`deocused.render.cpu.kernels` for
the sparse level storage they read).

Arithmetic that must equal NumPy's float32 results (blur radius, level weights)
is written in float32 with ``fastmath=False``. Units: pixels; colours are
linear-light premultiplied RGBA.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .pixels import _JIT, MARGIN, TILE, TILE_SHIFT, run_chunks, split_of


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


class Focus(NamedTuple):
    """A render's focus, float32 (refocus.cu's ``focus``, ``K``, ``dof``): blur radius
    ``max_blur * max(|d - focus_disparity| - dof, 0)`` pixels."""

    focus_disparity: np.float32
    max_blur: np.float32
    dof: np.float32


class BandLevels(NamedTuple):
    """Per band k: the level pair of its radius (levels ``band_i[k]``, +1 with weight
    ``band_w[k]`` of the first) and ``below[k]``, the nearest non-empty band behind (-1: none)."""

    band_i: np.ndarray  # int64 (n,)
    band_w: np.ndarray  # float32 (n,)
    below: np.ndarray  # int64 (n,)


class Fill(NamedTuple):
    """The constants of the background fill (:mod:`deocused.constants`), float32."""

    eps: np.float32
    behind_ramp: np.float32
    min_cover: np.float32
    cover_ramp: np.float32
    hidden: np.float32  # HIDDEN_FILL_RADIUS
    hidden_min: np.float32  # HIDDEN_MIN_SHARE


@njit(inline="always", **_JIT)
def level_weights1(r, radii, n_levels):
    """:func:`deocused.render.pyramid.level_weights` for one float32 radius."""
    top = radii[n_levels - 1]
    r = min(max(r, np.float32(0.0)), top)
    c = 0
    for k in range(n_levels):  # radii ascend
        if radii[k] > r:
            break
        c += 1
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
def _level2(sl, soff, ntx, n, dt, s, hl, wl, j, x, y, pair):
    """Layers j and j-1 of a level stored at 1/s resolution, bilinear at full-resolution
    pixel (x, y): pixel centres at (i + 0.5) s, indices clamped (cv2.resize INTER_LINEAR)."""
    if s == 1:
        return _tap2(sl, soff, ntx, n, dt, y, x, j, pair)
    inv = 1.0 / s  # exact: s is a power of two
    fy = (y + 0.5) * inv - 0.5
    fx = (x + 0.5) * inv - 0.5
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
    pa, pb (upper row), pc, pd (lower row), weights as in :func:`_level2`."""
    z = np.float32(0.0)
    if slot < 0:
        return z, z, z, z
    o = slot * (TILE * TILE * 4)
    a, b, c, d = o + pa, o + pb, o + pc, o + pd
    return ((dt[a] * ux + dt[b] * tx) * uy + (dt[c] * ux + dt[d] * tx) * ty,
            (dt[a + 1] * ux + dt[b + 1] * tx) * uy + (dt[c + 1] * ux + dt[d + 1] * tx) * ty,
            (dt[a + 2] * ux + dt[b + 2] * tx) * uy + (dt[c + 2] * ux + dt[d + 2] * tx) * ty,
            (dt[a + 3] * ux + dt[b + 3] * tx) * uy + (dt[c + 3] * ux + dt[d + 3] * tx) * ty)


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
def _layer2(L, n_levels, j, i, w, x, y, PX, pair):
    """Layers j and j-1 at pixel (x, y) between levels i and i+1 (weight w of level i) of
    ``L`` (:class:`Levels`). Level 0 is the pixel itself (see :func:`_pixel_layers`; ``PX``: its
    :class:`Level0`).
    ``pair`` False: only layer j is read (the last four values are then not layer j-1)."""
    z = np.float32(0.0)
    if j < 0:
        return z, z, z, z, z, z, z, z
    lo = (z, z, z, z, z, z, z, z)
    if w != 0.0 or n_levels == 1:  # w == 0: the result is hi exactly
        if i == 0:
            lo = _pixel_layers(PX, x, y, j)
        else:
            lo = _level2(L.slots, L.soff[i], L.ntx[i], L.n, L.data, L.scales[i], L.lh[i], L.lw[i], j, x, y, pair)
    if n_levels == 1 or w == 1.0:  # w == 1: the result is lo exactly
        return lo
    k = i + 1
    hi = _level2(L.slots, L.soff[k], L.ntx[k], L.n, L.data, L.scales[k], L.lh[k], L.lw[k], j, x, y, pair)
    u = np.float32(1.0) - w
    return (w * lo[0] + u * hi[0], w * lo[1] + u * hi[1], w * lo[2] + u * hi[2], w * lo[3] + u * hi[3],
            w * lo[4] + u * hi[4], w * lo[5] + u * hi[5], w * lo[6] + u * hi[6], w * lo[7] + u * hi[7])


def row_order(n_rows: int, threads: int, first: int = 0) -> np.ndarray:
    """Tile rows first + c, first + c + T, ... (of ``n_rows`` from ``first``) for c = 0 .. T-1
    (T threads): :func:`refocus` gives each thread one contiguous share (see
    :func:`deocused.render.cpu.pixels.run_chunks`), so each thread gets every T-th row (balanced over
    the image), with neighbouring tiles, which share the blocks of the downsampled levels,
    one after another."""
    return first + np.concatenate([np.arange(c, n_rows, threads) for c in range(threads)]).astype(np.int64)


def refocus(levels: Levels, level0: Level0, disparity, focus: Focus, radii, n_levels, bands: BandLevels, front,
            fill: Fill, rows, cols, out):
    """Per pixel: own band at its own radius over the background fill, the bands in
    front composited far to near, divided by the coverage (see deocused.render.cpu.backend).
    ``disparity``: float32 (h, w); ``radii``: the levels' radii, the first ``n_levels``
    built; ``front``: see :func:`front_tiles`. Writes linear RGB into ``out`` (h, w, 3)
    in the tiles of the tile rows ``rows`` (see :func:`row_order`) and the tile columns
    ``cols`` = (first, end); the rest of ``out`` is left as it is."""
    ncol = cols[1] - cols[0]
    run_chunks(_refocus_tiles, rows.size * ncol, *level0[:3], disparity, levels.n, *focus, radii, n_levels,
               levels.slots, levels.soff, levels.ntx, levels.data, levels.scales, levels.lh, levels.lw,
               bands.band_i, bands.band_w, front, bands.below, *fill, level0.steps, rows, cols[0], ncol, out)
    return out


@njit(_nrt=False, **_JIT)  # no array is made here: no reference counting in the per-pixel loop
def _refocus_tiles(q0, q1, image, band, codes, disp, n, focus, K, dof, radii, n_levels, slots, soff, ntx, data, scales,
                   lh, lw, band_i, band_w, front, below, eps, behind_ramp, min_cover, cover_ramp, hidden, hidden_min, steps,
                   rows, col0, ncol, out):
    """Tiles q0..q1-1 (tile rows in the order ``rows``, ``ncol`` tile columns from ``col0``) of
    :func:`refocus` (its named tuples passed field by field: the kernel's compiled signature is
    flat, see deocused.render.cpu.jit).

    One function of ~70 lines on purpose: the per-pixel loop calls :func:`_layer2` at one
    site (each inlined copy costs compile time, see deocused.render.cpu.pixels)."""
    h, w = out.shape[0], out.shape[1]
    L = Levels(slots, soff, ntx, n, data, scales, lh, lw)
    PX = Level0(image, band, codes, steps)
    one, zero = np.float32(1.0), np.float32(0.0)
    # Tile-major (a tile's pixels share level blocks in cache), tile rows in the order
    # ``rows`` (see :func:`row_order`).
    for q in range(q0, q1):
        ty, tx = rows[q // ncol], col0 + q % ncol
        fm = front[ty, tx]
        yt, xt = ty * TILE, tx * TILE
        for y in range(yt, min(yt + TILE, h)):
            for x in range(xt, min(xt + TILE, w)):
                b = np.int64(band[y, x])
                diff = abs(disp[y, x] - focus) - dof
                r = K * (diff if diff > 0 else np.float32(0.0))
                i, wt = level_weights1(r, radii, n_levels)
                # One _layer2 call site (inlined once, so the kernel compiles in seconds): stage 0
                # samples the pixel's own band, 3 its layer for the hidden part (HIDDEN_FILL_RADIUS), 1 the
                # fill behind it, 2 each band in front (far to near).
                stage, j, li, lw_, pair, kb = 0, b, i, wt, True, b
                c0 = c1 = c2 = a = g = f0 = f1 = f2 = here_a = zero
                while True:
                    v = _layer2(L, n_levels, j, li, lw_, x, y, PX, pair)
                    if stage == 0:
                        c0, c1, c2, a = v[0] - v[4], v[1] - v[5], v[2] - v[6], v[3] - v[7]
                        g = min(max(v[7] / behind_ramp, zero), one)
                        if g > 0.0:  # g == 0: no fill (k = 0 below adds exactly nothing)
                            bd = max(v[7], eps)
                            f0, f1, f2 = v[4] / bd, v[5] / bd, v[6] / bd
                        if hidden > 0.0 and one - v[3] > hidden_min:
                            here_a = v[3]
                            li, lw_ = level_weights1(r * hidden, radii, n_levels)[0], one  # the lower level alone
                            stage, pair = 3, False
                            continue
                    elif stage == 3:
                        c0, c1, c2, a = _add_hidden(c0, c1, c2, a, v[0], v[1], v[2], v[3], here_a, eps, behind_ramp)
                    elif stage == 1:
                        tt = min(max((v[3] - min_cover) / cover_ramp + np.float32(0.5), zero), one)
                        nd = max(v[3], eps)
                        f0 = f0 + tt * (v[0] / nd - f0)
                        f1 = f1 + tt * (v[1] / nd - f1)
                        f2 = f2 + tt * (v[2] / nd - f2)
                    else:
                        fa = v[3] - v[7]
                        u = one - fa
                        c0 = c0 * u + (v[0] - v[4])
                        c1 = c1 * u + (v[1] - v[5])
                        c2 = c2 * u + (v[2] - v[6])
                        a = a * u + fa
                    if (stage == 0 or stage == 3) and g > 0.0 and below[b] >= 0:
                        nb = below[b]
                        stage, j, li, lw_, pair = 1, b - 1, band_i[nb], band_w[nb], False
                        continue
                    if stage != 2:
                        if g > 0.0:
                            k = g * (one - a)
                            c0, c1, c2 = c0 + k * f0, c1 + k * f1, c2 + k * f2
                            a = a + k
                        if a > eps:  # normalised: what lies behind the bands in front is opaque
                            c0, c1, c2, a = c0 / a, c1 / a, c2 / a, one
                        stage = 2
                    kb += 1
                    while kb < n and not (fm >> np.uint64(kb)) & np.uint64(1):
                        kb += 1  # band kb adds nothing here (see front_tiles)
                    if kb >= n:
                        break
                    j, li, lw_, pair = kb, band_i[kb], band_w[kb], True
                cd = max(a, eps)
                out[y, x, 0] = c0 / cd
                out[y, x, 1] = c1 / cd
                out[y, x, 2] = c2 / cd


@njit(inline="always", **_JIT)
def _add_hidden(c0, c1, c2, a, n0, n1, n2, na, here_a, eps, behind_ramp):
    """Own band (c, a) plus the part of the neighbourhood that nearer bands hide (1 - here_a:
    here_a is the coverage of the pixel's layer), coloured as that layer (n, na) sampled at
    HIDDEN_FILL_RADIUS times the pixel's radius, renormalised (see deocused.constants)."""
    zero, one = np.float32(0.0), np.float32(1.0)
    hid = min(max(na / behind_ramp, zero), one) * (one - here_a)  # > HIDDEN_MIN_SHARE here
    nd = max(na, eps)
    return c0 + hid * (n0 / nd), c1 + hid * (n1 / nd), c2 + hid * (n2 / nd), a + hid


@njit(**_JIT)
def front_tiles(masks, moff, ntx, scales, lh, lw, band_i, band_w, act, split_masks, n, nty_f, ntx_f):
    """Bit k of tile (Y, X) (TILE x TILE full-resolution pixels) is set when band k,
    composited in front at the level pair (band_i[k], band_w[k]) (act[k]: non-empty),
    can be non-zero there: some level tile a pixel of the tile samples
    holds band k. Elsewhere layers k and k-1 share their blocks, so the band adds
    exactly zero. Level 0 adds, in front of a pixel of a farther band, only the
    pixel's outline split (``split_masks``: bands receiving a split in each tile)."""
    out = np.zeros((nty_f, ntx_f), np.uint64)
    for k in range(n):
        if not act[k]:
            continue
        bit = np.uint64(1) << np.uint64(k)
        for li in range(2):
            i = band_i[k] + li
            if (li == 0 and band_w[k] == 0.0) or (li == 1 and band_w[k] == 1.0):
                continue
            if i == 0:
                for Y in range(nty_f):
                    for X in range(ntx_f):
                        out[Y, X] |= split_masks[Y, X] & bit
                continue
            s = scales[i]
            for Y in range(nty_f):
                ly0 = min(max(int(np.floor((Y * TILE + 0.5) / s - 0.5)), 0), lh[i] - 1)
                ly1 = min(max(int(np.floor((Y * TILE + TILE - 0.5) / s - 0.5)) + 1, 0), lh[i] - 1)
                for X in range(ntx_f):
                    if out[Y, X] & bit:
                        continue
                    lx0 = min(max(int(np.floor((X * TILE + 0.5) / s - 0.5)), 0), lw[i] - 1)
                    lx1 = min(max(int(np.floor((X * TILE + TILE - 0.5) / s - 0.5)) + 1, 0), lw[i] - 1)
                    for ty in range(ly0 // TILE, ly1 // TILE + 1):
                        for tx in range(lx0 // TILE, lx1 // TILE + 1):
                            if masks[moff[i] + ty * ntx[i] + tx] & bit:
                                out[Y, X] |= bit
    return out


@njit(**_JIT)
def _mark(out, i, Y, X):
    if 1 <= i <= out.shape[0]:
        out[i - 1, Y, X] = True


def full_levels_needed(tile_lo, tile_hi, tile_bands, front, focus, K, dof, radii, n_levels, band_i, below, n_full,
                       hidden):
    """Which tiles of the scale-1 levels 1..n_full one render reads (bool (n_full,
    nty, ntx) on the grid of ``tile_lo``): a superset of what :func:`refocus` samples
    there, from each tile's disparity range (tile_lo, tile_hi: the pixels' own radii,
    monotonic in |d - focus| in float32 too), its pixels' bands (tile_bands: the
    fill's level pair of the band behind each) and the bands composited in front
    (``front``: their level pairs). Level i+1 is marked with level i (the pair a
    radius interpolates between; ``hidden``: HIDDEN_FILL_RADIUS, float32)."""
    out = np.zeros((n_full,) + tile_lo.shape, np.bool_)
    run_chunks(_levels_needed_tiles, front.size, tile_lo, tile_hi, tile_bands, front, focus, K, dof, radii, n_levels,
               band_i, below, hidden, out)
    return out


@njit(**_JIT)
def _levels_needed_tiles(t0, t1, tile_lo, tile_hi, tile_bands, front, focus, K, dof, radii, n_levels, band_i, below,
                         hidden, out):
    """Tiles t0..t1-1 (row-major on ``front``'s grid) of :func:`full_levels_needed` into ``out``."""
    ntx_f = front.shape[1]
    zero = np.float32(0.0)
    for t in range(t0, t1):
        Y, X = t // ntx_f, t % ntx_f
        lo, hi = tile_lo[Y, X], tile_hi[Y, X]
        if lo > hi:
            continue  # no pixel
        a, b = abs(lo - focus) - dof, abs(hi - focus) - dof
        near = min(a, b) if (focus < lo or focus > hi) else -dof
        far = max(a, b)
        i0, _ = level_weights1(K * (near if near > 0 else zero), radii, n_levels)
        i1, _ = level_weights1(K * (far if far > 0 else zero), radii, n_levels)
        if hidden > 0.0:  # the hidden part's estimate, at hidden * the pixels' radii
            i0 = min(i0, level_weights1(K * (near if near > 0 else zero) * hidden, radii, n_levels)[0])
        for i in range(i0, i1 + 2):
            _mark(out, i, Y, X)
        bits, fm = tile_bands[Y, X], front[Y, X]
        for k in range(band_i.size):
            if ((bits >> np.uint64(k)) & np.uint64(1)) and below[k] >= 0:
                _mark(out, band_i[below[k]], Y, X)
                _mark(out, band_i[below[k]] + 1, Y, X)
            if (fm >> np.uint64(k)) & np.uint64(1):
                _mark(out, band_i[k], Y, X)
                _mark(out, band_i[k] + 1, Y, X)
