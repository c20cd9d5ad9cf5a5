"""``refocus live``: refocus a webcam, video file or network stream as it plays.

Modules: :mod:`.capture` (capture thread, newest-frame hand-over, reconnect),
:mod:`.temporal` (depth alignment + smoothing, gliding focus),
:mod:`.pipeline` (capture -> depth worker -> render -> sinks),
:mod:`.record` (video writer that always finalises), :mod:`.app` (window + HUD).
Only this module is imported to register the subcommand; OpenCV capture,
OpenGL and the depth worker load when ``live`` runs. TensorFlow is never
imported in this process (depth runs in :class:`deocused.depth.DepthWorker`).
"""

from __future__ import annotations

import logging
import sys

from ..errors import InputError

log = logging.getLogger("deocused")

__all__ = ["add_cli", "cmd_live", "build_live"]


def add_cli(subparsers) -> None:
    from ..settings import add_render_arguments

    p = subparsers.add_parser(
        "live", help="refocus a webcam, video file or stream live; click to choose the focus",
        description="Show a camera, video file or network stream refocused live. Depth runs in the depth worker "
                    "(--model / --model-path), each new depth map is aligned to the previous one and smoothed, "
                    "and the focus glides to what is under the clicked point in every new frame. Keys: click "
                    "focus, wheel or +/- blur K, L lock/unlock the focus disparity, D depth view, R reset, "
                    "H help, Esc/Q quit. --headless writes the refocused frames to --output instead of a window.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, metavar="N", help="camera index (default: 0, then 1 and 2)")
    src.add_argument("--video", metavar="FILE", help="video file (any FFmpeg reads: H.264/HEVC .mp4/.mov, .mkv, .avi...)")
    src.add_argument("--url", metavar="URL", help="network stream (RTSP, HTTP MJPEG...) that OpenCV can open")
    p.add_argument("--loop", action="store_true", help="restart a --video at its end (default: stop)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--every-frame", action="store_true",
                      help="process every frame of a --video in order (default with --headless --video)")
    pace.add_argument("--realtime", action="store_true",
                      help="play a --video at its frame rate and always take the newest frame, dropping the "
                           "others, as with a camera (default in a window)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--focus", metavar="X,Y", help="initial focus point (pixels; default: the centre)")
    g.add_argument("--focus-disparity", type=float, metavar="D",
                   help="focus at disparity D in [0, 1] and keep it there (a click picks a point again)")
    p.add_argument("--lock-focus", action="store_true",
                   help="keep the disparity picked at the start or by a click fixed, instead of following "
                        "whatever is under the point in later frames")
    p.add_argument("--no-depth-smoothing", action="store_true",
                   help="use each depth map as the model gives it (no scale/shift alignment, no smoothing)")
    p.add_argument("--no-focus-smoothing", action="store_true", help="jump to a new focus instead of gliding")
    p.add_argument("--focus-glide", type=float, default=0.25, metavar="S",
                   help="time constant of the focus glide in seconds (default 0.25)")
    p.add_argument("--depth-alpha", type=float, default=0.3, metavar="A",
                   help="weight of a new depth map in the temporal average, (0, 1] (default 0.3; 1 = no averaging)")
    add_render_arguments(p, photos=False)
    p.add_argument("--record", metavar="OUT", help="also write the refocused frames to OUT (.mp4/.mov H.264 as "
                   "fragmented MP4, playable even after a crash or kill; .mkv FFV1 lossless, .avi MJPG); finalised on Ctrl-C")
    p.add_argument("--headless", action="store_true", help="no window: write the refocused frames to --output")
    p.add_argument("--output", "-o", metavar="OUT", help="video file for --headless (.avi, .mp4, .mkv)")
    p.add_argument("--frames", type=int, metavar="N", help="stop after N refocused frames")
    p.add_argument("--scale", type=float, default=1.0, metavar="S",
                   help="process frames at S times their size, 0.05 <= S <= 1 (depth, render, window and "
                   "recordings; e.g. 0.5 on a CPU: about 4x the frame rate)")
    p.add_argument("--record-fps", type=float, metavar="FPS",
                   help="frame rate written into --output/--record (default: the source's; a live source refocused "
                        "slower than it delivers plays back faster than real time unless this is set to the "
                        "refocus rate)")
    p.add_argument("--codec", metavar="NAME", help="video codec for --output/--record: h264, hevc, av1, ffv1 "
                   "(lossless) or mjpg (default from the extension: H.264 for .mp4/.mov, FFV1 for .mkv, MJPG for .avi)")
    p.add_argument("--overwrite", action="store_true", help="allow replacing an existing output video")
    p.add_argument("--reconnect-attempts", type=int, default=None, metavar="N",
                   help="give up after N failed reconnects of a camera or stream (default: keep trying)")
    p.set_defaults(func=cmd_live, check=check_output_args)


def check_output_args(args) -> None:
    """Outputs of ``live`` (``--output``, ``--record``): a writable name in an
    existing folder, not the input video, not an existing file without
    --overwrite -- checked before the camera opens or the model loads."""
    from ..io.images import check_output_path

    for flag in ("--output", "--record"):
        value = getattr(args, flag[2:], None)
        if value:
            check_output_path(value, protect=[args.video] if args.video else [], overwrite=args.overwrite,
                              image=False, flag=flag)
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # OpenCV's VideoWriter cannot take such a name
                raise InputError(f"{value!r}: {flag} name is not valid UTF-8, which OpenCV cannot write; "
                                 "choose another name") from None


def source_from_args(args):
    from .capture import SourceSpec

    if args.video:
        return SourceSpec("video", args.video), 0
    if args.url:
        return SourceSpec("url", args.url), 0
    if args.camera is not None:
        if args.camera < 0:
            raise InputError(f"--camera expects an index >= 0, got {args.camera}")
        return SourceSpec("camera", args.camera), 0
    return SourceSpec("camera", 0), 3  # nothing given: try cameras 0, 1, 2


def _check_args(args) -> None:
    if args.depth:
        raise InputError("--depth FILE is for photos; live depth comes from the depth model (--model/--model-path)")
    if args.frames is not None and args.frames < 1:
        raise InputError(f"--frames must be >= 1, got {args.frames}")
    if args.headless and not (args.output or args.record):
        raise InputError("--headless needs --output OUT (a video file) for the refocused frames")
    if args.output and not args.headless:
        raise InputError("--output goes with --headless; to save the window's frames use --record OUT")
    if not 0.0 < args.depth_alpha <= 1.0:
        raise InputError(f"--depth-alpha must be in (0, 1], got {args.depth_alpha}")
    if args.focus_glide < 0:
        raise InputError(f"--focus-glide must be >= 0, got {args.focus_glide}")
    if args.focus_disparity is not None and not 0.0 <= args.focus_disparity <= 1.0:
        raise InputError(f"--focus-disparity must be in [0, 1], got {args.focus_disparity}")
    if args.record_fps is not None and not 0 < args.record_fps <= 240:
        raise InputError(f"--record-fps must be in (0, 240], got {args.record_fps}")
    if not 0.05 <= args.scale <= 1.0:
        raise InputError(f"--scale must be in [0.05, 1], got {args.scale:g}")
    if args.reconnect_attempts is not None and args.reconnect_attempts < 0:
        raise InputError(f"--reconnect-attempts must be >= 0, got {args.reconnect_attempts}")
    if args.loop and not args.video:
        raise InputError("--loop goes with --video")


def build_live(args, capture=None, depth=None):
    """Capture, controls and pipeline keyword arguments from parsed CLI arguments (depth not started)."""
    from ..render.optics import parse_point
    from .capture import FrameCapture
    from .pipeline import Controls

    spec, fallback = source_from_args(args)
    if capture is None:
        every = args.every_frame or (args.headless and spec.kind == "video" and not args.realtime)
        capture = FrameCapture(spec, mode="every" if every else "latest", loop=args.loop,
                               max_reconnects=args.reconnect_attempts, fallback_cameras=fallback)
    w, h = capture.size
    point = (0.5, 0.5)
    if args.focus:
        x, y = parse_point(args.focus)
        if not (0 <= x < w and 0 <= y < h):
            capture.stop()
            raise InputError(f"--focus {args.focus} is outside the {w}x{h} frame")
        point = (x / w, y / h)
    controls = Controls(point=point, locked=args.focus_disparity, max_blur=args.max_blur, dof=args.dof,
                        lock_on_click=args.lock_focus)
    opts = dict(controls=controls, depth_smoothing=not args.no_depth_smoothing,
                focus_smoothing=not args.no_focus_smoothing, depth_alpha=args.depth_alpha,
                focus_tau=args.focus_glide, scale=args.scale)
    return capture, opts


def cmd_live(args) -> int:
    import contextlib

    from ..render.backends import make_renderer
    from ..settings import RenderSettings
    from .pipeline import LivePipeline
    from .record import VideoRecorder, terminate_as_interrupt

    _check_args(args)
    if not args.headless:
        from ..extras import require
        from ..window.display import check_display

        require("viewer", "refocus live in a window (or use --headless)")
        check_display("refocus live")  # fail before opening the camera or loading the model
    renderer = make_renderer(args.device, **RenderSettings.from_args(args).renderer_options())
    from ..depth import DepthWorker

    with contextlib.ExitStack() as stack:
        capture, opts = build_live(args)  # no camera: fail before loading the model
        stack.callback(capture.stop)
        fps = args.record_fps or capture.source_fps or 30.0
        protect = [args.video] if args.video else []
        sinks, recorders = [], []
        for out in (args.output, args.record):  # checked before the model loads; opened on the first frame
            if out:
                rec = VideoRecorder(out, fps, args.codec, overwrite=args.overwrite, protect=protect)
                recorders.append(rec)
                sinks.append(lambda res, rec=rec: rec.write(res.rgb))
        # Real time on the CPU renderer: the network runs at a lower priority (the newest depth
        # map is used for every frame, so depth never holds a frame back). Every frame in order
        # (a file, headless): each frame waits for its own map, so the worker runs at ours.
        worker = DepthWorker(model=getattr(args, "model", None), model_path=getattr(args, "model_path", None),
                             background=renderer.device == "cpu" and capture.mode != "every")
        stack.callback(worker.close)
        for rec in recorders:  # finalised first on any exit (Ctrl-C included)
            stack.enter_context(rec)
        worker.start()  # load the model before frames start to flow (errors come out here)
        stack.enter_context(terminate_as_interrupt())
        pipe = LivePipeline(capture, renderer, depth=worker, sinks=sinks, **opts)
        if args.headless:
            n = pipe.run(max_frames=args.frames)
        else:
            from .app import LiveWindow

            win = LiveWindow(pipe, title="refocus live")
            stack.callback(win.close)
            n = win.run(max_frames=args.frames)
        for rec in recorders:
            rec.close()
        print(_summary(n, pipe.stats, capture, renderer.device, recorders), file=sys.stderr)
    return 0


def _summary(n: int, st, capture, device: str, recorders) -> str:
    """The one line ``refocus live`` prints at the end: frames, speed, source trouble, outputs."""
    w, h = capture.size
    parts = [f"{n} frames {w}x{h} from {capture.spec.describe()}", device]
    if st.fps:
        parts.append(f"{st.fps:.2f} fps")
    if st.latency_ms is not None:
        parts.append(f"latency {st.latency_ms:.0f} ms, depth {st.depth_ms:.0f} ms, render {st.render_ms:.0f} ms")
    if capture.reconnects or capture.failures:
        parts.append(f"{capture.failures} source failures, {capture.reconnects} reconnects")
    if capture.dropped:
        parts.append(f"{capture.dropped} frames dropped")
    outs = ", ".join(f"wrote {r.path} ({r.frames} frames)" for r in recorders)
    return f"live: {'; '.join(parts)}" + (f"; {outs}" if outs else "")
