"""One size of ``refocus bench``: every stage timed on every device (run in a child process).

Stages (``device`` is the renderer's device; ``host`` stages run on the CPU
whatever is benchmarked, except depth inference, which runs where its library
puts it):

* ``decode_jpeg`` / ``decode_png`` (host): image bytes -> float32 sRGB.
* ``depth`` (host): ``DepthWorker.infer`` with each model whose weights are cached.
* ``to_linear``: sRGB -> linear light.
* ``pyramid``: :meth:`Renderer.prepare` plus the pyramid levels needed for K.
* ``refocus`` ("click"): :meth:`Renderer.render` with the pyramid reused,
  alternating two focus disparities.
* ``full_frame``: prepare + render, input already linear (a live video frame).
* ``new_photo``: everything after decode: sRGB -> linear + prepare + render.
* ``display``: CPU: 8-bit sRGB encode; GPU: host->device upload of an 8-bit frame.
* ``baseline_stack`` / ``baseline_select`` / ``baseline_full``: :mod:`deocused.bench.baseline`.

Engine stages run first for every K and the peak RSS is read before the
baselines run, so ``peak_rss_mib`` is the engine's (inputs and interpreter
included); ``process_peak_rss_mib`` includes the baselines.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np

from ..errors import RefocusError
from .baseline import baseline_render, baseline_select, baseline_stack
from .memory import MARK, peak_rss_mib
from .scenes import DEFAULT_SCENE, make_inputs
from .timing import CpuTimer, GpuTimer, copy_bandwidth, refocus_floor, summarise

log = logging.getLogger("deocused")

STAGES = ("decode_jpeg", "decode_png", "depth", "to_linear", "pyramid", "refocus", "full_frame", "new_photo",
          "display", "baseline_stack", "baseline_select", "baseline_full")
#: Engine stage -> the baseline stage it is compared with.
BASELINE_OF = {"pyramid": "baseline_stack", "refocus": "baseline_select", "full_frame": "baseline_full",
               "new_photo": "baseline_full"}
K_STAGES = ("pyramid", "refocus", "full_frame", "new_photo", "baseline_stack", "baseline_select", "baseline_full")
NOTES = {
    "decode_jpeg": "JPEG (quality 95) bytes -> float32 sRGB, deocused.io.images.decode_image",
    "decode_png": "PNG (8-bit) bytes -> float32 sRGB, deocused.io.images.decode_image",
    "depth": "depth model inference incl. pre/post-processing, DepthWorker.infer",
    "to_linear": "sRGB -> linear light, deocused.io.colour.srgb_to_linear",
    "pyramid": "Renderer.prepare + pyramid levels up to K",
    "refocus": "click: Renderer.render, pyramid reused, two focus values alternating",
    "full_frame": "Renderer.prepare + Renderer.render of a new frame already in linear light",
    "new_photo": "new photo after decode: srgb_to_linear + Renderer.prepare + Renderer.render",
    "display": {"cpu": "linear -> 8-bit sRGB encode of the frame",
                "gpu": "host -> device upload of an 8-bit RGB frame (pinned host memory)"},
    "baseline_stack": "8 Gaussian-blurred copies, sigma 0..K/2",
    "baseline_select": "per-pixel linear interpolation between the two nearest copies by blur radius",
    "baseline_full": "baseline_stack + baseline_select",
}


def depth_workers(models: list[str] | None, model_path: str | None) -> tuple[list, list]:
    """Depth workers for the cached models (never downloads): ([(name, input_size, worker)], [(model, reason)])."""
    try:
        import deocused.depth as depth
        from deocused.depth.download import resolve
        from deocused.depth.registry import list_models
    except Exception as e:
        return [], [(None, f"deocused.depth is not available ({type(e).__name__}: {e})")]
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
        out.append((spec.name, list(spec.input_size) if spec.input_size else None, worker))
    return out, why


def resolve_k(k, shape) -> float:
    """A K entry: a number (pixels) or "default" (:func:`deocused.render.optics.default_max_blur` for ``shape``)."""
    if k == "default":
        from ..render.optics import default_max_blur

        return float(default_max_blur(shape))
    return float(k)


class SizeBench:
    """Every stage at one size (config: devices, size, max_blur, repeat, warmup, focus, depth, scene...)."""

    def __init__(self, config: dict):
        self.cfg = config
        self.devices = list(config["devices"])
        self.size = tuple(config["size"])
        self.repeat, self.warmup = int(config["repeat"]), int(config["warmup"])
        self.focus = tuple(config["focus"])
        w, h = self.size
        self.ks = sorted({resolve_k(k, (h, w)) for k in config["max_blur"]})
        self.results: list[dict] = []
        self.skipped: list[dict] = []
        self.floors: list[dict] = []
        self.bandwidth: list[dict] = []
        self.memory: dict = {}

    def record(self, device, stage, samples, timer, k=None, model=None, model_input=None):
        w, h = self.size
        mp = w * h / 1e6
        rec = {"device": device, "stage": stage, "width": w, "height": h, "megapixels": round(mp, 6),
               "max_blur": k, "model": model, "model_input": model_input, "timer": timer,
               "repeats": len(samples), "warmup": self.warmup}
        rec.update(summarise(samples, mp))
        rec.update({"baseline_stage": BASELINE_OF.get(stage), "ratio_to_baseline": None})
        n = NOTES.get(stage, "")
        rec["note"] = n.get(device, "") if isinstance(n, dict) else n
        self.results.append(rec)
        return rec

    def skip(self, device, stage, reason, k=None, model=None):
        w, h = self.size
        self.skipped.append({"device": device, "stage": stage, "width": w, "height": h,
                             "max_blur": k, "model": model, "reason": reason})
        log.info("bench: skipped %s on %s: %s", stage, device, reason)

    def run(self) -> dict:
        inputs = make_inputs(*self.size, scene=self.cfg.get("scene", DEFAULT_SCENE))
        rss_inputs = peak_rss_mib()
        self.host_stages(inputs)
        renderers = {}
        for dev in self.devices:
            self.bandwidth.append(copy_bandwidth(dev, self.repeat))
            try:
                renderers[dev] = self.engine_stages(dev, inputs)
            except (RefocusError, MemoryError) as e:  # e.g. the pyramid does not fit: the other stages stand
                why = str(e) if isinstance(e, RefocusError) else "out of memory"
                done = {(r["stage"], r["max_blur"]) for r in self.results if r["device"] == dev}
                for k in self.ks:
                    for s in K_STAGES:
                        if (s, k) not in done:
                            self.skip(dev, s, why, k=k)
                renderers[dev] = None
        rss_engine = peak_rss_mib()
        for dev in self.devices:
            if renderers[dev] is None:
                continue
            if self.cfg.get("baseline", True):
                self.baseline_stages(dev, *renderers[dev])
            else:
                for k in self.ks:
                    for stage in ("baseline_stack", "baseline_select", "baseline_full"):
                        self.skip(dev, stage, "not measured (--no-baseline)", k=k)
        w, h = self.size
        self.memory = {"width": w, "height": h, "inputs_peak_rss_mib": rss_inputs,
                       "peak_rss_mib": rss_engine, "process_peak_rss_mib": peak_rss_mib()}
        return {"results": self.results, "skipped": self.skipped, "bandwidth": self.bandwidth,
                "refocus_floor": self.floors, "memory": self.memory}

    def host_stages(self, inputs) -> None:
        from ..io.images import decode_image

        t = CpuTimer()
        for fmt in ("jpeg", "png"):
            data = inputs[fmt]
            self.record("host", f"decode_{fmt}", t(lambda i: decode_image(data, f"bench.{fmt}"),
                                                   self.repeat, self.warmup), t.name)
        if not self.cfg.get("depth", True):
            return
        workers, why = depth_workers(self.cfg.get("depth_models"), self.cfg.get("model_path"))
        for model, reason in why:
            self.skip("host", "depth", reason, model=model)
        if not workers and not why:
            self.skip("host", "depth", "no depth model available")
        img = inputs["srgb"]
        try:
            for name, in_size, worker in workers:
                try:
                    samples = t(lambda i: worker.infer(img), self.repeat, self.warmup)
                except Exception as e:
                    self.skip("host", "depth", f"inference failed ({type(e).__name__}: {e})", model=name)
                    continue
                self.record("host", "depth", samples, t.name, model=name, model_input=in_size)
        finally:
            for _, _, worker in workers:
                try:
                    worker.close()
                except Exception:
                    pass

    def _timer(self, dev, renderer):
        """The timer for ``dev``: CUDA events on the renderer's stream, or perf_counter + synchronize()."""
        if dev == "gpu":
            return GpuTimer().on(getattr(renderer, "stream", None))
        return CpuTimer(sync=getattr(renderer, "synchronize", None))

    def engine_stages(self, dev, inputs):
        """to_linear, pyramid, refocus, full_frame, new_photo, display for every K; (lin, disp) or None."""
        from ..io.colour import linear_to_srgb8, srgb_to_linear
        from ..render.backends import make_renderer
        from ..render.pyramid import levels_needed

        try:
            renderer = make_renderer(dev)
        except Exception as e:  # DeviceError, or a backend that is not part of this build
            for s in ("to_linear", "display", *K_STAGES):
                self.skip(dev, s, f"{type(e).__name__}: {e}")
            return None
        timer = self._timer(dev, renderer)
        srgb, disp = inputs["srgb"], inputs["disparity"]
        if dev == "gpu":
            import cupy as cp

            srgb, disp = cp.asarray(srgb), cp.asarray(disp)
        foci = self.focus
        self.record(dev, "to_linear", timer(lambda i: srgb_to_linear(srgb), self.repeat, self.warmup), timer.name)
        lin = srgb_to_linear(srgb)
        ensure = renderer.ensure_levels
        frame = None
        for k in self.ks:
            def build(i, k=k):
                renderer.prepare(lin, disp)
                ensure(levels_needed(k))

            self.record(dev, "pyramid", timer(build, self.repeat, self.warmup), timer.name, k)
            last = {}

            def refocus(i, k=k):
                last["frame"] = renderer.render(foci[i % 2], k)

            self.record(dev, "refocus", timer(refocus, self.repeat, self.warmup), timer.name, k)
            frame = last["frame"]

            def full(i, k=k):
                renderer.prepare(lin, disp)
                renderer.render(foci[i % 2], k)

            self.record(dev, "full_frame", timer(full, self.repeat, self.warmup), timer.name, k)

            def new_photo(i, k=k):
                renderer.prepare(srgb_to_linear(srgb), disp)
                renderer.render(foci[i % 2], k)

            self.record(dev, "new_photo", timer(new_photo, self.repeat, self.warmup), timer.name, k)
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
        self.record(dev, "display", samples, timer.name)
        return lin, disp

    def baseline_stages(self, dev, lin, disp) -> None:
        timer = GpuTimer() if dev == "gpu" else CpuTimer()
        foci = self.focus
        bw = next((b for b in self.bandwidth if b["device"] == dev), None)
        for k in self.ks:
            state = {}

            def stack(i, k=k):
                state["stack"] = baseline_stack(lin, k)

            self.record(dev, "baseline_stack", timer(stack, self.repeat, self.warmup), timer.name, k)
            self.record(dev, "baseline_select", timer(lambda i, k=k: baseline_select(state["stack"], disp,
                                                                                      foci[i % 2], k),
                                                      self.repeat, self.warmup), timer.name, k)
            state.clear()
            self.record(dev, "baseline_full",
                        timer(lambda i, k=k: baseline_render(lin, disp, foci[i % 2], k), self.repeat, self.warmup),
                        timer.name, k)
            refocus = next((r for r in self.results if r["device"] == dev and r["stage"] == "refocus"
                            and r["max_blur"] == k), None)
            w, h = self.size
            host_disp = disp.get() if hasattr(disp, "get") else disp
            self.floors.append({"device": dev, "width": w, "height": h, "max_blur": k,
                                **refocus_floor(bw, host_disp, foci, k, refocus and refocus["median_ms"])})


def run_size(config: dict) -> dict:
    """Benchmark one size (what the child process of :mod:`deocused.bench.memory` runs)."""
    return SizeBench(config).run()


def link_baselines(results: list[dict]) -> None:
    """Fill each engine stage's ``ratio_to_baseline`` from its baseline stage in the same results."""
    idx = {(r["device"], r["stage"], r["width"], r["height"], r["max_blur"]): r for r in results}
    for r in results:
        b = r["baseline_stage"]
        if b is None:
            continue
        base = idx.get((r["device"], b, r["width"], r["height"], r["max_blur"]))
        if base and base["median_ms"] > 0:
            r["ratio_to_baseline"] = round(r["median_ms"] / base["median_ms"], 4)


def child_main() -> int:
    """The child of :func:`deocused.bench.memory.measure_size`: configuration JSON on stdin, results JSON on
    the last stdout line."""
    logging.basicConfig(level=logging.WARNING, format="refocus: %(message)s")
    config = json.loads(sys.stdin.read())
    try:
        out = run_size(config)
    except MemoryError:
        out = {"error": "out of memory"}
    except Exception as e:  # reported by the parent as a skipped size
        out = {"error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(MARK + json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0
