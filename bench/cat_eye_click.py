"""CPU click time at 1080p K=32 (motorcycle scene, focus alternating 0.3 / 0.7, the pyramid
reused: what `refocus bench` times as "click") with the cat-eye off and on, and optionally
with another checkout's engine (e.g. main before the cat-eye) as the baseline.

    python bench/cat_eye_click.py [--baseline-src DIR] [--rounds 3] [--clicks 6]
                                  [--out bench/results/cat_eye_click_cpu.json]

Each configuration runs in its own process (prepare, one untimed click for each focus, then
``--clicks`` timed clicks), the configurations alternating round after round so that other
work on the machine weighs on them alike; per click the wall time and the process's CPU time
(all threads). ``--baseline-src``: a source tree whose ``engine/`` is imported as deocused
(``git archive main | tar -x -C DIR && ln -s DIR/engine DIR/deocused``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(src: str | None, cat_eye: float, clicks: int) -> dict:
    if src:
        sys.path.insert(0, src)
    import deocused
    from deocused.bench.scenes import scene_arrays
    from deocused.io.colour import srgb_to_linear
    from deocused.render.cpu.backend import CpuRenderer

    img, disp = scene_arrays(1920, 1080, "motorcycle")
    r = CpuRenderer(cat_eye=cat_eye) if cat_eye else CpuRenderer()
    r.prepare(srgb_to_linear(img), disp)
    for f in (0.3, 0.7):
        r.render(f, 32.0)  # the levels and tiles a click of this K reads: built once
    wall, cpu = [], []
    for k in range(clicks):
        t0, c0 = time.perf_counter(), time.process_time()
        r.render((0.3, 0.7)[k % 2], 32.0)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"engine": str(Path(deocused.__file__).parent), "wall_s": wall, "cpu_s": cpu}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-src")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clicks", type=int, default=6)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cat_eye_click_cpu.json")
    ap.add_argument("--child", nargs=2, metavar=("SRC", "CAT_EYE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0] or None, float(args.child[1]), args.clicks)))
        return 0
    from deocused.bench.machine import run_context

    configs = {"cat-eye off": ("", 0.0), "cat-eye 1": ("", 1.0), "cat-eye 0.5": ("", 0.5)}
    if args.baseline_src:
        configs = {"baseline (--baseline-src), off": (args.baseline_src, 0.0), **configs}
    runs: dict[str, dict] = {name: {"wall_s": [], "cpu_s": []} for name in configs}
    context = run_context()
    for _ in range(args.rounds):
        for name, (src, ce) in configs.items():
            out = subprocess.run([sys.executable, __file__, "--clicks", str(args.clicks), "--child", src, str(ce)],
                                 capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            runs[name]["engine"] = got["engine"]
            runs[name]["wall_s"] += got["wall_s"]
            runs[name]["cpu_s"] += got["cpu_s"]
            print(name, f"median click {statistics.median(got['wall_s']) * 1e3:.0f} ms", flush=True)
    summary = {name: {"median_wall_ms": round(statistics.median(r["wall_s"]) * 1e3, 1),
                      "median_cpu_ms": round(statistics.median(r["cpu_s"]) * 1e3, 1)} for name, r in runs.items()}
    result = {**context, "loadavg_end": [round(v, 2) for v in __import__("os").getloadavg()],
              "command": "python bench/cat_eye_click.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "scene": "motorcycle 1920x1080, K=32, focus 0.3/0.7", "summary": summary, "runs": runs}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
