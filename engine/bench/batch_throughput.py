"""Batch throughput: items/s against workers, local pool vs Ray on this node.

``python -m deocused.bench.batch_throughput [--size 1920x1080] [--items 4] [--workers 1,2]
[--repeat 2] [--device cpu] [--no-ray] [--json OUT] [--plot OUT.png] [--dir FOLDER]``

Configurations (runner x workers) run in turn, ``--repeat`` rounds; each
configuration's best round counts (the least disturbed by other work on the
machine). Each run gets fresh local workers (Ray actors of the session are
reused); the clock starts after every worker has
done one small warm-up item (process start, imports and the renderer are not
counted; ``startup_s`` reports them apart) and stops when the last of
``--items`` photos is written. Photos are synthetic scenes of ``--size`` saved
as JPEG with a 16-bit PNG disparity sidecar (or the photos in ``--dir``), so
depth estimation is not part of the measurement. Ray runs on a local
single-node cluster with as many CPUs as the machine, started once (or the
Ray session already initialised in this process).

Writes JSON (``items_per_s``, ``elapsed_s``, ``startup_s`` per runner and
worker count, the speed-up over one worker, Ray's ratio to the local pool, the
machine's 1-minute load average before and after: other work skews the numbers)
and a plot of items/s against workers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..errors import InputError, RefocusError


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, got '{text}'") from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"size {text} is too small")
    return w, h


def make_photos(folder: Path, n: int, size: tuple[int, int], tag: str = "photo") -> list[Path]:
    """``n`` JPEG photos of the synthetic scene (``size`` = (W, H)) with 16-bit
    PNG disparity sidecars in ``folder`` (two distinct scenes, copied)."""
    import cv2
    import numpy as np

    from ..io.samples import synthetic_scene

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(n):
        p = folder / f"{tag}{i:03d}.jpg"
        if i < 2:
            img, depth = synthetic_scene(size[0], size[1], seed=7 + i)
            cv2.imwrite(str(p), np.ascontiguousarray((img[:, :, ::-1] * 255).round().astype(np.uint8)),
                        [cv2.IMWRITE_JPEG_QUALITY, 92])
            disp = 1.0 / depth
            disp = (disp - disp.min()) / (disp.max() - disp.min())
            cv2.imwrite(str(p.with_suffix(".depth.png")), (disp * 65535).round().astype(np.uint16))
        else:
            src = made[i % 2]
            shutil.copyfile(src, p)
            shutil.copyfile(src.with_suffix(".depth.png"), p.with_suffix(".depth.png"))
        made.append(p)
    return made


def measure(pool, jobs, warmup) -> dict:
    """Run ``warmup`` then ``jobs`` on ``pool`` (a LocalPool or RayPool, not yet
    entered); seconds and items/s of the timed part."""
    t0 = time.perf_counter()
    with pool:
        failed = [r for r in pool.imap(warmup) if r["status"] != "ok"]
        t1 = time.perf_counter()
        results = list(pool.imap(jobs))
        t2 = time.perf_counter()
    failed += [r for r in results if r["status"] != "ok"]
    if failed:
        raise InputError(f"throughput run: {failed[0]['key']}: {failed[0]['error']}")
    render = sum(r["timings"].get("render", 0.0) for r in results) / len(results)
    return {"workers": pool.workers, "items": len(jobs), "startup_s": round(t1 - t0, 3),
            "elapsed_s": round(t2 - t1, 3), "items_per_s": round(len(jobs) / (t2 - t1), 4),
            "render_s_per_item": round(render, 3)}


def run(args) -> dict:
    from ..batch.inputs import Focus, plan_jobs
    from ..batch.pools import LocalPool, RayPool, default_workers
    from ..settings import RenderSettings

    _, device, gpus = default_workers(args.device)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    work = Path(tempfile.mkdtemp(prefix="deocused-throughput-"))
    try:
        photos = [str(p) for p in make_photos(work / "in", args.items, args.size)] if not args.dir else [args.dir]
        tiny = make_photos(work / "warm", max(args.workers), (64, 48), tag="warm")
        settings = RenderSettings()
        jobs = plan_jobs(photos, work / "out", settings, focus=Focus())
        options = settings.renderer_options()
        runners = ("local",) + (() if args.no_ray else ("ray",))
        ray_started, own_ray = None, False
        if "ray" in runners:
            import ray

            if not ray.is_initialized():
                t = time.perf_counter()
                try:
                    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                             configure_logging=False)
                except Exception as e:  # Ray's start-up failures are of several types
                    raise RefocusError(f"cannot start a local Ray ({str(e).splitlines()[0]})") from None
                ray_started, own_ray = round(time.perf_counter() - t, 3), True
        runs: dict = {}
        try:
            for rep in range(args.repeat):  # interleaved, so a burst of other work hits all configurations
                for runner in runners:
                    for w in args.workers:
                        warm = plan_jobs([str(p) for p in tiny[:w]], work / "warm-out", settings, focus=Focus())
                        pool = LocalPool(w, device, options, gpus) if runner == "local" else \
                            RayPool(w, device, options)
                        row = measure(pool, jobs, warm)
                        runs.setdefault((runner, w), []).append(row)
                        print(f"[{rep + 1}/{args.repeat}] {runner:5s} {w} workers: {row['items_per_s']:.3f} items/s "
                              f"({row['elapsed_s']:.1f} s for {row['items']} items, start {row['startup_s']:.1f} s)",
                              file=sys.stderr)
        finally:
            if own_ray:
                ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for (runner, _workers), tries in runs.items():  # the best try: the one least disturbed by other work
        best = max(tries, key=lambda r: r["items_per_s"])
        rows.append({"runner": runner, **best, "all_items_per_s": [r["items_per_s"] for r in tries]})
    base = {r["runner"]: r["items_per_s"] for r in rows if r["workers"] == min(args.workers)}
    for r in rows:
        r["speedup"] = round(r["items_per_s"] / base[r["runner"]], 3)
    local = {r["workers"]: r["items_per_s"] for r in rows if r["runner"] == "local"}
    ray_ratio = {str(r["workers"]): round(r["items_per_s"] / local[r["workers"]], 3)
                 for r in rows if r["runner"] == "ray"}
    return {"size": f"{args.size[0]}x{args.size[1]}", "device": device, "cpu_count": os.cpu_count(),
            "machine": platform.processor() or platform.machine(), "items": len(jobs),
            "ray_init_s": ray_started, "results": rows, "ray_over_local": ray_ratio,
            "load_average_1min": [load_before, os.getloadavg()[0] if hasattr(os, "getloadavg") else None]}


def plot(data: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for runner, style in (("local", "o-"), ("ray", "s--")):
        rows = [r for r in data["results"] if r["runner"] == runner]
        if rows:
            ax.plot([r["workers"] for r in rows], [r["items_per_s"] for r in rows], style, label=f"{runner} pool")
    one = [r for r in data["results"] if r["runner"] == "local"]
    if one:
        ws = [r["workers"] for r in one]
        ax.plot(ws, [one[0]["items_per_s"] * w / ws[0] for w in ws], ":", color="grey", label="linear scaling")
    ax.set_xlabel("workers")
    ax.set_ylabel("items/s")
    ax.set_title(f"refocus batch, {data['size']} photos, {data['device']} ({data['cpu_count']} cores)")
    ax.set_xticks(sorted({r["workers"] for r in data["results"]}))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deocused.bench.batch_throughput",
                                description="Batch items/s against workers, local pool vs Ray on this node.")
    p.add_argument("--size", type=_size, default=(1920, 1080), metavar="WxH", help="photo size (default 1920x1080)")
    p.add_argument("--items", type=int, default=4, help="timed photos per configuration (default 4)")
    p.add_argument("--workers", default=None, metavar="N,N...", help="worker counts (default 1..cores)")
    p.add_argument("--repeat", type=int, default=2, help="runs per configuration, interleaved; the best counts "
                   "(default 2)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="cpu")
    p.add_argument("--no-ray", action="store_true", help="measure the local pool only")
    p.add_argument("--dir", help="measure on the photos in this folder instead of synthetic ones")
    p.add_argument("--json", default="batch-throughput.json", help="where to write the JSON")
    p.add_argument("--plot", default="batch-throughput.png", help="where to write the plot")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.workers = [int(w) for w in args.workers.split(",")] if args.workers else \
            list(range(1, (os.cpu_count() or 1) + 1))
    except ValueError:
        print(f"throughput: error: --workers expects N,N..., got '{args.workers}'", file=sys.stderr)
        return 2
    if min(args.workers) < 1 or args.items < 1 or args.repeat < 1:
        print("throughput: error: --workers, --items and --repeat must be at least 1", file=sys.stderr)
        return 2
    if not args.no_ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            print("throughput: error: Ray is not installed (pip install 'deocused[ray]', or pass --no-ray)",
                  file=sys.stderr)
            return 2
    try:
        data = run(args)
    except RefocusError as e:
        print(f"throughput: error: {e}", file=sys.stderr)
        return e.exit_code
    Path(args.json).write_text(json.dumps(data, indent=1))
    plot(data, args.plot)
    print(json.dumps({"results": [{k: r[k] for k in ("runner", "workers", "items_per_s", "speedup")}
                                  for r in data["results"]], "ray_over_local": data["ray_over_local"]}))
    print(f"wrote {args.json} and {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
