"""Soak test of the headless live pipeline: does memory stay flat over minutes?

A looping 640x480 video (the panning synthetic scene of bench/live_fps.py, MJPG,
30 fps) is played through ``deocused.live`` as ``refocus live --video FILE
--realtime --loop --headless --output OUT`` does: the capture thread paces the
file like a camera, depth runs in the DepthWorker process (the ``standin``
network: EfficientNetB0 encoder + light decoder, randomly initialised, TFLite)
through shared memory, the CPU renderer refocuses, an MJPG recorder is the
sink. The resident set size (RSS) of this process and of the depth worker is
sampled every second; reported: RSS at minute 1 and at the end, the growth of
the per-minute peak from minute 1 to the last minute, and the trend after minute 1 (Theil-Sen slope, MiB per minute), plus
frames and depth maps per second.

    python bench/live_soak.py [--minutes 10] [--size 640x480] [--model standin|tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from live_fps import BUILD, MODELS, make_video  # noqa: E402

from deocused.bench.machine import run_context  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib(pid: int | str = "self") -> float | None:
    """Resident set size of process ``pid`` in MiB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return None


def theil_sen(x, y) -> float | None:
    """Median slope over all pairs of points (robust to a single jump)."""
    import numpy as np

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2:
        return None
    i, j = np.triu_indices(len(x), 1)
    return float(np.median((y[j] - y[i]) / (x[j] - x[i])))


class Sampler(threading.Thread):
    """Samples (t, RSS of this process, RSS of the worker, frames so far) every ``period`` s."""

    def __init__(self, worker_pid, frames, period: float = 1.0):
        super().__init__(daemon=True, name="rss-sampler")
        self.worker_pid, self.frames, self.period = worker_pid, frames, period
        self.samples: list[tuple[float, float, float | None, int]] = []
        self.stop = threading.Event()
        self.t0 = time.perf_counter()

    def run(self):
        while not self.stop.wait(self.period):
            self.samples.append((time.perf_counter() - self.t0, rss_mib(), rss_mib(self.worker_pid()),
                                 self.frames[0]))


def soak(video: Path, model_path: Path, seconds: float, out: Path) -> dict:
    from deocused.depth import DepthWorker
    from deocused.live.capture import FrameCapture, SourceSpec
    from deocused.live.pipeline import LivePipeline
    from deocused.live.record import VideoRecorder
    from deocused.render.backends import make_renderer

    cap = FrameCapture(SourceSpec("video", str(video)), mode="latest", loop=True)
    frames, maps, last = [0], [0], [None]
    with DepthWorker(model_path=model_path, background=True) as worker, VideoRecorder(out, 30) as rec:
        worker.start()

        def sink(r):
            rec.write(r.rgb)
            frames[0] += 1
            if r.disparity is not last[0]:
                maps[0] += 1
                last[0] = r.disparity

        pipe = LivePipeline(cap, make_renderer("cpu"), depth=worker, sinks=[sink])
        sampler = Sampler(lambda: worker.pid, frames)
        timer = threading.Timer(seconds, pipe.stop)
        sampler.start()
        timer.start()
        try:
            pipe.run()
        finally:
            timer.cancel()
            sampler.stop.set()
            sampler.join()
            cap.stop()
        restarts = worker.restarts
    return {"samples": sampler.samples, "frames": frames[0], "depth_maps": maps[0], "worker_restarts": restarts,
            "capture_dropped": cap.dropped}


def minute_peaks(pts, after_s: float = 60.0) -> list[float]:
    """The largest RSS in each whole minute from ``after_s`` on (``pts``: (t_s, rss)); a last
    minute under 30 s long joins the one before it."""
    groups: dict[int, list[float]] = {}
    for t, v in pts:
        groups.setdefault(int((t - after_s) // 60), []).append(v)
    keys = sorted(groups)
    if len(keys) >= 2 and pts[-1][0] - (after_s + 60 * keys[-1]) < 30:
        groups[keys[-2]] += groups.pop(keys[-1])
    return [max(groups[k]) for k in sorted(groups)]


def summarise(run: dict, after_s: float = 60.0) -> dict:
    s = run["samples"]
    late = [row for row in s if row[0] >= after_s]
    out = {"samples": len(s), "frames": run["frames"], "depth_maps": run["depth_maps"],
           "worker_restarts": run["worker_restarts"]}
    if not late:
        return out
    t_end = s[-1][0]
    for name, col in (("main", 1), ("worker", 2)):
        pts = [(row[0], row[col]) for row in late if row[col] is not None]
        if not pts:
            continue
        slope = theil_sen([p[0] for p in pts], [p[1] for p in pts])
        out[f"{name}_rss_mib_at_1min"] = round(pts[0][1], 2)
        out[f"{name}_rss_mib_end"] = round(pts[-1][1], 2)
        out[f"{name}_end_minus_1min_mib"] = round(pts[-1][1] - pts[0][1], 2)
        peaks = minute_peaks(pts, after_s)
        if len(peaks) >= 2:  # RSS swings as the allocator returns and retakes frame buffers: compare envelopes
            out[f"{name}_minute_peaks_mib"] = [round(v, 2) for v in peaks]
            out[f"{name}_growth_after_1min_mib"] = round(peaks[-1] - peaks[0], 2)
        out[f"{name}_peak_rss_mib"] = round(max(row[col] for row in s if row[col] is not None), 2)
        out[f"{name}_trend_mib_per_min"] = round(60 * slope, 4) if slope is not None else None
    out["fps_after_1min"] = round((late[-1][3] - late[0][3]) / max(1e-9, late[-1][0] - late[0][0]), 2)
    out["duration_s"] = round(t_end, 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--model", default="standin", choices=tuple(MODELS))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "live_soak_cpu.json"))
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="deocused-soak-") as tmp:
        tmp = Path(tmp)
        model = tmp / f"{args.model}.tflite"
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        r = subprocess.run([sys.executable, "-c", BUILD, args.model, str(model)], capture_output=True, text=True,
                           env=env)
        if r.returncode != 0:
            raise SystemExit(f"building the {args.model} model failed:\n{r.stderr[-3000:]}")
        video = tmp / f"scene_{w}x{h}.avi"
        make_video(video, w, h)
        from deocused.render.backends import make_renderer

        make_renderer("cpu").warm_up()
        t0 = time.perf_counter()
        run = soak(video, model, 60 * args.minutes, tmp / "out.avi")
        wall = time.perf_counter() - t0
        times = os.times()
    summary = summarise(run)
    import numpy as np

    doc = {
        "benchmark": "refocus live soak: capture (looping 30 fps video paced like a camera, newest frame only) -> "
                     "DepthWorker (shared memory) -> CPU renderer -> MJPG recorder, RSS sampled every second",
        "command": " ".join(["python", "bench/live_soak.py"] + sys.argv[1:]),
        **run_context(), "renderer": "cpu", "numpy": np.__version__, "size": f"{w}x{h}",
        "depth_model": MODELS[args.model], "weights": "random (stand-in, untrained)",
        "minutes": args.minutes, "wall_s": round(wall, 1),
        "cpu_s_this_process": round(times.user + times.system, 1),
        "growth_definition": "the largest RSS in the last minute minus the largest in the first minute after 60 s "
                             "(the envelope: RSS swings as frame buffers are returned and retaken); end_minus_1min: "
                             "the last sample minus the first after 60 s; trend: Theil-Sen slope of the samples "
                             "after 60 s",
        "target": "growth after minute 1 <= 16 MiB (issue 24)",
        "summary": summary,
        "rss_samples": [[round(t, 2), round(m, 2), None if wk is None else round(wk, 2), n]
                        for t, m, wk, n in run["samples"]],
        "rss_samples_columns": ["t_s", "main_rss_mib", "worker_rss_mib", "frames"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
