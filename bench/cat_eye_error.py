"""Cat-eye approximation error against a brute-force per-pixel gather of the exact lens.

    python bench/cat_eye_error.py [--out bench/results/cat_eye_error.json] [--size 320] [--radius 14]

Two test images, everything at one depth (radius ``--radius`` px): a grid of point lights (value
LIGHT, linear, on 0.02) and a smooth texture. Per strength: the few-tap approximation with exact
discs (3 and 5 taps: the approximation alone) and the CPU renderer (the GPU equals it to the parity
tolerance; its pyramid adds its own error, measured at strength 0 against the exact disc) against the
exact lens of every pixel (deocused.bench.cat_eye_gather). Errors in linear light over the pixels at least 1.5 radii + 2 px
inside the frame: RMSE and max, also relative to the mean of the exact result; and, for scale, the
plain renderer (strength 0) against the exact lens (what ignoring the cat-eye costs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LIGHT = 100.0


def images(size: int) -> dict:
    """Point lights on a dark ground, and a band-limited random texture in [0.05, 0.95] (linear)."""
    import cv2

    lights = np.full((size, size, 3), 0.02, np.float32)
    lights[16::32, 16::32] = LIGHT
    small = np.random.default_rng(5).random((size // 4 + 2, size // 4 + 2, 3)).astype(np.float32)
    texture = np.clip(0.05 + 0.9 * cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    return {"lights": lights, "texture": texture.astype(np.float32)}


def errors(got, want, m) -> dict:
    d = (got - want)[m:-m, m:-m]
    mean = float(np.abs(want[m:-m, m:-m]).mean())
    rmse, mx = float(np.sqrt((d ** 2).mean())), float(np.abs(d).max())
    return {"rmse": rmse, "max": mx, "rmse_rel": rmse / mean, "max_rel": mx / mean}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cat_eye_error.json")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--radius", type=float, default=14.0)
    args = ap.parse_args(argv)
    from deocused.bench.cat_eye_gather import exact_lens, tap_lens
    from deocused.bench.machine import run_context
    from deocused.render.cpu.backend import CpuRenderer

    t0 = time.time()
    m = int(1.5 * args.radius) + 2
    rows = []
    for name, img in images(args.size).items():
        disp = np.zeros(img.shape[:2], np.float32)
        plain = None  # the renderer at strength 0 (first)
        for strength in (0.0, 0.5, 1.0):
            exact = exact_lens(img, args.radius, strength)
            r = CpuRenderer(cat_eye=strength)
            r.prepare(img, disp)
            row = {"image": name, "strength": strength,
                   "renderer": errors(r.render(0.5, 2 * args.radius).astype(np.float64), exact, m)}
            if strength > 0:
                row["renderer_without_cat_eye"] = errors(plain, exact, m)  # what ignoring the cat-eye costs
                for taps in (3, 5):
                    row[f"taps{taps}_exact_discs"] = errors(tap_lens(img, args.radius, strength, taps), exact, m)
            if strength == 0:
                plain = r.render(0.5, 2 * args.radius).astype(np.float64)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {**run_context(), "command": "python bench/cat_eye_error.py " + " ".join(argv or sys.argv[1:]),
              "size": args.size, "radius": args.radius, "light": LIGHT, "margin": m,
              "seconds": round(time.time() - t0, 1), "rows": rows}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
