"""Video I/O cost of ``refocus batch`` on a phone-style clip, and chunked throughput.

Makes (once, in ``--dir``) a 10 s 1920x1080 30 fps H.264 + AAC MP4 of the ray-cast
synthetic scene panning 4 px per frame, with its exact depth as a sidecar video
``clip.depth.mp4`` (H.264, disparity as grey), then runs the real command

    refocus batch clip.mp4 -o OUT --device cpu --workers N --no-progress --focus-disparity 0.5

under ``/usr/bin/time -v`` for each N in ``--workers`` and records: wall and CPU
time (user + sys, children included), the report's per-stage seconds summed
over parts (``load`` / ``write`` = the time the render waited for decoding the
clip and its depth video / for encoding, which run on threads beside it;
``render`` and its CPU time ``render_cpu``; ``cpu``: the worker's CPU time over
the item, all threads), the ratios ``io_wait_over_render``,
``io_cpu_over_render_cpu`` ((cpu - render_cpu) / render_cpu: decoding the clip
and its depth video, encoding, audio copy) and ``non_render_cpu_over_render_cpu``
(all CPU time of the command that is not the render, start-up included),
frames/s, and checks of the output (H.264, frame count, every timestamp and
every audio packet equal to the input's).

    python bench/video_batch.py --dir /tmp/clip --workers 1,2 --json bench/results/video_batch_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np


def make_clip(folder: Path, w: int = 1920, h: int = 1080, fps: int = 30, seconds: float = 10) -> Path:
    """The test clip and its depth video (kept if already there)."""
    import av

    from deocused.io.samples import synthetic_scene

    clip = folder / "clip.mp4"
    if clip.is_file() and (folder / "clip.depth.mp4").is_file():
        return clip
    folder.mkdir(parents=True, exist_ok=True)
    pad = 4 * round(fps * seconds)
    img, depth = synthetic_scene(w + pad, h)
    disp = 1.0 / depth
    disp = (disp - disp.min()) / (disp.max() - disp.min())
    rgb8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    d8 = (disp * 255 + 0.5).astype(np.uint8)
    n = round(fps * seconds)
    with av.open(str(clip), "w") as out, av.open(str(folder / "clip.depth.mp4"), "w") as dout:
        vs, ds = out.add_stream("libx264", rate=fps), dout.add_stream("libx264", rate=fps)
        for s in (vs, ds):
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            s.codec_context.color_primaries = s.codec_context.color_trc = s.codec_context.colorspace = 1
            s.codec_context.options = {"crf": "18", "preset": "fast"}
        aus = out.add_stream("aac", rate=48000)
        aus.layout = "stereo"
        for i in range(n):
            x = 4 * i
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb8[:, x:x + w]), format="rgb24")
            out.mux(vs.encode(f.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range=1)))
            g = np.repeat(d8[:, x:x + w, None], 3, axis=2)
            dout.mux(ds.encode(av.VideoFrame.from_ndarray(g, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range=1)))
        out.mux(vs.encode(None))
        dout.mux(ds.encode(None))
        t = np.arange(round(48000 * seconds)) / 48000.0
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, len(t), 1024):
            af = av.AudioFrame.from_ndarray(np.stack([tone[k:k + 1024]] * 2), format="fltp", layout="stereo")
            af.sample_rate, af.pts, af.time_base = 48000, k, Fraction(1, 48000)
            out.mux(aus.encode(af))
        out.mux(aus.encode(None))
    return clip


def _timed(cmd: list[str]) -> dict:
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")

    def field(name):
        return float(re.search(rf"{re.escape(name)}: ([\d.:]+)", r.stderr).group(1).split(":")[-1])

    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", r.stderr).group(1)
    parts = [float(p) for p in wall.split(":")]
    wall_s = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return {"wall_s": round(wall_s, 2), "cpu_s": round(field("User time (seconds)") + field("System time (seconds)"), 2),
            "max_rss_mib": round(field("Maximum resident set size (kbytes)") / 1024, 1)}


def _check(src: Path, out: Path) -> dict:
    import av

    def pts(p):
        with av.open(str(p)) as c:
            s = c.streams.video[0]
            return [f.pts * s.time_base for f in c.decode(s)], s.codec_context.name

    def audio(p):
        with av.open(str(p)) as c:
            return [(bytes(k), k.pts) for k in c.demux(c.streams.audio[0]) if k.size]

    (a, _), (b, codec) = pts(src), pts(out)
    return {"codec": codec, "frames": len(b), "input_frames": len(a), "timestamps_equal": a == b,
            "audio_packets_equal": audio(src) == audio(out)}


def run(clip: Path, workers: int, out_root: Path, extra: list[str]) -> dict:
    out = out_root / f"w{workers}"
    shutil.rmtree(out, ignore_errors=True)
    refocus = str(Path(sys.executable).with_name("refocus"))
    cmd = [refocus, "batch", str(clip), "-o", str(out), "--device", "cpu", "--workers", str(workers),
           "--no-progress", "--focus-disparity", "0.5", *extra]
    load0 = os.getloadavg()[0]
    res = {"workers": workers, "command": " ".join(["refocus", *cmd[1:]]), **_timed(cmd)}
    report = json.loads((out / "batch-report.json").read_text())
    t = {k: 0.0 for k in ("load", "render", "write", "render_cpu", "cpu")}
    for item in report["items"]:
        if "parts" in item:
            continue  # a joined clip's entry sums its parts'
        for k in t:
            t[k] += item["timings"].get(k, 0.0)
    res.update({f"{'item_cpu' if k == 'cpu' else k}_s": round(v, 2) for k, v in t.items()})
    res["parts"] = sum("[part " in e["input"] for e in report["items"]) or 1
    # the render's wait for decoding and encoding (they overlap it on threads), over the render time
    res["io_wait_over_render"] = round((t["load"] + t["write"]) / t["render"], 4)
    # the workers' CPU time over the items (all threads) that is not the render's: decoding the clip and
    # the depth video, encoding, copying audio; over the render's
    res["io_cpu_over_render_cpu"] = round((t["cpu"] - t["render_cpu"]) / t["render_cpu"], 4)
    # all CPU time of the command that is not the render (the above, start-up, joining), over it
    res["non_render_cpu_over_render_cpu"] = round((res["cpu_s"] - t["render_cpu"]) / t["render_cpu"], 4)
    res["check"] = _check(clip, out / clip.name)
    res["fps"] = round(res["check"]["frames"] / res["wall_s"], 3)
    res["load_average_1min"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="/tmp/deocused-video-bench", help="where the clip and outputs go")
    ap.add_argument("--workers", default="1", help="comma-separated worker counts")
    ap.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("extra", nargs="*", help="more refocus batch flags (after --)")
    args = ap.parse_args()
    folder = Path(args.dir)
    t = time.perf_counter()
    clip = make_clip(folder, seconds=args.seconds)
    print(f"clip ready in {time.perf_counter() - t:.1f} s", flush=True)
    results = []
    for n in (int(v) for v in args.workers.split(",")):
        results.append(run(clip, n, folder / "out", args.extra))
        print(json.dumps(results[-1]), flush=True)
    data = {"clip": f"1920x1080 30 fps {args.seconds:g} s H.264 (CRF 18) + AAC, depth sidecar clip.depth.mp4 "
                    "(H.264 grey)",
            "cpu_count": os.cpu_count(), "note": "2 cores shared with other developers' work (load average given)",
            "results": results}
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
