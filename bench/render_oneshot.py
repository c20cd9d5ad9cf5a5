#!/usr/bin/env python
"""`refocus render` of a phone or camera photo, the whole command, as a user runs it: time and memory.

The motorcycle sample (a real photo with its stereo disparity) scaled to ``--size``
(as ``bench/viewer_latency.py`` makes it: JPEG quality 95 with a 16-bit
``photo.depth.png`` sidecar) is rendered ``--runs`` times with the default K by

    /usr/bin/time -v refocus render photo.jpg --device cpu -o out.jpg

in a fresh process each time (Python start-up, imports, loading the cached kernels,
decode, depth, render in strips, JPEG encode and write). Recorded per run: wall
seconds, user and system CPU seconds, peak resident memory (GNU time's "Maximum
resident set size") and the 1-minute load average before the run (the 2-core
machine is shared: CPU seconds vary less than wall time). Before them, ``refocus warmup``
and one uncounted run: the kernels in Numba's cache and the package's bytecode written, as
after a user's first run (where ``PYTHONDONTWRITEBYTECODE`` is set, as on the development
machine, Python never writes that bytecode, and each run would compile the package's
modules from source, ~0.15 s). All runs must write the same bytes.

Writes JSON (default bench/results/render_oneshot_cpu_WxH.json).

    python bench/render_oneshot.py [--size 4032x3024] [--runs 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MAKE_FILES = """
import sys
from deocused.bench.scenes import make_inputs
from deocused.io.depthmap import save_disparity_png
w, h, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
d = make_inputs(w, h, "motorcycle")
open(folder + "/photo.jpg", "wb").write(d["jpeg"])
save_disparity_png(folder + "/photo.depth.png", d["disparity"])
"""

_FIELDS = {"user_s": r"User time \(seconds\): ([\d.]+)", "sys_s": r"System time \(seconds\): ([\d.]+)",
           "peak_rss_kb": r"Maximum resident set size \(kbytes\): (\d+)",
           "wall": r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)"}


def _seconds(clock: str) -> float:
    s = 0.0
    for part in clock.split(":"):
        s = 60 * s + float(part)
    return s


def run_once(refocus: str, folder: str, device: str) -> dict:
    """One ``refocus render`` under GNU time: its figures and the output's digest."""
    load = os.getloadavg()[0]
    out = Path(folder) / "out.jpg"
    p = subprocess.run(["/usr/bin/time", "-v", refocus, "render", "photo.jpg", "--device", device, "-o", out.name,
                        "--overwrite"], cwd=folder, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"refocus render failed ({p.returncode}):\n{p.stderr[-2000:]}")
    got = {k: re.search(rx, p.stderr).group(1) for k, rx in _FIELDS.items()}
    user, sys_ = float(got["user_s"]), float(got["sys_s"])
    return {"wall_s": round(_seconds(got["wall"]), 2), "user_s": user, "sys_s": sys_, "cpu_s": round(user + sys_, 2),
            "peak_rss_mb": round(int(got["peak_rss_kb"]) / 1024), "loadavg_1min_before": round(load, 2),
            "sha256": hashlib.sha256(out.read_bytes()).hexdigest(), "says": p.stdout.strip()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="4032x3024")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    out = Path(args.out or ROOT / f"bench/results/render_oneshot_{args.device}_{w}x{h}.json")
    refocus = shutil.which("refocus", path=str(Path(sys.executable).parent)) or "refocus"
    folder = tempfile.mkdtemp(prefix="render-oneshot-")
    try:
        subprocess.run([sys.executable, "-c", MAKE_FILES, str(w), str(h), folder], check=True)
        subprocess.run([refocus, "warmup"], check=True, stdout=subprocess.DEVNULL)  # kernels and bytecode
        run_once(refocus, folder, args.device)  # not counted
        runs = []
        for k in range(args.runs):
            runs.append(run_once(refocus, folder, args.device))
            r = runs[-1]
            print(f"run {k + 1}: {r['wall_s']} s wall, {r['user_s']} s user + {r['sys_s']} s sys, "
                  f"peak {r['peak_rss_mb']} MB (load {r['loadavg_1min_before']})", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if len({r["sha256"] for r in runs}) != 1:
        raise SystemExit("the runs wrote different bytes")
    from deocused.bench.machine import run_context

    result = {
        "what": "refocus render of the photo, whole command in a fresh process (GNU time): wall, CPU, peak memory",
        "photo": f"motorcycle sample scaled to {w}x{h}, JPEG q95 + 16-bit depth sidecar, default K",
        "device": args.device, "runs": runs,
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "max_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        **run_context(),
        "command": "python bench/render_oneshot.py " + " ".join(sys.argv[1:]),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"median {result['median_wall_s']} s wall, {result['median_cpu_s']} s CPU, peak "
          f"{result['max_peak_rss_mb']} MB; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
