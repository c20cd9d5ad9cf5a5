"""The ``refocus`` command line.

Subcommands: ``render`` and ``warmup`` (here), ``depth`` and ``models`` (:mod:`deocused.depth`),
``view`` (:mod:`deocused.viewer`), ``live`` (:mod:`deocused.live`) and ``bench``
(:mod:`deocused.bench`); each module registers its own with ``add_cli``.
Errors the user can fix print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import math
import os
import sys
import threading
import time
import traceback
from concurrent.futures import Future
from pathlib import Path

from . import __version__
from .errors import GpuMemoryError, InputError, RefocusError
from .io.samples import SAMPLES
from .settings import RenderSettings, add_output_arguments, add_render_arguments, output_bits

log = logging.getLogger("deocused")

#: Modules that add subcommands with ``add_cli(subparsers)``.
SUBCOMMAND_MODULES = ("deocused.depth", "deocused.viewer", "deocused.live", "deocused.bench", "deocused.batch")


def _finite_float(text: str) -> float:
    """argparse type for every float flag: a finite number (no nan, no inf)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


class _Parser(argparse.ArgumentParser):
    """argparse with this CLI's error format (one ``refocus: error:`` line after the
    usage) and finite-only ``type=float`` flags, in every subcommand."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("type", float, _finite_float)

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"refocus: error: {message}\n")


def check_input_paths(args) -> None:
    """Refuse missing, non-regular (FIFO, device, folder) and over-long input
    paths of any subcommand before anything is opened or loaded. (A video is
    checked by the capture, a missing model file by the model resolver: both
    before anything slow.)"""
    from .io.images import check_input_file

    for attr, what in (("image", "image"), ("depth", "depth map")):
        value = getattr(args, attr, None)
        if isinstance(value, str) and value:
            check_input_file(value, what)
    for value in getattr(args, "images", None) or ():
        check_input_file(value, "image")
    model_path = getattr(args, "model_path", None)
    if model_path:
        try:
            os.stat(Path(model_path).expanduser())
        except FileNotFoundError:
            return  # the model resolver says so
        except (OSError, ValueError):
            pass
        check_input_file(Path(model_path).expanduser(), "model file", allow_dir=True)


def cmd_render(args) -> int:
    from .io.images import check_output_path, free_path, write_image
    from .photo import load_photo
    from .render.backends import pick_device
    from .xp import huge_pages

    t0 = time.perf_counter()
    # One shot: each buffer is written about once, so huge pages save little and their first
    # touch may compact memory (on the 2-core machine: half the 12 MP render's system time).
    huge_pages(False)
    settings = RenderSettings.from_args(args)
    if args.image and args.sample:
        raise InputError("give IMAGE or --sample NAME, not both")
    if args.output:
        out = Path(args.output)
    else:
        stem = Path(args.image).with_suffix("") if args.image else Path(args.sample)
        out = free_path(stem.with_name(stem.name + ".refocus.png"))
    # Fail before the slow part: a bad output path is known before any input is read.
    check_output_path(out, protect=[p for p in (args.image, args.depth) if p], overwrite=args.overwrite)
    output_bits(args.bit_depth, None, out)
    # The renderer is made (its backend imported) and its kernels loaded, or compiled with a notice on a
    # fresh install, on a second thread while the photo decodes and the render checks its inputs (~1.5 s of
    # a 12 MP render on the 2-core CPU); the render's first kernel waits for them (see warm_up).
    made: Future = Future()
    warm = threading.Thread(target=_make_renderer, args=(made, pick_device(args.device), settings),
                            name="refocus-warm-up", daemon=True)
    warm.start()
    photo = load_photo(args.image, sample=args.sample, depth=args.depth, depth_kind=args.depth_kind,
                       model=getattr(args, "model", None), model_path=getattr(args, "model_path", None),
                       embedded=not getattr(args, "no_embedded_depth", False))
    if settings.focus_point is not None:
        (x, y), (h, w) = settings.focus_point, photo.shape
        if not (x < w and y < h):
            raise InputError(f"--focus {x:g},{y:g} is outside the {w}x{h} image (X < {w}, Y < {h})")
    t1 = time.perf_counter()
    bits = output_bits(args.bit_depth, photo.meta, out)
    result, renderer = _render(photo, settings, made.result(), bits, args.device)
    t2 = time.perf_counter()
    warm.join()  # long done (the render loaded the same kernels); an error above is reported without waiting
    meta = photo.meta.stripped() if photo.meta and args.strip_metadata else photo.meta
    write_image(out, result, protect=photo.inputs, overwrite=args.overwrite, meta=meta, quality=args.quality)
    h, w = photo.shape
    print(f"wrote {out} ({w}x{h}, focus disparity {settings.resolve_focus_disparity(photo.disparity, photo.focus_point):.3f}, "
          f"K {settings.resolve_max_blur(photo.shape):g} px, {renderer.device}, "
          f"load {1e3 * (t1 - t0):.0f} ms, render {1e3 * (t2 - t1):.0f} ms)")
    return 0


def _render(photo, settings, renderer, bits: int, device: str):
    """``render_photo``, then (result, the renderer that made it): with ``--device auto``, on the CPU
    when the GPU runs out of memory."""
    from .photo import render_photo
    from .render.backends import make_renderer

    try:
        return render_photo(photo, settings, renderer, bit_depth=bits), renderer
    except GpuMemoryError as e:
        if device != "auto":  # the GPU was asked for: exit 3 with the memory error
            raise
        log.warning("%s; rendering on the CPU instead", str(e).split(";")[0])
        renderer = make_renderer("cpu", **settings.renderer_options())
        return render_photo(photo, settings, renderer, bit_depth=bits), renderer


def _make_renderer(made: Future, device: str, settings: RenderSettings) -> None:
    """``made`` gets ``make_renderer(device, ...)`` (or its error), then the renderer warms up; what
    fails there fails again, and is reported, at the render."""
    from .render.backends import make_renderer

    try:
        renderer = make_renderer(device, **settings.renderer_options())
    except BaseException as e:
        made.set_exception(e)
        return
    made.set_result(renderer)
    try:
        renderer.warm_up()
    except Exception as e:
        log.debug("warm-up: %s", e)


def cmd_warmup(args) -> int:
    from .render.cpu import jit as cpu_jit
    from .render.cpu import srgb8  # noqa: F401  (defines the frames group)

    cold = cpu_jit.cold_groups(tuple(cpu_jit.GROUPS))
    secs = cpu_jit.warmup()
    done = ", ".join(f"{g} {secs[g]:.1f} s" for g in secs)
    print(f"CPU kernels ready in the cache ({'compiled: ' + ', '.join(cold) if cold else 'all were cached'}; {done})")
    print(_write_bytecode())
    return 0


def _write_bytecode() -> str:
    """Write the package's bytecode into its ``__pycache__`` folders, which Python skips where
    ``PYTHONDONTWRITEBYTECODE`` is set (as in many Docker images): every command would otherwise
    compile the package's modules from source (~0.15 s of a 12 MP render on the 2-core CPU).
    Returns one line saying what was done."""
    import compileall

    folder = Path(__file__).resolve().parent
    if compileall.compile_dir(str(folder), quiet=2):
        return f"Python bytecode of {folder} up to date"
    return f"Python bytecode of {folder} not written (read-only?): commands compile its modules at each start"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="refocus", description="Synthetic depth of field from a photo and its depth.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="show warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("render", help="refocus one photo and write the result",
                       description="Refocus IMAGE: points at the focus stay sharp, others blur with "
                       "radius K*|d - d_focus| pixels (d: normalised disparity).")
    p.add_argument("image", nargs="?", metavar="IMAGE",
                   help="photo (JPEG, PNG 8/16-bit, TIFF, WebP, BMP, GIF, HDR...; 2x2 to 200 MP)")
    p.add_argument("--sample", choices=SAMPLES, help="use a bundled sample instead of IMAGE")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--focus", metavar="X,Y", help="focus on the pixel at column X, row Y (median of a 9x9 window; "
                   "inside the image)")
    g.add_argument("--focus-disparity", type=float, metavar="D", help="focus at normalised disparity D in [0, 1]")
    add_render_arguments(p)
    add_output_arguments(p)
    p.add_argument("--output", "-o", metavar="OUT", help="output image (default: IMAGE.refocus.png, never overwriting)")
    p.add_argument("--overwrite", action="store_true", help="allow replacing an existing OUT (never an input)")
    p.set_defaults(func=cmd_render)
    p = sub.add_parser("warmup", help="compile the CPU kernels into Numba's cache now (Docker images, CI, cluster nodes)",
                       description="Compile every CPU kernel group once into Numba's on-disk cache, so that the "
                       "first render, viewer or batch worker starts at once, and write the package's Python "
                       "bytecode (skipped by Python where PYTHONDONTWRITEBYTECODE is set). Run it where the package "
                       "is installed (e.g. as a Docker build step); NUMBA_CACHE_DIR chooses another cache folder.")
    p.set_defaults(func=cmd_warmup)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each message."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def main(argv=None) -> int:
    for stream in (sys.stdout, sys.stderr):  # file names need not be valid UTF-8
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("refocus: %(message)s"))
    logging.getLogger("deocused").handlers[:] = [handler]
    logging.getLogger("deocused").setLevel(level)
    logging.captureWarnings(False)
    try:
        check_input_paths(args)
        if getattr(args, "check", None):  # a subcommand's own checks, before it starts
            args.check(args)
        return int(args.func(args) or 0)
    except RefocusError as e:
        print(f"refocus: error: {_one_line(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("refocus: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("refocus: error: out of memory (try a smaller image or --device gpu)", file=sys.stderr)
        return 3
    except Exception as e:
        if args.verbose:
            traceback.print_exc()
        print(f"refocus: error: internal error ({type(e).__name__}: {_one_line(e)}); please report it "
              "(-v shows the traceback)", file=sys.stderr)
        return INTERNAL_ERROR_EXIT


#: Exit status of an unexpected internal error (a bug), as opposed to a user error (2) or device error (3).
INTERNAL_ERROR_EXIT = 70


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).splitlines())[:2000]


def entry() -> None:
    """The ``refocus`` command (and ``python -m deocused.cli``): :func:`main`, then exit. The objects the
    run made are frozen first: the interpreter's collections at exit would walk them all for nothing
    (Numba's kernels among them: ~0.15 s of a 12 MP render on the 2-core CPU; frozen, ~0.04 s).
    In-process callers (the tests) call :func:`main`, which freezes nothing."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
