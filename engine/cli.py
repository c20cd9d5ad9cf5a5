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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .depth import add_model_arguments
from .errors import InputError, RefocusError
from .samples import SAMPLES

log = logging.getLogger("engine")

#: Modules that add subcommands with ``add_cli(subparsers)``.
SUBCOMMAND_MODULES = ("engine.depth", "engine.viewer", "engine.live", "engine.bench")


def add_render_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``render``, ``view`` and ``live``: depth, aperture, device."""
    p.add_argument("--depth", metavar="FILE", help="depth map (PNG 8/16-bit, .npy, .exr); default: IMAGE.depth.png "
                   "next to the image, else the depth model")
    p.add_argument("--depth-kind", choices=("disparity", "depth"), default="disparity",
                   help="the depth file holds disparity (near = large, default) or metric depth (inverted)")
    p.add_argument("--max-blur", "-K", type=float, metavar="K",
                   help="blur radius in pixels for a normalised-disparity difference of 1 "
                   "(default: 4%% of the image's longer side, at most 256)")
    p.add_argument("--dof", type=float, default=0.0, metavar="D",
                   help="keep everything within +-D of the focus disparity sharp (default 0)")
    p.add_argument("--blades", type=int, default=0, metavar="N", help="aperture blades (0 = circular, default)")
    p.add_argument("--rotation", type=float, default=0.0, metavar="DEG", help="aperture rotation in degrees")
    p.add_argument("--highlights", type=float, nargs="?", const=4.0, default=0.0, metavar="GAIN",
                   help="boost near-clipped highlights before blurring (GAIN default 4 when given)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="where to render (default auto: GPU if CuPy sees one)")
    add_model_arguments(p)


def default_max_blur(shape) -> float:
    """Default K: 4 % of the image's longer side, in pixels (at most the pyramid's largest radius)."""
    from .pyramid import MAX_RADIUS

    return min(round(0.04 * max(shape), 1), MAX_RADIUS)


def renderer_options(args) -> dict:
    """Renderer keyword options from parsed arguments."""
    from .aperture import Aperture

    try:
        aperture = Aperture(args.blades, args.rotation)
    except ValueError as e:
        raise InputError(f"--blades: {e}") from None
    return {"aperture": aperture, "highlights": args.highlights}


@dataclass
class Inputs:
    """A photo and its depth as the CLI loaded them."""

    image_srgb: np.ndarray  # float32 (H, W, 3) sRGB in [0, 1]
    disparity: np.ndarray  # float32 (H, W) in [0, 1], 1 = nearest
    focus_xy: tuple[float, float] | None = None  # a sample's default focus point (pixels)
    image_path: Path | None = None
    depth_path: Path | None = None


def load_inputs(image: str | None, sample: str | None, depth: str | None, depth_kind: str,
                model: str | None = None, model_path: str | None = None) -> Inputs:
    """Load the photo and its disparity from the CLI's sources.

    Depth comes from ``depth``, the sample, a sidecar next to the image, or the
    depth model, in that order.
    """
    from .depthmap import find_sidecar, fit_to_image, load_disparity, to_disparity
    from .images import load_image

    if sample:
        from .samples import load_sample

        img, raw, focus = load_sample(sample)
        if depth:
            return Inputs(img, load_disparity(depth, img.shape[:2], depth_kind), focus, None, Path(depth))
        return Inputs(img, to_disparity(raw, "disparity", f"sample '{sample}'"), focus)
    if not image:
        raise InputError("no image given (pass IMAGE or --sample NAME)")
    img = load_image(image)
    shape = img.shape[:2]
    if depth is None:
        side = find_sidecar(image)
        if side is not None:
            log.info("using depth map %s", side)
            depth = str(side)
    if depth is not None:
        return Inputs(img, load_disparity(depth, shape, depth_kind), None, Path(image), Path(depth))
    from .depth import estimate_disparity

    log.info("no depth map for %s; estimating depth with the model", image)
    disp = estimate_disparity(img, model=model, model_path=model_path)
    return Inputs(img, fit_to_image(to_disparity(disp, "disparity", "model output"), shape), None, Path(image))


def pick_focus(args, disparity: np.ndarray, default_xy) -> float:
    """Focus disparity from --focus-disparity, --focus X,Y, the sample's default or the centre."""
    from .optics import focus_disparity_at, parse_point

    if args.focus_disparity is not None:
        if not 0.0 <= args.focus_disparity <= 1.0:
            raise InputError(f"--focus-disparity must be in [0, 1], got {args.focus_disparity}")
        return float(args.focus_disparity)
    if args.focus is not None:
        x, y = parse_point(args.focus)
    elif default_xy is not None:
        x, y = default_xy
    else:
        x, y = disparity.shape[1] / 2, disparity.shape[0] / 2
    return focus_disparity_at(disparity, x, y)


def cmd_render(args) -> int:
    from .colour import srgb_to_linear
    from .images import free_path, write_image
    from .renderer import make_renderer

    t0 = time.perf_counter()
    inputs = load_inputs(args.image, args.sample, args.depth, args.depth_kind,
                         getattr(args, "model", None), getattr(args, "model_path", None))
    img, disp = inputs.image_srgb, inputs.disparity
    focus = pick_focus(args, disp, inputs.focus_xy)
    k = args.max_blur if args.max_blur is not None else default_max_blur(img.shape[:2])
    if args.output:
        out = Path(args.output)
    else:
        stem = Path(args.image).with_suffix("") if args.image else Path(args.sample)
        out = free_path(stem.with_name(stem.name + ".refocus.png"))
    if out.exists() and not args.overwrite:  # fail before the slow part
        raise InputError(f"{out}: already exists; choose another --output or pass --overwrite")
    renderer = make_renderer(args.device, **renderer_options(args))
    renderer.check_focus(focus, k, args.dof)  # before the slow part
    t1 = time.perf_counter()
    renderer.prepare(srgb_to_linear(img), disp)
    result = renderer.render_srgb8(focus, k, args.dof)
    t2 = time.perf_counter()
    write_image(out, result, protect=[inputs.image_path, inputs.depth_path], overwrite=args.overwrite)
    h, w = img.shape[:2]
    print(f"wrote {out} ({w}x{h}, focus disparity {focus:.3f}, K {k:g} px, {renderer.device}, "
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
