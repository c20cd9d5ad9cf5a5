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

from .pixels import _JIT, TILE, run_chunks, share_count
from .sampling import (
    Level0,
    Levels,
    RowCache,
    _cat_layer2,
    _layer2,
    cat_pixel,
    clear_row_cache,
    front_row,
    level_weights1,
    row_caches,
)


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


class Cat(NamedTuple):
    """The cat-eye (:mod:`deocused.render.cateye`), float32: ``strength`` (0: off, the plain path),
    the place's centre offsets and inverse half diagonal (see :func:`cat_pixel`) and each band's
    blur radius (``band_r``, px: the fill's and the front bands' taps)."""

    strength: np.float32
    cxo: np.float32
    cyo: np.float32
    hinv: np.float32
    band_r: np.ndarray  # float32 (n,)


class Fill(NamedTuple):
    """The constants of the background fill (:mod:`deocused.constants`), float32."""

    eps: np.float32
    behind_ramp: np.float32
    min_cover: np.float32
    cover_ramp: np.float32
    hidden: np.float32  # HIDDEN_FILL_RADIUS
    hidden_min: np.float32  # HIDDEN_MIN_SHARE


def refocus(levels: Levels, level0: Level0, disparity, focus: Focus, radii, n_levels, bands: BandLevels, front,
            fill: Fill, cat: Cat, rows, cols, out):
    """Per pixel: own band at its own radius over the background fill, the bands in
    front composited far to near, divided by the coverage (see deocused.render.cpu.backend).
    ``disparity``: float32 (h, w); ``radii``: the levels' radii, the first ``n_levels``
    built; ``front``: see :func:`front_tiles`; ``cat``: the cat-eye (strength 0: off, passed to the kernel as
    None, so that its compiled specialisation has no cat-eye code and runs as fast as before it). Writes linear
    RGB of the tiles of the tile rows ``rows`` (int64, in the order rendered) and the tile columns ``cols`` =
    (first, end) into ``out``, whose element [0, 0] is the pixel at the corner of the first of those tile rows
    (the smallest) and column (its size is theirs, or more)."""
    ncol = cols[1] - cols[0]
    tiles = rows.size * ncol
    caches = row_caches(share_count(tiles), levels.n, levels.soff.size)  # one per share: see sampling.RowCache
    run_chunks(_refocus_tiles, tiles, *level0[:3], disparity, levels.n, *focus, radii, n_levels,
               levels.slots, levels.soff, levels.ntx, levels.data, levels.scales, levels.lh, levels.lw,
               bands.band_i, bands.band_w, front, bands.below, *fill, cat.strength if cat.strength > 0 else None,
               *cat[1:], level0.steps, rows, cols[0], ncol, (rows.min() if rows.size else 0) * TILE, cols[0] * TILE, out,
               per_share=caches)
    return out


@njit(_nrt=False, **_JIT)  # no array is made here: no reference counting in the per-pixel loop
def _refocus_tiles(q0, q1, rc_data, rc_key, rc_first, rc_ok, rc_used, rc_front, image, band, codes, disp, n, focus, K, dof,
                   radii, n_levels, slots, soff, ntx, data, scales, lh, lw, band_i, band_w, front, below, eps,
                   behind_ramp, min_cover, cover_ramp, hidden, hidden_min, cat, cxo, cyo, hinv, band_r, steps, rows, col0,
                   ncol, oy0, ox0, out):
    """Tiles q0..q1-1 (tile rows in the order ``rows``, ``ncol`` tile columns from ``col0``) of
    :func:`refocus` (its named tuples passed field by field: the kernel's compiled signature is
    flat, see deocused.render.cpu.jit). ``rc_*``: this share's :class:`RowCache`, through which the
    downsampled levels are read.

    One function of ~90 lines on purpose: the per-pixel loop calls :func:`_layer2` at one
    site (each inlined copy costs compile time, see deocused.render.cpu.pixels)."""
    h, w = disp.shape  # the image's; out[0, 0] is the pixel (oy0, ox0)
    L = Levels(slots, soff, ntx, n, data, scales, lh, lw)
    PX = Level0(image, band, codes, steps)
    RC = RowCache(rc_data, rc_key, rc_first, rc_ok, rc_used, rc_front)
    one, zero = np.float32(1.0), np.float32(0.0)
    # Tile-major (a tile's pixels share level blocks in cache), tile rows in the order ``rows``.
    for q in range(q0, q1):
        ty, tx = rows[q // ncol], col0 + q % ncol
        fm = front[ty, tx]
        yt, xt = ty * TILE, tx * TILE
        clear_row_cache(RC)
        far = n  # the tile's farthest pixel band: only the bands in front of it are composited here
        for y in range(yt, min(yt + TILE, h)):
            for x in range(xt, min(xt + TILE, w)):
                far = min(far, np.int64(band[y, x]))
        for y in range(yt, min(yt + TILE, h)):
            if cat is None:  # the bands in front at downsampled levels, for the whole row (RowCache.front)
                for k in range(far + 1, n):
                    if (fm >> np.uint64(k)) & np.uint64(1) and scales[band_i[k]] >= 2:
                        front_row(RC, L, k, band_i[k], band_w[k], y, xt, yt, w)
            for x in range(xt, min(xt + TILE, w)):
                b = np.int64(band[y, x])
                diff = abs(disp[y, x] - focus) - dof
                r = K * (diff if diff > 0 else np.float32(0.0))
                i, wt = level_weights1(r, radii, n_levels)
                kf = tf = ox = oy = evx = evy = zero
                if cat is not None:  # None: off (the branch is pruned when compiled, see refocus())
                    kf, tf, ox, oy, evx, evy = cat_pixel(x, y, cat, cxo, cyo, hinv)
                # One _layer2 call site (inlined once, so the kernel compiles in seconds): stage 0
                # samples the pixel's own band, 3 its layer for the hidden part (HIDDEN_FILL_RADIUS), 1 the
                # fill behind it, 2 each band in front (far to near). R: the stage's blur radius
                # (the cat-eye's taps; ``lower``: its lower level alone).
                stage, j, li, lw_, pair, kb, R, lower = 0, b, i, wt, True, b, r, False
                c0 = c1 = c2 = a = g = f0 = f1 = f2 = here_a = zero
                while True:
                    if cat is not None:
                        v = _cat_layer2(L, n_levels, j, R, lower, x, y, PX, pair, radii, kf, tf, ox, oy, evx, evy)
                    elif stage == 2 and scales[li] >= 2:  # a band in front, downsampled: made for the row
                        f = RC.front[j, (x - xt) * 8:(x - xt) * 8 + 8]
                        v = f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]
                    else:
                        v = _layer2(L, n_levels, j, li, lw_, x, y, PX, pair, RC, xt, yt, w)
                    if stage == 0:
                        c0, c1, c2, a = v[0] - v[4], v[1] - v[5], v[2] - v[6], v[3] - v[7]
                        g = min(max(v[7] / behind_ramp, zero), one)
                        if g > 0.0:  # g == 0: no fill (k = 0 below adds exactly nothing)
                            bd = max(v[7], eps)
                            f0, f1, f2 = v[4] / bd, v[5] / bd, v[6] / bd
                        if hidden > 0.0 and one - v[3] > hidden_min:
                            here_a = v[3]
                            li, lw_ = level_weights1(r * hidden, radii, n_levels)[0], one  # the lower level alone
                            stage, pair, R, lower = 3, False, r * hidden, True
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
                        stage, j, li, lw_, pair, R, lower = 1, b - 1, band_i[nb], band_w[nb], False, band_r[nb], False
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
                    j, li, lw_, pair, R, lower = kb, band_i[kb], band_w[kb], True, band_r[kb], False
                cd = max(a, eps)
                out[y - oy0, x - ox0, 0] = c0 / cd
                out[y - oy0, x - ox0, 1] = c1 / cd
                out[y - oy0, x - ox0, 2] = c2 / cd


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
