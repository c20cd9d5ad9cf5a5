"""Batch refocusing: ``refocus batch INPUT... --output-dir DIR``.

Modules: ``inputs`` (expansion, output names, focus file, :class:`BatchJob`),
``focus`` (autofocus rule, sweeps), ``worker`` (one item in a worker process),
``video`` (video in/out), ``pools`` (local processes, Ray actors), ``report``
(``batch-report.json``, resume), ``runner`` (:func:`run_batch`), ``throughput``
(items/s against workers, local vs Ray).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError

REPORT_HELP = "DIR/batch-report.json records every item's status, error and timings (seconds)"


def add_cli(subparsers) -> None:
    from ..io.video import CODECS
    from ..settings import add_output_arguments, add_render_arguments

    p = subparsers.add_parser(
        "batch", help="refocus many photos and videos",
        description="Refocus every INPUT (photo files, folders searched recursively, glob patterns, videos: every "
                    "frame) into --output-dir, in parallel. Depth comes from each photo's sidecar (IMAGE.depth.png, "
                    ".npy, .exr; for a video VIDEO.depth.avi or .npy) when present, else the depth model. A failing "
                    f"item is reported and the batch goes on; the exit status is 1 when any failed. {REPORT_HELP}.",
        epilog="Autofocus: in the middle half of the image (width and height), the nearest disparity bin (of 16) "
               "that holds at least 15%% of that region -- the nearest large object -- focused at its median.")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="photo or video file, folder, or glob pattern")
    p.add_argument("--output-dir", "-o", required=True, metavar="DIR",
                   help="where outputs go (folder structure below each input folder is kept)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--focus", metavar="X,Y", help="focus every item on the pixel at column X, row Y")
    g.add_argument("--focus-disparity", type=float, metavar="D", help="focus every item at disparity D in [0, 1]")
    g.add_argument("--autofocus", action="store_true", help="focus each item on the nearest large object in its "
                   "centre (see below)")
    p.add_argument("--focus-file", metavar="CSV", help="per-item focus: rows name,x,y or name,disparity (name: the "
                   "input as given, its path below its folder, or its file name); other items use the flags above")
    p.add_argument("--sweep", type=int, default=0, metavar="N",
                   help="render each photo at N focal planes, near to far (files NAME.sweep-00.png ...)")
    p.add_argument("--sweep-video", action="store_true", help="with --sweep: write the planes as a focus-pull video")
    p.add_argument("--fps", type=float, default=24.0, help="frame rate of sweep videos (default 24)")
    p.add_argument("--format", default="png", choices=("png", "jpg", "tif", "webp", "heic"),
                   help="photo output format (default png)")
    p.add_argument("--video-codec", choices=tuple(CODECS),
                   help="video output codec (default: the input's family -- H.264 for .mp4/.mov/.mkv, MJPG for "
                        ".avi; H.264 .mp4 for sweep videos); ffv1 is lossless")
    p.add_argument("--crf", type=int, metavar="N", help="constant-rate factor of h264/hevc/av1 output (lower = "
                   "better and larger; default 18 / 20 / 30)")
    p.add_argument("--video-parts", type=int, metavar="N",
                   help="split each video of 1 s or more into N parts at keyframes, rendered in parallel and "
                        "joined without re-encoding (default: one per worker; 1 = never split)")
    p.add_argument("--workers", "-j", type=int, metavar="N",
                   help="parallel workers (default: one per CPU core, or one per GPU)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the workers as Ray actors, on the cluster at ADDRESS (HOST:PORT, ray://HOST:PORT or "
                        "auto; default: RAY_ADDRESS or a new local Ray); inputs and outputs must be on paths all "
                        "nodes share")
    p.add_argument("--resume", action="store_true", help="skip items a killed or earlier run finished")
    p.add_argument("--overwrite", action="store_true", help="redo items whose outputs exist (never an input)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    add_render_arguments(p)
    add_output_arguments(p)
    p.set_defaults(func=cmd_batch)


def _looks_like_address(text: str) -> bool:
    return text in ("auto", "local") or text.startswith("ray://") or (":" in text and not Path(text).exists())


def jobs_from_args(args: argparse.Namespace):
    """Plan the jobs of a ``batch`` command line."""
    if args.ray and not _looks_like_address(args.ray):  # `--ray photos/`: an input, not an address
        args.inputs.insert(0, args.ray)
        args.ray = ""
    if not args.inputs:
        raise InputError("no INPUT given (photo or video files, folders or glob patterns)")
    from ..render.optics import parse_point
    from ..settings import RenderSettings, output_bits
    from .inputs import Focus, plan_jobs

    if args.sweep < 0:
        raise InputError(f"--sweep must be at least 1, got {args.sweep}")
    if args.sweep_video and not args.sweep:
        raise InputError("--sweep-video goes with --sweep N")
    if not 0 < args.fps <= 1000:
        raise InputError(f"--fps must be in (0, 1000], got {args.fps:g}")
    if args.video_parts is not None and not 1 <= args.video_parts <= 1000:
        raise InputError(f"--video-parts must be in [1, 1000], got {args.video_parts}")
    if args.crf is not None and not 0 <= args.crf <= 63:
        raise InputError(f"--crf must be in [0, 63], got {args.crf}")
    if args.focus_disparity is not None and not 0.0 <= args.focus_disparity <= 1.0:
        raise InputError(f"--focus-disparity must be in [0, 1], got {args.focus_disparity:g}")
    focus = Focus(point=parse_point(args.focus) if args.focus else None, disparity=args.focus_disparity,
                  auto=args.autofocus)
    settings = RenderSettings.from_args(args).with_(focus_point=None, focus_disparity=None)
    settings.aperture()  # a bad aperture fails here, before any work
    output_bits(args.bit_depth, None, Path(f"out.{args.format}"))  # and a 16-bit JPEG
    return plan_jobs(args.inputs, args.output_dir, settings, focus=focus, focus_file=args.focus_file,
                     fmt=args.format, sweep=args.sweep, sweep_video=args.sweep_video, fps=args.fps,
                     codec=args.video_codec, crf=args.crf, depth=args.depth, depth_kind=args.depth_kind,
                     model=getattr(args, "model", None), model_path=getattr(args, "model_path", None),
                     embedded_depth=not getattr(args, "no_embedded_depth", False),
                     output={"quality": args.quality, "bit_depth": args.bit_depth,
                             "strip_metadata": args.strip_metadata})


def _video_parts(args) -> int:
    """Parts a long video is split into: ``--video-parts``, else one per worker (local: ``--workers`` or
    one per core; Ray: ``--workers`` or one per local core)."""
    import os

    if args.video_parts is not None:
        return args.video_parts
    return args.workers or (os.cpu_count() or 1)


def cmd_batch(args) -> int:
    import sys

    from .runner import run_batch

    jobs = jobs_from_args(args)
    groups = {}
    if any(j.kind == "video" or j.sweep_video for j in jobs):
        from ..io.video import check_encoders
        from .chunks import split_jobs

        check_encoders(args.video_codec)
        jobs, groups = split_jobs(jobs, _video_parts(args))
    report = run_batch(jobs, args.output_dir, workers=args.workers, device=args.device, ray=args.ray is not None,
                       ray_address=args.ray or None, resume=args.resume, overwrite=args.overwrite,
                       progress=args.progress)
    if groups:
        from .chunks import join_parts

        join_parts(groups, report)
    c, s = report.counts(), report.data["summary"]
    rate = f", {s['items_per_s']:.2f} items/s" if s.get("items_per_s") else ""
    print(f"batch: {c['ok']} done, {c['skipped']} skipped (finished earlier), {c['failed']} failed "
          f"of {len(jobs) + len(groups)} in {s['elapsed_s']:.1f} s{rate} on {s['workers']} {s['runner']} workers; "
          f"report {report.path}", file=sys.stderr if c["failed"] else sys.stdout)
    return 1 if c["failed"] else 0
