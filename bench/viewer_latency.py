#!/usr/bin/env python
"""Click-to-displayed latency of `refocus view` at 1920x1080.

Opens the viewer (a real GLFW window; under a private Xvfb with Mesa software
GL when DISPLAY is unset) on the 1920x1080 synthetic scene with its exact
depth, at 1:1 in a 1920x1080 window. Each "click" goes through
Viewer.on_click -- the handler the GLFW mouse callback calls -- at points of
different depth. Two clocks per click: click-to-preview stops when the
low-resolution preview (CPU renderer, images above 0.6 MP) has been uploaded,
drawn, swapped and glFinish()ed; click-to-full stops when the full-resolution
refocused frame has. The first render (which also builds the blur pyramid) is
not counted. The same clicks are then repeated with the preview off
(``--no-preview`` of ``refocus view``) for comparison. Reports medians and
writes JSON.

    python bench/viewer_latency.py [--device cpu] [--clicks 5] [--no-compare]
                                   [--out bench/results/viewer_latency_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"))
    ap.add_argument("--clicks", type=int, default=5)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--no-compare", action="store_true", help="skip the run with the preview off")
    ap.add_argument("--out", default=str(ROOT / "bench/results/viewer_latency_cpu.json"))
    args = ap.parse_args()

    load_before = os.getloadavg()
    xvfb = None
    if not os.environ.get("DISPLAY"):
        if shutil.which("Xvfb") is None:
            raise SystemExit("no DISPLAY and no Xvfb")
        xvfb, display = start_xvfb(f"{args.width}x{args.height}x24")
        os.environ["DISPLAY"] = display
        os.environ.setdefault("LIBGL_ALWAYS_SOFTWARE", "1")
    try:
        import numpy as np

        from deocused.optics import default_max_blur
        from deocused.samples import synthetic_scene
        from deocused.viewer.app import Source, Viewer

        w, h = args.width, args.height
        img, depth = synthetic_scene(w, h)
        inv = 1.0 / depth
        disp = ((inv - inv.min()) / (inv.max() - inv.min())).astype(np.float32)
        # points at different depths (fractions of the frame): sphere, near card, wall, far card, floor
        pts = [(0.34, 0.62), (0.62, 0.52), (0.15, 0.2), (0.85, 0.45), (0.5, 0.95)]
        pts = [(fx * w, fy * h) for fx, fy in pts]

        def measure(preview: bool):
            v = Viewer([Source("synthetic-1080p", image=img, disparity=disp)], device=args.device, size=(w, h),
                       title="refocus-latency", preview=preview)
            v.sync_present = True
            from OpenGL import GL

            gl_renderer = GL.glGetString(GL.GL_RENDERER).decode()
            t = time.perf_counter()
            assert v.run_until_idle(600), "first render did not finish"
            first_ms = 1e3 * (time.perf_counter() - t)
            rows = []
            last_focus = v.focus
            i = 0
            while len(rows) < args.clicks:
                x, y = pts[i % len(pts)]
                i += 1
                t0 = time.perf_counter()
                v.on_click(x, y)
                if v.focus == last_focus:
                    continue  # same focus: nothing to render
                last_focus = v.focus
                t_prev = None
                while v.busy or v.shown != v.wanted or v.last_present_time < t0:
                    v.step(wait=0.001)
                    if t_prev is None and v.showing_preview and v.last_present_time >= t0:
                        t_prev = v.last_present_time  # the step that uploaded the preview presented it
                t1 = v.last_present_time
                row = {"click_xy": [round(x), round(y)], "focus_disparity": round(v.focus, 4),
                       "click_to_preview_ms": None if t_prev is None else round(1e3 * (t_prev - t0), 1),
                       "latency_ms": round(1e3 * (t1 - t0), 1), "render_ms": round(v.render_ms, 1),
                       "preview_render_ms": None if t_prev is None else round(v.preview_ms, 1),
                       "upload_ms": round(v.upload_ms, 1)}
                rows.append(row)
                prev = f"preview {row['click_to_preview_ms']:.0f} ms, " if t_prev is not None else ""
                print(f"{'preview' if preview else 'no preview'} click {len(rows)}: focus {v.focus:.3f}  "
                      f"{prev}full {row['latency_ms']:.0f} ms (render {v.render_ms:.0f} ms, "
                      f"upload {v.upload_ms:.1f} ms)", flush=True)
            info = {"fb": v.fb_size, "device": v.device, "gl_renderer": gl_renderer, "first_ms": first_ms,
                    "preview_size": v.preview_size()}
            v.close()
            return rows, info

        rows, info = measure(preview=True)
        base_rows = None if args.no_compare else measure(preview=False)[0]
        fb, device, gl_renderer, first_ms = info["fb"], info["device"], info["gl_renderer"], info["first_ms"]
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()

    def med(rs, key):
        vals = [r[key] for r in rs if r[key] is not None]
        return round(statistics.median(vals), 1) if vals else None

    result = {
        "what": "click-to-displayed latency of `refocus view` (Viewer.on_click -> frame rendered, uploaded, "
                "drawn, swapped, glFinish): click_to_preview = low-resolution preview (CPU, > 0.6 MP), "
                "latency = click to full-resolution frame",
        "image": f"deocused.samples.synthetic_scene({w}, {h}) with its exact depth",
        "window": list(fb), "device": device, "gl_renderer": gl_renderer,
        "max_blur_px": default_max_blur((h, w)), "threaded_render": True,
        "preview_size": list(info["preview_size"]) if info["preview_size"] else None,
        "first_render_with_prepare_ms": round(first_ms, 1),
        "clicks": rows,
        "median_click_to_preview_ms": med(rows, "click_to_preview_ms"),
        "median_click_to_full_ms": med(rows, "latency_ms"),
        "median_latency_ms": med(rows, "latency_ms"),
        "median_render_ms": med(rows, "render_ms"),
        "median_preview_render_ms": med(rows, "preview_render_ms"),
        "median_upload_ms": med(rows, "upload_ms"),
        "no_preview": None if base_rows is None else {
            "clicks": base_rows, "median_click_to_full_ms": med(base_rows, "latency_ms"),
            "median_render_ms": med(base_rows, "render_ms")},
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "loadavg_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": f"python bench/viewer_latency.py --device {args.device} --clicks {args.clicks}"
                   + (" --no-compare" if args.no_compare else ""),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    prev = result["median_click_to_preview_ms"]
    base = result["no_preview"]
    print(f"median click-to-preview {'-' if prev is None else f'{prev:.0f} ms'}, click-to-full "
          f"{result['median_click_to_full_ms']:.0f} ms"
          + (f" (preview off: {base['median_click_to_full_ms']:.0f} ms)" if base else "")
          + f" ({device}, {w}x{h}, K {result['max_blur_px']} px); wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
