#!/usr/bin/env python
"""Where the time of one strip of a one-shot CPU render goes, in one process (for kernel work).

The motorcycle photo scaled to ``--size`` (JPEG q95 + 16-bit depth, as ``bench/render_oneshot.py``
makes it) with the default K: the middle strip of ``refocus render`` (``Renderer.render_region`` on its
window) is rendered ``--repeats`` times after a warm-up, each kernel launch timed (wall, both threads).
Then the per-pixel kernel (``_refocus_tiles``) alone, ``--repeats`` times on the prepared strip.
Prints the median and minimum of each, and the sha256 of the strip's float32 output (a kernel change
that keeps the bits keeps it).

    python bench/strip_profile.py [--size 4032x3024] [--repeats 15]

Compare two versions of the kernels in separate checkouts (each with its own Numba cache), alternating
the runs: this 2-core machine's speed drifts by +-15 % within minutes.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import statistics
import tempfile
import time


def _photo(size: str, folder: str):
    from deocused.bench.scenes import make_inputs
    from deocused.io.depthmap import save_disparity_png
    from deocused.photo import load_photo

    w, h = (int(v) for v in size.split("x"))
    d = make_inputs(w, h, "motorcycle")
    with open(f"{folder}/photo.jpg", "wb") as f:
        f.write(d["jpeg"])
    save_disparity_png(f"{folder}/photo.depth.png", d["disparity"])
    return load_photo(f"{folder}/photo.jpg")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="4032x3024")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)

    from deocused.photo import _strip_rows
    from deocused.render.backends import make_renderer
    from deocused.render.cpu import kernels, pixels, refocus, srgb8
    from deocused.render.renderer import aligned_window, region_reach
    from deocused.settings import RenderSettings

    rep = collections.Counter()  # seconds per kernel in the current repeat
    launch = pixels.run_chunks

    def timed(kernel, n, *a, **kw):
        t = time.perf_counter()
        launch(kernel, n, *a, **kw)
        rep[kernel.__name__] += time.perf_counter() - t

    for module in (kernels, pixels, refocus, srgb8):
        module.run_chunks = timed
    per_pixel, calls = refocus.refocus, []
    refocus.refocus = lambda *a: calls.append(a) or per_pixel(*a)  # the backend calls refocus.refocus
    settings = RenderSettings()
    r = make_renderer("cpu", **settings.renderer_options())
    r.warm_up()
    with tempfile.TemporaryDirectory() as folder:
        photo = _photo(args.size, folder)
    focus = settings.resolve_focus_disparity(photo.disparity, photo.focus_point)
    k = settings.resolve_max_blur(photo.shape)
    h, w = photo.shape
    whole = r.band_stats(photo.disparity)
    reach = region_reach(whole, focus, k, 0.0)
    step = max(_strip_rows(h, w), 2 * reach)  # as render_photo cuts its strips
    y0 = (h // 2) // step * step
    y1 = min(h, y0 + step)
    _, wy0, _, wy1 = aligned_window((0, y0, w, y1), reach, (h, w))
    window = photo.linear_rows(None)(wy0, wy1)
    strip, reps = [], []
    for _ in range(args.repeats + 1):  # the first one touches the buffers: not counted
        rep.clear()
        t = time.perf_counter()
        out = r.render_region(window, photo.disparity[wy0:wy1], (0, y0 - wy0, w, y1 - wy0), focus, k, 0.0,
                              whole=whole, place=(0, wy0, w, h))
        strip.append(time.perf_counter() - t)
        reps.append(dict(rep))
    alone = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        per_pixel(*calls[-1])
        alone.append(time.perf_counter() - t)
    print(f"{args.size}, strip rows {y0}..{y1} (window {wy0}..{wy1}), K {k:.1f} px, focus {focus:.3f}")

    def line(name, v):
        print(f"  {name:28s} median {1e3 * statistics.median(v):7.1f} ms, min {1e3 * min(v):7.1f} ms")

    line("strip (render_region)", strip[1:])
    for name in sorted({n for d in reps for n in d}, key=lambda n: -statistics.median(d.get(n, 0) for d in reps)):
        line(name, [d.get(name, 0.0) for d in reps[1:]])
    line("_refocus_tiles alone", alone)
    print(f"sha256 of the strip (float32): {hashlib.sha256(out.tobytes()).hexdigest()[:16]}")


if __name__ == "__main__":
    main()
