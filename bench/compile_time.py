#!/usr/bin/env python
"""First-run cost of the CPU kernels: `refocus render --sample motorcycle` with an empty Numba cache.

Runs the whole command twice in fresh child processes sharing one new, empty
NUMBA_CACHE_DIR: cold (compiles every kernel the render needs) and warm (loads them
from the cache). Per run: wall time, CPU time (user + sys of the child, the
figure to compare on a shared machine), the seconds from start until the first
stderr line about compiling (the progress notice), and the SHA-256 of the output
PNG. The cold run also records the compile time of each kernel (Numba's
"numba:compile" events, outermost only: a kernel's callees count with it),
summed per kernel group (deocused.render.cpu.jit.GROUPS: photo, levels, render).

``--src DIR`` measures another checkout of the repository (e.g. the commit before
this change, from `git worktree add` or `git archive`) with the same method, so
"before" and "after" numbers come from one script; ``--label`` names the entry.
Results are merged into the JSON file (one entry per label).

    python bench/compile_time.py [--src DIR] [--label after] [--out bench/results/compile_time_cpu.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RENDER = ["render", "--sample", "motorcycle", "--focus", "300,250", "--overwrite"]
#: Kernel -> group, for the names before (parallel kernels) and after (serial tile kernels) the change.
GROUP_OF = {
    **dict.fromkeys(["ingest", "_ingest_rows", "outline_codes", "_outline_rows", "tile_masks_bands",
                     "_tile_masks_bands_tiles", "block_masks", "_block_masks_rows", "pixel_masks",
                     "_pixel_masks_rows", "halve_masks", "tile_masks", "slot_table", "count_blocks"], "photo"),
    **dict.fromkeys(["conv_full", "_conv_full_tiles", "conv_down", "_conv_down_tiles", "down_from_image",
                     "_down_from_image_rows", "down_next", "_down_next_rows",
                     "down_from_down", "_down_from_down_rows"], "levels"),
    **dict.fromkeys(["refocus", "_refocus_tiles", "front_tiles", "full_levels_needed", "_levels_needed_tiles"],
                    "render"),
}


def child(out_json: str, argv: list[str]) -> int:
    """In the measured process: record outermost compile events, then run the CLI."""
    from numba.core import event as ev

    stack, rows = [], []

    class Listener(ev.Listener):
        def on_start(self, e):
            stack.append((e.data["dispatcher"].py_func.__name__, time.perf_counter(), time.process_time()))

        def on_end(self, e):
            name, w0, c0 = stack.pop()
            if not stack:
                rows.append({"kernel": name, "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0})

    ev.register("numba:compile", Listener())
    from deocused.cli import main

    rc = main(argv)
    Path(out_json).write_text(json.dumps(rows))
    return rc


def run(cmd: list[str], env: dict) -> dict:
    """Wall and CPU time of one child, and when its first stderr line about compiling came."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    first = []
    lines = []

    def read_err():
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if not first and "compiling" in line:
                first.append(time.perf_counter() - t0)

    reader = threading.Thread(target=read_err)
    reader.start()
    out = proc.stdout.read()
    proc.wait()
    reader.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n" + "\n".join(lines[-20:]))
    return {"wall_s": round(wall, 2), "cpu_s": round((after.ru_utime - before.ru_utime)
                                                     + (after.ru_stime - before.ru_stime), 2),
            "first_compile_line_s": round(first[0], 2) if first else None,
            "stderr_lines": len([ln for ln in "\n".join(lines).replace("\r", "\n").splitlines() if ln.strip()]),
            "stdout": out.strip()}


def measure(src: Path | None) -> dict:
    env = dict(os.environ)
    work = Path(tempfile.mkdtemp(prefix="compile-time-"))
    env["NUMBA_CACHE_DIR"] = str(work / "numba-cache")
    if src is not None:  # import that checkout's engine/ as the deocused package
        (work / "pkg").mkdir()
        (work / "pkg" / "deocused").symlink_to(Path(src).resolve() / "engine")
        env["PYTHONPATH"] = str(work / "pkg")
    out_png = work / "out.png"
    kernels_json = work / "kernels.json"
    py = sys.executable
    load = os.getloadavg()
    cold = run([py, str(Path(__file__).resolve()), "--child", str(kernels_json), *RENDER, "-o", str(out_png)], env)
    cold["output_sha256"] = hashlib.sha256(out_png.read_bytes()).hexdigest()
    warm = run([py, "-m", "deocused.cli", *RENDER, "-o", str(out_png)], env)
    warm["output_sha256"] = hashlib.sha256(out_png.read_bytes()).hexdigest()
    kernels = json.loads(kernels_json.read_text())
    groups: dict[str, dict] = {}
    for k in kernels:
        g = groups.setdefault(GROUP_OF.get(k["kernel"], "other"), {"cpu_s": 0.0, "wall_s": 0.0, "kernels": 0})
        g["cpu_s"] += k["cpu_s"]
        g["wall_s"] += k["wall_s"]
        g["kernels"] += 1
    for g in groups.values():
        g["cpu_s"], g["wall_s"] = round(g["cpu_s"], 2), round(g["wall_s"], 2)
    return {"source": str(src) if src else str(ROOT), "cold": cold, "warm": warm, "compile_groups": groups,
            "compile_kernels": [{**k, "cpu_s": round(k["cpu_s"], 2), "wall_s": round(k["wall_s"], 2)}
                                for k in kernels],
            "loadavg_before": [round(v, 2) for v in load], "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[3:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, help="another checkout of the repository to measure (default: this one)")
    ap.add_argument("--label", default="after", help="name of this entry in the JSON (default: after)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/compile_time_cpu.json")
    args = ap.parse_args()
    entry = measure(args.src)
    data = json.loads(args.out.read_text()) if args.out.exists() else {
        "benchmark": "compile_time", "command": "refocus " + " ".join(RENDER) + " -o OUT.png",
        "note": "empty NUMBA_CACHE_DIR; cpu_s = user + sys of the child; the machine's 2 cores are shared with "
                "other work, so compare cpu_s and look at loadavg", "runs": {}}
    from deocused.bench.machine import run_context

    ctx = run_context()
    data["cpu"], data["cpu_count"] = ctx["cpu"], ctx["cpu_count"]
    data["runs"][args.label] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    c, w = entry["cold"], entry["warm"]
    print(f"{args.label}: cold {c['wall_s']} s wall / {c['cpu_s']} s CPU (first compile line at "
          f"{c['first_compile_line_s']} s); warm {w['wall_s']} s wall / {w['cpu_s']} s CPU; groups "
          + ", ".join(f"{g} {v['cpu_s']} s CPU" for g, v in sorted(entry["compile_groups"].items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
