#!/usr/bin/env python
"""The viewer's fit view against the full-resolution render resampled to the window (PSNR, dB).

The motorcycle sample scaled to each size (as ``refocus bench --scene motorcycle
--sizes WxH`` scales it), shown in a window of ``--window`` framebuffer pixels:
for focus disparities 0.2, 0.5, 0.8 and K = K0/2, K0, 2 K0 (K0 = the default K of
the size, at most 256), the display-resolution render is compared with the
full-resolution render area-resampled to the display size (8-bit sRGB PSNR).
See deocused.bench.fit_view. Writes JSON.

    python bench/fit_view_psnr.py [--sizes 4032x3024] [--window 1600x1000] [--out bench/results/fit_view_psnr.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4032x3024")
    ap.add_argument("--window", default="1600x1000")
    ap.add_argument("--out", default=str(ROOT / "bench/results/fit_view_psnr.json"))
    args = ap.parse_args()
    from deocused.bench.fit_view import fit_view_psnr
    from deocused.bench.scenes import scene_arrays
    from deocused.render.optics import default_max_blur
    from deocused.render.pyramid import MAX_RADIUS

    fb = tuple(int(v) for v in args.window.split("x"))
    rows = []
    for spec in args.sizes.split(","):
        w, h = (int(v) for v in spec.split("x"))
        img, disp = scene_arrays(w, h, "motorcycle")
        k0 = default_max_blur((h, w))
        settings = [(f, min(m * k0, MAX_RADIUS)) for f in (0.2, 0.5, 0.8) for m in (0.5, 1.0, 2.0)]
        t = time.perf_counter()
        r = fit_view_psnr(img, disp, fb, settings)
        rows.append({"photo": [w, h], "display": list(r["size"]),
                     "settings": [{"focus_disparity": f, "max_blur": k, "psnr_db": round(p, 2)}
                                  for (f, k), p in zip(settings, r["psnr"])],
                     "min_psnr_db": round(min(r["psnr"]), 2), "seconds": round(time.perf_counter() - t, 1)})
        print(f"{w}x{h} -> {r['size'][0]}x{r['size'][1]}: " + " ".join(f"{p:.2f}" for p in r["psnr"])
              + f"  min {min(r['psnr']):.2f} dB", flush=True)
    result = {"what": "PSNR (8-bit sRGB) of the viewer's fit view (render at display resolution) against the "
                      "full-resolution render area-resampled to the display size",
              "scene": "motorcycle sample scaled (deocused.bench.scenes.scene_arrays)", "window": list(fb),
              "command": "python bench/fit_view_psnr.py " + " ".join(sys.argv[1:]),
              "load_avg": os.getloadavg(), "results": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
