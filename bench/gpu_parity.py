"""GPU backend against the CPU backend, per case of tests/render/test_gpu_backend.py: max and
mean absolute difference of the 8-bit sRGB outputs (the parity tests allow 2/255 and
0.05/255).

    python bench/gpu_parity.py [--out bench/results/gpu_parity.json]

Runs on a real GPU where CuPy has one, otherwise on the CUDA host emulation
(tests/cudahost: the unchanged .cu kernels compiled for the CPU; slow, small images).
It measures on the parity suite's own cases (imported from tests/render/test_gpu_backend.py),
so the numbers recorded here are those the tests bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu_parity.json")
    args = ap.parse_args(argv)
    sys.path[:0] = [str(TESTS), str(TESTS / "render")]  # the emulation (cudahost) and the parity cases
    import cudahost
    import test_gpu_backend as t

    from deocused.render.backends import gpu_available

    real, _ = gpu_available()
    where = "real GPU" if real else "CUDA host emulation"
    rows = []
    with nullcontext() if real else cudahost.installed():
        from deocused.io.colour import srgb_to_linear
        from deocused.io.depthmap import to_disparity
        from deocused.io.samples import load_sample
        from deocused.render.optics import focus_disparity_at

        cases = [(f"random {h}x{w} bands={n} blades={ap_.blades} highlights={hl}"
                  + (f" anamorphic={ap_.anamorphic:g}" if ap_.anamorphic != 1 else "")
                  + (" image" if ap_.image is not None else ""), t._scene(h, w, seed=i),
                  dict(aperture=ap_, n_bands=n, highlights=hl), renders)
                 for i, (h, w, n, ap_, hl, renders) in enumerate(t.CASES)]
        srgb, raw, (fx, fy) = load_sample("motorcycle")
        disp, lin = to_disparity(raw), srgb_to_linear(srgb)
        f = focus_disparity_at(disp, fx, fy)
        if not real:
            ch, cw = t.EMULATED_CROP
            y0, x0 = int(np.clip(fy - ch // 2, 0, disp.shape[0] - ch)), int(np.clip(fx - cw // 2, 0, disp.shape[1] - cw))
            lin, disp = lin[y0:y0 + ch, x0:x0 + cw], disp[y0:y0 + ch, x0:x0 + cw]
        cases.append((f"motorcycle {disp.shape[1]}x{disp.shape[0]}", (lin, disp), {},
                      [(f, k, 0.0) for k in (8.0, 24.0, 60.0)]))
        for name, (img, d), opts, renders in cases:
            cpu, gpu = t._pair(**opts)
            cpu.prepare(img, d)
            gpu.prepare(img, d)
            for focus, K, dof in renders:
                tic = time.perf_counter()
                diff = np.abs(cpu.render_srgb8(focus, K, dof).astype(np.int16)
                              - gpu.render_srgb8(focus, K, dof).astype(np.int16))
                row = {"case": name, "focus_disparity": round(float(focus), 4), "max_blur": K, "dof": dof,
                       "max_err_255": int(diff.max()), "mean_err_255": round(float(diff.mean()), 4),
                       "seconds": round(time.perf_counter() - tic, 2)}
                rows.append(row)
                print(f"{name:48s} f={row['focus_disparity']:<6} K={K:<5} dof={dof:<4} "
                      f"max {row['max_err_255']}/255 mean {row['mean_err_255']:.4f}/255", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"where": where, "limits": {"max_err_255": t.MAX_ERR, "mean_err_255": t.MEAN_ERR},
                                    "rows": rows}, indent=1))
    worst = max(r["max_err_255"] for r in rows)
    print(f"{where}: worst max {worst}/255 over {len(rows)} renders -> {args.out}")
    return 0 if worst <= t.MAX_ERR and all(r["mean_err_255"] <= t.MEAN_ERR for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
