"""Time and measure the CPU renderer on the motorcycle sample at large sizes.

Each size runs in a fresh subprocess (peak RSS is per process). Per size:
``prepare + render`` (a new photo, after decode) and ``render`` alone (a
refocus click on the same pyramid), medians of ``--repeat`` runs, and the
process's peak RSS. ``*_cpu_ms``: CPU time of all threads (the work; on a busy
machine wall times mostly measure the other processes). Focus alternates between two disparities so a click
really changes the result. Times in ms, memory in MiB.

    PYTHONPATH=$PWD python bench/cpu_profile.py [--sizes 1920x1080:32,3840x2160:64]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def run_one(w: int, h: int, k: float, repeat: int) -> dict:
    import cv2
    import numpy as np

    from deocused.colour import srgb_to_linear
    from deocused.cpu_backend import CpuRenderer
    from deocused.depthmap import to_disparity
    from deocused.samples import load_sample

    img, raw, _ = load_sample("motorcycle")
    disp = to_disparity(raw, "disparity", "sample")
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    disp = cv2.resize(disp, (w, h), interpolation=cv2.INTER_NEAREST)
    lin = np.ascontiguousarray(srgb_to_linear(img), np.float32)
    del img
    foci = (float(np.quantile(disp, 0.3)), float(np.quantile(disp, 0.8)))
    r = CpuRenderer()
    t0 = time.perf_counter()
    r.prepare(lin, disp)
    r.render(foci[0], k)
    first = time.perf_counter() - t0
    new_photo, click, new_cpu, click_cpu = [], [], [], []
    for i in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        r.prepare(lin, disp)
        r.render(foci[i % 2], k)
        new_photo.append(time.perf_counter() - t0)
        new_cpu.append(time.process_time() - c0)
    for i in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        r.render(foci[(i + 1) % 2], k)
        click.append(time.perf_counter() - t0)
        click_cpu.append(time.process_time() - c0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def ms(v):
        return round(statistics.median(v) * 1e3)

    return {"size": f"{w}x{h}", "K": k, "first_ms": round(first * 1e3),
            "new_photo_ms": ms(new_photo), "click_ms": ms(click),
            "new_photo_cpu_ms": ms(new_cpu), "click_cpu_ms": ms(click_cpu), "peak_rss_mib": round(rss)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1920x1080:32,3840x2160:64,6000x4000:240")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        wh, k = a.one.split(":")
        w, h = map(int, wh.split("x"))
        print(json.dumps(run_one(w, h, float(k), a.repeat)))
        return
    for spec in a.sizes.split(","):
        p = subprocess.run([sys.executable, __file__, "--one", spec, "--repeat", str(a.repeat)],
                           capture_output=True, text=True, check=False)
        print(p.stdout.strip() or f"{spec}: failed: {p.stderr.strip().splitlines()[-1:]}", flush=True)


if __name__ == "__main__":
    main()
