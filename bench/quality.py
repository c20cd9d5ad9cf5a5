"""Image quality against physically based ground truth (Blender Cycles thin-lens renders).

    python bench/quality.py [--groundtruth ../shared/groundtruth] [--device cpu|gpu] [--out bench/results]
    PYTHONPATH=tests/cudahost python bench/quality.py --device gpu   # the .cu kernels on the CPU (slow)

For every scene and setting in the ground-truth folder it runs ``refocus render``
(the real command line, in a subprocess) with the setting's ``--focus-disparity``
and ``--max-blur``, and the original project's Gaussian-stack method
(:func:`deocused.bench.baseline.baseline_render`) on the same input, and reports PSNR (dB) and SSIM of the
8-bit sRGB results against the ground truth over the whole image and over the
*edge band*: pixels within 8 px of a depth discontinuity (a 3x3 neighbourhood
whose normalised disparity spans more than 0.02).
Writes ``quality_<device>.json`` and ``quality_<device>.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from deocused.bench.baseline import baseline_render
from deocused.io.colour import linear_to_srgb8, srgb_to_linear
from deocused.io.depthmap import load_disparity
from deocused.io.images import load_image

EDGE_BAND_PX = 8
EDGE_JUMP = 0.02


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of 8-bit images, optionally over a pixel mask."""
    err = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = err[mask].mean() if mask is not None else err.mean()
    return float(10.0 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def edge_band(disparity: np.ndarray) -> np.ndarray:
    """Pixels within EDGE_BAND_PX of a depth discontinuity."""
    box = np.ones((3, 3), np.uint8)
    jump = (cv2.dilate(disparity, box) - cv2.erode(disparity, box)) > EDGE_JUMP
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * EDGE_BAND_PX + 1, 2 * EDGE_BAND_PX + 1))
    return cv2.dilate(jump.astype(np.uint8), disc) > 0


def scores(result: np.ndarray, truth: np.ndarray, band: np.ndarray) -> dict:
    ssim_map = structural_similarity(result, truth, channel_axis=2, full=True)[1].mean(axis=2)
    return {"psnr_all": psnr(result, truth), "psnr_edge": psnr(result, truth, band),
            "ssim_all": float(ssim_map.mean()), "ssim_edge": float(ssim_map[band].mean())}


def run_engine(image: Path, depth: Path, setting: dict, device: str, out: Path) -> tuple[np.ndarray, float]:
    cmd = [sys.executable, "-m", "deocused.cli", "-q", "render", str(image), "--depth", str(depth),
           "--focus-disparity", repr(setting["d_focus"]), "--max-blur", repr(setting["K"]),
           "--device", device, "--output", str(out), "--overwrite"]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"refocus render failed: {res.stderr.strip()}")
    return cv2.imread(str(out))[:, :, ::-1], time.perf_counter() - t


def _emulated_gpu(device: str) -> bool:
    """Whether ``--device gpu`` runs on the CUDA host emulation's CuPy stand-in
    (``PYTHONPATH=tests/cudahost``) rather than a GPU."""
    if device != "gpu":
        return False
    try:
        import cupy
    except ImportError:
        return False
    return bool(getattr(cupy, "IS_CUDAHOST", False))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent
    ap.add_argument("--groundtruth", type=Path, default=here.parent.parent / "shared" / "groundtruth")
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--out", type=Path, default=here / "results")
    args = ap.parse_args(argv)
    scenes = sorted(p for p in args.groundtruth.glob("scene*") if (p / "params.json").exists())
    if not scenes:
        print(f"no ground-truth scenes under {args.groundtruth}", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scene in scenes:
            params = json.loads((scene / "params.json").read_text())
            image, depth = scene / "image.png", scene / "disparity.png"
            linear = srgb_to_linear(load_image(image))
            disparity = load_disparity(depth)
            band = edge_band(disparity)
            for s in params["settings"]:
                truth = cv2.imread(str(scene / s["file"]))[:, :, ::-1]
                ours, seconds = run_engine(image, depth, s, args.device, Path(tmp) / "out.png")
                base = linear_to_srgb8(baseline_render(linear, disparity, s["d_focus"], s["K"]))
                row = {"scene": scene.name, "setting": s["name"], "d_focus": s["d_focus"], "K": s["K"],
                       "engine": scores(ours, truth, band), "baseline": scores(base, truth, band),
                       "engine_cli_seconds": round(seconds, 3)}
                rows.append(row)
                e, b = row["engine"], row["baseline"]
                print(f"{scene.name} {s['name']:16s} engine {e['psnr_all']:.2f} / {e['psnr_edge']:.2f} dB   "
                      f"baseline {b['psnr_all']:.2f} / {b['psnr_edge']:.2f} dB")
    mean = {m: {k: float(np.mean([r[m][k] for r in rows])) for k in rows[0][m]} for m in ("engine", "baseline")}
    device = args.device + (" (CUDA host emulation: tests/cudahost on PYTHONPATH)" if _emulated_gpu(args.device) else "")
    result = {"device": device, "machine": platform.processor() or platform.machine(),
              "edge_band": {"px": EDGE_BAND_PX, "disparity_jump": EDGE_JUMP},
              "scenes": [p.name for p in scenes], "rows": rows, "mean": mean}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"quality_{args.device}.json").write_text(json.dumps(result, indent=1))
    lines = ["| method | PSNR all (dB) | SSIM all | PSNR edge band (dB) | SSIM edge band |", "|---|---|---|---|---|"]
    for m, name in (("baseline", "Gaussian stack, 8 levels (original project)"), ("engine", "Deocused")):
        v = mean[m]
        lines.append(f"| {name} | {v['psnr_all']:.2f} | {v['ssim_all']:.3f} | {v['psnr_edge']:.2f} | {v['ssim_edge']:.3f} |")
    table = "\n".join(lines)
    (args.out / f"quality_{args.device}.md").write_text(
        f"Mean over {len(rows)} settings of {', '.join(result['scenes'])} (device: {device}); "
        f"`python bench/quality.py --device {args.device}`\n\n{table}\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
