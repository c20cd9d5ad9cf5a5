"""Numba kernels of the CPU renderer (see :mod:`engine.cpu_backend` for the algorithm).

Sparse level storage. A level (one blur radius, stored at 1/s resolution) is
cut into ``TILE`` x ``TILE`` tiles. Layers are cumulative (layer j = bands
0..j), so inside a tile whose pixels *and kernel halo* contain the set P of
bands, layer j equals layer max{p in P, p <= j} (or zero when there is none):
a tile stores one RGBA block per band of P, and ``slots[ty, tx, j]`` names the
block that holds layer j there (-1: zero). Real photos have 1-2 bands per
tile, so this is several times smaller than one array per layer.

Blocks are built incrementally: conv(layer p_q) = conv(layer p_{q-1}) +
conv(band p_q), where band p_q's convolution gathers only the tile's own
input pixels of that band (one pass over the kernel window per output pixel,
each input pixel adding to the accumulator of its band).

All arithmetic that must equal NumPy's float32 results (blur radius, level
weights) is written in float32 with ``fastmath=False``. Units: pixels; colours
are linear-light premultiplied RGBA.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Tile edge of the sparse level storage, in level pixels.
TILE = 16
#: Zero margin around the padded RGBA image (pixels): the largest full-resolution
#: kernel radius (ceil(6.5)) fits in it.
MARGIN = 8

_JIT = dict(cache=True, fastmath=False, nogil=True)


@njit(**_JIT)
def _popcount(m):
    c = 0
    while m:
        m &= m - np.uint64(1)
        c += 1
    return c


# -- pyramid -------------------------------------------------------------------------------

@njit(parallel=True, **_JIT)
def block_masks(band_p, n, s):
    """Bands present in each s x s block (uint64 (hp/s, wp/s)); padding (band n) has none."""
    hp, wp = band_p.shape
    hl, wl = hp // s, wp // s
    out = np.zeros((hl, wl), np.uint64)
    for y in prange(hl):
        for x in range(wl):
            m = np.uint64(0)
            for yy in range(y * s, y * s + s):
                for xx in range(x * s, x * s + s):
                    b = band_p[yy, xx]
                    if b < n:
                        m |= np.uint64(1) << np.uint64(b)
            out[y, x] = m
    return out


@njit(parallel=True, **_JIT)
def tile_masks_bands(band_p, n, R):
    """Bands present in each tile of a scale-1 level grown by the kernel radius R."""
    hl, wl = band_p.shape
    nty, ntx = (hl + TILE - 1) // TILE, (wl + TILE - 1) // TILE
    out = np.zeros((nty, ntx), np.uint64)
    for t in prange(nty * ntx):
        ty, tx = t // ntx, t % ntx
        y0, y1 = max(ty * TILE - R, 0), min(ty * TILE + TILE + R, hl)
        x0, x1 = max(tx * TILE - R, 0), min(tx * TILE + TILE + R, wl)
        m = np.uint64(0)
        for y in range(y0, y1):
            for x in range(x0, x1):
                b = band_p[y, x]
                if b < n:
                    m |= np.uint64(1) << np.uint64(b)
        out[ty, tx] = m
    return out


@njit(parallel=True, **_JIT)
def down_from_image(image_p, band_p, n, bidx, n_used):
    """Box-average 2 x 2 blocks of every band alone: (n_used, hp/2, wp/2, 4) premultiplied
    RGBA (band b in slice bidx[b]) and the blocks' band bit masks (uint64)."""
    hp, wp = band_p.shape
    hl, wl = hp // 2, wp // 2
    out = np.zeros((n_used, hl, wl, 4), np.float32)
    masks = np.zeros((hl, wl), np.uint64)
    q = np.float32(0.25)
    for y in prange(hl):
        for x in range(wl):
            m = np.uint64(0)
            for dy in range(2):
                for dx in range(2):
                    b = band_p[2 * y + dy, 2 * x + dx]
                    if b < n:
                        k = bidx[b]
                        m |= np.uint64(1) << np.uint64(b)
                        for c in range(3):
                            out[k, y, x, c] += image_p[MARGIN + 2 * y + dy, MARGIN + 2 * x + dx, c]
                        out[k, y, x, 3] += np.float32(1.0)
            masks[y, x] = m
            for k in range(n_used):
                for c in range(4):
                    out[k, y, x, c] *= q
    return out, masks


@njit(parallel=True, **_JIT)
def down_next(src, src_masks):
    """The next scale: 2 x 2 means of every band's blocks (mean of means == block mean)."""
    n_used, hs, ws, _ = src.shape
    hl, wl = hs // 2, ws // 2
    out = np.empty((n_used, hl, wl, 4), np.float32)
    masks = np.zeros((hl, wl), np.uint64)
    q = np.float32(0.25)
    for y in prange(hl):
        for x in range(wl):
            masks[y, x] = (src_masks[2 * y, 2 * x] | src_masks[2 * y, 2 * x + 1]
                           | src_masks[2 * y + 1, 2 * x] | src_masks[2 * y + 1, 2 * x + 1])
            for k in range(n_used):
                for c in range(4):
                    out[k, y, x, c] = ((src[k, 2 * y, 2 * x, c] + src[k, 2 * y, 2 * x + 1, c])
                                       + (src[k, 2 * y + 1, 2 * x, c] + src[k, 2 * y + 1, 2 * x + 1, c])) * q
    return out, masks


@njit(parallel=True, **_JIT)
def tile_masks(pix_masks, R):
    """Bands present in each tile grown by the kernel radius R (uint64 (nty, ntx))."""
    hl, wl = pix_masks.shape
    nty, ntx = (hl + TILE - 1) // TILE, (wl + TILE - 1) // TILE
    out = np.zeros((nty, ntx), np.uint64)
    for t in prange(nty * ntx):
        ty, tx = t // ntx, t % ntx
        y0, y1 = max(ty * TILE - R, 0), min(ty * TILE + TILE + R, hl)
        x0, x1 = max(tx * TILE - R, 0), min(tx * TILE + TILE + R, wl)
        m = np.uint64(0)
        for y in range(y0, y1):
            for x in range(x0, x1):
                m |= pix_masks[y, x]
        out[ty, tx] = m
    return out


@njit(**_JIT)
def slot_table(masks, n, start):
    """Block index (from ``start``) of layer j in each tile (int64 (nty, ntx, n), -1 =
    zero) and the index after the last block."""
    nty, ntx = masks.shape
    slots = np.full((nty, ntx, n), -1, np.int64)
    pos = start
    for ty in range(nty):
        for tx in range(ntx):
            m = masks[ty, tx]
            cur = -1
            for j in range(n):
                if (m >> np.uint64(j)) & np.uint64(1):
                    cur = pos
                    pos += 1
                slots[ty, tx, j] = cur
    return slots, pos


@njit(**_JIT)
def count_blocks(masks):
    """Number of blocks a level with these tile masks stores."""
    total = 0
    for m in masks.ravel():
        total += _popcount(m)
    return total


def kernel_plan(kf):
    """Split a (flipped) kernel into, per row a, one run of equal weights
    (columns run_lo[a] .. run_hi[a], weight run_w[a]; run_lo = -1: none), summed with
    prefix sums, and the remaining non-zero taps (tap_a, tap_b, tap_w). A disc of
    radius 6.5 needs 30 prefix reads and ~40 taps instead of ~180 taps."""
    k = np.asarray(kf, np.float32)
    rows = k.shape[0]
    run_lo = np.full(rows, -1, np.int64)
    run_hi = np.full(rows, -1, np.int64)
    run_w = np.zeros(rows, np.float32)
    taps = []
    for a in range(rows):
        row = k[a]
        best = (0, 0, 0)  # length, lo, hi
        b = 0
        while b < row.size:
            e = b
            while e + 1 < row.size and row[e + 1] == row[b]:
                e += 1
            if row[b] != 0 and e - b + 1 > best[0]:
                best = (e - b + 1, b, e)
            b = e + 1
        if best[0] >= 3:
            run_lo[a], run_hi[a], run_w[a] = best[1], best[2], row[best[1]]
        for b in range(row.size):
            if row[b] != 0 and not (run_lo[a] <= b <= run_hi[a]):
                taps.append((a, b, row[b]))
    tap_a = np.array([t[0] for t in taps], np.int64)
    tap_b = np.array([t[1] for t in taps], np.int64)
    tap_w = np.array([t[2] for t in taps], np.float32)
    return run_lo, run_hi, run_w, tap_a, tap_b, tap_w


@njit(**_JIT)
def _conv_window(win, pre, plan, acc):
    """acc (T, T*4) += the window win (T+2R, (T+2R)*4) correlated with the kernel of
    ``plan`` (see :func:`kernel_plan`); ``pre``: scratch (T+2R, (T+2R+1)*4)."""
    run_lo, run_hi, run_w, tap_a, tap_b, tap_w = plan
    tw = win.shape[0]
    for wy in range(tw):
        for c in range(4):
            pre[wy, c] = 0.0
        for e in range(4 * tw):
            pre[wy, e + 4] = pre[wy, e] + win[wy, e]
    for a in range(run_lo.size):
        lo, hi, wgt = run_lo[a], run_hi[a], run_w[a]
        if lo < 0:
            continue
        for py in range(TILE):
            src = pre[py + a]
            dst = acc[py]
            for e in range(4 * TILE):
                dst[e] += wgt * (src[4 * (hi + 1) + e] - src[4 * lo + e])
    for t in range(tap_a.size):
        a, bb, wgt = tap_a[t], tap_b[t], tap_w[t]
        for py in range(TILE):
            src = win[py + a]
            dst = acc[py]
            for e in range(4 * TILE):
                dst[e] += wgt * src[4 * bb + e]


@njit(**_JIT)
def _store(acc, npres, data, base):
    """Blocks base .. base+npres-1 = running sums of the per-band convolutions acc."""
    run = np.zeros((TILE, 4 * TILE), np.float32)
    for q in range(npres):
        for py in range(TILE):
            for e in range(4 * TILE):
                run[py, e] += acc[q, py, e]
                data[base + q, py, e // 4, e % 4] = run[py, e]


@njit(**_JIT)
def _present(m, n):
    pres = np.empty(n, np.int64)
    npres = 0
    for j in range(n):
        if (m >> np.uint64(j)) & np.uint64(1):
            pres[npres] = j
            npres += 1
    return pres, npres


@njit(parallel=True, **_JIT)
def conv_full(image_p, band_p, n, plan, masks, slots, data):
    """Scale-1 level into its blocks of ``data``: each tile's layers convolved (zero
    outside the image) with a flipped kernel of radius R <= MARGIN (``plan``: see
    :func:`kernel_plan`).
    ``image_p``: RGBA (alpha 1 in the image) with a zero margin of MARGIN pixels;
    ``band_p``: band per pixel (n outside the image), without the margin."""
    hl, wl = band_p.shape
    R = plan[0].size // 2
    nty, ntx = masks.shape
    tw = TILE + 2 * R
    for t in prange(nty * ntx):
        ty, tx = t // ntx, t % ntx
        m = masks[ty, tx]
        if m == 0:
            continue
        pres, npres = _present(m, n)
        rank = np.full(n + 1, -1, np.int64)
        for q in range(npres):
            rank[pres[q]] = q
        base = slots[ty, tx, n - 1] - (npres - 1)
        y0, x0 = ty * TILE - R, tx * TILE - R  # window origin (image coordinates)
        wins = np.zeros((npres, tw, 4 * tw), np.float32)
        for wy in range(tw):
            for wx in range(tw):
                y, x = y0 + wy, x0 + wx
                if npres == 1:
                    q = 0
                elif y < 0 or x < 0 or y >= hl or x >= wl:
                    continue
                else:
                    q = rank[band_p[y, x]]
                    if q < 0:
                        continue
                for c in range(4):
                    wins[q, wy, 4 * wx + c] = image_p[y + MARGIN, x + MARGIN, c]
        acc = np.zeros((npres, TILE, 4 * TILE), np.float32)
        pre = np.empty((tw, 4 * tw + 4), np.float32)
        for q in range(npres):
            _conv_window(wins[q], pre, plan, acc[q])
        _store(acc, npres, data, base)


@njit(parallel=True, **_JIT)
def conv_down(down, bidx, n, plan, masks, slots, data):
    """Downsampled level: like :func:`conv_full` from the per-band box means ``down``
    ((n_used, hl, wl, 4), band b in slice bidx[b])."""
    _, hl, wl, _ = down.shape
    R = plan[0].size // 2
    nty, ntx = masks.shape
    tw = TILE + 2 * R
    for t in prange(nty * ntx):
        ty, tx = t // ntx, t % ntx
        m = masks[ty, tx]
        if m == 0:
            continue
        pres, npres = _present(m, n)
        base = slots[ty, tx, n - 1] - (npres - 1)
        y0, x0 = ty * TILE - R, tx * TILE - R
        win = np.empty((tw, 4 * tw), np.float32)
        pre = np.empty((tw, 4 * tw + 4), np.float32)
        acc = np.zeros((npres, TILE, 4 * TILE), np.float32)
        for q in range(npres):
            k = bidx[pres[q]]
            for wy in range(tw):
                for wx in range(tw):
                    y, x = y0 + wy, x0 + wx
                    inside = y >= 0 and x >= 0 and y < hl and x < wl
                    for c in range(4):
                        win[wy, 4 * wx + c] = down[k, y, x, c] if inside else np.float32(0.0)
            _conv_window(win, pre, plan, acc[q])
        _store(acc, npres, data, base)


# -- per focus -----------------------------------------------------------------------------

@njit(**_JIT)
def level_weights1(r, radii, n_levels):
    """:func:`engine.pyramid.level_weights` for one float32 radius."""
    top = radii[n_levels - 1]
    r = min(max(r, np.float32(0.0)), top)
    c = 0
    for k in range(n_levels):
        if radii[k] <= r:
            c += 1
    i = min(max(c - 1, 0), max(n_levels - 2, 0))
    if n_levels == 1:
        return i, np.float32(1.0)
    lo, hi = radii[i], radii[i + 1]
    w = (hi * hi - r * r) / (hi * hi - lo * lo)
    return i, min(max(w, np.float32(0.0)), np.float32(1.0))


@njit(**_JIT)
def _tap2(sl, soff, ntx, n, dt, ly, lx, j):
    """Layers j and j-1 (RGBA each) at level pixel (ly, lx) of one sparse level whose
    slot table (ntx tiles a row, n bands) starts at ``sl[soff]``; ``dt``: the block pool
    as a flat float32 array."""
    ty, tx = ly // TILE, lx // TILE
    base = soff + (ty * ntx + tx) * n
    s1 = sl[base + j]
    s0 = sl[base + j - 1] if j >= 1 else -1
    pix = ((ly - ty * TILE) * TILE + (lx - tx * TILE)) * 4
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


@njit(**_JIT)
def _level2(sl, soff, ntx, n, dt, s, hl, wl, j, x, y):
    """Layers j and j-1 of a level stored at 1/s resolution, bilinear at full-resolution
    pixel (x, y): pixel centres at (i + 0.5) s, indices clamped (cv2.resize INTER_LINEAR)."""
    if s == 1:
        return _tap2(sl, soff, ntx, n, dt, y, x, j)
    inv = 1.0 / s  # exact: s is a power of two
    fy = (y + 0.5) * inv - 0.5
    fx = (x + 0.5) * inv - 0.5
    y0f, x0f = np.floor(fy), np.floor(fx)
    ty, tx = np.float32(fy - y0f), np.float32(fx - x0f)
    y0, x0 = int(y0f), int(x0f)
    y0c, y1c = min(max(y0, 0), hl - 1), min(max(y0 + 1, 0), hl - 1)
    x0c, x1c = min(max(x0, 0), wl - 1), min(max(x0 + 1, 0), wl - 1)
    a = _tap2(sl, soff, ntx, n, dt, y0c, x0c, j)
    b = _tap2(sl, soff, ntx, n, dt, y0c, x1c, j)
    c = _tap2(sl, soff, ntx, n, dt, y1c, x0c, j)
    d = _tap2(sl, soff, ntx, n, dt, y1c, x1c, j)
    ux, uy = np.float32(1.0) - tx, np.float32(1.0) - ty
    return ((a[0] * ux + b[0] * tx) * uy + (c[0] * ux + d[0] * tx) * ty,
            (a[1] * ux + b[1] * tx) * uy + (c[1] * ux + d[1] * tx) * ty,
            (a[2] * ux + b[2] * tx) * uy + (c[2] * ux + d[2] * tx) * ty,
            (a[3] * ux + b[3] * tx) * uy + (c[3] * ux + d[3] * tx) * ty,
            (a[4] * ux + b[4] * tx) * uy + (c[4] * ux + d[4] * tx) * ty,
            (a[5] * ux + b[5] * tx) * uy + (c[5] * ux + d[5] * tx) * ty,
            (a[6] * ux + b[6] * tx) * uy + (c[6] * ux + d[6] * tx) * ty,
            (a[7] * ux + b[7] * tx) * uy + (c[7] * ux + d[7] * tx) * ty)


@njit(**_JIT)
def _layer2(L, n_levels, j, i, w, x, y, p0, p1, p2, pb):
    """Layers j and j-1 at pixel (x, y) between levels i and i+1 (weight w of level i).
    Level 0 is the pixel itself: colour (p0, p1, p2) in band pb."""
    z = np.float32(0.0)
    if j < 0:
        return z, z, z, z, z, z, z, z
    lo = (z, z, z, z, z, z, z, z)
    if w != 0.0 or n_levels == 1:  # w == 0: the result is hi exactly
        if i == 0:
            m1 = np.float32(1.0) if pb <= j else z
            m0 = np.float32(1.0) if pb <= j - 1 else z
            lo = (p0 * m1, p1 * m1, p2 * m1, m1, p0 * m0, p1 * m0, p2 * m0, m0)
        else:
            lo = _level2(L[0], L[1][i], L[2][i], L[3], L[4], L[5][i], L[6][i], L[7][i], j, x, y)
    if n_levels == 1 or w == 1.0:  # w == 1: the result is lo exactly
        return lo
    k = i + 1
    hi = _level2(L[0], L[1][k], L[2][k], L[3], L[4], L[5][k], L[6][k], L[7][k], j, x, y)
    u = np.float32(1.0) - w
    return (w * lo[0] + u * hi[0], w * lo[1] + u * hi[1], w * lo[2] + u * hi[2], w * lo[3] + u * hi[3],
            w * lo[4] + u * hi[4], w * lo[5] + u * hi[5], w * lo[6] + u * hi[6], w * lo[7] + u * hi[7])


@njit(parallel=True, **_JIT)
def refocus(image, band, disp, n, focus, K, dof, radii, n_levels, slots, soff, ntx, data, scales, lh, lw,
            band_i, band_w, front, below, eps, behind_ramp, min_cover, cover_ramp, out):
    """Per pixel: own band at its own radius over the background fill, the bands in
    front composited far to near, divided by the coverage (see engine.cpu_backend).
    ``focus``, ``K``, ``dof``: float32; per band k: level pair (band_i, band_w) of its
    radius, ``front`` (see :func:`front_tiles`), below (nearest non-empty band
    behind, -1: none). Writes linear RGB into ``out`` (h, w, 3)."""
    h, w = out.shape[0], out.shape[1]
    L = (slots, soff, ntx, n, data, scales, lh, lw)
    one = np.float32(1.0)
    for y in prange(h):
        for x in range(w):
            p0, p1, p2 = image[y + MARGIN, x + MARGIN, 0], image[y + MARGIN, x + MARGIN, 1], image[y + MARGIN, x + MARGIN, 2]
            b = np.int64(band[y, x])
            diff = abs(disp[y, x] - focus) - dof
            r = K * (diff if diff > 0 else np.float32(0.0))
            i, wt = level_weights1(r, radii, n_levels)
            s = _layer2(L, n_levels, b, i, wt, x, y, p0, p1, p2, b)
            c0, c1, c2, a = s[0] - s[4], s[1] - s[5], s[2] - s[6], s[3] - s[7]
            ba = s[7]
            g = min(max(ba / behind_ramp, np.float32(0.0)), one)
            bd = max(ba, eps)
            f0, f1, f2 = s[4] / bd, s[5] / bd, s[6] / bd
            nb = below[b]
            if nb >= 0 and g > 0.0:  # g == 0: the fill is not used
                t = _layer2(L, n_levels, b - 1, band_i[nb], band_w[nb],
                            x, y, p0, p1, p2, b)
                tt = min(max((t[3] - min_cover) / cover_ramp + np.float32(0.5), np.float32(0.0)), one)
                nd = max(t[3], eps)
                f0 = f0 + tt * (t[0] / nd - f0)
                f1 = f1 + tt * (t[1] / nd - f1)
                f2 = f2 + tt * (t[2] / nd - f2)
            k = g * (one - a)
            c0, c1, c2 = c0 + k * f0, c1 + k * f1, c2 + k * f2
            a = a + k
            fm = front[y // TILE, x // TILE]
            for kb in range(b + 1, n):
                if not (fm >> np.uint64(kb)) & np.uint64(1):
                    continue  # band kb adds nothing here (see front_tiles)
                f = _layer2(L, n_levels, kb, band_i[kb], band_w[kb],
                            x, y, p0, p1, p2, b)
                fa = f[3] - f[7]
                u = one - fa
                c0 = c0 * u + (f[0] - f[4])
                c1 = c1 * u + (f[1] - f[5])
                c2 = c2 * u + (f[2] - f[6])
                a = a * u + fa
            cd = max(a, eps)
            out[y, x, 0] = c0 / cd
            out[y, x, 1] = c1 / cd
            out[y, x, 2] = c2 / cd
    return out


@njit(**_JIT)
def front_tiles(masks, moff, ntx, scales, lh, lw, band_i, band_w, act, n, nty_f, ntx_f):
    """Bit k of tile (Y, X) (TILE x TILE full-resolution pixels) is set when band k,
    composited in front at the level pair (band_i[k], band_w[k]) (act[k]: non-empty,
    positive radius), can be non-zero there: some level tile a pixel of the tile samples
    holds band k. Elsewhere layers k and k-1 share their blocks, so the band adds
    exactly zero. Level 0 adds nothing in front of a pixel of a farther band."""
    out = np.zeros((nty_f, ntx_f), np.uint64)
    for k in range(n):
        if not act[k]:
            continue
        bit = np.uint64(1) << np.uint64(k)
        for li in range(2):
            i = band_i[k] + li
            if i == 0 or (li == 0 and band_w[k] == 0.0) or (li == 1 and band_w[k] == 1.0):
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
