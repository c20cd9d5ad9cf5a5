"""Numba kernels of the CPU renderer, per image: the blur pyramid (see
:mod:`deocused.render.cpu.backend` for the algorithm, :mod:`deocused.render.cpu.refocus` for the
per-focus kernel).

Sparse level storage. A level (one blur radius, stored at 1/s resolution) is
cut into ``TILE`` x ``TILE`` tiles. Layers are cumulative (layer j = bands
0..j), so inside a tile whose pixels *and kernel halo* contain the set P of
bands, layer j equals layer max{p in P, p <= j} (or zero when there is none):
a tile stores one RGBA block per band of P, and ``slots[ty, tx, j]`` names the
block that holds layer j there (-1: zero). Real photos have 1-2 bands per
tile, so this is several times smaller than one array per layer.

Blocks are built by linearity: conv(layer p_q) = conv(layer p_{q-1}) +
conv(band p_q), each band convolved over the tile's window (tile + halo) with
only its own pixels. The convolution splits every kernel row into one run of
equal weights (summed from row prefix sums) and the remaining anti-aliased
edge taps, each a 64-float multiply-add over a tile row (vectorised).

Units: pixels; colours are linear-light premultiplied RGBA.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .pixels import _JIT, MARGIN, TILE, TILE_SHIFT, pixel_masks, popcount, run_chunks, split_of  # noqa: F401


def _empty(name, shape, dtype):  # the default ``take`` below: a new array
    return np.empty(shape, dtype)


def tile_masks_bands(pix, radii, rows=None):
    """Bands present (outline splits included) in each tile of a level grown by each kernel radius in
    ``radii`` (level px, each < TILE; uint64 (len(radii), nty, ntx)), from the pixel masks ``pix`` (at a
    downsampled level's scale: the block masks, :func:`halve_masks`), in one pass
    per tile: per window row, the tile's columns and the columns 1..d px to either side (ORs
    growing with d) serve every radius. ``rows`` (first, end): only those tile rows (the rest: none)."""
    hl, wl = pix.shape
    out = np.zeros((radii.size, (hl + TILE - 1) // TILE, (wl + TILE - 1) // TILE), np.uint64)
    ntx = out.shape[2]
    r0, r1 = (0, out.shape[1]) if rows is None else (max(0, rows[0]), min(out.shape[1], rows[1]))
    run_chunks(lambda lo, hi, *a: _tile_masks_bands_tiles(r0 * ntx + lo, r0 * ntx + hi, *a), max(r1 - r0, 0) * ntx,
               pix, radii, out)
    return out


@njit(**_JIT)
def _tile_masks_bands_tiles(t0, t1, pix, radii, out):
    """Tiles t0..t1-1 (row-major) of :func:`tile_masks_bands` into ``out``."""
    hl, wl = pix.shape
    ntx = out.shape[2]
    rmax = radii.max()
    left = np.zeros(rmax + 1, np.uint64)
    right = np.zeros(rmax + 1, np.uint64)
    for t in range(t0, t1):
        ty, tx = t // ntx, t % ntx
        ty0, tx0 = ty * TILE, tx * TILE
        ty1, tx1 = min(ty0 + TILE, hl), min(tx0 + TILE, wl)
        for y in range(max(ty0 - rmax, 0), min(ty1 + rmax, hl)):
            dy = ty0 - y if y < ty0 else (y - ty1 + 1 if y >= ty1 else 0)
            row = pix[y]
            core = np.uint64(0)
            for x in range(tx0, tx1):
                core |= row[x]
            for d in range(1, rmax + 1):
                left[d] = left[d - 1] | (row[tx0 - d] if tx0 - d >= 0 else np.uint64(0))
                right[d] = right[d - 1] | (row[tx1 - 1 + d] if tx1 - 1 + d < wl else np.uint64(0))
            for k in range(radii.size):
                R = radii[k]
                if dy <= R:
                    out[k, ty, tx] |= core | left[R] | right[R]


def down_from_image(image_p, band_p, codes, n, bidx, n_used, steps, take=_empty):
    """Box-average 2 x 2 blocks of every band alone, outline splits included:
    (n_used, hp/2, wp/2, 4) premultiplied RGBA (band b in slice bidx[b]) and the
    blocks' band bit masks (uint64). ``take``: as in :func:`~deocused.render.cpu.pixels.pixel_masks`
    (names "down 2", "down masks 2")."""
    hp, wp = band_p.shape
    out = take("down 2", (n_used, hp // 2, wp // 2, 4), np.float32)  # every row is cleared, then summed into
    masks = take("down masks 2", (hp // 2, wp // 2), np.uint64)  # every element is written
    run_chunks(_down_from_image_rows, hp // 2, image_p, band_p, codes, n, bidx, steps, out, masks)
    return out, masks


@njit(**_JIT)
def _down_from_image_rows(y0, y1, image_p, band_p, codes, n, bidx, steps, out, masks):
    """Rows y0..y1-1 of :func:`down_from_image` into ``out`` and ``masks``."""
    n_used, wl = out.shape[0], out.shape[2]
    q = np.float32(0.25)  # a power of two: q * (sum) == sum of q * terms exactly
    for y in range(y0, y1):
        for k in range(n_used):
            out[k, y] = 0.0
        for x in range(wl):
            m = np.uint64(0)
            for dy in range(2):
                for dx in range(2):
                    yy, xx = 2 * y + dy, 2 * x + dx
                    b = band_p[yy, xx]
                    if b < n:
                        k = bidx[b]
                        m |= np.uint64(1) << np.uint64(b)
                        b2, sh, c0, c1, c2 = split_of(image_p, band_p, codes, yy, xx, steps)
                        out[k, y, x, 0] += q * (image_p[MARGIN + yy, MARGIN + xx, 0] - c0)
                        out[k, y, x, 1] += q * (image_p[MARGIN + yy, MARGIN + xx, 1] - c1)
                        out[k, y, x, 2] += q * (image_p[MARGIN + yy, MARGIN + xx, 2] - c2)
                        out[k, y, x, 3] += q * (np.float32(1.0) - sh)
                        if b2 < n:
                            k2 = bidx[b2]
                            m |= np.uint64(1) << np.uint64(b2)
                            out[k2, y, x, 0] += q * c0
                            out[k2, y, x, 1] += q * c1
                            out[k2, y, x, 2] += q * c2
                            out[k2, y, x, 3] += q * sh
            masks[y, x] = m


def down_from_down(src, src_masks, scale, take=_empty):
    """The next scale (``scale``, that of the output: 4, 8, ...): 2 x 2 means of every band's blocks
    (mean of means == block mean). ``take``: as in :func:`~deocused.render.cpu.pixels.pixel_masks`
    (names "down S", "down masks S")."""
    n_used, hs, ws, _ = src.shape
    out = take(f"down {scale}", (n_used, hs // 2, ws // 2, 4), np.float32)  # every element is written
    masks = take(f"down masks {scale}", (hs // 2, ws // 2), np.uint64)
    run_chunks(_down_from_down_rows, hs // 2, src, src_masks, out, masks)
    return out, masks


@njit(**_JIT)
def _down_from_down_rows(y0, y1, src, src_masks, out, masks):
    """Rows y0..y1-1 of :func:`down_from_down` into ``out`` and ``masks``."""
    n_used, wl = out.shape[0], out.shape[2]
    q = np.float32(0.25)
    for y in range(y0, y1):
        for x in range(wl):
            masks[y, x] = (src_masks[2 * y, 2 * x] | src_masks[2 * y, 2 * x + 1]
                           | src_masks[2 * y + 1, 2 * x] | src_masks[2 * y + 1, 2 * x + 1])
            for k in range(n_used):
                for c in range(4):
                    out[k, y, x, c] = ((src[k, 2 * y, 2 * x, c] + src[k, 2 * y, 2 * x + 1, c])
                                       + (src[k, 2 * y + 1, 2 * x, c] + src[k, 2 * y + 1, 2 * x + 1, c])) * q


def halve_masks(masks):
    """Block masks at the next scale: the OR of each 2 x 2 group (uint64 (h // 2, w // 2))."""
    out = np.empty((masks.shape[0] // 2, masks.shape[1] // 2), np.uint64)
    run_chunks(_halve_mask_rows, out.shape[0], masks, out)
    return out


@njit(**_JIT)
def _halve_mask_rows(y0, y1, masks, out):
    """Rows y0..y1-1 of :func:`halve_masks`."""
    for y in range(y0, y1):
        for x in range(out.shape[1]):
            out[y, x] = (masks[2 * y, 2 * x] | masks[2 * y, 2 * x + 1]) | (masks[2 * y + 1, 2 * x]
                                                                            | masks[2 * y + 1, 2 * x + 1])


def kernel_plan(kernels):
    """Plans of several (flipped) kernels, each zero-padded to the largest one's size
    so they read one shared window: per kernel lv and row a, one run of equal weights
    (columns run_lo[lv, a] .. run_hi[lv, a], weight run_w[lv, a]; run_lo = -1: none),
    summed with prefix sums, and the remaining non-zero taps
    (tap_a, tap_b, tap_w)[tap_off[lv]:tap_off[lv + 1]]. A disc of radius 6.5 needs 30
    prefix reads and ~40 taps instead of ~180 taps."""
    size = max(np.asarray(k).shape[0] for k in kernels)
    run_lo = np.full((len(kernels), size), -1, np.int64)
    run_hi = np.full((len(kernels), size), -1, np.int64)
    run_w = np.zeros((len(kernels), size), np.float32)
    taps, tap_off = [], [0]
    for lv, kf in enumerate(kernels):
        k = np.zeros((size, size), np.float32)
        pad = (size - np.asarray(kf).shape[0]) // 2
        k[pad:size - pad, pad:size - pad] = kf
        for a in range(size):
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
                run_lo[lv, a], run_hi[lv, a], run_w[lv, a] = best[1], best[2], row[best[1]]
            for b in range(row.size):
                if row[b] != 0 and not (run_lo[lv, a] <= b <= run_hi[lv, a]):
                    taps.append((a, b, row[b]))
        tap_off.append(len(taps))
    tap_a = np.array([t[0] for t in taps], np.int64)
    tap_b = np.array([t[1] for t in taps], np.int64)
    tap_w = np.array([t[2] for t in taps], np.float32)
    return run_lo, run_hi, run_w, tap_a, tap_b, tap_w, np.array(tap_off, np.int64)


@njit(**_JIT)
def _prefix(win, pre):
    """Row prefix sums of the window win (T+2R, (T+2R)*4) into pre (T+2R, (T+2R+1)*4)."""
    for wy in range(win.shape[0]):
        for c in range(4):
            pre[wy, c] = 0.0
        for e in range(4 * win.shape[0]):
            pre[wy, e + 4] = pre[wy, e] + win[wy, e]


@njit(**_JIT)
def _conv_window(win, pre, plan, lv, acc):
    """acc (T, T*4) = the window win correlated with kernel lv of ``plan`` (see
    :func:`kernel_plan`); ``pre``: win's prefix sums (:func:`_prefix`)."""
    run_lo, run_hi, run_w, tap_a, tap_b, tap_w, tap_off = plan
    acc[:] = 0.0
    for a in range(run_lo.shape[1]):
        lo, hi, wgt = run_lo[lv, a], run_hi[lv, a], run_w[lv, a]
        if lo < 0:
            continue
        o1, o0 = 4 * (hi + 1), 4 * lo
        for py in range(TILE):
            dst = acc[py]
            s1 = pre[py + a, o1:o1 + 4 * TILE]  # slices: the inner loops index from 0 and vectorise
            s0 = pre[py + a, o0:o0 + 4 * TILE]
            for e in range(4 * TILE):
                dst[e] += wgt * (s1[e] - s0[e])
    for t in range(tap_off[lv], tap_off[lv + 1]):
        a, o, wgt = tap_a[t], 4 * tap_b[t], tap_w[t]
        for py in range(TILE):
            dst = acc[py]
            src = win[py + a, o:o + 4 * TILE]
            for e in range(4 * TILE):
                dst[e] += wgt * src[e]


@njit(**_JIT)
def _conv_levels(wins, pres, npres, plan, masks, slots, todo, ty, tx, n, pre, acc, data):
    """Every level lv of ``plan`` to build at tile (ty, tx) (``todo[lv, ty, tx]``): the
    band windows wins[q] (band pres[q], prefix sums in pre[q]) that level lv's mask
    holds, convolved and stored as running sums into the level's blocks."""
    for lv in range(masks.shape[0]):
        m = masks[lv, ty, tx]
        if m == 0 or not todo[lv, ty, tx]:
            continue
        nl = 0
        for q in range(npres):
            if (m >> np.uint64(pres[q])) & np.uint64(1):
                _conv_window(wins[q], pre[q], plan, lv, acc[nl])
                nl += 1
        _store(acc, nl, data, slots[lv, ty, tx, n - 1] - (nl - 1))


@njit(**_JIT)
def _store(acc, npres, data, base):
    """Blocks base .. base+npres-1 = running sums of the per-band convolutions acc."""
    flat = data.reshape((data.shape[0], TILE, 4 * TILE))
    for py in range(TILE):
        d0 = flat[base, py]
        a0 = acc[0, py]
        for e in range(4 * TILE):
            d0[e] = a0[e]
        for q in range(1, npres):
            dq, prev, aq = flat[base + q, py], flat[base + q - 1, py], acc[q, py]
            for e in range(4 * TILE):
                dq[e] = prev[e] + aq[e]


@njit(**_JIT)
def _present(m, n):
    pres = np.empty(n, np.int64)
    npres = 0
    for j in range(n):
        if (m >> np.uint64(j)) & np.uint64(1):
            pres[npres] = j
            npres += 1
    return pres, npres


def conv_full(image_p, band_p, codes, n, plan, masks, slots, todo, data, steps):
    """Scale-1 levels into their blocks of ``data``: per level lv, the layers of each
    tile with ``todo[lv, ty, tx]`` convolved (zero outside the image) with kernel lv
    of ``plan`` (all of radius R <= MARGIN once padded, see :func:`kernel_plan`);
    ``masks`` (L, nty, ntx) and ``slots`` (L, nty, ntx, n): the levels' tile masks and
    slot tables. Each tile's band windows and prefix sums are made once for all levels.
    ``image_p``: RGBA (alpha 1 in the image) with a zero margin of MARGIN pixels;
    ``band_p``: band per pixel (n outside the image), without the margin; ``codes``:
    the outline splits (see :func:`outline_codes`)."""
    run_chunks(_conv_full_tiles, masks.shape[1] * masks.shape[2], image_p, band_p, codes, n, plan, masks, slots,
               todo, data, steps)


@njit(**_JIT)
def _conv_full_tiles(t0, t1, image_p, band_p, codes, n, plan, masks, slots, todo, data, steps):
    """Tiles t0..t1-1 (row-major) of :func:`conv_full`."""
    hl, wl = band_p.shape
    R = plan[0].shape[1] // 2
    ntx = masks.shape[2]
    tw = TILE + 2 * R
    img = image_p.reshape((image_p.shape[0], image_p.shape[1] * 4))
    for t in range(t0, t1):
        ty, tx = t // ntx, t % ntx
        m, go = np.uint64(0), False  # the window holds every band of every level (so it does not depend on todo)
        for lv in range(masks.shape[0]):
            m |= masks[lv, ty, tx]
            go |= todo[lv, ty, tx]
        if m == 0 or not go:
            continue
        pres, npres = _present(m, n)
        rank = np.full(n + 1, -1, np.int64)
        for q in range(npres):
            rank[pres[q]] = q
        y0, x0 = ty * TILE - R, tx * TILE - R  # window origin (image coordinates)
        wins = np.zeros((npres, tw, 4 * tw), np.float32)
        for wy in range(tw):
            y = y0 + wy
            src = img[y + MARGIN, 4 * (x0 + MARGIN):4 * (x0 + MARGIN + tw)]
            if npres == 1:  # the whole window (zero outside the image)
                dst = wins[0, wy]
                for e in range(4 * tw):
                    dst[e] = src[e]
                continue
            if y < 0 or y >= hl:
                continue
            for wx in range(tw):
                x = x0 + wx
                if x < 0 or x >= wl:
                    continue
                q = rank[band_p[y, x]]
                if q < 0:
                    continue
                if codes[y, x] == 0:
                    for c in range(4):
                        wins[q, wy, 4 * wx + c] = src[4 * wx + c]
                    continue
                b2, sh, c0, c1, c2 = split_of(image_p, band_p, codes, y, x, steps)
                q2 = rank[b2]
                wins[q, wy, 4 * wx] = src[4 * wx] - c0
                wins[q, wy, 4 * wx + 1] = src[4 * wx + 1] - c1
                wins[q, wy, 4 * wx + 2] = src[4 * wx + 2] - c2
                wins[q, wy, 4 * wx + 3] = np.float32(1.0) - sh
                wins[q2, wy, 4 * wx] = c0
                wins[q2, wy, 4 * wx + 1] = c1
                wins[q2, wy, 4 * wx + 2] = c2
                wins[q2, wy, 4 * wx + 3] = sh
        pre = np.empty((npres, tw, 4 * tw + 4), np.float32)
        for q in range(npres):
            _prefix(wins[q], pre[q])
        _conv_levels(wins, pres, npres, plan, masks, slots, todo, ty, tx, n, pre,
                     np.empty((npres, TILE, 4 * TILE), np.float32), data)


def conv_down(down, bidx, n, plan, masks, slots, todo, data):
    """Downsampled levels of one scale: like :func:`conv_full` from the per-band box
    means ``down`` ((n_used, hl, wl, 4), band b in slice bidx[b])."""
    run_chunks(_conv_down_tiles, masks.shape[1] * masks.shape[2], down, bidx, n, plan, masks, slots, todo, data)


@njit(**_JIT)
def _conv_down_tiles(t0, t1, down, bidx, n, plan, masks, slots, todo, data):
    """Tiles t0..t1-1 (row-major) of :func:`conv_down`."""
    nd, hl, wl, _ = down.shape
    flat = down.reshape((nd, hl, wl * 4))
    R = plan[0].shape[1] // 2
    ntx = masks.shape[2]
    tw = TILE + 2 * R
    for t in range(t0, t1):
        ty, tx = t // ntx, t % ntx
        m, go = np.uint64(0), False  # the window holds every band of every level (so it does not depend on todo)
        for lv in range(masks.shape[0]):
            m |= masks[lv, ty, tx]
            go |= todo[lv, ty, tx]
        if m == 0 or not go:
            continue
        pres, npres = _present(m, n)
        y0, x0 = ty * TILE - R, tx * TILE - R
        wins = np.zeros((npres, tw, 4 * tw), np.float32)
        pre = np.empty((npres, tw, 4 * tw + 4), np.float32)
        xa, xb = max(x0, 0), min(x0 + tw, wl)
        for q in range(npres):
            k = bidx[pres[q]]
            for wy in range(tw):
                y = y0 + wy
                if y < 0 or y >= hl or xb <= xa:
                    continue
                src = flat[k, y, 4 * xa:4 * xb]
                dst = wins[q, wy, 4 * (xa - x0):4 * (xb - x0)]
                for e in range(src.size):
                    dst[e] = src[e]
            _prefix(wins[q], pre[q])
        _conv_levels(wins, pres, npres, plan, masks, slots, todo, ty, tx, n, pre,
                     np.empty((npres, TILE, 4 * TILE), np.float32), data)
