"""The ``refocus`` command line.

Subcommands: ``render`` (here), ``depth`` and ``models`` (:mod:`engine.depth`),
``view`` (:mod:`engine.viewer`), ``live`` (:mod:`engine.live`) and ``bench``
(:mod:`engine.bench`); each module registers its own with ``add_cli``.
Errors the user can fix print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .errors import InputError, RefocusError
from .samples import SAMPLES
from .settings import RenderSettings, add_render_arguments

log = logging.getLogger("engine")

#: Modules that add subcommands with ``add_cli(subparsers)``.
SUBCOMMAND_MODULES = ("engine.depth", "engine.viewer", "engine.live", "engine.bench", "engine.batch")


def cmd_render(args) -> int:
    from .backends import make_renderer
    from .images import free_path, write_image
    from .photo import load_photo, render_photo

    t0 = time.perf_counter()
    settings = RenderSettings.from_args(args)
    photo = load_photo(args.image, sample=args.sample, depth=args.depth, depth_kind=args.depth_kind,
                       model=getattr(args, "model", None), model_path=getattr(args, "model_path", None))
    if args.output:
        out = Path(args.output)
    else:
        stem = Path(args.image).with_suffix("") if args.image else Path(args.sample)
        out = free_path(stem.with_name(stem.name + ".refocus.png"))
    if out.exists() and not args.overwrite:  # fail before the slow part
        raise InputError(f"{out}: already exists; choose another --output or pass --overwrite")
    renderer = make_renderer(args.device, **settings.renderer_options())
    t1 = time.perf_counter()
    result = render_photo(photo, settings, renderer)
    t2 = time.perf_counter()
    write_image(out, result, protect=photo.inputs, overwrite=args.overwrite)
    h, w = photo.shape
    print(f"wrote {out} ({w}x{h}, focus disparity {settings.resolve_focus_disparity(photo.disparity, photo.focus):.3f}, "
          f"K {settings.resolve_max_blur(photo.shape):g} px, {renderer.device}, "
          f"load {1e3 * (t1 - t0):.0f} ms, render {1e3 * (t2 - t1):.0f} ms)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="refocus", description="Synthetic depth of field from a photo and its depth.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="show warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("render", help="refocus one photo and write the result",
                       description="Refocus IMAGE: points at the focus stay sharp, others blur with "
                       "radius K*|d - d_focus| pixels (d: normalised disparity).")
    p.add_argument("image", nargs="?", metavar="IMAGE", help="photo (JPEG, PNG 8/16-bit, TIFF, EXR...)")
    p.add_argument("--sample", choices=SAMPLES, help="use a bundled sample instead of IMAGE")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--focus", metavar="X,Y", help="focus on the pixel at column X, row Y (median of a 9x9 window)")
    g.add_argument("--focus-disparity", type=float, metavar="D", help="focus at normalised disparity D in [0, 1]")
    add_render_arguments(p)
    p.add_argument("--output", "-o", metavar="OUT", help="output image (default: IMAGE.refocus.png, never overwriting)")
    p.add_argument("--overwrite", action="store_true", help="allow replacing an existing OUT (never an input)")
    p.set_defaults(func=cmd_render)
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
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("refocus: %(message)s"))
    logging.getLogger("engine").handlers[:] = [handler]
    logging.getLogger("engine").setLevel(level)
    logging.captureWarnings(False)
    try:
        return int(args.func(args) or 0)
    except RefocusError as e:
        print(f"refocus: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("refocus: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("refocus: error: out of memory (try a smaller image or --device gpu)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
