"""GPU backend: the CPU backend's algorithm as hand-written CUDA kernels (CuPy).

Same algorithm, same pyramid layout, same results (within float16 storage and
summation-order rounding) as :class:`deocused.render.cpu.backend.CpuRenderer`; see that
module for the algorithm and :mod:`deocused.render.pyramid` for the pyramid. Kernels live
beside this module (``engine/render/gpu/*.cu``) and are compiled once per process with
``cupy.RawModule``:

* ``pyramid.cu`` -- input packing (``ingest``: highlight boost, per-band statistics), box
  downsampling of all layers, the 2-D convolutions (shared-memory tiles,
  per-tile band ranges so that only the layers that differ inside a tile are
  convolved), storing float16 RGBA levels into one packed buffer.
* ``refocus.cu`` -- per pixel: level selection, own band + hidden part + behind, front bands "over".

Buffers are allocated once per image size (input copies, packed image, the
packed level buffer for *all* ``LEVEL_RADII`` levels, downsampled layers, the
output) and reused by later ``prepare()`` calls of the same size and by every
``render()``. Levels are built lazily (as on the CPU) on the GPU when a render
needs a larger radius; ``render()`` has no host round trip. ``prepare()`` reads
back one small statistics array (validation, band counts and centres).

All work is issued on ``self.stream`` (the caller's, or a renderer-owned
non-blocking stream). ``render()`` makes the caller's current stream wait for
it, so the returned array can be used on the current stream right away. The
returned array is the renderer's output buffer: the next ``render()``
overwrites it (``.copy()`` it to keep it; ``prepare()`` and ``render()`` first
make the renderer's stream wait for the work already queued on the caller's
current stream, so such a copy is not overwritten before it runs).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import numpy as np

from ... import constants
from ...constants import (
    CAT_EYE_TAPS,
    EPS,
    FILL_BEHIND_RAMP,
    FILL_COVER_RAMP,
    FILL_MIN_COVER,
    HIGHLIGHT_THRESHOLD,
    MAX_BANDS,
    OUTLINE_FLATNESS,
    OUTLINE_MAX_SHARE,
    OUTLINE_STEPS,
)
from ...errors import DeviceError, GpuMemoryError, InputError
from ..pyramid import (
    DEFAULT_BANDS,
    LEVEL_RADII,
    level_scale,
    padded_shape,
)
from ..renderer import Renderer

try:  # importable without CuPy (make_renderer only gets here when CuPy works)
    import cupy as cp
except Exception:  # pragma: no cover - exercised on machines without CuPy
    cp = None

KERNEL_DIR = Path(__file__).resolve().parent  # the .cu files sit beside this module
TILE = 16  # convolution tile edge (threads per block side) of pyramid.cu, pixels
REFOCUS_BLOCK = (32, 8, 1)


def _f32_literal(x: float) -> str:
    """``x`` rounded to float32, as a C float literal that reads back exactly."""
    text = f"{float(np.float32(x)):.9g}"
    return (text if any(c in text for c in ".e") else text + ".0") + "f"  # "126f" is not C


def kernel_defines() -> tuple[str, ...]:
    """The ``-D`` options that give the kernels their constants (see common.cuh).

    Values come from :mod:`deocused.constants` and :mod:`deocused.render.pyramid`, so the
    ``.cu`` sources never repeat them. ``HIGHLIGHT_RANGE`` is ``1 - threshold``
    computed as :func:`deocused.render.renderer.boost_highlights` does (float64, then float32).
    """
    return (
        f"-DEPS={_f32_literal(EPS)}",
        f"-DFILL_BEHIND_RAMP={_f32_literal(FILL_BEHIND_RAMP)}",
        f"-DFILL_MIN_COVER={_f32_literal(FILL_MIN_COVER)}",
        f"-DFILL_COVER_RAMP={_f32_literal(FILL_COVER_RAMP)}",
        *(f"-D{name}={_f32_literal(getattr(constants, name))}" for name in ("HIDDEN_FILL_RADIUS", "HIDDEN_MIN_SHARE")),
        f"-DHIGHLIGHT_THRESHOLD={_f32_literal(HIGHLIGHT_THRESHOLD)}",
        f"-DHIGHLIGHT_RANGE={_f32_literal(1.0 - HIGHLIGHT_THRESHOLD)}",
        f"-DMAX_BANDS={MAX_BANDS}",
        f"-DCAT_EYE_TAPS={CAT_EYE_TAPS}",
        f"-DOUTLINE_FLATNESS={_f32_literal(OUTLINE_FLATNESS)}",
        f"-DOUTLINE_MAX_SHARE={_f32_literal(OUTLINE_MAX_SHARE)}",
        f"-DOUTLINE_STEPS={_f32_literal(OUTLINE_STEPS)}",
        f"-DMAX_LEVELS={len(LEVEL_RADII)}",
        f"-DTILE={TILE}",
    )


def _headers_digest() -> str:
    """Digest of the kernels' headers. CuPy caches compiled modules on disk by source text
    and options, not by the files a source includes: passing this as a define makes an
    edited header recompile the modules that include it."""
    h = hashlib.sha256()
    for path in sorted(KERNEL_DIR.glob("*.cuh")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


#: Options of every kernel compile (CuPy passes them to NVRTC; tests/render/test_nvrtc.py
#: compiles with exactly these).
NVRTC_OPTIONS = ("--std=c++14", f"-I{KERNEL_DIR}", *kernel_defines(), f"-DKERNEL_HEADERS_SHA={_headers_digest()}")


@cache
def _module(name: str, device_id: int):
    """Compiled RawModule of ``<name>`` (beside this module) for one device (cached per process)."""
    return cp.RawModule(code=(KERNEL_DIR / name).read_text(), options=NVRTC_OPTIONS)


def _is_oom(exc: BaseException) -> bool:
    if cp is not None and isinstance(exc, cp.cuda.memory.OutOfMemoryError):
        return True
    text = str(exc)
    return "cudaErrorMemoryAllocation" in text or "CUDA_ERROR_OUT_OF_MEMORY" in text


class GpuRenderer(Renderer):
    """CuPy/CUDA implementation of the refocus renderer.

    ``stream``: a ``cupy.cuda.Stream`` to issue all work on (default: a new
    non-blocking stream owned by the renderer).
    """

    device = "gpu"

    def __init__(self, aperture=None, n_bands: int = DEFAULT_BANDS, highlights: float = 0.0, stream=None,
                 cat_eye: float = 0.0):
        super().__init__(aperture, n_bands, highlights, cat_eye)
        if cp is None:
            raise DeviceError("--device gpu: CuPy is not installed; install with: pip install 'deocused[gpu]'")
        self.stream = stream if stream is not None else cp.cuda.Stream(non_blocking=True)
        self._done = cp.cuda.Event(disable_timing=True)
        self._caller = cp.cuda.Event(disable_timing=True)
        dev = cp.cuda.Device().id
        self._device_id = dev
        pyr, ref = _module("pyramid.cu", dev), _module("refocus.cu", dev)
        self._k_stats_init = pyr.get_function("stats_init")
        self._k_ingest = pyr.get_function("ingest")
        self._k_outline_codes = pyr.get_function("outline_codes")
        self._k_down_from_image = pyr.get_function("down_from_image")
        self._k_down_from_down = pyr.get_function("down_from_down")
        self._k_conv_full = pyr.get_function("conv_full")
        self._k_conv_down = pyr.get_function("conv_down")
        self._k_refocus = ref.get_function("refocus")
        # Per-level layout that does not depend on the image size.
        self._n_radii = len(LEVEL_RADII)
        self._scales = [level_scale(r) for r in LEVEL_RADII]
        self._alloc_shape: tuple[int, int] | None = None
        self._consts = None  # device copies of the size-independent tables
        self.shape = None

    # -- buffers -------------------------------------------------------------------------
    def _upload_consts(self) -> None:
        """Size-independent device tables: kernel weights, radii (once per renderer)."""
        if self._consts is not None:
            return
        offs, pos = [], 0
        for k in self._kernels:
            offs.append(pos)
            pos += k.size
        weights = np.concatenate([k.ravel() for k in self._kernels]).astype(np.float32)
        with self.stream:
            self._consts = {
                "weights": cp.asarray(weights),
                "weight_off": offs,
                "radii": cp.asarray(np.asarray(LEVEL_RADII, np.float32)),
            }

    def _layout(self, h: int, w: int):
        hp, wp = padded_shape(h, w)
        n = self.n_bands
        lw, lh, offsets = [], [], np.zeros((self._n_radii, n), np.int64)
        pos = 0
        for i, s in enumerate(self._scales):
            lw.append(wp // s)
            lh.append(hp // s)
            if i == 0:
                continue  # level 0 is the image itself
            for j in range(n):
                offsets[i, j] = pos
                pos += (hp // s) * (wp // s)
        return hp, wp, np.array(lw, np.int32), np.array(lh, np.int32), offsets, pos

    def bytes_needed(self, h: int, w: int) -> int:
        """Device memory this renderer allocates for an h x w image (bytes)."""
        hp, wp, _, _, _, total = self._layout(h, w)
        n = self.n_bands
        down = sum(n * (hp // s) * (wp // s) * 18 for s in sorted(set(self._scales)) if s > 1)
        return total * 8 + down + h * w * (12 + 4 + 16 + 1 + 12)

    def _allocate(self, h: int, w: int) -> None:
        """Allocate every per-size buffer (once per image size)."""
        self._release()
        hp, wp, lw, lh, offsets, total = self._layout(h, w)
        n = self.n_bands
        with self.stream:
            b = {}
            b["image"] = cp.empty((h, w, 3), cp.float32)    # upload target for host inputs
            b["disp"] = cp.empty((h, w), cp.float32)
            b["img4"] = cp.empty((h, w, 4), cp.float32)     # boosted rgb + disparity
            b["codes"] = cp.empty((h, w), cp.uint8)         # outline splits
            b["out"] = cp.empty((h, w, 3), cp.float32)
            b["levels"] = cp.empty((max(total, 1), 4), cp.float16)  # packed RGBA levels 1..
            b["table"] = cp.asarray(offsets.ravel())
            b["lvl_w"], b["lvl_h"] = cp.asarray(lw), cp.asarray(lh)
            b["lvl_s"] = cp.asarray(np.array(self._scales, np.int32))
            b["stats_i"] = cp.empty(n + 4, cp.int32)
            b["stats_d"] = cp.empty(n, cp.float64)
            b["centre"] = cp.empty(n, cp.float32)
            b["count"] = cp.empty(n, cp.int32)
            for s in sorted(set(self._scales)):
                if s > 1:
                    b[("down", s)] = cp.empty((n, hp // s, wp // s, 4), cp.float32)
                    b[("range", s)] = cp.empty((hp // s, wp // s, 2), cp.uint8)
        self._buf = b
        self._lw, self._lh = lw, lh
        self._alloc_shape = (h, w)

    def _release(self) -> None:
        self._buf = {}
        self._alloc_shape = None
        self.shape = None

    def buffer_pointers(self) -> dict:
        """Device pointers of the per-size buffers (to check that they are reused)."""
        return {k if isinstance(k, str) else f"{k[0]}{k[1]}": v.data.ptr for k, v in self._buf.items()}

    # -- errors --------------------------------------------------------------------------
    def _oom(self, h: int, w: int) -> GpuMemoryError:
        self._release()
        try:
            need = self.bytes_needed(h, w) / 2**30
            free, total = cp.cuda.runtime.memGetInfo()
            detail = f" (needs about {need:.1f} GiB, {total / 2**30:.0f} GiB on the GPU)"
        except Exception:
            detail = ""
        return GpuMemoryError(f"GPU out of memory for the {w}x{h} image{detail}; "
                           "use a smaller image or --device cpu")

    # -- prepare -------------------------------------------------------------------------
    def prepare(self, image_linear, disparity, whole=None, place=None) -> None:
        self.check_shapes(image_linear, disparity)  # the value checks run on the GPU
        self._set_place(place, *disparity.shape)
        if not isinstance(image_linear, cp.ndarray):
            image_linear = np.asarray(image_linear, np.float32)
        if not isinstance(disparity, cp.ndarray):
            disparity = np.asarray(disparity, np.float32)
        h, w = disparity.shape
        try:
            self._prepare(image_linear, disparity, h, w, whole)
        except InputError:
            self.shape = None
            raise
        except Exception as e:
            if not _is_oom(e):
                raise
            oom = True  # raised below, outside this block: the error must not keep the
        else:           # failed allocation's traceback (and the buffers in its frames) alive
            oom = False
        if oom:
            raise self._oom(h, w)

    def _device_input(self, a, target, shape):
        """``a`` as a C-contiguous float32 device array (uploaded into ``target`` if host)."""
        if isinstance(a, cp.ndarray):
            if a.dtype == cp.float32 and a.flags.c_contiguous:
                return a
            return cp.ascontiguousarray(a, dtype=cp.float32)  # on self.stream (caller's `with`)
        target.set(np.ascontiguousarray(a, dtype=np.float32).reshape(shape), stream=self.stream)
        return target

    def _prepare(self, image, disp, h: int, w: int, whole=None) -> None:
        n = self.n_bands
        self._upload_consts()
        if self._alloc_shape != (h, w):
            self._allocate(h, w)
        b = self._buf
        # Inputs made on the caller's stream (and earlier outputs still being read there):
        # ours must wait for them.
        self._wait_for_caller()
        with self.stream:
            img = self._device_input(image, b["image"], (h, w, 3))
            dsp = self._device_input(disp, b["disp"], (h, w))
            n_pix = h * w
            self._k_stats_init((1,), (64,), (b["stats_i"], b["stats_d"], np.int32(n)))
            self._k_ingest(((n_pix + 255) // 256,), (256,),
                           (img, dsp, np.int64(n_pix), np.int32(n), np.float32(max(self.highlights, 0.0)),
                            b["img4"], b["stats_i"], b["stats_d"]))
            self._k_outline_codes(((w + 15) // 16, (h + 15) // 16), (16, 16),
                                  (b["img4"], np.int32(w), np.int32(h), np.int32(n), b["codes"]))
            stats_i = b["stats_i"].get(stream=self.stream)  # synchronises the stream
            stats_d = b["stats_d"].get(stream=self.stream)
        dmin, dmax = _unordered(stats_i[n]), _unordered(stats_i[n + 1])  # of the finite disparities
        self.refuse_values(stats_i[n + 2] > 0, stats_i[n + 3] > 0, dmin < 0.0 or dmax > 1.0)
        self._set_bands(stats_i[:n].astype(np.int64), stats_d, dmin, dmax, whole)
        b["centre"].set(self.band_centre, stream=self.stream)
        b["count"].set(self.band_count.astype(np.int32), stream=self.stream)
        self._n_levels = 1      # levels 1.. are built lazily by render()
        self._down_done = set()
        self.shape = (h, w)

    # -- pyramid -------------------------------------------------------------------------
    def _ensure_down(self, s: int) -> None:
        """Box-downsampled layers of every scale 2, 4, .. s (each from the previous one)."""
        b, n = self._buf, self.n_bands
        h, w = self.shape
        t = 2
        while t <= s:
            if t not in self._down_done:
                hl, wl = int(self._lh[0]) // t, int(self._lw[0]) // t
                grid = ((wl + 15) // 16, (hl + 15) // 16)
                with self.stream:
                    out = (b[("down", t)], b[("range", t)], np.int32(wl), np.int32(hl))
                    if t == 2:
                        self._k_down_from_image(grid, (16, 16), (b["img4"], b["codes"], np.int32(w), np.int32(h),
                                                                 np.int32(n), *out))
                    else:
                        self._k_down_from_down(grid, (16, 16), (b[("down", t // 2)], b[("range", t // 2)],
                                                                np.int32(n), *out))
                self._down_done.add(t)
            t *= 2

    def ensure_levels(self, n_levels: int) -> None:
        """Build levels ``self._n_levels .. n_levels - 1`` of every layer (on the stream)."""
        n_levels = min(n_levels, self._n_radii)
        b, n, c = self._buf, self.n_bands, self._consts
        h, w = self.shape
        for i in range(self._n_levels, n_levels):
            s = self._scales[i]
            k = self._kernels[i]
            R = k.shape[0] // 2
            wl, hl = int(self._lw[i]), int(self._lh[i])
            weights = c["weights"][c["weight_off"][i]: c["weight_off"][i] + k.size]
            layer_off = b["table"][i * n: (i + 1) * n]
            # conv_full: own and split RGBA (2 x 16 B) + packed bands (4 B) per tile pixel
            smem = ((TILE + 2 * R) ** 2) * (36 if s == 1 else 16) + k.size * 4
            grid = ((wl + TILE - 1) // TILE, (hl + TILE - 1) // TILE)
            if s == 1:
                fn = self._k_conv_full
                args = (b["img4"], b["codes"], np.int32(w), np.int32(h), np.int32(n), weights, np.int32(R),
                        b["levels"], layer_off, np.int32(wl), np.int32(hl))
            else:
                self._ensure_down(s)
                fn = self._k_conv_down
                args = (b[("down", s)], b[("range", s)], np.int32(n), weights, np.int32(R),
                        b["levels"], layer_off, np.int32(wl), np.int32(hl))
            if smem > 48 * 1024:
                fn.max_dynamic_shared_size_bytes = smem
            with self.stream:
                fn(grid, (TILE, TILE), args, shared_mem=smem)
        self._n_levels = max(self._n_levels, n_levels)

    # -- per focus -----------------------------------------------------------------------
    def render(self, focus_disparity: float, max_blur: float, dof: float = 0.0):
        self.check_prepared()
        self.check_focus(focus_disparity, max_blur, dof)
        try:
            return self._render(float(focus_disparity), float(max_blur), float(dof))
        except Exception as e:
            if not _is_oom(e):
                raise
        h, w = self.shape  # out of memory: raised outside the except block (see prepare)
        raise self._oom(h, w)

    def _render(self, focus_disparity: float, max_blur: float, dof: float):
        h, w = self.shape
        n, b, c = self.n_bands, self._buf, self._consts
        _, n_levels = self._band_radii(focus_disparity, max_blur, dof)  # as the CPU computes them
        self.ensure_levels(n_levels)
        # The output buffer is overwritten: work the caller queued on its stream on the
        # previous result (e.g. a .copy()) must finish first.
        self._wait_for_caller()
        bx, by, _ = REFOCUS_BLOCK
        with self.stream:
            self._k_refocus(((w + bx - 1) // bx, (h + by - 1) // by), REFOCUS_BLOCK,
                        (b["img4"], b["codes"], np.int32(w), np.int32(h), np.int32(n), np.int32(n_levels),
                         np.float32(focus_disparity), np.float32(max_blur), np.float32(dof),
                         b["levels"], b["table"], b["lvl_w"], b["lvl_h"], b["lvl_s"], c["radii"],
                         np.int32(self._n_radii), b["centre"], b["count"], *self._cat_args(), b["out"]))
        # Let the caller's current stream see the result without a host sync.
        cur = cp.cuda.get_current_stream()
        if cur.ptr != self.stream.ptr:
            self._done.record(self.stream)
            cur.wait_event(self._done)
        return b["out"]

    def _cat_args(self) -> tuple:
        """refocus.cu's cat-eye arguments: strength (0: off), the place's centre offsets
        x0 + 0.5 - width / 2, y0 + 0.5 - height / 2 and 1 / half the photo's diagonal (float32)."""
        x0, y0, w, h = self.place
        return (np.float32(self.cat_eye), np.float32(x0 + 0.5 - 0.5 * w), np.float32(y0 + 0.5 - 0.5 * h),
                np.float32(1.0 / (0.5 * np.hypot(w, h))))

    def _wait_for_caller(self) -> None:
        """Make ``self.stream`` wait for the work queued so far on the caller's current stream."""
        cur = cp.cuda.get_current_stream()
        if cur.ptr != self.stream.ptr:
            self._caller.record(cur)
            self.stream.wait_event(self._caller)

    def to_host(self, array) -> np.ndarray:
        if isinstance(array, cp.ndarray):
            # On the current stream: render() made it wait for the renderer's stream,
            # and arrays derived from the result (render_srgb8) were made on it.
            return cp.asnumpy(array)
        return np.asarray(array)

    def synchronize(self) -> None:
        """Wait until all work issued by this renderer has finished."""
        self.stream.synchronize()


def _unordered(i) -> float:
    """Inverse of pyramid.cu's ordered(): the float whose order-preserving int is ``i``."""
    i = int(np.int32(i))
    bits = i if i >= 0 else i ^ 0x7FFFFFFF
    return float(np.array([bits], np.int32).view(np.float32)[0])
