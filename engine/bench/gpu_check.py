"""GPU check: parity with the CPU renderer, then CUDA-event timings against two baselines.

    python -m deocused.bench.gpu_check [--out bench/results] [--quick] [--scene motorcycle|synthetic]

1. Parity: GpuRenderer vs CpuRenderer on a small image (8-bit max/mean abs error).
2. Timings with CUDA events on the renderer's stream (median and p95 after
   warm-up) at 1920x1080 and 3840x2160 for K = 16, 32, 64 px: click (render,
   pyramid reused, two focus values alternating), full frame (prepare + render,
   the frame already on the device), host->device upload of an 8-bit frame
   from pinned memory. Baselines, same sizes and K: the Gaussian stack of
   :mod:`deocused.bench.baseline` (the same function and border as ``refocus bench``)
   and a naive per-pixel disc gather (``engine/bench/disc_gather.cu``; slow
   baselines run fewer times, the count is reported).
3. The memory-bandwidth floor of the click: :func:`deocused.bench.timing.refocus_min_bytes`
   / measured device copy bandwidth.

Writes ``OUT/gpu_<device>.json``; exit status 1 when parity fails.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from .baseline import baseline_render, baseline_select, baseline_stack
from .machine import gpu_info
from .scenes import DEFAULT_SCENE, SCENES, scene_arrays
from .timing import GpuTimer, copy_bandwidth, refocus_floor

SIZES = [(1920, 1080), (3840, 2160)]
KS = [16.0, 32.0, 64.0]
FOCI = (0.3, 0.7)
KERNEL = Path(__file__).resolve().parent / "disc_gather.cu"


def stats(times) -> dict:
    a = np.asarray(times)
    return {"median_ms": float(np.median(a)), "p95_ms": float(np.percentile(a, 95)), "runs": len(a)}


def parity(scene: str = DEFAULT_SCENE) -> dict:
    from ..io.colour import srgb_to_linear
    from ..render.cpu.backend import CpuRenderer
    from ..render.gpu.backend import GpuRenderer

    srgb, disp = scene_arrays(250, 180, scene)
    img = srgb_to_linear(srgb)
    res = []
    for k, f, dof in ((20.0, 0.5, 0.0), (64.0, 0.2, 0.0), (40.0, 0.8, 0.05)):
        cpu, gpu = CpuRenderer(highlights=1.0), GpuRenderer(highlights=1.0)
        cpu.prepare(img, disp)
        gpu.prepare(img, disp)
        d = np.abs(cpu.render_srgb8(f, k, dof).astype(np.int16) - gpu.render_srgb8(f, k, dof).astype(np.int16))
        res.append({"K": k, "focus": f, "dof": dof, "max_abs_8bit": int(d.max()), "mean_abs_8bit": float(d.mean())})
    return {"size": [250, 180], "scene": scene, "cases": res, "tolerance": "max abs <= 2/255",
            "ok": all(r["max_abs_8bit"] <= 2 for r in res)}


class GatherBaseline:
    """Naive per-pixel disc gather (each pixel averages the disc of its own radius)."""

    def __init__(self, img, disp, k, stream):
        import cupy as cp

        self.fn = cp.RawModule(code=KERNEL.read_text()).get_function("disc_gather")
        self.img, self.disp, self.max_blur, self.stream = img, disp, k, stream
        self.out = cp.empty_like(img)

    def run(self, focus) -> None:
        h, w = self.disp.shape
        with self.stream:
            self.fn(((w + 15) // 16, (h + 15) // 16), (16, 16),
                    (self.img, self.disp, np.int32(w), np.int32(h), np.float32(focus), np.float32(self.max_blur), self.out))


def bench_size(w: int, h: int, ks, stream, bandwidth: dict, scene: str) -> list[dict]:
    import cupy as cp

    from ..io.colour import linear_to_srgb8, srgb_to_linear
    from ..render.gpu.backend import GpuRenderer

    srgb, disp = scene_arrays(w, h, scene)
    d_img, d_disp = srgb_to_linear(cp.asarray(srgb)), cp.asarray(disp)
    timer = GpuTimer(stream)
    host8 = cp.asnumpy(linear_to_srgb8(d_img))
    pinned = np.frombuffer(cp.cuda.alloc_pinned_memory(host8.nbytes), np.uint8, host8.size).reshape(host8.shape)
    pinned[...] = host8
    dev8 = cp.empty(host8.shape, cp.uint8)
    upload = stats(timer(lambda i: dev8.set(pinned, stream=stream), 30, 3))
    rows = []
    for k in ks:
        r = GpuRenderer(stream=stream)
        r.prepare(d_img, d_disp)
        r.render(FOCI[0], k)
        click = stats(timer(lambda i: r.render(FOCI[i % 2], k), 40, 5))

        def full(i):
            r.prepare(d_img, d_disp)
            r.render(FOCI[i % 2], k)

        full_s = stats(timer(full, 25, 3))
        with stream:
            stack = baseline_stack(d_img, k)
            sel = stats(timer(lambda i: baseline_select(stack, d_disp, FOCI[i % 2], k), 30, 3))
            stack = None
            stack_full = stats(timer(lambda i: baseline_render(d_img, d_disp, FOCI[i % 2], k), 20, 3, budget_s=4.0))
        gat = GatherBaseline(d_img, d_disp, k, stream)
        gather = stats(timer(lambda i: gat.run(FOCI[i % 2]), 20, 1, budget_s=4.0))
        gat = r = None  # free device memory before the next K
        floor = refocus_floor(bandwidth, disp, FOCI, k, click["median_ms"])
        rows.append({
            "width": w, "height": h, "K": k, "refocus": click, "full": full_s, "upload_8bit_pinned": upload,
            "baseline_stack_select": sel, "baseline_stack_full": stack_full, "naive_gather": gather,
            "refocus_floor_ms": floor["floor_ms"], "refocus_bytes": floor["bytes"],
            "ratio_full_vs_stack": stack_full["median_ms"] / full_s["median_ms"],
            "ratio_full_vs_gather": gather["median_ms"] / full_s["median_ms"],
            "ratio_refocus_vs_stack_select": sel["median_ms"] / click["median_ms"],
            "refocus_vs_floor": (click["median_ms"] / floor["floor_ms"]) if floor["floor_ms"] else None,
        })
        cp.get_default_memory_pool().free_all_blocks()
    return rows


def main(argv=None) -> int:
    import cupy as cp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--quick", action="store_true", help="1920x1080 only, K = 64 (smoke test)")
    ap.add_argument("--scene", choices=SCENES, default=DEFAULT_SCENE)
    args = ap.parse_args(argv)
    info = gpu_info()
    info.update({"cupy": cp.__version__, "numpy": np.__version__})
    print(f"# {info['name']}  driver {info['driver']}  CUDA runtime {info['cuda_runtime']}  cupy {info['cupy']}")
    par = parity(args.scene)
    print(f"parity vs CPU ({par['tolerance']}): " +
          ", ".join(f"K={c['K']:g} max {c['max_abs_8bit']}/255 mean {c['mean_abs_8bit']:.4f}" for c in par["cases"])
          + ("  OK" if par["ok"] else "  FAILED"))
    stream = cp.cuda.Stream(non_blocking=True)
    bw = copy_bandwidth("gpu")
    print(f"device-to-device copy bandwidth: {bw['gb_per_s']} GB/s (read + write)")
    sizes, ks = (SIZES[:1], [64.0]) if args.quick else (SIZES, KS)
    rows = []
    for w, h in sizes:
        rows += bench_size(w, h, ks, stream, bw, args.scene)
    hdr = (f"{'size':>10} {'K':>3} | {'click':>14} {'full':>14} {'upload8':>8} | {'stk sel':>8} "
           f"{'stk full':>9} {'gather':>9} | {'x stack':>7} {'x gath':>7} {'floor':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        fl = r["refocus_floor_ms"]
        print(f"{r['width']}x{r['height']:<5} {r['K']:>3.0f} | "
              f"{r['refocus']['median_ms']:6.3f}/{r['refocus']['p95_ms']:6.3f} "
              f"{r['full']['median_ms']:6.3f}/{r['full']['p95_ms']:6.3f} "
              f"{r['upload_8bit_pinned']['median_ms']:8.3f} | {r['baseline_stack_select']['median_ms']:8.3f} "
              f"{r['baseline_stack_full']['median_ms']:9.2f} {r['naive_gather']['median_ms']:9.2f} | "
              f"{r['ratio_full_vs_stack']:7.1f} {r['ratio_full_vs_gather']:7.1f} "
              f"{'-' if fl is None else f'{fl:6.3f}'}")
    print("times in ms (median/p95); x stack, x gath: baseline full time / our full render; "
          "floor: refocus_min_bytes / copy bandwidth")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", info["name"]).strip("_").lower()
    path = out / f"gpu_{slug}.json"
    path.write_text(json.dumps({"device": info, "scene": args.scene, "parity": par, "copy_bandwidth": bw,
                                "timer": "CUDA events on the renderer's stream", "results": rows}, indent=2) + "\n")
    print(f"wrote {path}")
    return 0 if par["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
