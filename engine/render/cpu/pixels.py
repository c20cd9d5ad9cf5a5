"""How pixels enter the CPU renderer's layers (shared by :mod:`deocused.render.cpu.kernels`
and :mod:`deocused.render.cpu.refocus`): tile geometry, band bit masks and the outline split.

Outline split (see :data:`deocused.constants.OUTLINE_MAX_SHARE`): a pixel whose
``codes`` entry is non-zero gives share s of its colour, ``c = min(s * colour of
the neighbour in direction code & 3, own colour)``, to the neighbour's band and
keeps (colour - c, 1 - s) in its own; :func:`outline_codes` makes the codes,
:func:`split_of` decodes them, every kernel that reads pixels into layers uses it.

Numba caches each kernel by its own file, with the functions it calls compiled
into it; an edit here still compiles them again (:mod:`deocused.render.cpu.jit` stamps the
cache with a hash of every kernel source). The per-pixel helpers are inlined by Numba
(``inline="always"``: a call costs more than they do), so each is written into a kernel at
one call site only where it is large (the render kernel calls
:func:`deocused.render.cpu.sampling._layer2` in one place: three inlined copies took
minutes to compile).

Units: pixels; colours are linear-light RGB.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

#: Tile edge of the sparse level storage, in level pixels.
TILE = 16
TILE_SHIFT = 4
#: Zero margin around the padded RGBA image (pixels): the largest full-resolution
#: kernel radius (ceil(6.5)) fits in it.
MARGIN = 8

_JIT = {"cache": True, "fastmath": False, "nogil": True}

_POOL: ThreadPoolExecutor | None = None


#: Contiguous shares per thread of a :func:`run_chunks` launch, taken in turn by whichever
#: thread is free (work differs across an image: equal halves left one core idle ~10 % of a render;
#: 4 shares left it waiting for the other's last share ~45 ms of a 12 MP strip's ~400 ms, 8: strips
#: 2-8 % faster, 16 and 32 no better; a Numba call costs tens of microseconds).
SHARES_PER_THREAD = 8


def _threads(n: int) -> int:
    """The threads a :func:`run_chunks` launch of ``n`` items runs on."""
    return min(numba.get_num_threads(), max(n, 1))


def share_count(n: int) -> int:
    """The number of shares :func:`run_chunks` cuts ``n`` items into (>= 1)."""
    threads = _threads(n)
    return 1 if threads <= 1 else min(n, threads * SHARES_PER_THREAD)


def run_chunks(kernel, n: int, *args, per_share=None) -> None:
    """``kernel(lo, hi, *args)`` over the items 0..n-1 in contiguous shares, on
    numba.get_num_threads() threads (the kernels release the GIL), each thread taking the
    next share when done with one. The kernels are serial Numba functions rather than
    ``parallel=True`` ones: each item writes only its own output, so the results do not
    depend on the shares, and a serial kernel compiles in about half the time.
    ``per_share``: arrays of :func:`share_count` (n) entries each; share k is then called as
    ``kernel(lo, hi, *(a[k] for a in per_share), *args)`` (working buffers no other share touches meanwhile)."""
    shares = share_count(n)
    bounds = [n * k // shares for k in range(shares + 1)]

    def call(k):
        if per_share is None:
            kernel(bounds[k], bounds[k + 1], *args)
        else:
            kernel(bounds[k], bounds[k + 1], *(a[k] for a in per_share), *args)

    if shares == 1:
        call(0)
        return
    threads = _threads(n)
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max(os.cpu_count() or 1, threads), thread_name_prefix="deocused-cpu")
    taken = itertools.count()  # next() is atomic under the GIL

    def work():
        for k in taken:
            if k >= shares:
                return
            call(k)

    futures = [_POOL.submit(work) for _ in range(threads - 1)]
    try:
        work()
    finally:
        for f in futures:
            f.result()


@njit(**_JIT)
def popcount(m):
    c = 0
    while m:
        m &= m - np.uint64(1)
        c += 1
    return c


@njit(inline="always", **_JIT)
def band_index(d, n):
    """Band of disparity ``d`` (float32): floor(d * n), clipped to 0..n-1 (as :func:`deocused.render.pyramid.band_of`)."""
    return min(max(int(d * np.float32(n)), 0), n - 1)


@njit(inline="always", **_JIT)
def band_bit(b, n):
    return np.uint64(1) << np.uint64(b) if b < n else np.uint64(0)


def ingest(image, disparity, n, image_p, band_p):
    """One pass over a new photo: linear RGB ``image`` (h, w, 3) into the padded RGBA
    ``image_p`` (alpha 1, at offset MARGIN; the rest is left as it is: zero), each
    pixel's disparity band floor(d * n) (clipped; as :func:`deocused.render.pyramid.band_of`)
    into ``band_p`` (band n in the padding). Returns the pixel count and the float64
    disparity sum per band, the smallest and largest disparity, and per TILE x TILE
    tile of the padded grid its smallest and largest disparity (+inf, -inf: no pixel)
    and the bit mask of its pixels' bands, and the counts of what
    :meth:`~deocused.render.renderer.Renderer.check_values` refuses: NaN or infinite
    disparities, pixels with a NaN or infinite channel, finite disparities outside [0, 1]
    (such a disparity takes band 0 here; the caller raises)."""
    hp, wp = band_p.shape
    nrow = (hp + TILE - 1) // TILE
    tile_lo = np.full((nrow, (wp + TILE - 1) // TILE), np.inf, np.float32)
    tile_hi = np.full(tile_lo.shape, -np.inf, np.float32)
    tile_bands = np.zeros(tile_lo.shape, np.uint64)
    counts = np.zeros((nrow, n), np.int64)
    sums = np.zeros((nrow, n), np.float64)
    bad = np.zeros((nrow, 3), np.int64)
    run_chunks(_ingest_rows, nrow, image, disparity, n, image_p, band_p, tile_lo, tile_hi, tile_bands, counts, sums,
               bad)
    return (counts.sum(axis=0), sums.sum(axis=0), tile_lo.min(), tile_hi.max(), tile_lo, tile_hi, tile_bands,
            bad.sum(axis=0))


@njit(**_JIT)
def _ingest_rows(r0, r1, image, disparity, n, image_p, band_p, tile_lo, tile_hi, tile_bands, counts, sums, bad):
    """Tile rows r0..r1-1 of :func:`ingest` (per row r: counts[r], sums[r], bad[r])."""
    h, w = disparity.shape
    hp = band_p.shape[0]
    for r in range(r0, r1):
        for y in range(r * TILE, min(r * TILE + TILE, hp)):
            if y >= h:
                band_p[y, :] = n
                continue
            for x in range(w):
                d = disparity[y, x]
                if not (d >= 0.0 and d <= 1.0):  # NaN too: refused by the caller, band 0 meanwhile
                    bad[r, 2 if math.isfinite(d) else 0] += 1
                    d = np.float32(0.0)
                if not (math.isfinite(image[y, x, 0]) and math.isfinite(image[y, x, 1])
                        and math.isfinite(image[y, x, 2])):
                    bad[r, 1] += 1
                b = band_index(d, n)
                band_p[y, x] = b
                counts[r, b] += 1
                sums[r, b] += d
                tx = x >> TILE_SHIFT
                tile_lo[r, tx] = min(tile_lo[r, tx], d)
                tile_hi[r, tx] = max(tile_hi[r, tx], d)
                tile_bands[r, tx] |= np.uint64(1) << np.uint64(b)
                image_p[y + MARGIN, x + MARGIN, 0] = image[y, x, 0]
                image_p[y + MARGIN, x + MARGIN, 1] = image[y, x, 1]
                image_p[y + MARGIN, x + MARGIN, 2] = image[y, x, 2]
                image_p[y + MARGIN, x + MARGIN, 3] = 1.0
            band_p[y, w:] = n


def band_stats(disparity, n):
    """Pixels per disparity band (:func:`band_index`), their float64 disparity sums, and the smallest
    and largest disparity of ``disparity`` (float32 (h, w)): :meth:`deocused.render.renderer.BandStats.of`
    in one pass."""
    h = disparity.shape[0]
    rows = -(-h // TILE)
    counts, sums = np.zeros((rows, n), np.int64), np.zeros((rows, n), np.float64)
    lo, hi = np.full(rows, np.inf, np.float32), np.full(rows, -np.inf, np.float32)
    run_chunks(_band_stats_rows, rows, disparity, n, counts, sums, lo, hi)
    return counts.sum(axis=0), sums.sum(axis=0), lo.min(), hi.max()


@njit(**_JIT)
def _band_stats_rows(r0, r1, disparity, n, counts, sums, lo, hi):
    """Rows of TILE pixel rows r0..r1-1 of :func:`band_stats` (per row r: counts[r], sums[r], lo[r], hi[r])."""
    h, w = disparity.shape
    for r in range(r0, r1):
        dlo, dhi = np.float32(np.inf), np.float32(-np.inf)
        for y in range(r * TILE, min(r * TILE + TILE, h)):
            for x in range(w):
                d = disparity[y, x]
                b = band_index(d, n)
                counts[r, b] += 1
                sums[r, b] += d
                dlo, dhi = min(dlo, d), max(dhi, d)
        lo[r], hi[r] = dlo, dhi


@njit(inline="always", **_JIT)
def _dir(d):
    """(dy, dx) of direction code d: 0 right, 1 down, 2 left, 3 up."""
    return (d & 1) * (1 - (d & 2)), (1 - (d & 1)) * (1 - (d & 2))


def outline_codes(image_p, band_p, n, h, w, max_share, steps, flatness):
    """Per pixel of the (h, w) image: 0, or (q << 2) | d when the pixel moves share
    q / steps of its colour to the band of its neighbour in direction d (the
    4-neighbour whose band differs most; the first such in the order of d wins).
    The share is the projection of the pixel's colour onto the line from the pixel
    on its far side (F) to the neighbour (B), t = (p - F).(B - F) / |B - F|^2, times
    the far side's flatness 1 - |F2 - F|^2 / (flatness^2 |B - F|^2) (F2: the pixel
    beyond F, F where outside), at most ``max_share``, rounded to q = int(t * steps
    + 0.5), all in float32 (the GPU kernel outline_codes does the same operations).
    Returns the codes (uint8, padded size) and, per TILE x TILE tile, the bit mask
    of the bands that receive a share."""
    hp, wp = band_p.shape
    codes = np.zeros((hp, wp), np.uint8)
    masks = np.zeros((-(-hp // TILE), -(-wp // TILE)), np.uint64)
    run_chunks(_outline_rows, masks.shape[0], image_p, band_p, n, h, w, max_share, steps, flatness, codes, masks)
    return codes, masks


@njit(**_JIT)
def _outline_rows(t0, t1, image_p, band_p, n, h, w, max_share, steps, flatness, codes, masks):
    """Tile rows t0..t1-1 of :func:`outline_codes` into ``codes`` and ``masks``."""
    m = MARGIN
    half = np.float32(0.5)
    for ty in range(t0, t1):
        for y in range(ty * TILE, min(ty * TILE + TILE, h)):
            for x in range(w):
                b = np.int64(band_p[y, x])
                best, most = -1, 0
                for d in range(4):
                    dy, dx = _dir(d)
                    if 0 <= y + dy < h and 0 <= x + dx < w:
                        diff = abs(np.int64(band_p[y + dy, x + dx]) - b)
                        if diff > most:
                            best, most = d, diff
                if best < 0:
                    continue
                dy, dx = _dir(best)
                if not (0 <= y - dy < h and 0 <= x - dx < w):
                    continue  # no far side: F = p, t = 0
                p0, p1, p2 = image_p[y + m, x + m, 0], image_p[y + m, x + m, 1], image_p[y + m, x + m, 2]
                f0, f1, f2 = image_p[y - dy + m, x - dx + m, 0], image_p[y - dy + m, x - dx + m, 1], \
                    image_p[y - dy + m, x - dx + m, 2]
                v0 = image_p[y + dy + m, x + dx + m, 0] - f0
                v1 = image_p[y + dy + m, x + dx + m, 1] - f1
                v2 = image_p[y + dy + m, x + dx + m, 2] - f2
                num = ((p0 - f0) * v0 + (p1 - f1) * v1) + (p2 - f2) * v2
                den = (v0 * v0 + v1 * v1) + v2 * v2
                if not den > 0:
                    continue
                t = num / den
                if not t > 0:
                    continue
                y2, x2 = y - 2 * dy, x - 2 * dx
                if not (0 <= y2 < h and 0 <= x2 < w):
                    y2, x2 = y - dy, x - dx
                g0 = image_p[y2 + m, x2 + m, 0] - f0
                g1 = image_p[y2 + m, x2 + m, 1] - f1
                g2 = image_p[y2 + m, x2 + m, 2] - f2
                flat = np.float32(1.0) - ((g0 * g0 + g1 * g1) + g2 * g2) / ((flatness * flatness) * den)
                if not flat > 0:
                    continue
                q = int(min(t * flat, max_share) * steps + half)
                if q == 0:
                    continue
                codes[y, x] = (q << 2) | best
                masks[ty, x >> TILE_SHIFT] |= np.uint64(1) << np.uint64(band_p[y + dy, x + dx])


@njit(inline="always", **_JIT)
def split_of(image_p, band_p, codes, y, x, steps):
    """The outline split of image pixel (y, x): (b2, s, c0, c1, c2), share s (alpha)
    with premultiplied colour c in band b2; (255, 0, 0, 0, 0) when it has none."""
    code = np.int64(codes[y, x])
    z = np.float32(0.0)
    if code == 0:
        return 255, z, z, z, z
    dy, dx = _dir(code & 3)
    s = np.float32(code >> 2) / steps
    m = MARGIN
    c0 = min(s * image_p[y + dy + m, x + dx + m, 0], image_p[y + m, x + m, 0])
    c1 = min(s * image_p[y + dy + m, x + dx + m, 1], image_p[y + m, x + m, 1])
    c2 = min(s * image_p[y + dy + m, x + dx + m, 2], image_p[y + m, x + m, 2])
    return np.int64(band_p[y + dy, x + dx]), s, c0, c1, c2


def pixel_masks(band_p, codes, n, take=None):
    """Bands each pixel of the padded grid adds to, its outline split's included (padding: none),
    uint64 (hp, wp): the tile masks read it (the 2 x 2 blocks':
    :func:`~deocused.render.cpu.kernels.halve_masks` of it).
    ``take(name, shape, dtype)``: where the output goes (e.g. a reused buffer; every element is written)."""
    out = np.empty(band_p.shape, np.uint64) if take is None else take("pixel masks", band_p.shape, np.uint64)
    run_chunks(_pixel_masks_rows, band_p.shape[0], band_p, codes, n, out)
    return out


@njit(**_JIT)
def _pixel_masks_rows(y0, y1, band_p, codes, n, out):
    """Rows y0..y1-1 of :func:`pixel_masks`. Written out in the loop: in a function of (y, x), Numba checks
    each index for wrap-around (the loop's own are known >= 0) and the loop did not vectorise (16x slower)."""
    wp = band_p.shape[1]
    for y in range(y0, y1):
        for x in range(wp):
            bits = band_bit(band_p[y, x], n)
            code = codes[y, x]
            if code != 0:
                dy, dx = _dir(code & 3)
                bits |= band_bit(band_p[y + dy, x + dx], n)
            out[y, x] = bits
