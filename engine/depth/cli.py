"""Command-line pieces for depth: ``refocus depth`` and ``refocus models``.

Handlers take the argparse namespace and return an exit code; user-caused
problems raise :class:`deocused.errors.InputError` (one line) for the main CLI.
No TensorFlow in this process: inference runs in the depth worker.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import InputError


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--model NAME`` and ``--model-path FILE`` (shared by depth/render/view/live)."""
    from .registry import DEFAULT_MODEL

    g = parser.add_argument_group("depth model")
    g.add_argument("--model", metavar="NAME", default=None,
                   help=f"depth model from the registry (default {DEFAULT_MODEL}; see 'refocus models list')")
    g.add_argument("--model-path", metavar="FILE", default=None,
                   help="depth model file (.pb, .tflite, .keras or SavedModel folder); with --model NAME "
                        "that manifest describes the file, else a file named like a registry model uses its "
                        "manifest and any other is fed NHWC RGB in [0, 1]")


def _default_output(image: Path) -> Path:
    return image.with_name(image.stem + ".depth.png")


def cmd_depth(args: argparse.Namespace) -> int:
    """``refocus depth IMAGE [-o OUT]``: write a 16-bit disparity PNG (1 = nearest): the
    depth embedded in the photo when it has one (unless --no-embedded-depth), else the network's."""
    from ..io.depthmap import save_disparity_png
    from ..io.images import check_output_path, load_image
    from .worker import DepthWorker

    src = Path(args.image)
    out = Path(args.output) if args.output else _default_output(src)
    if out.suffix.lower() != ".png":
        raise InputError(f"{out}: the depth output must be a .png file (16-bit disparity)")
    if os.path.exists(out) and os.path.exists(src) and os.path.samefile(out, src):
        raise InputError(f"{out}: refusing to overwrite the input image; choose another -o")
    check_output_path(out, protect=[src], overwrite=args.overwrite, flag="-o")
    image = load_image(src)
    if not args.no_embedded_depth and _export_embedded(src, out, image):
        return 0
    with DepthWorker(args.model, args.model_path) as w:
        disp = w.infer(image)
        desc = w.description
    save_disparity_png(out, disp)
    print(f"{out}: {disp.shape[1]}x{disp.shape[0]} disparity from {desc}", file=sys.stderr)
    return 0


def _export_embedded(src: Path, out: Path, image) -> bool:
    """Write the depth embedded in ``src`` (upsampled to the photo it belongs to) to ``out``; False if none."""
    from ..io.depthmap import save_disparity_png
    from ..io.embedded_depth import find_embedded_depth, fit_to_photo
    from ..io.images import decode_image, read_bytes

    emb = find_embedded_depth(read_bytes(src, "image"), str(src))
    if emb is None:
        return False
    if emb.image is not None:
        image = decode_image(emb.image, f"{src} (original image)")
    disp = fit_to_photo(emb, image, f"{src} (embedded depth)")
    save_disparity_png(out, disp)
    print(f"{out}: {disp.shape[1]}x{disp.shape[0]} disparity embedded in the photo ({emb.source})", file=sys.stderr)
    return True


def cmd_models(args: argparse.Namespace) -> int:
    """``refocus models list | fetch NAME | path NAME``."""
    from .download import cached_path, fetch, verify
    from .registry import DEFAULT_MODEL, get_model, list_models

    action = getattr(args, "models_action", None) or "list"
    if action == "list":
        specs = list_models()
        if not specs:
            raise InputError("no model manifests found (models/ folder missing?)")
        for s in specs:
            p = cached_path(s)
            state = "cached" if p.exists() else "not downloaded"
            size = "x".join(map(str, s.input_size[::-1])) if s.input_size else "any"
            star = "*" if s.name == DEFAULT_MODEL else " "
            print(f"{star} {s.name:24s} {s.format:10s} {s.layout} {size:8s} {s.device:4s} "
                  f"{s.license:4s} {state}: {p}")
        return 0
    spec = get_model(args.name)
    if action == "path":
        print(cached_path(spec))
        return 0
    if action == "fetch":
        p = fetch(spec, force=args.force)
        digest = verify(spec, p)
        print(f"{p} (sha256 {digest})")
        return 0
    raise InputError(f"unknown models action '{action}'")


def add_cli(subparsers) -> None:
    """Register the ``depth`` and ``models`` subcommands (handler in ``func``)."""
    p = subparsers.add_parser("depth", help="estimate depth from one photo (16-bit disparity PNG)",
                              description="Estimate disparity (1 = nearest) with a depth network and write "
                                          "it as a 16-bit PNG of the image's size.")
    p.add_argument("image", help="input photo")
    p.add_argument("-o", "--output", default=None,
                   help="output PNG (default: IMAGE-stem.depth.png next to the image, the sidecar 'render' uses)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-embedded-depth", action="store_true",
                   help="run the network even when the photo carries its own depth (HEIC depth image, GDepth)")
    add_model_arguments(p)
    p.set_defaults(func=cmd_depth)

    m = subparsers.add_parser("models", help="list, download or locate depth models")
    sub = m.add_subparsers(dest="models_action", metavar="{list,fetch,path}")
    sub.add_parser("list", help="list the known models and whether they are downloaded")
    f = sub.add_parser("fetch", help="download a model into the cache (verifies sha256)")
    f.add_argument("name")
    f.add_argument("--force", action="store_true", help="download again even if cached")
    q = sub.add_parser("path", help="print where a model's file is (or goes) in the cache")
    q.add_argument("name")
    m.set_defaults(func=cmd_models)
