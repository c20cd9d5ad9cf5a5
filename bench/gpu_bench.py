"""GPU benchmark of the refocus renderer (issue 3), with two baselines, in one run.

    python bench/gpu_bench.py --out bench/results

1. Parity: GpuRenderer vs CpuRenderer at a small size (8-bit max/mean abs error).
2. Timings with CUDA events (median and p95 of >= 20 runs after warm-up) at
   1920x1080 and 3840x2160 for K = 16, 32, 64 px:
   (a) refocus only: render() with the pyramid reused, alternating two focus values;
   (b) full render of a new frame: prepare() (frame already on the device) + render();
   (c) host->device upload of an 8-bit frame from pinned memory.
   Baselines, same sizes and K:
   * "seed-style": 8 Gaussian blurs (cupyx.scipy.ndimage.gaussian_filter, sigma up
     to K/2) with per-pixel selection/interpolation by blur radius (full = stack +
     selection; the selection alone is the refocus-only baseline);
   * naive per-pixel disc gather (engine/kernels/baseline.cu): every pixel averages
     the disc of its own radius (runs fewer times when slow; the count is reported).
3. The memory-bandwidth floor of the refocus step: bytes read + written per
   refocus / measured device-to-device copy bandwidth.

Writes bench/results/gpu_<device>.json. Needs only cupy, numpy and opencv.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cupy as cp  # noqa: E402
import cupyx.scipy.ndimage as cnd  # noqa: E402

from engine.cpu_backend import CpuRenderer  # noqa: E402
from engine.gpu_backend import GpuRenderer  # noqa: E402

SIZES = [(1080, 1920), (2160, 3840)]
KS = [16.0, 32.0, 64.0]
FOCI = (0.3, 0.7)
N_STACK = 8


def scene(h, w, seed=0):
    """A test frame: smooth textured image with bright spots, layered disparity."""
    rng = np.random.default_rng(seed)
    small = rng.random((h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    import cv2

    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) ** 2
    img[rng.random((h, w)) > 0.998] = 1.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    disp = 0.4 * yy / h + 0.1 * xx / w
    for _ in range(12):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.05, 0.25) * h
        disp = np.where((yy - cy) ** 2 + (xx - cx) ** 2 < r * r, np.float32(rng.uniform(0.2, 1.0)), disp)
    return np.ascontiguousarray(img, np.float32), np.clip(disp, 0, 1).astype(np.float32)


def time_events(fn, stream, runs=30, warmup=3, budget_s=None):
    """Times (ms) of ``fn()`` measured with CUDA events on ``stream``."""
    for _ in range(warmup):
        fn()
    stream.synchronize()
    if budget_s is not None:  # slow baselines: fewer runs
        t0 = time.perf_counter()
        fn()
        stream.synchronize()
        one = time.perf_counter() - t0
        runs = int(min(runs, max(3, budget_s / max(one, 1e-6))))
    out = []
    start, end = cp.cuda.Event(), cp.cuda.Event()
    for _ in range(runs):
        start.record(stream)
        fn()
        end.record(stream)
        end.synchronize()
        out.append(cp.cuda.get_elapsed_time(start, end))
    return out


def stats(times):
    a = np.asarray(times)
    return {"median_ms": float(np.median(a)), "p95_ms": float(np.percentile(a, 95)), "runs": len(a)}


# -- baselines ------------------------------------------------------------------------------
_SELECT = cp.ElementwiseKernel(
    "raw T stack, float32 d, float32 focus, float32 K, float32 sig_step, int32 n_stack, int64 plane",
    "T r, T g, T b",
    """
    float sigma = 0.5f * K * fabsf(d - focus);
    float t = fminf(sigma / sig_step, (float)(n_stack - 1));
    int i0 = min((int)t, n_stack - 2);
    float u = t - i0;
    long long o0 = (long long)i0 * plane * 3 + 3LL * i, o1 = o0 + plane * 3;
    r = (1 - u) * stack[o0] + u * stack[o1];
    g = (1 - u) * stack[o0 + 1] + u * stack[o1 + 1];
    b = (1 - u) * stack[o0 + 2] + u * stack[o1 + 2];
    """,
    "seed_select")


class SeedBaseline:
    """8-level Gaussian stack (sigma 0 .. K/2) + per-pixel linear interpolation in sigma."""

    def __init__(self, img, disp, K, stream):
        self.img, self.disp, self.K, self.stream = img, disp, K, stream
        h, w = disp.shape
        self.stack = cp.empty((N_STACK, h, w, 3), cp.float32)
        self.out = cp.empty((h, w, 3), cp.float32)
        self.step = (K / 2) / (N_STACK - 1)

    def build(self):
        with self.stream:
            self.stack[0] = self.img
            for i in range(1, N_STACK):
                s = i * self.step
                cnd.gaussian_filter(self.img, sigma=(s, s, 0), output=self.stack[i], mode="constant")

    def select(self, focus):
        h, w = self.disp.shape
        with self.stream:
            o = self.out.reshape(-1, 3)
            _SELECT(self.stack, self.disp.ravel(), np.float32(focus), np.float32(self.K), np.float32(self.step),
                    np.int32(N_STACK), np.int64(h * w), o[:, 0], o[:, 1], o[:, 2])

    def full(self, focus):
        self.build()
        self.select(focus)


class GatherBaseline:
    """Naive per-pixel disc gather (each pixel averages the disc of its own radius)."""

    def __init__(self, img, disp, K, stream):
        mod = cp.RawModule(code=(ROOT / "engine" / "kernels" / "baseline.cu").read_text())
        self.fn = mod.get_function("disc_gather")
        self.img, self.disp, self.K, self.stream = img, disp, K, stream
        self.out = cp.empty_like(img)

    def run(self, focus):
        h, w = self.disp.shape
        with self.stream:
            self.fn(((w + 15) // 16, (h + 15) // 16), (16, 16),
                    (self.img, self.disp, np.int32(w), np.int32(h), np.float32(focus), np.float32(self.K), self.out))


# -- parts ------------------------------------------------------------------------------------
def parity():
    img, disp = scene(180, 250, seed=1)
    res = []
    for K, f, dof in ((20.0, 0.5, 0.0), (64.0, 0.2, 0.0), (40.0, 0.8, 0.05)):
        cpu, gpu = CpuRenderer(highlights=1.0), GpuRenderer(highlights=1.0)
        cpu.prepare(img, disp)
        gpu.prepare(img, disp)
        a = cpu.render_srgb8(f, K, dof).astype(np.int16)
        b = gpu.render_srgb8(f, K, dof).astype(np.int16)
        d = np.abs(a - b)
        res.append({"K": K, "focus": f, "dof": dof, "max_abs_8bit": int(d.max()), "mean_abs_8bit": float(d.mean())})
    ok = all(r["max_abs_8bit"] <= 2 for r in res)
    return {"size": [180, 250], "cases": res, "tolerance": "max abs <= 2/255", "ok": ok}


def copy_bandwidth(stream):
    n = 1 << 28  # 1 GiB of float32
    a = cp.ones(n, cp.float32)
    b = cp.empty_like(a)
    # (a, b stay alive while timed)
    t = time_events(lambda: cp.cuda.runtime.memcpyAsync(b.data.ptr, a.data.ptr, a.nbytes,
                                                        cp.cuda.runtime.memcpyDeviceToDevice, stream.ptr),
                    stream, runs=20)
    ms = float(np.median(t))
    a = b = None
    cp.get_default_memory_pool().free_all_blocks()
    return 2 * (1 << 30) / (ms * 1e-3)  # bytes read + written per second


def refocus_bytes(h, w):
    """Minimum traffic of one refocus: packed pixel in (16 B), RGB out (12 B), and the
    own layer at two levels (2 x 8 B of float16 RGBA; behind/front layers and downsampled
    levels are mostly cache hits)."""
    return h * w * (16 + 12 + 2 * 8)


def bench_size(h, w, stream, bw):
    rows = []
    img, disp = scene(h, w, seed=h)
    d_img, d_disp = cp.asarray(img), cp.asarray(disp)
    # (c) upload of an 8-bit frame from pinned memory
    frame8 = (np.clip(img, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)
    pinned = cp.cuda.alloc_pinned_memory(frame8.nbytes)
    host8 = np.frombuffer(pinned, np.uint8, frame8.size).reshape(frame8.shape)
    host8[...] = frame8
    dev8 = cp.empty(frame8.shape, cp.uint8)
    upload = stats(time_events(lambda: dev8.set(host8, stream=stream), stream, runs=30))
    for K in KS:
        r = GpuRenderer(stream=stream)
        r.prepare(d_img, d_disp)
        r.render(FOCI[0], K)
        k = [0]

        def refocus():
            k[0] ^= 1
            r.render(FOCI[k[0]], K)

        def full():
            r.prepare(d_img, d_disp)
            r.render(FOCI[0], K)

        a = stats(time_events(refocus, stream, runs=40, warmup=5))
        b = stats(time_events(full, stream, runs=25, warmup=3))
        seed = SeedBaseline(d_img, d_disp, K, stream)
        seed.build()
        sa = stats(time_events(lambda: seed.select(FOCI[k[0] ^ 1]), stream, runs=30))
        sb = stats(time_events(lambda: seed.full(FOCI[0]), stream, runs=20, budget_s=4.0))
        del seed
        gat = GatherBaseline(d_img, d_disp, K, stream)
        g = stats(time_events(lambda: gat.run(FOCI[0]), stream, runs=20, warmup=1, budget_s=4.0))
        del gat
        floor_ms = refocus_bytes(h, w) / bw * 1e3
        rows.append({
            "width": w, "height": h, "K": K,
            "refocus": a, "full": b, "upload_8bit_pinned": upload,
            "seed_stack_select": sa, "seed_stack_full": sb, "naive_gather": g,
            "refocus_floor_ms": floor_ms, "refocus_bytes": refocus_bytes(h, w),
            "ratio_full_vs_seed": sb["median_ms"] / b["median_ms"],
            "ratio_full_vs_gather": g["median_ms"] / b["median_ms"],
            "ratio_refocus_vs_seed_select": sa["median_ms"] / a["median_ms"],
            "refocus_vs_floor": a["median_ms"] / floor_ms,
        })
        del r
        cp.get_default_memory_pool().free_all_blocks()
    return rows


def device_info():
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return {
        "gpu": name,
        "driver": cp.cuda.runtime.driverGetVersion(),
        "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
        "cupy": cp.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--quick", action="store_true", help="1080p only, K = 64 (smoke test)")
    args = ap.parse_args(argv)
    info = device_info()
    print(f"# {info['gpu']}  driver {info['driver']}  CUDA runtime {info['cuda_runtime']}  cupy {info['cupy']}")
    par = parity()
    print(f"parity vs CPU ({par['tolerance']}): " +
          ", ".join(f"K={c['K']:g} max {c['max_abs_8bit']}/255 mean {c['mean_abs_8bit']:.4f}" for c in par["cases"]) +
          ("  OK" if par["ok"] else "  FAILED"))
    stream = cp.cuda.Stream(non_blocking=True)
    bw = copy_bandwidth(stream)
    print(f"device-to-device copy bandwidth: {bw / 1e9:.0f} GB/s (read + write)")
    sizes = SIZES
    if args.quick:
        sizes = SIZES[:1]
        globals()["KS"] = [64.0]
    rows = []
    for h, w in sizes:
        rows += bench_size(h, w, stream, bw)
    hdr = (f"{'size':>10} {'K':>3} | {'refocus':>14} {'full':>14} {'upload8':>8} | {'seed sel':>8} "
           f"{'seed full':>9} {'gather':>9} | {'x seed':>6} {'x gath':>7} {'floor':>6}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['width']}x{r['height']:<5} {r['K']:>3.0f} | "
              f"{r['refocus']['median_ms']:6.3f}/{r['refocus']['p95_ms']:6.3f} "
              f"{r['full']['median_ms']:6.3f}/{r['full']['p95_ms']:6.3f} "
              f"{r['upload_8bit_pinned']['median_ms']:8.3f} | {r['seed_stack_select']['median_ms']:8.3f} "
              f"{r['seed_stack_full']['median_ms']:9.2f} {r['naive_gather']['median_ms']:9.2f} | "
              f"{r['ratio_full_vs_seed']:6.1f} {r['ratio_full_vs_gather']:7.1f} {r['refocus_floor_ms']:6.3f}")
    print("times in ms (median/p95); x seed, x gath: baseline full time / our full render; "
          "floor: refocus bytes / copy bandwidth")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", info["gpu"]).strip("_").lower()
    path = out / f"gpu_{slug}.json"
    path.write_text(json.dumps({"device": info, "parity": par, "copy_bandwidth_bytes_per_s": bw,
                                "refocus_bytes_formula": "H*W*(16 + 12 + 2*8)", "results": rows}, indent=2))
    print(f"wrote {path}")
    return 0 if par["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
