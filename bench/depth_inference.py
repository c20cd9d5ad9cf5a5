"""Time depth-network inference on this machine's CPU at 256 and 384 input.

With the real MiDaS weights when they are in the model cache (``refocus models
fetch NAME``); otherwise with *randomly initialised stand-in networks* of
similar size and shape (Keras EfficientNetB0 / ResNet50 encoders with
weights=None plus a light upsampling decoder), clearly labelled as such in the
JSON. Each timing is the median of N runs after warm-up, for a batch of 1,
network only (the worker adds pre/post-processing, timed separately).

    python bench/depth_inference.py [--runs 10] [--out bench/results/depth_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deocused.bench.machine import run_context
from deocused.bench.standin import encoder_standin as standin
from deocused.bench.standin import to_tflite
from deocused.bench.timing import wall_and_cpu


def median_time(fn, runs: int, warmup: int = 2) -> dict:
    walls, _ = wall_and_cpu(fn, runs, warmup)
    return {"median_ms": round(statistics.median(walls), 2), "min_ms": round(min(walls), 2),
            "runs": runs, "warmup": warmup}


def _real_models(rng, runs: int) -> list[dict]:
    """Real weights, where cached."""
    import numpy as np

    from deocused.depth import loaders
    from deocused.depth.download import cached_path, verify
    from deocused.depth.processing import preprocess
    from deocused.depth.registry import get_model

    results = []
    for name in ("midas-v21-small-tflite", "midas-v21-small", "midas-v21-large"):
        spec = get_model(name)
        p = cached_path(spec)
        if not p.exists():
            results.append({"model": name, "weights": "real", "status": f"not in cache ({p}); skipped"})
            continue
        verify(spec, p)
        runner = loaders.load(p, spec)
        hh, ww = spec.input_size
        x = preprocess(rng.random((hh, ww, 3), dtype=np.float32), spec, (hh, ww))
        results.append({"model": name, "weights": "real", "runtime": runner.description,
                        "input": f"{ww}x{hh}", **median_time(lambda: runner(x), runs)})
        print(results[-1], flush=True)
    return results


def _standins(rng, runs: int) -> list[dict]:
    """Random-weight stand-ins (NOT trained: timing only), in TensorFlow and TFLite."""
    import numpy as np
    import tensorflow as tf

    from deocused.depth import loaders
    from deocused.depth.registry import ModelSpec

    results = []
    for encoder, sizes in (("EfficientNetB0", (256, 384)), ("ResNet50", (384,))):
        for size in sizes:
            model = standin(encoder, size)
            params = int(model.count_params())
            x = rng.random((1, size, size, 3), dtype=np.float32)
            fn = tf.function(lambda t: model(t, training=False))
            xt = tf.constant(x)
            base = {"model": f"{encoder} encoder + light decoder", "weights": "random (stand-in, untrained)",
                    "params": params, "input": f"{size}x{size}"}
            results.append({**base, "runtime": "TensorFlow (tf.function, Keras 3)",
                            **median_time(lambda: fn(xt).numpy(), runs)})
            print(results[-1], flush=True)
            with tempfile.TemporaryDirectory() as d:
                f = Path(d) / "m.tflite"
                f.write_bytes(to_tflite(model, size))
                r = loaders.load(f, ModelSpec(name="standin", format="tflite"))
                results.append({**base, "runtime": "TFLite interpreter (XNNPACK, float32)",
                                **median_time(lambda: r(x), runs)})
                print(results[-1], flush=True)
    return results


def _processing(rng, runs: int) -> list[dict]:
    """Pre/post-processing for a 12 MP photo (NumPy/OpenCV, what the worker adds)."""
    import numpy as np

    from deocused.depth.processing import postprocess, preprocess
    from deocused.depth.registry import ModelSpec

    spec = ModelSpec(name="p", format="tflite", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    photo = rng.random((3024, 4032, 3), dtype=np.float32)
    raw = rng.random((1, 256, 256, 1), dtype=np.float32)
    results = [{"model": "pre-processing (resize+normalise) 4032x3024 -> 256x256", "weights": "n/a",
                **median_time(lambda: preprocess(photo, spec, (256, 256)), max(3, runs // 2), 1)},
               {"model": "post-processing (guided upsampling) 256x256 -> 4032x3024", "weights": "n/a",
                **median_time(lambda: postprocess(raw, spec, photo), max(3, runs // 2), 1)}]
    print(results, flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "depth_cpu.json"))
    args = ap.parse_args()

    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    results = _real_models(rng, args.runs) + _standins(rng, args.runs) + _processing(rng, args.runs)

    doc = {
        "benchmark": "depth network inference on the CPU, batch 1, network only unless stated",
        "command": f"python bench/depth_inference.py --runs {args.runs}",
        **run_context(), "gpu_visible": bool(tf.config.list_physical_devices("GPU")), "tensorflow": tf.__version__,
        "note": "rows with weights 'random (stand-in, untrained)' time a randomly initialised network of "
                "similar size/shape because the real MiDaS files were not in the cache; their outputs are "
                "meaningless, only the timing is.",
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
