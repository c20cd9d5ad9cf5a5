"""``refocus bench``: stage-by-stage throughput of the refocus engine.

Every stage is timed on its own, after a warm-up, ``--repeat`` times; the
median and the 95th percentile are reported with the throughput they imply
(frames/s and megapixels/s). CPU stages use ``time.perf_counter``; GPU stages
use CUDA events (``cupy.cuda.Event``; CuPy is imported only when the GPU is
benchmarked).

Stages (``device`` is the renderer's device; ``host`` stages run on the CPU
whatever is benchmarked, except depth inference, which runs where its library
puts it):

* ``decode_jpeg`` / ``decode_png`` (host): image bytes -> float32 sRGB
  (:func:`engine.images.decode_image`).
* ``depth`` (host): depth inference with each model whose weights are cached
  (``engine.depth.DepthWorker(...).infer``), at the model's input size;
  skipped, with the reason, when no model is available.
* ``to_linear``: sRGB -> linear light (:func:`engine.colour.srgb_to_linear`).
* ``pyramid``: :meth:`Renderer.prepare` plus the pyramid levels needed for
  ``max_blur`` (the CPU backend builds levels lazily; they are forced here).
* ``refocus``: :meth:`Renderer.render` with the pyramid reused, alternating two
  focus disparities (what a click in the viewer costs).
* ``full_frame``: prepare + render of a new frame (what a live video frame costs).
* ``display``: CPU: 8-bit sRGB encode of the rendered frame; GPU: host->device
  upload of an 8-bit frame.
* ``baseline_stack`` / ``baseline_select`` / ``baseline_full``: the original
  project's approach on the same inputs: 8 Gaussian-blurred copies (sigma 0..K/2,
  OpenCV on the CPU, ``cupyx.scipy.ndimage.gaussian_filter`` on the GPU) and a
  per-pixel linear interpolation between the two nearest copies by blur radius.

``pyramid``, ``refocus`` and ``full_frame`` also carry their ratio to the
matching baseline stage (``baseline_stack``, ``baseline_select``,
``baseline_full``) measured in the same run. The memory-bandwidth floor of the
refocus step (bytes that must move / measured copy bandwidth) is reported per
device, size and K.

Inputs: :func:`engine.samples.synthetic_scene` ray-cast at each size (exact
depth, no resampling), its disparity normalised to [0, 1].
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from .baseline import BASELINE_LEVELS, baseline_render, baseline_select, baseline_stack
from .errors import DeviceError, InputError

log = logging.getLogger("engine")

SCHEMA_VERSION = 1
DEFAULT_SIZES = "1280x720,1920x1080,3840x2160"
DEFAULT_MAX_BLUR = "16,32,64"
DEFAULT_FOCUS = (0.3, 0.7)
STAGES = ("decode_jpeg", "decode_png", "depth", "to_linear", "pyramid", "refocus", "full_frame", "display",
          "baseline_stack", "baseline_select", "baseline_full")
#: Engine stage -> the baseline stage it is compared with.
BASELINE_OF = {"pyramid": "baseline_stack", "refocus": "baseline_select", "full_frame": "baseline_full"}
K_STAGES = ("pyramid", "refocus", "full_frame", "baseline_stack", "baseline_select", "baseline_full")
NOTES = {
    "decode_jpeg": "JPEG (quality 95) bytes -> float32 sRGB, engine.images.decode_image",
    "decode_png": "PNG (8-bit) bytes -> float32 sRGB, engine.images.decode_image",
    "depth": "depth model inference incl. pre/post-processing, DepthWorker.infer",
    "to_linear": "sRGB -> linear light, engine.colour.srgb_to_linear",
    "pyramid": "Renderer.prepare + pyramid levels up to K",
    "refocus": "Renderer.render, pyramid reused, two focus values alternating",
    "full_frame": "Renderer.prepare + Renderer.render of a new frame",
    "display": {"cpu": "linear -> 8-bit sRGB encode of the frame",
                "gpu": "host -> device upload of an 8-bit RGB frame (pinned host memory)"},
    "baseline_stack": "8 Gaussian-blurred copies, sigma 0..K/2",
    "baseline_select": "per-pixel linear interpolation between the two nearest copies by blur radius",
    "baseline_full": "baseline_stack + baseline_select",
}


# -- arguments -------------------------------------------------------------------------------
def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"1280x720,1920x1080"`` -> [(1280, 720), (1920, 1080)] (width, height)."""
    sizes = []
    for part in str(text).split(","):
        part = part.strip().lower()
        if not part:
            continue
        try:
            w, h = (int(v) for v in part.split("x"))
        except ValueError:
            raise InputError(f"--sizes: '{part}' is not WIDTHxHEIGHT (e.g. 1920x1080)") from None
        if w < 16 or h < 16:
            raise InputError(f"--sizes: {w}x{h} is too small (at least 16x16)")
        if w * h > 100_000_000:
            raise InputError(f"--sizes: {w}x{h} is too large (at most 100 megapixels)")
        sizes.append((w, h))
    if not sizes:
        raise InputError("--sizes: no size given")
    return sizes


def parse_floats(text: str, name: str) -> list[float]:
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{name}: '{text}' is not a comma-separated list of numbers") from None
    if not vals:
        raise InputError(f"{name}: no value given")
    return vals


def parse_max_blur(text: str) -> list[float]:
    from .pyramid import MAX_RADIUS

    ks = parse_floats(text, "--max-blur")
    for k in ks:
        if not 0.0 < k <= MAX_RADIUS:
            raise InputError(f"--max-blur: {k:g} is outside (0, {MAX_RADIUS:g}] pixels")
    return ks


# -- inputs ----------------------------------------------------------------------------------
def make_inputs(width: int, height: int) -> dict:
    """The synthetic scene at ``width`` x ``height``: sRGB image, disparity, encoded bytes."""
    import cv2

    from .depthmap import to_disparity
    from .samples import synthetic_scene

    img, depth = synthetic_scene(width, height)
    disp = to_disparity((1.0 / depth).astype(np.float32), "disparity", "synthetic scene")
    bgr8 = np.rint(img[:, :, ::-1] * 255.0).astype(np.uint8)
    ok1, jpg = cv2.imencode(".jpg", bgr8, [cv2.IMWRITE_JPEG_QUALITY, 95])
    ok2, png = cv2.imencode(".png", bgr8)
    assert ok1 and ok2
    return {"srgb": img, "disparity": disp, "jpeg": jpg.tobytes(), "png": png.tobytes()}


# -- bandwidth floor -------------------------------------------------------------------------
def refocus_min_bytes(disparity: np.ndarray, focus_disparity: float, max_blur: float) -> int:
    """Bytes the refocus step must at least move for one frame (an approximate lower bound).

    Per pixel: read its disparity (4 B float32) and write its colour (12 B RGB
    float32); read the two pyramid levels its radius falls between for its own
    layer and the layer behind it (2 x 2 RGBA float16 texels, 8 B each; a level
    stored at 1/s resolution is shared by s*s pixels, so 8/s^2 B per pixel; level
    0 is the image, 12 B per pixel, read once). Compositing the bands in front
    and any re-reads are extra, so real traffic is higher.
    """
    from .pyramid import LEVEL_RADII, level_scale, level_weights, levels_needed
    from .optics import coc_radius

    d = np.asarray(disparity, np.float32)
    r = coc_radius(d, focus_disparity, max_blur).astype(np.float32)
    n_levels = levels_needed(float(r.max()))
    i_lo, _ = level_weights(r, n_levels)
    # bytes per pixel to read level L: the image (12 B) for L = 0, else own + behind layer, 8 B / s^2 each
    cost = np.array([12.0] + [2 * 8.0 / level_scale(rho) ** 2 for rho in LEVEL_RADII[1:]] + [0.0])
    total = d.size * (4 + 12) + float(cost[i_lo].sum())
    if n_levels > 1:
        total += float(cost[i_lo + 1].sum())
    return int(total)


# -- timing ----------------------------------------------------------------------------------
class CpuTimer:
    name = "perf_counter"

    def on(self, stream) -> "CpuTimer":
        return self

    def sync(self):
        pass

    def __call__(self, fn, repeat: int, warmup: int) -> list[float]:
        for i in range(warmup):
            fn(i)
        out = []
        for i in range(repeat):
            t0 = time.perf_counter()
            fn(i)
            out.append(1e3 * (time.perf_counter() - t0))
        return out


class GpuTimer:
    """Times with CUDA events on the current stream (import CuPy only for the GPU)."""

    name = "cuda_event"

    def __init__(self, stream=None):
        import cupy

        self.cp = cupy
        self.stream = stream  # None: the current stream

    def on(self, stream) -> "GpuTimer":
        """The same timer, recording its events on ``stream`` (a renderer's own stream)."""
        return GpuTimer(stream)

    def sync(self):
        self.cp.cuda.Stream.null.synchronize()
        self.cp.cuda.get_current_stream().synchronize()
        if self.stream is not None:
            self.stream.synchronize()

    def __call__(self, fn, repeat: int, warmup: int) -> list[float]:
        cp = self.cp
        for i in range(warmup):
            fn(i)
        self.sync()
        out = []
        for i in range(repeat):
            start, end = cp.cuda.Event(), cp.cuda.Event()
            start.record(self.stream)
            fn(i)
            end.record(self.stream)
            end.synchronize()
            out.append(float(cp.cuda.get_elapsed_time(start, end)))
        return out


def summarise(samples_ms: list[float], megapixels: float) -> dict:
    a = np.asarray(samples_ms, np.float64)
    med = float(np.median(a))
    fps = 1e3 / med if med > 0 else None
    return {"samples_ms": [round(float(v), 4) for v in a], "median_ms": round(med, 4),
            "p95_ms": round(float(np.percentile(a, 95)), 4), "min_ms": round(float(a.min()), 4),
            "mean_ms": round(float(a.mean()), 4),
            "fps": None if fps is None else round(fps, 4),
            "megapixels_per_s": None if fps is None else round(fps * megapixels, 4)}


# -- machine information ---------------------------------------------------------------------
def _version(*dists: str) -> str | None:
    for d in dists:
        try:
            return importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info(gpu: bool) -> dict:
    import cv2

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    info = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": {"model": cpu_model(), "logical_cores": os.cpu_count() or 0, "usable_cores": usable,
                "opencv_threads": int(cv2.getNumThreads())},
        "memory_gib": _memory_gib(),
        "gpu": None,
        "versions": {"engine": __version__, "numpy": np.__version__, "opencv": cv2.__version__,
                     "cupy": _version("cupy-cuda12x", "cupy-cuda11x", "cupy"),
                     "matplotlib": _version("matplotlib"), "tensorflow": _version("tensorflow", "tensorflow-cpu")},
    }
    if gpu:
        info["gpu"] = gpu_info()
    return info


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def gpu_info() -> dict:
    import cupy

    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    drv = None
    try:
        drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader", "-i", str(dev.id)],
                             capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    dv, rv = cupy.cuda.runtime.driverGetVersion(), cupy.cuda.runtime.runtimeGetVersion()
    return {"name": name, "driver": drv, "cuda_driver_api": f"{dv // 1000}.{dv % 1000 // 10}",
            "cuda_runtime": f"{rv // 1000}.{rv % 1000 // 10}",
            "compute_capability": f"{props['major']}.{props['minor']}",
            "memory_gib": round(props["totalGlobalMem"] / 2 ** 30, 1)}


# -- depth -----------------------------------------------------------------------------------
def depth_workers(models: list[str] | None, model_path: str | None) -> tuple[list, list[str]]:
    """Depth workers for the cached models (never downloads): ([(name, input_size, worker)], [reasons])."""
    try:
        import engine.depth as depth
        from engine.depth.download import resolve
        from engine.depth.registry import list_models
    except Exception as e:
        return [], [(None, f"engine.depth is not available ({type(e).__name__}: {e})")]
    if not hasattr(depth, "DepthWorker"):
        return [], [(None, "engine.depth has no DepthWorker")]
    out, why = [], []
    if model_path:
        cands = [(models[0] if models else None, model_path)]
    else:
        try:
            names = models or [s.name for s in list_models()]
        except Exception as e:
            return [], [(None, f"cannot list depth models ({e})")]
        cands = [(n, None) for n in names]
    for name, path in cands:
        label = name or Path(path).name
        try:
            spec, _file = resolve(name, path, download=False, progress=False)
        except Exception as e:
            why.append((label, str(e).splitlines()[0] if str(e) else type(e).__name__))
            continue
        try:
            worker = depth.DepthWorker(model=name, model_path=path)
        except Exception as e:
            why.append((label, f"cannot start the depth worker ({type(e).__name__}: {e})"))
            continue
        size = list(spec.input_size) if spec.input_size else None
        out.append((spec.name, size, worker))
    return out, why


def _close(worker) -> None:
    for meth in ("close", "stop", "shutdown"):
        f = getattr(worker, meth, None)
        if callable(f):
            try:
                f()
            except Exception:
                pass
            return


# -- the benchmark ---------------------------------------------------------------------------
class Bench:
    def __init__(self, devices, sizes, ks, repeat=5, warmup=1, focus=DEFAULT_FOCUS, depth=True,
                 depth_models=None, model_path=None, progress=None):
        self.devices, self.sizes, self.ks = list(devices), list(sizes), list(ks)
        self.repeat, self.warmup, self.focus = int(repeat), int(warmup), tuple(focus)
        self.depth, self.depth_models, self.model_path = depth, depth_models, model_path
        self.progress = progress
        self.results: list[dict] = []
        self.skipped: list[dict] = []
        self.bandwidth: list[dict] = []
        self.floors: list[dict] = []
        self.device_info: list[dict] = []
        self._bar = None

    # bookkeeping
    def _tick(self, desc: str) -> None:
        if self._bar is not None:
            self._bar.set_description(desc, refresh=False)
            self._bar.update(1)

    def _record(self, device, stage, size, samples, timer, k=None, model=None, model_input=None, note=None):
        w, h = size
        mp = w * h / 1e6
        rec = {"device": device, "stage": stage, "width": w, "height": h, "megapixels": round(mp, 6),
               "max_blur": k, "model": model, "model_input": model_input, "timer": timer,
               "repeats": len(samples), "warmup": self.warmup}
        rec.update(summarise(samples, mp))
        rec.update({"baseline_stage": BASELINE_OF.get(stage), "ratio_to_baseline": None})
        n = note if note is not None else NOTES.get(stage, "")
        rec["note"] = n.get(device, "") if isinstance(n, dict) else n
        self.results.append(rec)
        return rec

    def _skip(self, device, stage, reason, size=None, k=None, model=None):
        self.skipped.append({"device": device, "stage": stage,
                             "width": None if size is None else size[0], "height": None if size is None else size[1],
                             "max_blur": k, "model": model, "reason": reason})
        log.info("bench: skipped %s on %s: %s", stage, device, reason)

    def _total_steps(self) -> int:
        per_size = 3 + (1 if self.depth else 0) + len(self.devices) * (2 + 7 * len(self.ks))
        return len(self.devices) + per_size * len(self.sizes)

    # main loop
    def run(self) -> dict:
        from tqdm import tqdm

        started = time.time()
        gpu = "gpu" in self.devices
        workers, depth_why = ([], [])
        if self.depth:
            workers, depth_why = depth_workers(self.depth_models, self.model_path)
            for model, why in depth_why:
                self._skip("host", "depth", why, model=model)
            if not workers and not depth_why:
                self._skip("host", "depth", "no depth model available")
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        self._bar = tqdm(total=self._total_steps(), unit="step", file=sys.stderr, dynamic_ncols=True,
                         leave=False) if show else None
        try:
            for dev in self.devices:
                self._tick(f"{dev} copy bandwidth")
                self.bandwidth.append(self._copy_bandwidth(dev))
            for size in self.sizes:
                self._tick(f"{size[0]}x{size[1]} inputs")
                inputs = make_inputs(*size)
                self._host_stages(size, inputs, workers)
                for dev in self.devices:
                    self._device_stages(dev, size, inputs)
                    if dev == "gpu":  # the renderer and stacks are gone: return their memory
                        import cupy as cp

                        cp.get_default_memory_pool().free_all_blocks()
        finally:
            if self._bar is not None:
                self._bar.close()
            for _, _, w in workers:
                _close(w)
        self._link_baselines()
        return self.report(time.time() - started, gpu)

    def _host_stages(self, size, inputs, workers):
        from .images import decode_image

        t = CpuTimer()
        for fmt in ("jpeg", "png"):
            self._tick(f"{size[0]}x{size[1]} decode {fmt}")
            data = inputs[fmt]
            self._record("host", f"decode_{fmt}", size, t(lambda i: decode_image(data, f"bench.{fmt}"),
                                                          self.repeat, self.warmup), t.name)
        if not self.depth:
            return
        self._tick(f"{size[0]}x{size[1]} depth")
        img = inputs["srgb"]
        for name, in_size, worker in workers:
            try:
                samples = t(lambda i: worker.infer(img), self.repeat, self.warmup)
            except Exception as e:
                self._skip("host", "depth", f"inference failed ({type(e).__name__}: {e})", size, model=name)
                continue
            self._record("host", "depth", size, samples, t.name, model=name, model_input=in_size)

    def _device_stages(self, dev, size, inputs):
        from .colour import linear_to_srgb8, srgb_to_linear
        from .pyramid import levels_needed
        from .backends import make_renderer

        n_steps = 2 + 7 * len(self.ks)
        try:
            renderer = make_renderer(dev)
        except Exception as e:  # DeviceError, or a backend that is not part of this build
            for s in ("to_linear", "display", *K_STAGES):
                self._skip(dev, s, f"{type(e).__name__}: {e}", size)
            for _ in range(n_steps):
                self._tick(f"{dev} unavailable")
            return
        tag = f"{dev} {size[0]}x{size[1]}"
        if dev == "gpu":
            import cupy as cp

            timer = GpuTimer()
            srgb = cp.asarray(inputs["srgb"])
            disp = cp.asarray(inputs["disparity"])
        else:
            timer = CpuTimer()
            srgb, disp = inputs["srgb"], inputs["disparity"]
        foci = tuple(self.focus)
        # A renderer with its own CUDA stream (GpuRenderer) is timed with events on that stream.
        rtimer = timer.on(getattr(renderer, "stream", None)) if dev == "gpu" else timer
        ensure = getattr(renderer, "ensure_levels", None) or getattr(renderer, "_ensure_levels", None)
        self._tick(f"{tag} to_linear")
        self._record(dev, "to_linear", size, timer(lambda i: srgb_to_linear(srgb), self.repeat, self.warmup),
                     timer.name)
        lin = srgb_to_linear(srgb)
        frame = None
        for k in self.ks:
            tk = f"{tag} K={k:g}"

            def build(i, k=k):
                renderer.prepare(lin, disp)
                if ensure is not None:
                    ensure(levels_needed(k))

            self._tick(f"{tk} pyramid")
            self._record(dev, "pyramid", size, rtimer(build, self.repeat, self.warmup), timer.name, k)
            self._tick(f"{tk} refocus")
            last = {}

            def refocus(i, k=k):
                last["frame"] = renderer.render(foci[i % 2], k)

            self._record(dev, "refocus", size, rtimer(refocus, self.repeat, self.warmup), timer.name, k)
            frame = last["frame"]

            def full(i, k=k):
                renderer.prepare(lin, disp)
                renderer.render(foci[i % 2], k)

            self._tick(f"{tk} full frame")
            self._record(dev, "full_frame", size, rtimer(full, self.repeat, self.warmup), timer.name, k)
            state = {}

            def stack(i, k=k):
                state["stack"] = baseline_stack(lin, k)

            self._tick(f"{tk} baseline stack")
            self._record(dev, "baseline_stack", size, timer(stack, self.repeat, self.warmup), timer.name, k)
            self._tick(f"{tk} baseline select")
            self._record(dev, "baseline_select", size,
                         timer(lambda i, k=k: baseline_select(state["stack"], disp, foci[i % 2], k),
                               self.repeat, self.warmup), timer.name, k)
            state.clear()
            self._tick(f"{tk} baseline full")
            self._record(dev, "baseline_full", size,
                         timer(lambda i, k=k: baseline_render(lin, disp, foci[i % 2], k), self.repeat, self.warmup),
                         timer.name, k)
            self._tick(f"{tk} bandwidth floor")
            self._floor(dev, size, inputs["disparity"], k)
        self._tick(f"{tag} display")
        if dev == "gpu":
            import cupy as cp

            import cupyx

            host8 = np.ascontiguousarray(renderer.to_host(linear_to_srgb8(frame)))
            pinned = cupyx.empty_pinned(host8.shape, np.uint8)
            pinned[...] = host8
            dev8 = cp.empty(host8.shape, cp.uint8)
            samples = timer(lambda i: dev8.set(pinned), self.repeat, self.warmup)
        else:
            samples = timer(lambda i: linear_to_srgb8(frame), self.repeat, self.warmup)
        self._record(dev, "display", size, samples, timer.name)

    # bandwidth
    def _copy_bandwidth(self, dev) -> dict:
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
            samples = timer(lambda i: dst.__setitem__(Ellipsis, src), max(self.repeat, 5), 2)
        except Exception as e:
            return {"device": dev, "copy_bytes": nbytes, "median_ms": None, "gb_per_s": None,
                    "note": f"not measured ({type(e).__name__}: {e})"}
        med = float(np.median(samples))
        return {"device": dev, "copy_bytes": nbytes, "median_ms": round(med, 4),
                "gb_per_s": round(2 * nbytes / (med * 1e-3) / 1e9, 3),
                "note": "device-to-device copy; bandwidth counts read + write" if dev == "gpu"
                else "host memory copy (numpy); bandwidth counts read + write"}

    def _floor(self, dev, size, disparity, k) -> None:
        bw = next((b for b in self.bandwidth if b["device"] == dev), None)
        nbytes = int(np.mean([refocus_min_bytes(disparity, f, k) for f in self.focus]))
        refocus = next((r for r in reversed(self.results)
                        if r["device"] == dev and r["stage"] == "refocus" and r["max_blur"] == k
                        and (r["width"], r["height"]) == tuple(size)), None)
        floor_ms = None
        if bw and bw.get("gb_per_s"):
            floor_ms = round(nbytes / (bw["gb_per_s"] * 1e9) * 1e3, 4)
        measured = refocus["median_ms"] if refocus else None
        self.floors.append({"device": dev, "width": size[0], "height": size[1], "max_blur": k,
                            "bytes": nbytes, "floor_ms": floor_ms, "refocus_median_ms": measured,
                            "fraction_of_floor": (round(floor_ms / measured, 6)
                                                  if floor_ms and measured else None)})

    def _link_baselines(self) -> None:
        idx = {(r["device"], r["stage"], r["width"], r["height"], r["max_blur"]): r for r in self.results}
        for r in self.results:
            b = r["baseline_stage"]
            if b is None:
                continue
            base = idx.get((r["device"], b, r["width"], r["height"], r["max_blur"]))
            if base and base["median_ms"] > 0:
                r["ratio_to_baseline"] = round(r["median_ms"] / base["median_ms"], 4)

    def command(self) -> str:
        dev = "all" if len(self.devices) > 1 else self.devices[0]
        cmd = (f"refocus bench --device {dev} --sizes {','.join(f'{w}x{h}' for w, h in self.sizes)} "
               f"--max-blur {','.join(f'{k:g}' for k in self.ks)} --repeat {self.repeat} --warmup {self.warmup} "
               f"--focus {self.focus[0]:g},{self.focus[1]:g}")
        return cmd + ("" if self.depth else " --no-depth")

    def report(self, wall_s: float, gpu: bool) -> dict:
        return {
            "schema": "deocused-bench",
            "schema_version": SCHEMA_VERSION,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": self.command(),
            "wall_s": round(wall_s, 2),
            "config": {"devices": self.devices, "sizes": [[w, h] for w, h in self.sizes], "max_blur": self.ks,
                       "repeat": self.repeat, "warmup": self.warmup, "focus": list(self.focus),
                       "input": "engine.samples.synthetic_scene ray-cast at each size; disparity = "
                                "1/depth normalised to [0, 1]",
                       "baseline": f"{BASELINE_LEVELS} Gaussian-blurred copies, sigma 0..K/2 (OpenCV GaussianBlur "
                                   "on the CPU, cupyx.scipy.ndimage.gaussian_filter on the GPU), per-pixel linear "
                                   "interpolation between the two nearest copies by blur radius",
                       "statistics": "median and 95th percentile over `repeat` timed runs after `warmup` runs"},
            "machine": machine_info(gpu and any(d["device"] == "gpu" and d["available"] for d in self.device_info)),
            "devices": self.device_info,
            "results": self.results,
            "bandwidth": self.bandwidth,
            "refocus_floor": self.floors,
            "skipped": self.skipped,
        }


def resolve_devices(choice: str) -> tuple[list[str], list[dict]]:
    """Devices to benchmark for ``--device`` and what is known about each."""
    from .backends import gpu_available

    ok, why = gpu_available()
    info = [{"device": "cpu", "available": True, "reason": None, "timer": "perf_counter"},
            {"device": "gpu", "available": ok, "reason": None if ok else why, "timer": "cuda_event"}]
    if choice == "cpu":
        return ["cpu"], info[:1]
    if choice == "gpu":
        if not ok:
            raise DeviceError(f"--device gpu: {why}")
        return ["gpu"], info[1:]
    return (["cpu", "gpu"] if ok else ["cpu"]), info


# -- outputs ---------------------------------------------------------------------------------
def _fmt_ms(v) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def _fmt(v, nd=2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def markdown_table(report: dict) -> str:
    """The results as Markdown: one table per device (K-dependent stages) and one of the rest."""
    res = report["results"]
    m = report["machine"]
    lines = []
    cpu = m["cpu"]
    head = f"Machine: {cpu['model']}, {cpu['usable_cores']} usable cores"
    if m.get("gpu"):
        g = m["gpu"]
        head += f"; GPU {g['name']} (driver {g.get('driver') or '?'}, CUDA {g.get('cuda_runtime')})"
    v = m["versions"]
    head += f"; numpy {v['numpy']}, OpenCV {v['opencv']}" + (f", CuPy {v['cupy']}" if v.get("cupy") else "")
    cfg = report["config"]
    lines += [head + ".", "",
              f"Median (p95) in ms over {cfg['repeat']} runs after {cfg['warmup']} warm-up; "
              f"input: synthetic scene; focus alternating {cfg['focus']}. "
              "Ratio = engine / baseline (8 Gaussian copies) on the same device and input; < 1 is faster.", ""]
    by = {(r["device"], r["stage"], r["width"], r["height"], r["max_blur"]): r for r in res if r["stage"] != "depth"}
    devices = [d for d in ("cpu", "gpu") if any(r["device"] == d for r in res)]
    sizes = sorted({(r["width"], r["height"]) for r in res}, key=lambda s: s[0] * s[1])
    ks = sorted({r["max_blur"] for r in res if r["max_blur"] is not None})
    floors = {(f["device"], f["width"], f["height"], f["max_blur"]): f for f in report.get("refocus_floor", [])}
    for dev in devices:
        lines += [f"**{dev.upper()}**", "",
                  "| size | K | pyramid ms | refocus ms | refocus fps | refocus MP/s | full frame ms | full fps "
                  "| baseline full ms | refocus / baseline select | full / baseline full | refocus floor ms |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for (w, h) in sizes:
            for k in ks:
                g = lambda s: by.get((dev, s, w, h, k))  # noqa: E731
                p, r, f, b = g("pyramid"), g("refocus"), g("full_frame"), g("baseline_full")
                if not any((p, r, f, b)):
                    continue
                fl = floors.get((dev, w, h, k))
                cell = lambda x: "-" if x is None else f"{_fmt_ms(x['median_ms'])} ({_fmt_ms(x['p95_ms'])})"  # noqa
                lines.append(f"| {w}x{h} | {k:g} | {cell(p)} | {cell(r)} | {_fmt(r and r['fps'])} "
                             f"| {_fmt(r and r['megapixels_per_s'], 1)} | {cell(f)} | {_fmt(f and f['fps'])} "
                             f"| {cell(b)} | {_fmt(r and r['ratio_to_baseline'])} "
                             f"| {_fmt(f and f['ratio_to_baseline'])} "
                             f"| {_fmt_ms(fl and fl['floor_ms'])} |")
        lines.append("")
    other = [("host", "decode_jpeg"), ("host", "decode_png")] + \
            [(d, s) for d in devices for s in ("to_linear", "display")]
    lines += ["**Per-frame stages that do not depend on K** (median (p95) ms)", "",
              "| size | " + " | ".join(f"{s} ({d})" for d, s in other) + " |",
              "|---|" + "---|" * len(other)]
    for (w, h) in sizes:
        cells = []
        for d, s in other:
            x = by.get((d, s, w, h, None))
            cells.append("-" if x is None else f"{_fmt_ms(x['median_ms'])} ({_fmt_ms(x['p95_ms'])})")
        lines.append(f"| {w}x{h} | " + " | ".join(cells) + " |")
    lines.append("")
    depth = [r for r in res if r["stage"] == "depth"]
    if depth:
        lines += ["**Depth inference** (median ms)", "", "| size | model | model input | median ms | fps |",
                  "|---|---|---|---|---|"]
        for r in depth:
            mi = "x".join(str(v) for v in r["model_input"]) if r["model_input"] else "-"
            lines.append(f"| {r['width']}x{r['height']} | {r['model']} | {mi} | {_fmt_ms(r['median_ms'])} "
                         f"| {_fmt(r['fps'])} |")
        lines.append("")
    skipped = report.get("skipped", [])
    if skipped:
        seen = []
        for s in skipped:
            what = f"{s['stage']} {s['model']}" if s.get("model") else s["stage"]
            line = f"- {what} ({s['device']}): {s['reason']}"
            if line not in seen:
                seen.append(line)
        lines += ["Skipped:", ""] + seen + [""]
    return "\n".join(lines)


def plot(report: dict, path: str | os.PathLike) -> None:
    """PNG: median time per stage vs megapixels, one panel per device (host stages in each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = report["results"]
    devices = [d for d in ("cpu", "gpu") if any(r["device"] == d for r in res)] or ["host"]
    ks = sorted({r["max_blur"] for r in res if r["max_blur"] is not None})
    styles = ["-", "--", ":", "-."]
    colours = dict(zip(STAGES, list(plt.get_cmap("tab10").colors) + ["black"]))
    fig, axes = plt.subplots(1, len(devices), figsize=(9.5 * len(devices), 5.5), squeeze=False)
    for ax, dev in zip(axes[0], devices):
        for stage in STAGES:
            rows = [r for r in res if r["stage"] == stage and r["device"] in (dev, "host")]
            if not rows:
                continue
            groups = {}
            for r in rows:
                groups.setdefault((r["max_blur"], r["model"]), []).append(r)
            for (k, model), g in sorted(groups.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or "")):
                g.sort(key=lambda r: r["megapixels"])
                label = stage + (f" K={k:g}" if k is not None else "") + (f" {model}" if model else "")
                ls = styles[ks.index(k) % len(styles)] if k is not None else "-"
                marker = "s" if stage.startswith("baseline") else "o"
                ax.plot([r["megapixels"] for r in g], [r["median_ms"] for r in g], ls, marker=marker,
                        color=colours.get(stage), label=label, lw=1.4, ms=4,
                        alpha=0.65 if stage.startswith("baseline") else 1.0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("resolution (megapixels)")
        ax.set_ylabel("median time (ms)")
        title = dev.upper()
        m = report["machine"]
        if dev == "gpu" and m.get("gpu"):
            title += f": {m['gpu']['name']}"
        elif dev in ("cpu", "host"):
            title += f": {m['cpu']['model']} ({m['cpu']['usable_cores']} cores)"
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6.5, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"refocus bench: time per stage vs resolution (median of {report['config']['repeat']})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def merge_reports(reports: list[dict]) -> dict:
    """Several saved reports as one (results concatenated; config and machine of the first)."""
    out = dict(reports[0])
    for key in ("results", "bandwidth", "refocus_floor", "skipped"):
        out[key] = [x for r in reports for x in r.get(key, [])]
    cfg = dict(out["config"])
    cfg["sizes"] = [s for r in reports for s in r["config"]["sizes"]]
    cfg["max_blur"] = sorted({k for r in reports for k in r["config"]["max_blur"]})
    cfg["repeat"] = min(r["config"]["repeat"] for r in reports)
    out["config"] = cfg
    return out


# -- CLI -------------------------------------------------------------------------------------
def cmd_bench(args) -> int:
    if args.repeat < 1:
        raise InputError("--repeat must be at least 1")
    if args.warmup < 0:
        raise InputError("--warmup must be 0 or more")
    for out in (args.json, args.plot, args.markdown):
        if out and Path(out).parent and not Path(out).parent.exists():
            raise InputError(f"{out}: folder {Path(out).parent} does not exist")
    if args.from_json:
        reports = []
        for p in args.from_json:
            try:
                reports.append(json.loads(Path(p).read_text()))
            except (OSError, ValueError) as e:
                raise InputError(f"{p}: cannot read benchmark JSON ({e})") from None
        report = merge_reports(reports)
    else:
        sizes = parse_sizes(args.sizes)
        ks = parse_max_blur(args.max_blur)
        focus = parse_floats(args.focus, "--focus")
        if len(focus) != 2 or not all(0.0 <= f <= 1.0 for f in focus):
            raise InputError("--focus: give two disparities in [0, 1], e.g. 0.3,0.7")
        devices, info = resolve_devices(args.device)
        models = [m for m in args.depth_model.split(",") if m] if args.depth_model else None
        bench = Bench(devices, sizes, ks, repeat=args.repeat, warmup=args.warmup, focus=focus,
                      depth=not args.no_depth, depth_models=models, model_path=args.model_path,
                      progress=False if args.no_progress else None)
        bench.device_info = info
        report = bench.run()
    text = markdown_table(report)
    if not args.quiet_table:
        print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
        print(f"wrote {args.markdown}", file=sys.stderr)
    if args.plot:
        plot(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="measure throughput stage by stage (and against the Gaussian-stack baseline)",
        description="Time each stage of the engine (decode, depth, sRGB->linear, pyramid, refocus, full frame, "
                    "display) on synthetic scenes of the given sizes, with the 8-level Gaussian-stack baseline "
                    "on the same inputs; print a Markdown table and optionally write JSON and a PNG plot.")
    p.add_argument("--device", choices=("cpu", "gpu", "all"), default="all",
                   help="what to benchmark (default all: the CPU, and the GPU when CuPy sees one)")
    p.add_argument("--sizes", default=DEFAULT_SIZES, metavar="WxH,...",
                   help=f"frame sizes (default {DEFAULT_SIZES})")
    p.add_argument("--max-blur", "-K", default=DEFAULT_MAX_BLUR, metavar="K,...",
                   help=f"maximum blur radii in pixels (default {DEFAULT_MAX_BLUR})")
    p.add_argument("--repeat", "-n", type=int, default=5, metavar="N", help="timed runs per stage (default 5)")
    p.add_argument("--warmup", type=int, default=1, metavar="N", help="untimed runs before timing (default 1)")
    p.add_argument("--focus", default=f"{DEFAULT_FOCUS[0]},{DEFAULT_FOCUS[1]}", metavar="A,B",
                   help="the two focus disparities the refocus stage alternates (default 0.3,0.7)")
    p.add_argument("--no-depth", action="store_true", help="skip depth inference")
    p.add_argument("--depth-model", metavar="NAME,...",
                   help="depth models to time (default: every registered model whose weights are cached; "
                        "nothing is downloaded)")
    p.add_argument("--model-path", metavar="FILE", help="time this depth model file")
    p.add_argument("--json", metavar="OUT", help="write the full results as JSON (schema: bench/bench_schema.json)")
    p.add_argument("--plot", metavar="OUT.png", help="write a PNG plot of time per stage vs resolution")
    p.add_argument("--markdown", metavar="OUT.md", help="write the summary table as Markdown")
    p.add_argument("--from-json", nargs="+", metavar="JSON",
                   help="do not measure: load saved results (several are merged) and write the table/plot/JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--quiet-table", action="store_true", help="do not print the table")
    p.set_defaults(func=cmd_bench)
