"""Sustained fps and end-to-end latency of the headless live pipeline on this machine.

For each size (default 640x480 and 1280x720) a video is generated (the
ray-cast synthetic scene, panning 2 px per frame, MJPG .avi, 30 fps, 60
frames) and played through ``deocused.live`` exactly as ``refocus live --video
FILE --realtime --loop --headless --output OUT`` does: the capture thread paces
the file at 30 fps and always hands over the newest frame (like a camera),
depth runs in the DepthWorker process, the CPU renderer refocuses (default K,
depth and focus smoothing on) and an MJPG writer is the sink.

Depth model stand-ins (no real weights on this machine, no internet):

* ``standin``: EfficientNetB0 encoder + light decoder, *randomly initialised*,
  256x256 input, TFLite -- the network bench/depth_inference.py timed as the
  MiDaS v2.1 small stand-in (its output is meaningless; only the cost is real);
* ``tiny``: the 32x32 Keras network of deocused.bench.standin.tiny_model (the depth tests' too), to
  show the render-bound limit.

Models are built in a subprocess (TensorFlow never loads in this process).
Reported per run: sustained fps (frames written / time, after ``--warmup``
frames), end-to-end latency (capture timestamp -> frame written; median, p90),
depth ms (worker: pre + network + post), render ms (prepare + render + to
uint8), frames dropped by the capture slot.

    python bench/live_fps.py [--sizes 640x480,1280x720] [--frames 12] [--models standin,tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deocused.bench.machine import run_context  # noqa: E402

BUILD = r"""
import sys
from deocused.bench.standin import build_tflite
print(build_tflite(sys.argv[1], sys.argv[2]))
"""

MODELS = {
    "standin": "EfficientNetB0 encoder + light decoder, randomly initialised (stand-in for MiDaS v2.1 small), "
               "256x256, TFLite",
    "tiny": "tests' tiny Keras depth net (conv/pool/depthwise/upsample, 32x32), TFLite",
}


def make_video(path: Path, w: int, h: int, n: int = 60, fps: float = 30.0) -> None:
    import cv2
    import numpy as np

    from deocused.io.samples import synthetic_scene

    img, _ = synthetic_scene(w + 2 * n, h)
    bgr = cv2.cvtColor(np.rint(img * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for i in range(n):
        wr.write(np.ascontiguousarray(bgr[:, 2 * i: 2 * i + w]))
    wr.release()


def run_one(video: Path, model_path: Path, frames: int, warmup: int, out: Path, scale: float = 1.0) -> dict:
    from deocused.depth import DepthWorker
    from deocused.live.capture import FrameCapture, SourceSpec
    from deocused.live.pipeline import LivePipeline
    from deocused.live.record import VideoRecorder
    from deocused.render.backends import make_renderer

    cap = FrameCapture(SourceSpec("video", str(video)), mode="latest", loop=True)
    with DepthWorker(model_path=model_path, background=True) as worker, VideoRecorder(out, cap.source_fps or 30) as rec:
        worker.start()
        maps = []  # per frame: True when it is the first rendered with a new depth map

        def sink(r):
            rec.write(r.rgb)
            maps.append(not maps or r.disparity is not last[0])
            last[0] = r.disparity

        last = [None]
        pipe = LivePipeline(cap, make_renderer("cpu"), depth=worker, sinks=[sink], scale=scale)
        t0 = time.perf_counter()
        try:
            n = pipe.run(max_frames=frames + warmup)
        finally:
            cap.stop()
        wall = time.perf_counter() - t0
    hist = list(pipe.stats.history)[warmup:]
    times = [h[1] for h in hist]
    lat = sorted(h[4] for h in hist)
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else None
    return {
        "frames_written": n, "frames_measured": len(hist), "warmup_frames": warmup, "wall_s": round(wall, 2),
        "sustained_fps": round(fps, 3) if fps else None,
        "latency_ms_median": round(statistics.median(lat), 1),
        "latency_ms_p90": round(lat[min(len(lat) - 1, int(0.9 * len(lat)))], 1),
        "depth_ms_median": round(statistics.median(h[2] for h in hist), 1),
        "render_ms_median": round(statistics.median(h[3] for h in hist), 1),
        "depth_maps_per_s": round(sum(maps[warmup:]) / (times[-1] - times[0]), 2) if len(times) > 1 else None,
        "capture_frames_read": cap.frames_read, "capture_frames_dropped": cap.dropped,
        "max_blur_px": pipe.last.max_blur if pipe.last else None,
    }


def main() -> int:  # ~70 lines on purpose: the script read top to bottom (flags, runs, the JSON record)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="640x480,1280x720")
    ap.add_argument("--frames", type=int, default=12, help="measured frames per run (after --warmup)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--models", default="standin,tiny")
    ap.add_argument("--scales", default="1,0.5", help="processing scales (refocus live --scale)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "live_cpu.json"))
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    t_start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="deocused-live-bench-") as tmp:
        tmp = Path(tmp)
        models = {}
        for name in args.models.split(","):
            p = tmp / f"{name}.tflite"
            r = subprocess.run([sys.executable, "-c", BUILD, name, str(p)], capture_output=True, text=True,
                               env={**os.environ, "CUDA_VISIBLE_DEVICES": "",
                                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
            if r.returncode != 0:
                raise SystemExit(f"building the {name} model failed:\n{r.stderr[-3000:]}")
            params = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else None
            models[name] = (p, int(params) if params and params.isdigit() else None)
        for w, h in sizes:
            video = tmp / f"scene_{w}x{h}.avi"
            make_video(video, w, h)
            for name, (path, params) in models.items():
                for scale in (float(v) for v in args.scales.split(",")):
                    print(f"{w}x{h} {name} scale {scale:g} ...", file=sys.stderr, flush=True)
                    row = {"size": f"{w}x{h}", "scale": scale, "depth_model": MODELS[name], "depth_model_id": name,
                           "weights": "random (stand-in, untrained)" if name == "standin" else "tiny test net",
                           **({"params": params} if params else {})}
                    row.update(run_one(video, path, args.frames, args.warmup,
                                       tmp / f"out_{w}x{h}_{name}_{scale:g}.avi", scale))
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    results.append(row)
    import cv2
    import numpy as np

    doc = {
        "benchmark": "refocus live, headless pipeline: capture (30 fps video paced like a camera, newest frame "
                     "only) -> DepthWorker -> CPU renderer -> MJPG writer",
        "command": " ".join(["python", "bench/live_fps.py"] + sys.argv[1:]),
        **run_context(), "gpu_visible": False, "renderer": "cpu", "numpy": np.__version__, "opencv": cv2.__version__,
        "input": "deocused.io.samples.synthetic_scene panning 2 px/frame, MJPG .avi at 30 fps, looped",
        "settings": "default K (4% of the longer side), dof 0, depth + focus smoothing on, guided depth upsampling",
        "latency_definition": "capture timestamp (frame handed over by the capture thread) -> after the writer "
                              "returned; every frame renders at once with the newest depth map while the worker "
                              "computes the next one, so latency ~ render + the wait for the pipeline; the depth "
                              "shown is up to depth + render old",
        "depth_maps_per_s": "new depth maps the frames were rendered with, per second: the depth worker runs in "
                            "the background (nice 10, half the cores), mostly on the CPU time rendering leaves",
        "note": "the standin network is randomly initialised (no real weights here): its depth maps are "
                "meaningless, only its cost is real. Both processes share the CPU cores.",
        "results": results,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    for r in results:
        print(f"{r['size']:>9} x{r['scale']:<4g} {r['depth_model_id']:>8}: {r['sustained_fps']} fps, latency median "
              f"{r['latency_ms_median']} ms (p90 {r['latency_ms_p90']}), depth {r['depth_ms_median']} ms, "
              f"render {r['render_ms_median']} ms, {r['depth_maps_per_s']} depth maps/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
