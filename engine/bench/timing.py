"""Timers, statistics and the memory-bandwidth floor of the refocus step.

Every benchmark in the project times through this module:

* :class:`CpuTimer` -- ``time.perf_counter`` around each call; given a
  ``sync`` callable (e.g. :meth:`deocused.render.renderer.Renderer.synchronize`) it
  waits for queued device work before stopping the clock.
* :class:`GpuTimer` -- CUDA events on a stream (CuPy imported only here).

Times are milliseconds.
"""

from __future__ import annotations

import time

import numpy as np


class CpuTimer:
    """Wall-clock timer (ms); ``sync`` is called after each timed call (before the clock stops)."""

    name = "perf_counter"

    def __init__(self, sync=None):
        self.sync_fn = sync

    def on(self, stream) -> CpuTimer:
        return self

    def sync(self) -> None:
        if self.sync_fn is not None:
            self.sync_fn()

    def __call__(self, fn, repeat: int, warmup: int) -> list[float]:
        for i in range(warmup):
            fn(i)
        self.sync()
        out = []
        for i in range(repeat):
            t0 = time.perf_counter()
            fn(i)
            self.sync()
            out.append(1e3 * (time.perf_counter() - t0))
        return out


class GpuTimer:
    """Times with CUDA events on ``stream`` (None: the current stream)."""

    name = "cuda_event"

    def __init__(self, stream=None):
        import cupy

        self.cp = cupy
        self.stream = stream

    def on(self, stream) -> GpuTimer:
        """The same timer, recording its events on ``stream`` (a renderer's own stream)."""
        return GpuTimer(stream)

    def sync(self) -> None:
        self.cp.cuda.Stream.null.synchronize()
        self.cp.cuda.get_current_stream().synchronize()
        if self.stream is not None:
            self.stream.synchronize()

    def __call__(self, fn, repeat: int, warmup: int, budget_s: float | None = None) -> list[float]:
        """Times (ms) of ``fn(i)``; with ``budget_s``, fewer runs (at least 3) when one run is slow."""
        cp = self.cp
        for i in range(warmup):
            fn(i)
        self.sync()
        if budget_s is not None:
            t0 = time.perf_counter()
            fn(0)
            self.sync()
            one = time.perf_counter() - t0
            repeat = int(min(repeat, max(3, budget_s / max(one, 1e-6))))
        out = []
        for i in range(repeat):
            start, end = cp.cuda.Event(), cp.cuda.Event()
            start.record(self.stream)
            fn(i)
            end.record(self.stream)
            end.synchronize()
            out.append(float(cp.cuda.get_elapsed_time(start, end)))
        return out


def wall_and_cpu(fn, repeat: int, warmup: int = 1) -> tuple[list[float], list[float]]:
    """Wall and process CPU milliseconds of ``repeat`` calls of ``fn()`` after ``warmup`` untimed
    ones: the bench scripts' timer (CPU time is the figure to compare on a shared machine)."""
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(1e3 * (time.perf_counter() - w))
        cpus.append(1e3 * (time.process_time() - c))
    return walls, cpus


def summarise(samples_ms: list[float], megapixels: float) -> dict:
    """Median, p95, min, mean (ms) and the frames/s and megapixels/s the median implies."""
    a = np.asarray(samples_ms, np.float64)
    med = float(np.median(a))
    fps = 1e3 / med if med > 0 else None
    return {"samples_ms": [round(float(v), 4) for v in a], "median_ms": round(med, 4),
            "p95_ms": round(float(np.percentile(a, 95)), 4), "min_ms": round(float(a.min()), 4),
            "mean_ms": round(float(a.mean()), 4),
            "fps": None if fps is None else round(fps, 4),
            "megapixels_per_s": None if fps is None else round(fps * megapixels, 4)}


def copy_bandwidth(dev: str, repeat: int = 5) -> dict:
    """Measured copy bandwidth of ``dev`` ("cpu": NumPy host copy, 64 MiB; "gpu": device copy, 256 MiB).

    ``gb_per_s`` counts bytes read + written (1e9 bytes per GB).
    """
    nbytes = 256 * 2 ** 20 if dev == "gpu" else 64 * 2 ** 20
    try:
        if dev == "gpu":
            import cupy as cp

            src = cp.ones(nbytes // 4, cp.float32)
            dst = cp.empty_like(src)
            timer = GpuTimer()
        else:
            src = np.ones(nbytes // 4, np.float32)
            dst = np.empty_like(src)
            timer = CpuTimer()
        samples = timer(lambda i: dst.__setitem__(Ellipsis, src), max(repeat, 5), 2)
    except Exception as e:
        return {"device": dev, "copy_bytes": nbytes, "median_ms": None, "gb_per_s": None,
                "note": f"not measured ({type(e).__name__}: {e})"}
    med = float(np.median(samples))
    return {"device": dev, "copy_bytes": nbytes, "median_ms": round(med, 4),
            "gb_per_s": round(2 * nbytes / (med * 1e-3) / 1e9, 3),
            "note": "device-to-device copy; bandwidth counts read + write" if dev == "gpu"
            else "host memory copy (numpy); bandwidth counts read + write"}


def refocus_min_bytes(disparity: np.ndarray, focus_disparity: float, max_blur: float) -> int:
    """Bytes the refocus step must at least move for one frame (an approximate lower bound).

    Per pixel: read its disparity (4 B float32) and write its colour (12 B RGB
    float32); read the two pyramid levels its radius falls between for its own
    layer and the layer behind it (2 x 2 RGBA float16 texels, 8 B each; a level
    stored at 1/s resolution is shared by s*s pixels, so 8/s^2 B per pixel; level
    0 is the image, 12 B per pixel, read once). Compositing the bands in front
    and any re-reads are extra, so real traffic is higher.
    """
    from ..render.optics import coc_radius
    from ..render.pyramid import LEVEL_RADII, level_scale, level_weights, levels_needed

    d = np.asarray(disparity, np.float32)
    r = coc_radius(d, focus_disparity, max_blur).astype(np.float32)
    n_levels = levels_needed(float(r.max()))
    i_lo, _ = level_weights(r, n_levels)
    cost = np.array([12.0] + [2 * 8.0 / level_scale(rho) ** 2 for rho in LEVEL_RADII[1:]] + [0.0])
    total = d.size * (4 + 12) + float(cost[i_lo].sum())
    if n_levels > 1:
        total += float(cost[i_lo + 1].sum())
    return int(total)


def refocus_floor(bandwidth: dict | None, disparity, foci, max_blur: float, measured_ms: float | None) -> dict:
    """The bandwidth floor of one refocus (ms) and the fraction of it the measured time reaches."""
    nbytes = int(np.mean([refocus_min_bytes(disparity, f, max_blur) for f in foci]))
    floor_ms = None
    if bandwidth and bandwidth.get("gb_per_s"):
        floor_ms = round(nbytes / (bandwidth["gb_per_s"] * 1e9) * 1e3, 4)
    return {"bytes": nbytes, "floor_ms": floor_ms, "refocus_median_ms": measured_ms,
            "fraction_of_floor": round(floor_ms / measured_ms, 6) if floor_ms and measured_ms else None}
