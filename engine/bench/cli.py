"""``refocus bench`` arguments and the run: each size measured in its own child process."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from ..errors import DeviceError, InputError
from .scenes import DEFAULT_SCENE, SCENES

log = logging.getLogger("deocused")

DEFAULT_SIZES = "1920x1080,3840x2160,6000x4000@default"
DEFAULT_MAX_BLUR = "16,32,64"
DEFAULT_FOCUS = (0.3, 0.7)


def parse_size_specs(text: str) -> list[tuple[int, int, list | None]]:
    """``"1920x1080,6000x4000@default"`` -> [(1920, 1080, None), (6000, 4000, ["default"])].

    ``WxH@K1/K2`` gives that size its own K list (numbers or ``default``) instead of ``--max-blur``.
    """
    out = []
    for part in str(text).split(","):
        part = part.strip().lower()
        if not part:
            continue
        size, _, ks = part.partition("@")
        try:
            w, h = (int(v) for v in size.split("x"))
        except ValueError:
            raise InputError(f"--sizes: '{part}' is not WIDTHxHEIGHT[@K/K...] (e.g. 1920x1080)") from None
        if w < 16 or h < 16:
            raise InputError(f"--sizes: {w}x{h} is too small (at least 16x16)")
        if w * h > 100_000_000:
            raise InputError(f"--sizes: {w}x{h} is too large (at most 100 megapixels)")
        out.append((w, h, parse_max_blur(ks.replace("/", ","), f"--sizes {size}@") if ks else None))
    if not out:
        raise InputError("--sizes: no size given")
    return out


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"1280x720,1920x1080"`` -> [(1280, 720), (1920, 1080)] (width, height)."""
    return [(w, h) for w, h, _ in parse_size_specs(text)]


def parse_floats(text: str, name: str) -> list[float]:
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{name}: '{text}' is not a comma-separated list of numbers") from None
    if not vals:
        raise InputError(f"{name}: no value given")
    return vals


def parse_max_blur(text: str, name: str = "--max-blur") -> list:
    """K values in pixels, or ``default`` (the default K of each size)."""
    from ..render.pyramid import MAX_RADIUS

    out = []
    for tok in (t.strip().lower() for t in str(text).split(",")):
        if not tok:
            continue
        if tok == "default":
            out.append("default")
            continue
        k = parse_floats(tok, name)[0]
        if not 0.0 < k <= MAX_RADIUS:
            raise InputError(f"{name}: {k:g} is outside (0, {MAX_RADIUS:g}] pixels")
        out.append(k)
    if not out:
        raise InputError(f"{name}: no value given")
    return out


def resolve_devices(choice: str) -> tuple[list[str], list[dict]]:
    """Devices to benchmark for ``--device`` and what is known about each."""
    from ..render.backends import gpu_available

    ok, why = gpu_available()
    info = [{"device": "cpu", "available": True, "reason": None, "timer": "perf_counter"},
            {"device": "gpu", "available": ok, "reason": None if ok else why, "timer": "cuda_event"}]
    if choice == "cpu":
        return ["cpu"], info[:1]
    if choice == "gpu":
        if not ok:
            raise DeviceError(f"--device gpu: {why}")
        return ["gpu"], info[1:]
    return (["cpu", "gpu"] if ok else ["cpu"]), info


def run_bench(devices, specs, ks, *, repeat=5, warmup=1, focus=DEFAULT_FOCUS, depth=True, depth_models=None,
              model_path=None, scene=DEFAULT_SCENE, device_info=None, command=None, progress=None,
              baseline=True) -> dict:
    """Measure every size in ``specs`` ([(w, h, ks or None)]) in a child process each; the report dict."""
    from .memory import measure_size
    from .render_bench import resolve_k
    from .report import build_report

    started = time.time()
    show = progress if progress is not None else sys.stderr.isatty()
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=len(specs), unit="size", file=sys.stderr, dynamic_ncols=True, leave=False)
    parts, used_k = [], set()
    try:
        for w, h, own in specs:
            if bar is not None:
                bar.set_description(f"{w}x{h}", refresh=True)
            size_ks = own or ks
            used_k |= {resolve_k(k, (h, w)) for k in size_ks}
            part = measure_size({"devices": devices, "size": [w, h], "max_blur": size_ks, "repeat": repeat,
                                 "warmup": warmup, "focus": list(focus), "depth": depth, "scene": scene,
                                 "depth_models": depth_models, "model_path": model_path, "baseline": baseline})
            if "error" in part:
                log.warning("bench: %dx%d not measured: %s", w, h, part["error"])
                part = {"skipped": [{"device": d, "stage": "full_frame", "width": w, "height": h, "max_blur": None,
                                     "model": None, "reason": part["error"]} for d in devices]}
            parts.append(part)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    config = {"devices": list(devices), "sizes": [[w, h] for w, h, _ in specs], "max_blur": sorted(used_k),
              "repeat": int(repeat), "warmup": int(warmup), "focus": list(focus), "scene": scene}
    info = device_info or [{"device": d, "available": True, "reason": None,
                            "timer": "cuda_event" if d == "gpu" else "perf_counter"} for d in devices]
    gpu = any(d["device"] == "gpu" and d["available"] for d in info) and "gpu" in devices
    return build_report(config, command, time.time() - started, info, parts, gpu)


def _batch_argv(args) -> list[str]:
    """``refocus bench --batch``: the batch throughput run's arguments (first size of --sizes)."""
    size = args.sizes.split(",")[0].split("@")[0]
    argv = ["--size", size, "--items", str(args.items), "--repeat", str(min(args.repeat, 2) if args.repeat_default
                                                                        else args.repeat),
            "--device", "cpu" if args.device == "all" else args.device,
            "--json", args.json or "batch-throughput.json", "--plot", args.plot or "batch-throughput.png"]
    if args.workers:
        argv += ["--workers", args.workers]
    if args.no_ray:
        argv.append("--no-ray")
    if args.batch_dir:
        argv += ["--dir", args.batch_dir]
    return argv


def cmd_bench(args) -> int:
    from .report import markdown_table, merge_reports, plot

    args.repeat_default = args.repeat is None
    if args.repeat is None:
        args.repeat = 5
    if args.batch:
        if args.sizes == DEFAULT_SIZES:
            args.sizes = "1920x1080"
        from .batch_throughput import main as batch_throughput

        return batch_throughput(_batch_argv(args))

    if args.repeat < 1:
        raise InputError("--repeat must be at least 1")
    if args.warmup < 0:
        raise InputError("--warmup must be 0 or more")
    for out in (args.json, args.plot, args.markdown):
        if out and Path(out).parent and not Path(out).parent.exists():
            raise InputError(f"{out}: folder {Path(out).parent} does not exist")
    if args.from_json:
        reports = []
        for p in args.from_json:
            try:
                reports.append(json.loads(Path(p).read_text()))
            except (OSError, ValueError) as e:
                raise InputError(f"{p}: cannot read benchmark JSON ({e})") from None
        report = merge_reports(reports)
    else:
        specs = parse_size_specs(args.sizes)
        ks = parse_max_blur(args.max_blur)
        focus = parse_floats(args.focus_disparity, "--focus-disparity")
        if len(focus) != 2 or not all(0.0 <= f <= 1.0 for f in focus):
            raise InputError("--focus-disparity: give two disparities in [0, 1], e.g. 0.3,0.7")
        devices, info = resolve_devices(args.device)
        models = [m for m in args.depth_model.split(",") if m] if args.depth_model else None
        command = (f"refocus bench --device {args.device} --scene {args.scene} --sizes {args.sizes} "
                   f"--max-blur {args.max_blur} --repeat {args.repeat} --warmup {args.warmup} "
                   f"--focus-disparity {focus[0]:g},{focus[1]:g}" + (" --no-depth" if args.no_depth else "")
                   + (" --no-baseline" if args.no_baseline else ""))
        report = run_bench(devices, specs, ks, repeat=args.repeat, warmup=args.warmup, focus=focus,
                           depth=not args.no_depth, depth_models=models, model_path=args.model_path,
                           scene=args.scene, device_info=info, command=command,
                           progress=False if args.no_progress else None, baseline=not args.no_baseline)
    text = markdown_table(report)
    if not args.quiet_table:
        print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
        print(f"wrote {args.markdown}", file=sys.stderr)
    if args.plot:
        plot(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="measure throughput stage by stage (and against the Gaussian-stack baseline)",
        description="Time each stage of the engine (decode, depth, sRGB->linear, pyramid, click, new photo, "
                    "display) on a real photo with real depth (or the synthetic scene) at the given sizes, "
                    "with the 8-level Gaussian-stack baseline on the same inputs and the peak memory of each "
                    "size (measured in its own process); print a Markdown table and optionally write JSON and "
                    "a PNG plot.")
    p.add_argument("--device", choices=("cpu", "gpu", "all"), default="all",
                   help="what to benchmark (default all: the CPU, and the GPU when CuPy sees one)")
    p.add_argument("--scene", choices=SCENES, default=DEFAULT_SCENE,
                   help="input: the motorcycle photo with its stereo depth, scaled to each size (default), or "
                        "the ray-cast synthetic scene")
    p.add_argument("--sizes", default=DEFAULT_SIZES, metavar="WxH[@K/K],...",
                   help=f"frame sizes; WxH@K/K gives a size its own K list (default {DEFAULT_SIZES})")
    p.add_argument("--max-blur", "-K", default=DEFAULT_MAX_BLUR, metavar="K,...",
                   help=f"maximum blur radii in pixels, or 'default' (each size's default K) "
                        f"(default {DEFAULT_MAX_BLUR})")
    p.add_argument("--repeat", "-n", type=int, default=None, metavar="N",
                   help="timed runs per stage (default 5; with --batch, runs per configuration, default 2)")
    p.add_argument("--warmup", type=int, default=1, metavar="N", help="untimed runs before timing (default 1)")
    p.add_argument("--focus-disparity", default=f"{DEFAULT_FOCUS[0]},{DEFAULT_FOCUS[1]}", metavar="A,B",
                   help="the two focus disparities the click stage alternates (default 0.3,0.7)")
    p.add_argument("--focus", dest="focus_disparity", metavar="A,B", help=argparse.SUPPRESS)  # deprecated spelling
    p.add_argument("--no-depth", action="store_true", help="skip depth inference")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the Gaussian-stack baseline (at 24 MP and the default K it takes minutes)")
    p.add_argument("--depth-model", metavar="NAME,...",
                   help="depth models to time (default: every registered model whose weights are cached; "
                        "nothing is downloaded)")
    p.add_argument("--model-path", metavar="FILE", help="time this depth model file")
    p.add_argument("--json", metavar="OUT", help="write the full results as JSON (schema: bench/bench_schema.json)")
    p.add_argument("--plot", metavar="OUT.png", help="write a PNG plot of time per stage vs resolution")
    p.add_argument("--markdown", metavar="OUT.md", help="write the summary table as Markdown")
    p.add_argument("--from-json", nargs="+", metavar="JSON",
                   help="do not measure: load saved results (several are merged) and write the table/plot/JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--quiet-table", action="store_true", help="do not print the table")
    b = p.add_argument_group("batch throughput (--batch)")
    b.add_argument("--batch", action="store_true",
                   help="measure refocus batch items/s for 1, 2, ... workers, local pool vs Ray on this node, "
                        "on photos of the first --sizes size (default 1920x1080) with sidecar depth")
    b.add_argument("--items", type=int, default=4, metavar="N", help="photos per configuration (default 4)")
    b.add_argument("--workers", metavar="N,N...", help="worker counts (default 1..cores)")
    b.add_argument("--no-ray", action="store_true", help="local pool only")
    b.add_argument("--batch-dir", metavar="DIR", help="use the photos in DIR instead of generated ones")
    p.set_defaults(func=cmd_bench)
