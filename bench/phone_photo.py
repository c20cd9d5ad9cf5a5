"""Phone photos: HEIC decode, embedded-depth extraction + guided upsampling, and the
guided filter's edge error against bilinear on scenes with known depth.

    python bench/phone_photo.py [--heic ../shared/realdata/pug.heic] [--groundtruth ../shared/groundtruth]
                                [--repeat 5] [--json bench/results/phone_cpu.json] [--markdown bench/results/phone_cpu.md]

Times are medians over ``--repeat`` runs (after one warm-up), wall and CPU
(process time: on a shared machine the wall time includes waiting for a core).
Edge error: the ground-truth disparity shrunk by 5.25 (as a 12 MP photo's
768x576 depth map) and upsampled back; mean absolute error within 8 px of depth
discontinuities (Sobel magnitude > 0.05), and over the whole image.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import cv2
import numpy as np


def timed(fn, repeat: int) -> dict:
    from deocused.bench.timing import wall_and_cpu

    walls, cpus = wall_and_cpu(fn, repeat, warmup=1)
    return {"wall_ms": round(statistics.median(walls), 1), "cpu_ms": round(statistics.median(cpus), 1),
            "wall_min_ms": round(min(walls), 1), "repeat": repeat}


def heic_timings(path: Path, repeat: int) -> dict:
    from deocused.io.embedded_depth import find_embedded_depth, fit_to_photo
    from deocused.io.images import decode_image, read_bytes

    data = read_bytes(path)
    img = decode_image(data, str(path))
    emb = find_embedded_depth(data, str(path))
    out = {"file": path.name, "pixels": f"{img.shape[1]}x{img.shape[0]}",
           "decode_heic": timed(lambda: decode_image(data, str(path)), repeat)}
    if emb is not None:
        out["depth_source"] = emb.source
        out["extract_embedded_depth"] = timed(lambda: find_embedded_depth(data, str(path)), repeat)
        out["extract_and_guided_upsample"] = timed(
            lambda: fit_to_photo(find_embedded_depth(data, str(path)), img), repeat)
    return out


def edge_errors(root: Path, factor: float = 5.25) -> list[dict]:
    from deocused.io.guided import guided_upsample
    from deocused.io.images import load_image

    rows = []
    for scene in sorted(p for p in root.glob("scene*") if (p / "disparity.png").exists()):
        img = load_image(scene / "image.png")
        d = cv2.imread(str(scene / "disparity.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 65535
        h, w = d.shape
        edges = np.hypot(cv2.Sobel(d, cv2.CV_32F, 1, 0), cv2.Sobel(d, cv2.CV_32F, 0, 1)) > 0.05
        band = cv2.dilate(edges.astype(np.uint8), np.ones((17, 17), np.uint8)) > 0
        small = cv2.resize(d, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA)
        bil = np.abs(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) - d)
        gui = np.abs(guided_upsample(small, img) - d)
        rows.append({"scene": scene.name, "edge_band_fraction": round(float(band.mean()), 3),
                     "bilinear_edge_mae": round(float(bil[band].mean()), 4),
                     "guided_edge_mae": round(float(gui[band].mean()), 4),
                     "bilinear_mae": round(float(bil.mean()), 4), "guided_mae": round(float(gui.mean()), 4)})
    return rows


def markdown(res: dict) -> str:
    lines = [f"# Phone photos ({res['machine']})", "", f"Load average at start: {res['loadavg']}", ""]
    h = res.get("heic")
    if h:
        lines += [f"## {h['file']} ({h['pixels']}; {h.get('depth_source', 'no embedded depth')})", "",
                  "| stage | wall median (ms) | CPU median (ms) | wall min (ms) |", "|---|---|---|---|"]
        for k in ("decode_heic", "extract_embedded_depth", "extract_and_guided_upsample"):
            if k in h:
                lines.append(f"| {k} | {h[k]['wall_ms']} | {h[k]['cpu_ms']} | {h[k]['wall_min_ms']} |")
        lines.append("")
    if res.get("edges"):
        lines += ["## Guided vs bilinear upsampling (depth shrunk 5.25x, mean abs. disparity error)", "",
                  "| scene | edge band: bilinear | edge band: guided | all: bilinear | all: guided |",
                  "|---|---|---|---|---|"]
        for r in res["edges"]:
            lines.append(f"| {r['scene']} | {r['bilinear_edge_mae']} | {r['guided_edge_mae']} | "
                         f"{r['bilinear_mae']} | {r['guided_mae']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    here = Path(__file__).resolve().parent
    shared = here.parent.parent / "shared"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heic", type=Path, default=shared / "realdata" / "pug.heic")
    ap.add_argument("--groundtruth", type=Path, default=shared / "groundtruth")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    from deocused.bench.machine import run_context

    ctx = run_context()
    res = {"machine": f"{ctx['cpu']}, {ctx['cpu_count']} CPUs", "loadavg": ctx["loadavg"]}
    if args.heic.exists():
        res["heic"] = heic_timings(args.heic, args.repeat)
    if args.groundtruth.is_dir():
        res["edges"] = edge_errors(args.groundtruth)
    text = markdown(res)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
