"""Render settings: what a user chooses for one refocused image, passed end to end.

:class:`RenderSettings` is the one carrier of focus, blur strength, focal range,
aperture and highlight boost from the command line (or a Python caller) through
the apps to the renderer. :func:`add_render_arguments` defines the command-line
flags that ``render``, ``view``, ``live`` and ``batch`` share.

Conventions: ``focus_point`` is a pixel (x = column, y = row, from the top-left; the
``--focus X,Y`` flag; ``focus`` is its old name, still accepted);
``focus_disparity`` a normalised disparity in [0, 1] (1 = nearest); ``max_blur``
(K) the blur radius in pixels for a disparity difference of 1; ``dof`` a
disparity range kept sharp around the focus.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from .constants import MAX_CAT_EYE
from .errors import InputError
from .render.aperture import MAX_ANAMORPHIC, MAX_BLADES, MAX_ROTATION, Aperture, ApertureImage, check_anamorphic, check_aperture
from .render.cateye import check_cat_eye
from .render.optics import focus_disparity_at, resolve_max_blur
from .render.pyramid import MAX_RADIUS
from .render.renderer import MAX_HIGHLIGHTS

#: Default of RenderSettings' ``focus`` keyword (the old name of ``focus_point``): not given.
_OLD_NAME_UNSET = object()

#: The command-line flag of each setting, for error messages.
FLAGS = {"focus_point": "--focus", "focus_disparity": "--focus-disparity", "max_blur": "--max-blur", "dof": "--dof",
         "blades": "--blades", "rotation": "--rotation", "highlights": "--highlights",
         "anamorphic": "--anamorphic", "aperture_image": "--aperture-image", "cat_eye": "--cat-eye"}


def _number(name: str, value, lo: float, hi: float, what: str = "a number") -> None:
    if isinstance(value, (str, bytes, bool)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be {what}, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise InputError(f"{name} must be {what} in [{lo:g}, {hi:g}], got {value}")


def check_settings(values: dict, names: dict | None = None) -> None:
    """Raise :class:`InputError` for the first out-of-range value among ``values``
    (RenderSettings field -> value); ``names`` maps fields to what the message
    calls them (default: the field names)."""
    names = names or {}
    n = {k: names.get(k, k) for k in FLAGS}
    focus = values.get("focus_point")
    if focus is not None:
        try:
            if isinstance(focus, (str, bytes)):
                raise TypeError
            x, y = (float(c) for c in focus)
        except (TypeError, ValueError):
            raise InputError(f"{n['focus_point']} must be a pixel point X,Y, got {focus!r}") from None
        if not (math.isfinite(x) and math.isfinite(y) and x >= 0 and y >= 0):
            raise InputError(f"{n['focus_point']} must be finite pixel coordinates >= 0, got {x:g},{y:g}")
    if values.get("focus_disparity") is not None:
        _number(n["focus_disparity"], values["focus_disparity"], 0.0, 1.0, "a normalised disparity")
    if values.get("max_blur") is not None:
        _number(n["max_blur"], values["max_blur"], 0.0, MAX_RADIUS, "a blur radius in pixels")
    _number(n["dof"], values.get("dof", 0.0), 0.0, 1.0, "a disparity range")
    check_aperture(values.get("blades", 0), values.get("rotation", 0.0), (n["blades"], n["rotation"]))
    _number(n["highlights"], values.get("highlights", 0.0), 0.0, MAX_HIGHLIGHTS, "a gain")
    check_anamorphic(values.get("anamorphic", 1.0), n["anamorphic"])
    check_cat_eye(values.get("cat_eye", 0.0), n["cat_eye"])


def _aperture_image(value, name: str) -> ApertureImage | None:
    """``value`` (None, an :class:`ApertureImage`, an image file path or a 2-D array) as an ApertureImage."""
    if value is None or isinstance(value, ApertureImage):
        return value
    if isinstance(value, (str, Path)):
        return ApertureImage.load(value)
    if isinstance(value, np.ndarray):
        return ApertureImage.from_array(value, name)
    raise InputError(f"{name} must be an image file, a 2-D array or None, got {type(value).__name__}")


@dataclass(frozen=True)
class RenderSettings:
    """One image's render settings. ``None`` means "the default for this image":
    the centre (or a sample's own point) for ``focus_point``, :func:`deocused.render.optics.default_max_blur`
    for ``max_blur``. ``focus_disparity``, when set, wins over ``focus_point``
    (``focus=`` is accepted as its old name).

    Limits (checked on construction; :class:`InputError` otherwise): all numbers
    finite; ``focus_point`` >= 0 (and inside the image when resolved);
    ``focus_disparity`` and ``dof`` in [0, 1]; ``max_blur`` in [0, MAX_RADIUS]
    pixels; ``blades`` 0 or 3..MAX_BLADES; ``rotation`` in [-MAX_ROTATION,
    MAX_ROTATION] degrees; ``highlights`` in [0, MAX_HIGHLIGHTS]; ``anamorphic``
    (height / width of a bokeh disc) in [1/MAX_ANAMORPHIC, MAX_ANAMORPHIC];
    ``aperture_image`` a greyscale aperture (an image file path or 2-D array,
    turned into an :class:`~deocused.render.aperture.ApertureImage`; replaces the blades);
    ``cat_eye`` the cat-eye strength in [0, MAX_CAT_EYE] (0 = off, the default; 1: a disc in a
    corner of the frame is clipped by a circle of its radius through its centre, so bokeh turns
    into cat's eyes toward the corners, see :mod:`deocused.render.cateye`).

    >>> settings = RenderSettings(focus_point=(320, 200), blades=6)
    >>> settings.resolve_max_blur((480, 640))  # the default: 4 % of the longer side
    25.6
    >>> RenderSettings(max_blur=-1)
    Traceback (most recent call last):
    ...
    deocused.errors.InputError: max_blur must be a blur radius in pixels in [0, 256], got -1
    """

    focus_point: tuple[float, float] | None = None
    focus_disparity: float | None = None
    max_blur: float | None = None
    dof: float = 0.0
    blades: int = 0
    rotation: float = 0.0
    highlights: float = 0.0
    anamorphic: float = 1.0
    aperture_image: ApertureImage | None = None
    cat_eye: float = 0.0

    def __init__(self, focus_point=None, focus_disparity=None, max_blur=None, dof=0.0, blades=0, rotation=0.0,
                 highlights=0.0, anamorphic=1.0, aperture_image=None, cat_eye=0.0, *, focus=_OLD_NAME_UNSET):
        """The fields in order (the dataclass's own ``__init__``), and ``focus``: the old name of
        ``focus_point``, still accepted."""
        if focus is not _OLD_NAME_UNSET:
            if focus_point is not None:
                raise InputError("give focus_point or focus (its old name), not both")
            focus_point = focus
        values = dict(zip((f.name for f in fields(self)), (focus_point, focus_disparity, max_blur, dof, blades,
                                                           rotation, highlights, anamorphic, aperture_image,
                                                           cat_eye)))
        check_settings(values)
        values["aperture_image"] = _aperture_image(aperture_image, "aperture_image")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def focus(self) -> tuple[float, float] | None:
        """The old name of ``focus_point``."""
        return self.focus_point

    def aperture(self) -> Aperture:
        """The aperture shape."""
        return Aperture(self.blades, self.rotation, float(self.anamorphic), self.aperture_image)

    def renderer_options(self) -> dict:
        """Keyword options of :func:`deocused.render.backends.make_renderer` (fixed per renderer)."""
        return {"aperture": self.aperture(), "highlights": self.highlights, "cat_eye": float(self.cat_eye)}

    def resolve_max_blur(self, shape) -> float:
        """``max_blur`` in pixels for an image of ``shape`` (rows, cols)."""
        return resolve_max_blur(self.max_blur, shape)

    def resolve_focus_disparity(self, disparity: np.ndarray, default_focus=None) -> float:
        """The focus disparity: ``focus_disparity``, else the disparity at ``focus_point``,
        else at ``default_focus`` (e.g. a sample's point), else at the centre."""
        if self.focus_disparity is not None:
            d = float(self.focus_disparity)
            if not 0.0 <= d <= 1.0:
                raise InputError(f"--focus-disparity must be in [0, 1], got {d}")
            return d
        h, w = disparity.shape[:2]
        x, y = self.focus_point or default_focus or (w / 2, h / 2)
        return focus_disparity_at(disparity, x, y)

    def with_(self, **changes) -> RenderSettings:
        """A copy with some fields changed (``focus``: the old name of ``focus_point``)."""
        if "focus" in changes:
            changes["focus_point"] = changes.pop("focus")
        return replace(self, **changes)

    @classmethod
    def from_args(cls, args) -> RenderSettings:
        """Settings from parsed command-line arguments (absent flags keep defaults)."""
        from .render.optics import parse_point

        focus = getattr(args, "focus", None)
        values = {"focus_point": parse_point(focus) if isinstance(focus, str) else focus,
                  "focus_disparity": getattr(args, "focus_disparity", None),
                  "max_blur": getattr(args, "max_blur", None), "dof": getattr(args, "dof", 0.0),
                  "blades": getattr(args, "blades", 0), "rotation": getattr(args, "rotation", 0.0),
                  "highlights": getattr(args, "highlights", 0.0),
                  "anamorphic": getattr(args, "anamorphic", 1.0), "cat_eye": getattr(args, "cat_eye", 0.0)}
        check_settings(values, FLAGS)  # messages name the flags
        image = getattr(args, "aperture_image", None)
        return cls(**values, aperture_image=_aperture_image(image, FLAGS["aperture_image"]))


def _quality(text: str) -> int:
    try:
        q = int(text)
    except ValueError:
        q = 0
    if not 1 <= q <= 100:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to 100, got '{text}'")
    return q


def output_bits(requested: int | None, meta, out: Path) -> int:
    """Bits per channel of an output file: ``requested`` (--bit-depth), else 16 when
    the input had more than 8 (``meta.bits``) and the format holds 16, else 8."""
    sixteen = Path(out).suffix.lower() in (".png", ".tif", ".tiff")
    if requested == 16 and not sixteen:
        raise InputError(f"{out}: --bit-depth 16 needs a .png or .tif output")
    if requested is not None:
        return requested
    return 16 if sixteen and meta is not None and meta.bits > 8 else 8


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of image outputs (``render``, ``batch``): quality, bit depth, metadata."""
    p.add_argument("--quality", type=_quality, metavar="Q", default=None,
                   help="JPEG, WebP or HEIC quality 1..100 (default: JPEG 95, WebP lossless, HEIC 90)")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=None,
                   help="bits per channel of the output: 8 or 16 (PNG and TIFF only); default: 16 for a "
                   "16-bit PNG/TIFF or 10/12-bit HEIC input written as PNG/TIFF, else 8")
    p.add_argument("--strip-metadata", action="store_true",
                   help="leave the input's EXIF and XMP (camera, date, GPS...) out of the output; "
                   "its ICC colour profile is kept")


def add_render_arguments(p: argparse.ArgumentParser, photos: bool = True) -> None:
    """Flags shared by ``render``, ``view``, ``live`` and ``batch``: depth, blur, aperture, device, model
    (``photos``: also --no-embedded-depth, for commands that read photo files)."""
    from .depth import add_model_arguments

    p.add_argument("--depth", metavar="FILE", help="depth map (PNG 8/16-bit, .npy, .exr); default: IMAGE.depth.png "
                   "next to the image, else the depth embedded in the photo, else the depth model")
    p.add_argument("--depth-kind", choices=("disparity", "depth"), default="disparity",
                   help="the depth file holds disparity (near = large, default) or metric depth (inverted)")
    if photos:
        p.add_argument("--no-embedded-depth", action="store_true",
                       help="ignore the depth the phone recorded in the photo (HEIC depth image, GDepth or "
                       "Dynamic Depth XMP); order otherwise: --depth, sidecar, embedded depth, depth model")
    p.add_argument("--max-blur", "-K", type=float, metavar="K",
                   help="blur radius in pixels for a normalised-disparity difference of 1 "
                   f"(0..{MAX_RADIUS:g}; default: 4%% of the image's longer side, at most {MAX_RADIUS:g})")
    p.add_argument("--dof", type=float, default=0.0, metavar="D",
                   help="keep everything within +-D of the focus disparity sharp, 0 <= D <= 1 (default 0)")
    p.add_argument("--blades", type=int, default=0, metavar="N",
                   help=f"aperture blades: 0 = circular (default) or 3..{MAX_BLADES}")
    p.add_argument("--rotation", type=float, default=0.0, metavar="DEG",
                   help=f"aperture rotation in degrees, -{MAX_ROTATION:g}..{MAX_ROTATION:g} (default 0)")
    p.add_argument("--highlights", type=float, nargs="?", const=4.0, default=0.0, metavar="GAIN",
                   help=f"boost near-clipped highlights before blurring, 0 <= GAIN <= {MAX_HIGHLIGHTS:g} "
                   "(GAIN default 4 when given)")
    p.add_argument("--anamorphic", type=float, default=1.0, metavar="RATIO",
                   help="oval bokeh: height / width of the discs, "
                   f"{1 / MAX_ANAMORPHIC:g}..{MAX_ANAMORPHIC:g} (default 1: round; > 1 tall as an anamorphic lens)")
    p.add_argument("--cat-eye", type=float, default=0.0, metavar="STRENGTH",
                   help=f"cat-eye bokeh: discs clipped toward the frame's corners (mechanical vignetting), "
                   f"0..{MAX_CAT_EYE:g} (default 0: off; 1: a corner's disc cut by a circle through its centre)")
    p.add_argument("--aperture-image", metavar="FILE",
                   help="aperture shape from a greyscale image (white = open; as seen looking into the lens; "
                   "a background light's disc is it mirrored left-right); replaces --blades")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="where to render (default auto: GPU if CuPy sees one)")
    add_model_arguments(p)
