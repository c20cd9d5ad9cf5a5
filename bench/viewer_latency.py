#!/usr/bin/env python
"""`refocus view` on a real photo at a phone or camera size: open, click, drag and memory.

The motorcycle sample (a real photo with its stereo disparity) scaled to
``--size`` (as ``refocus bench --scene motorcycle --sizes WxH`` scales it) is
written as a JPEG (quality 95) with a 16-bit ``.depth.png`` sidecar, then opened
by the viewer in a ``--window`` sized window (a real GLFW window; under a
private Xvfb with Mesa software GL when DISPLAY is unset), the way
``refocus view photo.jpg`` opens it. Measured, with a glFinish after each swap:

* open -> final first frame: from creating the viewer (file decode included) to
  the swap that shows the refocused fit view (not a preview); also to the first
  swap (the photo unblurred) and the process CPU time of the open (all threads);
* click -> full frame: ``Viewer.on_click`` (what the GLFW mouse callback calls)
  at points of different depth, to the swap that shows the display-resolution
  frame (median);
* focus drag: ``Viewer.on_drag`` (what the cursor callback calls with the
  button held) at 60 events/s along a line for ``--drag-seconds``: refocused
  frames put on screen per second, and pointer-rests -> full frame;
* zoom to 1:1 at a place (``Viewer.on_zoom``, what Ctrl+wheel calls) -> the sharp
  region frame on screen: the first zoom decodes the whole photo, the second (at
  a new place, after going back to the fit) does not;
* peak memory: the process's maximum resident set (ru_maxrss), the viewer only
  (the files are written by a child process).

Writes JSON (default bench/results/viewer_latency_cpu_WxH.json).

    python bench/viewer_latency.py [--size 4032x3024] [--window 1600x1000] [--device cpu] [--clicks 6]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAKE_FILES = """
import sys
from deocused.bench.scenes import make_inputs
from deocused.io.depthmap import save_disparity_png
w, h, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
d = make_inputs(w, h, "motorcycle")
open(folder + "/photo.jpg", "wb").write(d["jpeg"])
save_disparity_png(folder + "/photo.depth.png", d["disparity"])
"""

#: click points (fractions of the photo) on surfaces at different depths of the motorcycle scene
CLICKS = [(0.3, 0.55), (0.75, 0.35), (0.5, 0.15), (0.15, 0.85), (0.9, 0.8), (0.55, 0.6)]


def start_xvfb(screen="1920x1080x24"):
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", screen, "-nolisten", "tcp",
                             "-noreset"],  # the second viewer reconnects after the first one closed
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    buf = b""
    end = time.monotonic() + 10
    while not buf.endswith(b"\n") and time.monotonic() < end:
        if select.select([r], [], [], 1.0)[0]:
            chunk = os.read(r, 64)
            if not chunk:
                break
            buf += chunk
    os.close(r)
    if not buf.strip().isdigit():
        proc.kill()
        raise SystemExit("Xvfb did not start")
    return proc, f":{buf.strip().decode()}"


def wait_full(v, t0, timeout=120.0):
    """Step until the display-resolution frame for what is wanted is on screen (swapped after ``t0``)."""
    end = time.monotonic() + timeout
    while v.wanted is None or v.scheduler.shown != v.wanted or v.scheduler.showing_preview or v.last_present_time < t0:
        v.step(wait=0.001)
        if time.monotonic() > end:
            raise SystemExit("no final frame within the timeout")
    return v.last_present_time


def measure(v, args, w, h):
    """Clicks, then a drag; returns the result rows."""
    from deocused.window import layout

    def to_window(fx, fy):
        return layout.image_to_window(fx * w, fy * h, v.win_size, v.fb_size, (w, h))

    clicks, last = [], v.focus_disparity
    for i in range(4 * args.clicks):
        if len(clicks) == args.clicks:
            break
        t0, c0 = time.perf_counter(), os.times()
        v.on_click(*to_window(*CLICKS[i % len(CLICKS)]))
        if v.focus_disparity == last:
            continue
        last = v.focus_disparity
        t1 = wait_full(v, t0)
        c1 = os.times()
        clicks.append({"focus_disparity": round(v.focus_disparity, 4), "click_to_full_ms": round(1e3 * (t1 - t0), 1),
                       "cpu_ms": round(1e3 * ((c1.user - c0.user) + (c1.system - c0.system))),
                       "render_ms": round(v.scheduler.render_ms, 1), "upload_ms": round(v.scheduler.upload_ms, 1)})
        print(f"click {len(clicks)}: focus {v.focus_disparity:.3f}  {clicks[-1]['click_to_full_ms']:.0f} ms, "
              f"CPU {clicks[-1]['cpu_ms']} ms "
              f"(render {v.scheduler.render_ms:.0f} ms)", flush=True)
    drag_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory before the drag and zoom: {drag_peak:.0f} MB", flush=True)
    n0, t_start = v.scheduler.frames_rendered, time.perf_counter()
    n_events = round(60 * args.drag_seconds)
    for i in range(n_events):
        u = i / max(1, n_events - 1)
        fx = 0.15 + 0.7 * (2 * u if u < 0.5 else 2 - 2 * u)
        t_event = t_start + i / 60
        while time.perf_counter() < t_event:
            v.step(wait=0.002)
        v.on_drag(*to_window(fx, 0.55))
    t_stop = time.perf_counter()
    while time.perf_counter() < t_start + n_events / 60:
        v.step(wait=0.002)
    fps = (v.scheduler.frames_rendered - n0) / (time.perf_counter() - t_start)
    t_full = wait_full(v, t_stop)
    drag = {"peak_memory_mb_before": round(drag_peak), "events": n_events, "seconds": args.drag_seconds,
            "frames_per_s": round(fps, 1), "stop_to_full_ms": round(1e3 * (t_full - t_stop), 1)}
    print(f"drag: {fps:.1f} frames/s, pointer rests -> full frame {drag['stop_to_full_ms']:.0f} ms", flush=True)
    zooms = []
    for fx, fy in ((0.3, 0.4), (0.75, 0.7)):  # the first decodes the whole photo (once)
        t0, c0 = time.perf_counter(), os.times()
        v.on_zoom(1, *to_window(fx, fy))
        t1 = wait_full(v, t0)
        c1 = os.times()
        zooms.append({"at": [fx, fy], "region": list(v.scheduler.shown[5][0]), "zoom_to_sharp_ms": round(1e3 * (t1 - t0), 1),
                      "cpu_ms": round(1e3 * ((c1.user - c0.user) + (c1.system - c0.system)))})
        zooms[-1]["peak_memory_mb_so_far"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(f"zoom 1:1 at {fx},{fy}: {zooms[-1]['zoom_to_sharp_ms']:.0f} ms, CPU {zooms[-1]['cpu_ms']} ms, "
              f"peak memory so far {zooms[-1]['peak_memory_mb_so_far']} MB", flush=True)
        v.on_zoom(-1, *to_window(fx, fy))  # back to the fit
        wait_full(v, time.perf_counter())
    return clicks, drag, zooms


def main() -> int:  # ~70 lines on purpose: the script read top to bottom (flags, runs, the JSON record)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"))
    ap.add_argument("--size", default="4032x3024")
    ap.add_argument("--window", default="1600x1000")
    ap.add_argument("--clicks", type=int, default=6)
    ap.add_argument("--drag-seconds", type=float, default=2.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    ww, wh = (int(v) for v in args.window.split("x"))
    out = Path(args.out or ROOT / f"bench/results/viewer_latency_{args.device}_{w}x{h}.json")
    folder = tempfile.mkdtemp(prefix="viewer-latency-")
    subprocess.run([sys.executable, "-c", MAKE_FILES, str(w), str(h), folder], check=True)
    photo = Path(folder) / "photo.jpg"
    load_before = os.getloadavg()
    xvfb = None
    if not os.environ.get("DISPLAY"):
        if shutil.which("Xvfb") is None:
            raise SystemExit("no DISPLAY and no Xvfb")
        xvfb, display = start_xvfb(f"{ww}x{wh}x24")
        os.environ["DISPLAY"] = display
        os.environ.setdefault("LIBGL_ALWAYS_SOFTWARE", "1")
    cpu0 = os.times()
    try:
        from deocused.viewer.app import Source, Viewer

        t0, c0 = time.perf_counter(), os.times()
        v = Viewer([Source(photo.name, path=photo)], device=args.device, size=(ww, wh), title="refocus-latency")
        v.sync_present = True
        v.step()  # the photo, unblurred, from the (reduced) decode
        first_ms = 1e3 * (v.last_present_time - t0)
        t_open = wait_full(v, t0)
        open_ms = 1e3 * (t_open - t0)
        c1 = os.times()
        open_cpu_ms = 1e3 * ((c1.user - c0.user) + (c1.system - c0.system))
        print(f"open -> photo shown {first_ms:.0f} ms, -> final first frame {open_ms:.0f} ms "
              f"(CPU {open_cpu_ms:.0f} ms; display {v.scheduler.display_size()}, K {v.max_blur} px)",
              flush=True)
        clicks, drag, zooms = measure(v, args, w, h)
        info = {"reduced_decode": list(v.slots[0].image.shape[1::-1]) if v.slots[0].reduced else None,
                "open_to_first_frame_ms": round(first_ms, 1), "open_cpu_ms": round(open_cpu_ms),
                "fb": list(v.fb_size), "display": list(v.scheduler.display_size()), "max_blur_px": v.max_blur,
                "preview_size": v.scheduler.preview_size()}
        v.close()
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()
        shutil.rmtree(folder, ignore_errors=True)
    cpu1 = os.times()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    med = round(statistics.median(c["click_to_full_ms"] for c in clicks), 1)
    med_cpu = round(statistics.median(c["cpu_ms"] for c in clicks))
    from deocused.bench.machine import run_context

    result = {
        "what": "refocus view on a real photo: open -> final first frame, click -> full (display-resolution) frame, "
                "frames shown per second during a focus drag, peak memory (ru_maxrss of the viewer process)",
        "photo": f"motorcycle sample scaled to {w}x{h}, JPEG q95 + 16-bit depth sidecar", "window": [ww, wh],
        "device": args.device, **info,
        "open_to_final_first_frame_ms": round(open_ms, 1), "clicks": clicks, "median_click_to_full_ms": med,
        "median_click_cpu_ms": med_cpu,
        "drag": drag, "zoom_1to1": zooms,
        "zoom_1to1_new_place_ms": zooms[-1]["zoom_to_sharp_ms"], "peak_memory_mb": round(peak_mb),
        "cpu_seconds_user_sys": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 1),
        "loadavg_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        **run_context(),
        "command": "python bench/viewer_latency.py " + " ".join(sys.argv[1:]),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"open {open_ms:.0f} ms, click median {med:.0f} ms, drag {drag['frames_per_s']} fps, zoom 1:1 "
          f"{zooms[-1]['zoom_to_sharp_ms']:.0f} ms, "
          f"peak {peak_mb:.0f} MB; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
