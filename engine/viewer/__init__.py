"""``refocus view``: the click-to-refocus viewer (GLFW + PyOpenGL, shaders in ``shaders/``).

This module only registers the subcommand; the window code (:mod:`.app`) and
OpenGL are imported when the viewer actually starts, so ``refocus render`` and
the other subcommands never load them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

__all__ = ["add_cli", "cmd_view", "sources_from_args"]


def add_cli(subparsers) -> None:
    from ..io.samples import SAMPLES
    from ..settings import add_render_arguments

    p = subparsers.add_parser(
        "view", help="open photos in a window; click to refocus",
        description="Open IMAGE(s) in a window and click anything to bring it into focus. With no IMAGE the "
                    "bundled sample opens. Keys: click or drag focus, wheel or +/- blur K, Ctrl+wheel or "
                    "Z/Shift+Z zoom (1 1:1, 0 fit; drag pans), D depth view, S save PNG, "
                    "Left/Right previous/next image, R reset, F full screen, H help, Esc/Q quit.")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="photos to show (default: the bundled sample)")
    p.add_argument("--sample", choices=SAMPLES, help="show a bundled sample (default when no IMAGE: motorcycle)")
    add_render_arguments(p)
    p.add_argument("--no-preview", dest="preview", action="store_false",
                   help="CPU: do not show a quick low-resolution preview before each slow render or while "
                        "dragging (used for windows above 0.6 megapixels)")
    p.set_defaults(func=cmd_view)


def sources_from_args(args):
    from .loader import Source

    if args.depth and len(args.images) > 1:
        raise InputError("--depth FILE goes with one IMAGE; for several, put IMAGE.depth.png next to each photo")
    if args.images:
        return [Source(name=Path(p).name, path=Path(p), depth=args.depth) for p in args.images]
    sample = args.sample or "motorcycle"
    return [Source(name=sample, sample=sample, depth=args.depth)]


def cmd_view(args) -> int:
    from ..extras import require
    from ..settings import RenderSettings

    require("viewer", "refocus view")
    from .app import Viewer

    sources = sources_from_args(args)
    viewer = Viewer(sources, device=args.device, renderer_options=RenderSettings.from_args(args).renderer_options(),
                    max_blur=args.max_blur, dof=args.dof, depth_kind=args.depth_kind, model=getattr(args, "model", None),
                    model_path=getattr(args, "model_path", None), preview=getattr(args, "preview", True),
                    embedded_depth=not getattr(args, "no_embedded_depth", False))
    try:
        viewer.run()
    finally:
        viewer.close()
    return 0
