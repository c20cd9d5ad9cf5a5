"""CPU backend: the blur pyramid and the per-pixel compositing as Numba kernels.

The algorithm (the same on the GPU) is described in ``engine/DESIGN.md``; the
pyramid's layout in :mod:`deocused.render.pyramid`.

Levels are float32, stored sparsely in tiles (see :mod:`deocused.render.cpu.kernels`:
a tile keeps one block per band present in it or its kernel halo, not one per
layer); the GPU stores every layer densely in float16. Only the levels a
render's radii need are built, and of the full-resolution ones (radius < 8 px,
the costliest) only the tiles the render reads (see
:func:`deocused.render.cpu.refocus.full_levels_needed`); a later render builds what it
lacks, :meth:`CpuRenderer.ensure_levels` builds whole levels. The levels of one
scale are always built with the same windows, so a block's values do not depend
on the order in which renders built it.
"""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager

import numpy as np

from ...constants import (
    EPS,
    FILL_BEHIND_RAMP,
    FILL_COVER_RAMP,
    FILL_MIN_COVER,
    HIDDEN_FILL_RADIUS,
    HIDDEN_MIN_SHARE,
    OUTLINE_FLATNESS,
    OUTLINE_MAX_SHARE,
    OUTLINE_STEPS,
)
from ...errors import DeviceError
from ..pyramid import (
    LEVEL_RADII,
    level_scale,
    level_weights,
    levels_needed,
    padded_shape,
)
from ..renderer import BandStats, Renderer, boost_highlights, level_kernels
from . import blocks, cat_tiles
from . import jit as cpu_jit
from . import kernels as ck
from . import pixels as cpx
from . import refocus as cr
from .scratch import Scratch

#: prepare() refuses images whose pyramid up to this radius (px) does not fit in memory.
MIN_PYRAMID_RADIUS = 8.0
#: Bytes per stored block of a sparse level (TILE x TILE float32 RGBA).
BLOCK_BYTES = ck.TILE * ck.TILE * 16
#: Bytes per padded pixel that prepare() keeps (RGBA image, band, outline code) and
#: that render() writes (RGB output).
KEPT_BYTES_PER_PIXEL = 16 + 1 + 1
OUTPUT_BYTES_PER_PIXEL = 12
BASE_BYTES_PER_PIXEL = KEPT_BYTES_PER_PIXEL + OUTPUT_BYTES_PER_PIXEL

#: Serialises the kernels: one launch already uses every core (see pixels.run_chunks).
_KERNEL_LOCK = threading.RLock()

#: Every kernel has run in this process (see CpuRenderer.warm_up).
_WARM = False

_N_RADII = len(LEVEL_RADII)
_SCALES = np.array([level_scale(r) for r in LEVEL_RADII], np.int64)
#: The levels of each scale (level 0, the image itself, aside), built together: they
#: share each tile's windows. The first group, at full resolution, is built per tile.
_GROUPS = [[i for i in range(1, _N_RADII) if _SCALES[i] == s] for s in sorted(set(_SCALES[1:].tolist()))]
_FULL = _GROUPS[0]


@contextmanager
def _interruptible():
    """Ctrl-C / SIGTERM (raised as KeyboardInterrupt by a Python signal handler) that
    lands while a Numba kernel calls back into Python surfaces as ``SystemError: ...
    returned a result with an exception set``: give it back as the KeyboardInterrupt."""
    try:
        yield
    except SystemError as e:
        cause = e.__cause__ or e.__context__
        while isinstance(cause, SystemError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, KeyboardInterrupt):
            raise KeyboardInterrupt(*cause.args) from None
        raise


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=64)
def _plan_of(aperture, levels: tuple[int, ...]):
    return ck.kernel_plan([level_kernels(aperture)[i] for i in levels])


class CpuRenderer(Renderer):
    """Numba implementation of the refocus renderer (uses every CPU core)."""

    device = "cpu"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._scratch = Scratch()  # buffers kept from one prepare to the next
        self._groups = ("render", "cat-eye") if self.cat_eye > 0 else ("render",)  # the kernels of a render
        cpu_jit.announce(cpu_jit.RENDER_GROUPS + self._groups[1:])  # at once, before a photo loads: once per install

    def prepare(self, image_linear, disparity, whole=None, place=None) -> None:
        with _KERNEL_LOCK, _interruptible():
            cpu_jit.ensure("photo")
            self._prepare(image_linear, disparity, whole, place=place)

    def prepare_for(self, box, image_linear, disparity, whole=None, place=None) -> None:
        """The scale-1 levels' tile masks (so their blocks) only under ``box``'s tile rows."""
        with _KERNEL_LOCK, _interruptible():
            cpu_jit.ensure("photo")
            self._prepare(image_linear, disparity, whole, box, place)

    def _prepare(self, image_linear, disparity, whole=None, box=None, place=None) -> None:
        self.check_shapes(image_linear, disparity)  # before the conversion: integer images are refused
        self._set_place(place, *np.shape(disparity))
        image_linear = np.asarray(image_linear, np.float32)
        disparity = np.ascontiguousarray(disparity, np.float32)
        self.shape = None  # the values are checked by the ingest below (one pass for both)
        h, w = disparity.shape
        hp, wp = padded_shape(h, w)
        m = ck.MARGIN
        self._pool = self._image_p = None
        # a pool made for a smaller image, or one much larger than the latest: freed before this one's buffers
        if not self._scratch.keeps("image pixels", self._scratch.tags.get("pool") or 0, hp * wp):
            self._scratch.drop("pool")
        self._scratch.note("image pixels", hp * wp)
        n = self.n_bands
        self._n_levels = 1
        # Refuse early what cannot fit: the padded image, band map, codes and output
        # before they are allocated, then (from the tile layout) the levels up to
        # MIN_PYRAMID_RADIUS before any of them is built.
        base = hp * wp * BASE_BYTES_PER_PIXEL
        self._refuse_unless_fits(base, base, h, w)
        # The previous photo's buffers are reused (see scratch.py): margins and padding zeroed here.
        image_p = self._scratch.take("image", (hp + 2 * m, wp + 2 * m, 4), np.float32)
        image_p[:m] = image_p[m + h:] = image_p[m:m + h, :m] = image_p[m:m + h, m + w:] = 0.0
        band_p = np.empty((hp, wp), np.uint8)  # outside the image band n: no layer has content
        counts, sums, d_lo, d_hi, *self._tile_stats, bad = cpx.ingest(boost_highlights(image_linear, self.highlights),
                                                                      disparity, n, image_p, band_p)
        self.refuse_values(*bad)
        self._set_bands(counts, sums, d_lo, d_hi, whole)
        self._band_p = band_p
        self.disparity = disparity
        self._image_p = image_p
        self._codes, self._split_masks = cpx.outline_codes(image_p, band_p, n, h, w, np.float32(OUTLINE_MAX_SHARE),
                                                           np.float32(OUTLINE_STEPS), np.float32(OUTLINE_FLATNESS))
        self._box = box  # render() may render only this (x0, y0, x1, y1); None: every pixel
        self._layout()
        self._built = np.zeros((len(_FULL),) + self._masks[1].shape, np.bool_)  # scale-1 level tiles built
        levels = self.level_bytes(levels_needed(MIN_PYRAMID_RADIUS))
        self._refuse_unless_fits(base + levels, hp * wp * OUTPUT_BYTES_PER_PIXEL + levels, h, w)
        used = np.flatnonzero(self.band_count)
        self._bidx = np.zeros(n + 1, np.int64)
        self._bidx[used] = np.arange(used.size)
        self.shape = (h, w)

    def _refuse_unless_fits(self, total: int, still: int, h: int, w: int) -> None:
        """DeviceError (state cleared) when ``still`` more bytes do not fit in memory;
        ``total``: what the image needs in all, for the message."""
        free = available_memory()
        if free is not None and still > 0.8 * free and self._scratch.nbytes:
            self._scratch.clear()  # the previous photo's buffers do not help: free them first
            free = available_memory()
        if free is not None and still > 0.8 * free:
            self._band_p = self._pool = self._image_p = self._codes = None
            raise DeviceError(f"not enough memory for the {w}x{h} image's blur pyramid: needs at least "
                              f"{total / 2**30:.1f} GiB, {free / 2**30:.1f} GiB available; use a smaller image")

    def band_stats(self, disparity: np.ndarray) -> BandStats:
        """:meth:`BandStats.of` in one pass of a Numba kernel on every core (the same counts, minimum
        and maximum; the float64 sums added in another order). Outside the kernel lock: this short
        pass reads only ``disparity``, so it runs beside a warm-up (the command line's) or a render."""
        d = np.ascontiguousarray(disparity, np.float32)
        if d.ndim != 2:
            return super().band_stats(disparity)
        with _interruptible():
            cpu_jit.ensure("photo")
            counts, sums, lo, hi = cpx.band_stats(d, self.n_bands)
        return BandStats(counts, sums, float(lo), float(hi))

    def release(self) -> None:
        with _KERNEL_LOCK:
            self.shape = None
            self._scratch.clear()
            self._pool = self._image_p = self._band_p = self._codes = self._split_masks = self.disparity = None

    def warm_up(self) -> None:
        """Run every kernel once on a tiny two-plane image with an outline, on a renderer of its own
        (Numba loads its compiled code at the first call, ~1 s in all; compiles it once per install).
        Does nothing once done in this process. This renderer's photo is left as it is, so it may run
        on another thread beside this renderer's work (the command line decodes the photo meanwhile
        and renders it; the kernels take turns)."""
        global _WARM
        if _WARM:
            return
        for group in ("photo", "levels", *self._groups):  # a group at a time, as a render needs them: a render
            cpu_jit.ensure(group)  # on another thread goes on as soon as the groups it needs are in
        twin = type(self)(self.aperture, self.n_bands, self.highlights, self.cat_eye)
        img = np.full((48, 64, 3), 0.2, np.float32)
        img[:, 24:] = 0.8
        img[:, 23] = 0.5  # an anti-aliased outline: the split path
        disp = np.full((48, 64), 0.1, np.float32)
        disp[:, :24] = 0.9
        twin.prepare(img, disp)
        for focus in (0.1, 0.9):
            twin.render(focus, LEVEL_RADII[-1])
        _WARM = True

    # -- pyramid -------------------------------------------------------------------------
    def _plan(self, levels: tuple[int, ...]):
        """:func:`deocused.render.cpu.kernels.kernel_plan` of these levels' kernels (one per aperture)."""
        return _plan_of(self.aperture, levels)

    def _all_tile_masks(self) -> list[np.ndarray]:
        """Bands present in each tile (+ kernel halo) of every level (index 0: none):
        few kernel launches, so small images stay cheap."""
        n = self.n_bands
        radii = [k.shape[0] // 2 for k in self._kernels]
        masks = [np.zeros((1, 1), np.uint64)] * _N_RADII
        g = cat_tiles.reach_tiles(self.cat_eye)  # the cat-eye's taps read tiles around the box's rows
        rows = None if self._box is None else (max(self._box[1] // ck.TILE - g, 0), -(-self._box[3] // ck.TILE) + g)
        pix = ck.pixel_masks(self._band_p, self._codes, n, self._scratch.take)
        for i, m in zip(_FULL, ck.tile_masks_bands(pix, np.array([radii[i] for i in _FULL]), rows)):
            masks[i] = m
        blocks, s = ck.halve_masks(pix), 2  # each 2 x 2 block's, at scale s
        del pix
        for group in _GROUPS[1:]:  # every level of a scale in one pass
            while _SCALES[group[0]] > s:  # next scale: OR of 2 x 2 blocks
                blocks = ck.halve_masks(blocks)
                s *= 2
            for i, m in zip(group, ck.tile_masks_bands(blocks, np.array([radii[i] for i in group]))):
                masks[i] = m
        return masks

    def _layout(self) -> None:
        """Tile masks and slot tables of every level, and one block pool for all of them.

        The pool is reserved with np.empty and kept for the next image (see scratch.py); a tile's
        blocks take their place in it when the tile is built (:func:`.blocks.number_blocks`), so
        what a render builds lies at its start, and pages are touched only there."""
        n = self.n_bands
        self._masks = self._all_tile_masks()
        tables, soff, ntx, sizes = [np.full(n, -1, np.int64)], [0], [1], [0]
        at = n
        for masks in self._masks[1:]:
            table, size = blocks.slot_table(masks, n)
            tables.append(table.ravel())
            soff.append(at)
            ntx.append(masks.shape[1])
            sizes.append(size)
            at += table.size
        self._tables = np.concatenate(tables)  # each level's blocks numbered from 0 (-1: zero)
        self._slots = np.full_like(self._tables, -1)  # the pool's blocks of the tiles built (-1: zero or not built)
        self._next_block = 0
        self._mask_flat = np.concatenate([m.ravel() for m in self._masks])
        self._moff = np.cumsum([0] + [m.size for m in self._masks[:-1]]).astype(np.int64)
        self._soff, self._ntx = np.array(soff, np.int64), np.array(ntx, np.int64)
        self._level_blocks = sizes  # level i stores up to sizes[i] blocks
        # every block a render reads is written when its tile is built: a reused pool needs no clearing
        self._pool = self._scratch.take("pool", (max(sum(sizes), 1), ck.TILE, ck.TILE, 4), np.float32, scattered=True,
                                        tag=self._band_p.size)  # the padded pixels of the image it is made for

    def level_bytes(self, n: int, todo: np.ndarray | None = None) -> int:
        """Memory that building levels ``self._n_levels .. n-1`` and the scale-1 level tiles
        not built yet (``todo``: those of them to build; None: all) takes (bytes): their
        sparse blocks, plus the per-band box means of the downsampled scales while they
        are built (the small slot tables of all levels exist from prepare() on)."""
        n = min(n, _N_RADII)
        hp, wp = self._band_p.shape
        lo = min(self._n_levels, n)
        total = sum(self._level_blocks[i] for i in range(lo, n) if _SCALES[i] > 1)
        for j, i in enumerate(_FULL):
            if i < n:
                t = ~self._built[j] if todo is None else todo[j]
                total += int(blocks.count_blocks(np.where(t, self._masks[i], np.uint64(0))))
        total *= BLOCK_BYTES
        max_s = int(_SCALES[lo:n].max(initial=1))
        used = int(np.count_nonzero(self.band_count))
        s = 2
        while s <= max_s:
            total += used * (hp // s) * (wp // s) * 16
            s *= 2
        return total

    def ensure_levels(self, n: int) -> None:
        """Build pyramid levels 1..n-1 that are not built yet (every tile).

        Raises :class:`DeviceError` instead of running the machine out of memory."""
        with _KERNEL_LOCK, _interruptible():
            self._ensure_levels(n)

    def _ensure_levels(self, n: int, need: np.ndarray | None = None) -> None:
        """Levels up to n-1: the downsampled ones whole (after ``prepare_for``: the tiles the box reads), the
        scale-1 ones in the tiles ``need`` marks (None: all; see
        :func:`deocused.render.cpu.refocus.full_levels_needed`)."""
        n = min(n, _N_RADII)
        nf = sum(1 for i in _FULL if i < n)
        todo = ~self._built[:nf]
        if need is not None:
            todo &= need[:nf]
        if n <= self._n_levels and not todo.any():
            return
        cpu_jit.ensure("levels")
        bytes_, free = self.level_bytes(n, todo), available_memory()
        if free is not None and bytes_ > 0.8 * free:
            h, w = self.shape
            raise DeviceError(f"not enough memory to blur the {w}x{h} image up to {LEVEL_RADII[n - 1]:g} px: "
                              f"needs {bytes_ / 2**30:.1f} GiB, {free / 2**30:.1f} GiB available; "
                              "use a smaller image or a smaller --max-blur")
        nb, used = self.n_bands, int(np.count_nonzero(self.band_count))
        cur_s, cur = 1, None  # per-band box means (and block masks) at scale cur_s
        # A whole group always, with ``build`` naming what to build: the tiles' windows (so
        # the sums) do not depend on what is built.
        for group in _GROUPS:
            if group[0] >= n:
                break
            s = int(_SCALES[group[0]])
            if s == 1:
                build = np.concatenate([todo, np.zeros((len(_FULL) - nf,) + todo.shape[1:], np.bool_)])
            else:
                build = np.array([self._n_levels <= k < n for k in group])[:, None, None]
                build = np.broadcast_to(build, (len(group),) + self._masks[group[0]].shape).copy()  # one kernel type
                self._only_box_tiles(build, s)
            if not build.any():
                continue
            masks = np.stack([self._masks[k] for k in group])
            self._next_block = blocks.number_blocks(self._tables, self._slots, self._soff[list(group)], build, nb,
                                                    self._next_block)
            slots = np.stack([self._slots[self._soff[k]: self._soff[k] + masks[0].size * nb].reshape(masks[0].shape + (nb,))
                              for k in group])
            plan = self._plan(tuple(group))
            if s == 1:
                ck.conv_full(self._image_p, self._band_p, self._codes, nb, plan, masks, slots, build, self._pool,
                             np.float32(OUTLINE_STEPS))
                self._built |= build
                continue
            while cur_s < s:
                cur = (ck.down_from_image(self._image_p, self._band_p, self._codes, nb, self._bidx, used,
                                          np.float32(OUTLINE_STEPS), self._scratch.take) if cur is None
                       else ck.down_from_down(*cur, 2 * cur_s, self._scratch.take))
                cur_s *= 2
            ck.conv_down(cur[0], self._bidx, nb, plan, masks, slots, build, self._pool)
        self._n_levels = max(self._n_levels, n)
        if self._box is None:  # the box means are kept for a next strip or region (a window about as large),
            del cur  # not after a whole image (a viewer's fit view: 100 MB more at the 24 MP viewer's peak)
            self._scratch.drop("down")

    def _only_box_tiles(self, build: np.ndarray, s: int) -> None:
        """Clear ``build`` (levels, tile rows, tile cols) of a level group at scale ``s`` outside the tiles
        that the pixels of the prepared box read (bilinear: the level pixels around pixel / s, one more
        either side), in rows and in columns (a zoomed view's box is narrower than its window). Every later
        render lies within the box (see :meth:`_render`); the cat-eye's taps read around the pixel, so with
        it every tile is built."""
        if self._box is None or self.cat_eye > 0:
            return
        x0, y0, x1, y1 = self._box
        for axis, a, b in ((1, y0, y1), (2, x0, x1)):
            n = self._band_p.shape[axis - 1] // s
            lo = max(int(np.floor((a + 0.5) / s - 0.5)) - 1, 0)
            hi = min(int(np.floor((b - 0.5) / s - 0.5)) + 2, n - 1)
            index = [slice(None)] * 3
            index[axis] = slice(None, lo // ck.TILE)
            build[tuple(index)] = False
            index[axis] = slice(hi // ck.TILE + 1, None)
            build[tuple(index)] = False

    # -- per focus -----------------------------------------------------------------------
    def render(self, focus_disparity: float, max_blur: float, dof: float = 0.0) -> np.ndarray:
        with _KERNEL_LOCK, _interruptible():
            cpu_jit.ensure(*self._groups)
            return self._render(focus_disparity, max_blur, dof)

    def render_crop(self, focus_disparity: float, max_blur: float, dof: float, box) -> np.ndarray:
        """Only the tiles under ``box`` are rendered, and only their full-resolution level tiles built."""
        with _KERNEL_LOCK, _interruptible():
            cpu_jit.ensure(*self._groups)
            x0, y0, x1, y1 = box
            dy, dx = y0 % ck.TILE, x0 % ck.TILE  # _render's array starts at the corner of the box's first tile
            return self._render(focus_disparity, max_blur, dof, box)[dy:dy + y1 - y0, dx:dx + x1 - x0]

    def _render(self, focus_disparity: float, max_blur: float, dof: float = 0.0, box=None) -> np.ndarray:
        """The refocused image (h, w, 3); with ``box`` (x0, y0, x1, y1) only the tiles it touches
        (an array of their size, its origin at the first tile's corner)."""
        self.check_prepared()
        self.check_focus(focus_disparity, max_blur, dof)
        h, w = self.shape
        n = self.n_bands
        prepared = getattr(self, "_box", None)
        if prepared is not None and (box is None or not (prepared[0] <= box[0] and prepared[1] <= box[1]
                                                         and box[2] <= prepared[2] and box[3] <= prepared[3])):
            raise RuntimeError(f"render of {box or 'the whole image'} after prepare_for({prepared})")
        band_radius, need = self._band_radii(focus_disparity, max_blur, dof)
        need = min(need, _N_RADII)
        n_levels = max(self._n_levels, need)  # the levels this render interpolates between
        band_i, band_w = level_weights(band_radius, n_levels)
        act = self.band_count > 0  # non-empty; at radius 0 a front band adds the outline splits behind it
        below = np.full(n, -1, np.int64)
        for b in range(1, n):
            below[b] = b - 1 if act[b - 1] else below[b - 1]
        hp, wp = self._band_p.shape
        lh, lw = hp // _SCALES, wp // _SCALES
        band_i = band_i.astype(np.int64)
        front = cr.front_tiles(self._mask_flat, self._moff, self._ntx, _SCALES, lh, lw, band_i, band_w, act,
                               self._split_masks, n, -(-h // ck.TILE), -(-w // ck.TILE))
        front = cat_tiles.grow_front(front, self.cat_eye, band_radius, act)
        t = ck.TILE
        x0, y0, x1, y1 = (0, 0, w, h) if box is None else box
        ty0, ty1, tx0, tx1 = y0 // t, -(-y1 // t), x0 // t, -(-x1 // t)
        radii = np.asarray(LEVEL_RADII, np.float32)
        f32 = np.float32
        focus = cr.Focus(f32(focus_disparity), f32(max_blur), f32(dof))
        # The downsampled levels the radii need, whole; the full-resolution ones only in
        # the tiles this render reads (the rest when a later render or ensure_levels needs them).
        full = cr.full_levels_needed(*self._tile_stats, front, *focus, radii, n_levels, band_i, below, len(_FULL),
                                     f32(HIDDEN_FILL_RADIUS))
        full = cat_tiles.levels_read(full, self.cat_eye, self._tile_stats, front, focus, band_radius, n_levels, below)
        if box is not None:  # a pixel reads the scale-1 level tiles it lies in only (and, with the
            inside = np.zeros(full.shape[1:], np.bool_)  # cat-eye, those its taps reach)
            g = cat_tiles.reach_tiles(self.cat_eye)
            inside[max(ty0 - g, 0):ty1 + g, max(tx0 - g, 0):tx1 + g] = True
            full &= inside
        self._ensure_levels(need, full)
        out = np.empty((min(ty1 * t, h) - ty0 * t, min(tx1 * t, w) - tx0 * t, 3), np.float32)
        levels = cr.Levels(self._slots, self._soff, self._ntx, n, self._pool.reshape(-1), _SCALES, lh, lw)
        level0 = cr.Level0(self._image_p, self._band_p, self._codes, f32(OUTLINE_STEPS))
        fill = cr.Fill(f32(EPS), f32(FILL_BEHIND_RAMP), f32(FILL_MIN_COVER), f32(FILL_COVER_RAMP),
                       f32(HIDDEN_FILL_RADIUS), f32(HIDDEN_MIN_SHARE))
        cr.refocus(levels, level0, self.disparity, focus, radii, self._n_levels, cr.BandLevels(band_i, band_w, below),
                   front, fill, cat_tiles.kernel_args(self.cat_eye, self.place, band_radius),
                   np.arange(ty0, ty1, dtype=np.int64), (tx0, tx1), out)
        return out
