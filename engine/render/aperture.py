"""Aperture shapes: the kernels a point light is spread into (its "bokeh").

A kernel of radius ``rho`` (pixels) is the anti-aliased indicator of the
aperture shape scaled to that radius: a disc of radius ``rho`` by default, or a
regular polygon with ``blades`` sides whose corners lie on the circle of radius
``rho`` (circumradius), the first corner at ``rotation`` degrees
counter-clockwise from the +x axis as seen on screen (y up). Kernels are
normalised to sum 1 and have odd size ``2*ceil(rho)+1``.

Lens character: ``anamorphic`` (height / width of the disc, 1 = round) squeezes
the shape into an ellipse whose longer semi-axis is ``rho`` (> 1: tall ovals as
an anamorphic lens gives, < 1: wide ones). ``image`` (:class:`ApertureImage`)
replaces the disc or polygon by a greyscale aperture of the user's, its longer
side spanning the diameter ``2 rho``. The image is the aperture as seen looking
into the lens from the front; the disc of a light beyond the focus plane is that
image mirrored left-right (the lens turns it upside down and left-right, the
photo turns it back, leaving the front/back mirror). The renderer uses one
kernel for every depth, so lights nearer than the focus (upside down in a real
lens) get the same shape. Shaped kernels are anti-aliased by 4 x 4 supersampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import InputError

#: Most aperture blades: more is indistinguishable from a circle, and kernel
#: construction time grows with the count.
MAX_BLADES = 32
#: Largest aperture rotation magnitude accepted, in degrees.
MAX_ROTATION = 360.0
#: Anamorphic ratios (height / width of a disc) accepted: 1/MAX_ANAMORPHIC .. MAX_ANAMORPHIC.
MAX_ANAMORPHIC = 4.0
#: Sub-samples per pixel and axis of anamorphic and image kernels.
SUPERSAMPLE = 4
#: Aperture images are box-reduced to at most this many pixels on their longer side.
MAX_APERTURE_IMAGE = 1024


def check_aperture(blades, rotation, names=("blades", "rotation")) -> None:
    """Raise :class:`InputError` unless ``blades`` is 0 or an integer in 3..MAX_BLADES
    and ``rotation`` a finite number of degrees in [-MAX_ROTATION, MAX_ROTATION].
    ``names``: what to call the two values in the message (e.g. the CLI flags)."""
    if isinstance(blades, bool) or not isinstance(blades, (int, np.integer)):
        raise InputError(f"{names[0]} must be an integer, got {blades!r}")
    if blades != 0 and not 3 <= blades <= MAX_BLADES:
        raise InputError(f"{names[0]} must be 0 (circular) or 3..{MAX_BLADES}, got {blades}")
    try:
        r = float(rotation)
    except (TypeError, ValueError):
        raise InputError(f"{names[1]} must be a number of degrees, got {rotation!r}") from None
    if not (math.isfinite(r) and abs(r) <= MAX_ROTATION):
        raise InputError(f"{names[1]} must be a finite number of degrees in [-{MAX_ROTATION:g}, "
                         f"{MAX_ROTATION:g}], got {rotation}")


def check_anamorphic(ratio, name="anamorphic") -> None:
    """Raise :class:`InputError` unless ``ratio`` is a finite number in
    [1/MAX_ANAMORPHIC, MAX_ANAMORPHIC]."""
    lo = 1.0 / MAX_ANAMORPHIC
    if isinstance(ratio, (str, bytes, bool)) or not isinstance(ratio, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be a ratio (height / width), got {ratio!r}")
    if not (math.isfinite(float(ratio)) and lo <= float(ratio) <= MAX_ANAMORPHIC):
        raise InputError(f"{name} must be a ratio (height / width) in [{lo:g}, {MAX_ANAMORPHIC:g}], got {ratio}")


@dataclass(frozen=True)
class ApertureImage:
    """A greyscale aperture, normalised to a maximum of 1 and padded with zeros to a
    square of ``size`` pixels (centred), stored as float32 bytes (so the value is
    hashable and compares by content). Build it with :meth:`from_array` or :meth:`load`."""

    size: int
    data: bytes = field(repr=False)

    @classmethod
    def from_array(cls, a, name: str = "aperture image") -> ApertureImage:
        """From a 2-D array of non-negative finite values (any scale), at least 3 x 3."""
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or min(a.shape) < 3:
            raise InputError(f"{name} must be a 2-D greyscale image of at least 3 x 3 pixels, got shape {a.shape}")
        if not np.isfinite(a).all() or a.min() < 0 or a.max() <= 0:
            raise InputError(f"{name} must have finite values >= 0 and not be all black")
        h, w = a.shape
        n = max(h, w)
        sq = np.zeros((n, n), np.float32)
        sq[(n - h) // 2: (n - h) // 2 + h, (n - w) // 2: (n - w) // 2 + w] = a / a.max()
        return cls(n, sq.tobytes())

    @classmethod
    def load(cls, path) -> ApertureImage:
        """From an image file (any mode Pillow reads; colour is turned to grey; EXIF
        orientation applied; reduced to at most MAX_APERTURE_IMAGE pixels a side)."""
        from PIL import Image, ImageOps

        try:
            with Image.open(path) as im:
                im = ImageOps.exif_transpose(im)
                if max(im.size) > MAX_APERTURE_IMAGE:
                    im.thumbnail((MAX_APERTURE_IMAGE, MAX_APERTURE_IMAGE), Image.Resampling.BOX)
                a = np.asarray(im.convert("F") if im.mode.startswith(("I", "F")) else im.convert("L"), np.float64)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise InputError(f"{path}: cannot read the aperture image ({e})") from None
        return cls.from_array(a, f"{path}: the aperture image")

    def array(self) -> np.ndarray:
        """The square float32 image, maximum 1."""
        return np.frombuffer(self.data, np.float32).reshape(self.size, self.size)

    @lru_cache(maxsize=16)  # noqa: B019 (a small frozen value; the cache is bounded)
    def reduced(self, n: int) -> np.ndarray:
        """The image box-halved while it stays at least ``n`` pixels a side (against aliasing)."""
        a = self.array()
        while a.shape[0] // 2 >= n:
            m = a.shape[0] // 2 * 2
            a = a[:m, :m].reshape(m // 2, 2, m // 2, 2).mean(axis=(1, 3))
        return a

    def sample(self, u: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
        """Bilinear value at ``u`` (right), ``v`` (down) in [-1, 1] across the square
        (0 outside), from the image reduced for ``n`` samples across it."""
        a = self.reduced(n)
        m = a.shape[0]
        pad = np.pad(a, 1)
        x = np.clip((u + 1.0) * 0.5 * m - 0.5 + 1.0, 0.0, m + 1.0)
        y = np.clip((v + 1.0) * 0.5 * m - 0.5 + 1.0, 0.0, m + 1.0)
        x0 = np.minimum(np.floor(x).astype(np.int64), m)
        y0 = np.minimum(np.floor(y).astype(np.int64), m)
        fx, fy = x - x0, y - y0
        return ((pad[y0, x0] * (1 - fx) + pad[y0, x0 + 1] * fx) * (1 - fy)
                + (pad[y0 + 1, x0] * (1 - fx) + pad[y0 + 1, x0 + 1] * fx) * fy)


@lru_cache(maxsize=64)
def _grid(r: int) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) pixel offsets -r..r of a (2r+1)^2 kernel, float64, read-only (a level's radius search
    evaluates ~40 kernels of a few sizes: ``np.mgrid`` each time was half of its ~50 ms)."""
    yy, xx = np.mgrid[-r: r + 1, -r: r + 1].astype(np.float64)
    yy.flags.writeable = xx.flags.writeable = False
    return yy, xx


@dataclass(frozen=True)
class Aperture:
    """Aperture shape: ``blades=0`` is a circle; ``blades`` in 3..MAX_BLADES a regular
    polygon; ``rotation`` in degrees, finite, |rotation| <= MAX_ROTATION;
    ``anamorphic`` (height / width) in [1/MAX_ANAMORPHIC, MAX_ANAMORPHIC];
    ``image`` an :class:`ApertureImage` (replaces blades and rotation) or None.
    Anything else raises :class:`~deocused.errors.InputError`.

    >>> k = Aperture(blades=6).kernel(3.0)  # a hexagon of radius 3 px, weights summing to 1
    >>> k.shape, round(float(k.sum()), 6)
    ((7, 7), 1.0)
    """

    blades: int = 0
    rotation: float = 0.0  # degrees, counter-clockwise on screen
    anamorphic: float = 1.0  # height / width of the disc
    image: ApertureImage | None = None

    def __post_init__(self):
        check_aperture(self.blades, self.rotation)
        check_anamorphic(self.anamorphic)
        if self.image is not None and not isinstance(self.image, ApertureImage):
            raise InputError(f"image must be an ApertureImage, got {type(self.image).__name__}")

    def squeeze(self) -> tuple[float, float]:
        """Factors (x, y) that coordinates are multiplied by before the round shape is
        evaluated: the shape's semi-axes are ``rho / sx`` and ``rho / sy``."""
        a = float(self.anamorphic)
        return (a, 1.0) if a >= 1.0 else (1.0, 1.0 / a)

    def signed_distance(self, x: np.ndarray, y: np.ndarray, rho: float) -> np.ndarray:
        """Signed distance in pixels from the outline of the shape of radius ``rho``
        (negative inside). ``x`` right, ``y`` down (image rows)."""
        if self.blades == 0:
            return np.hypot(x, y) - rho
        n = self.blades
        apothem = rho * math.cos(math.pi / n)
        th0 = math.radians(self.rotation)
        d = np.full(np.broadcast(x, y).shape, -np.inf)
        for k in range(n):
            # Edge between corners k and k+1: outward normal at the mid angle.
            a = th0 + (2 * k + 1) * math.pi / n
            d = np.maximum(d, x * math.cos(a) - y * math.sin(a) - apothem)  # -y: screen y is up
        return d

    def kernel(self, rho: float) -> np.ndarray:
        """Normalised float32 kernel of radius ``rho`` pixels (``rho <= 0`` is the identity)."""
        if rho <= 0:
            return np.ones((1, 1), np.float32)
        r = int(math.ceil(rho))
        if self.image is None and self.anamorphic == 1.0:
            yy, xx = _grid(r)
            w = np.clip(0.5 - self.signed_distance(xx, yy, rho), 0.0, 1.0)
        else:
            w = self._supersampled(rho, r)
        return (w / w.sum()).astype(np.float32)

    def _supersampled(self, rho: float, r: int) -> np.ndarray:
        """Coverage of each pixel of a (2r+1)^2 kernel by the squeezed shape or image,
        averaged over SUPERSAMPLE^2 points per pixel."""
        ss, n = SUPERSAMPLE, 2 * r + 1
        t = (np.arange(n * ss) + 0.5) / ss - (r + 0.5)
        yy, xx = np.meshgrid(t, t, indexing="ij")
        sx, sy = self.squeeze()
        xx, yy = xx * sx, yy * sy
        if self.image is None:
            w = np.clip(0.5 - ss * self.signed_distance(xx, yy, rho), 0.0, 1.0)
        else:
            w = self.image.sample(-xx / rho, yy / rho, int(math.ceil(2 * rho * ss)))  # mirrored left-right
        w = w.reshape(n, ss, n, ss).mean(axis=(1, 3))
        if w.sum() <= 0:  # a shape thinner than the sampling: keep the energy at the centre
            w[r, r] = 1.0
        return w

    def variance(self, rho: float) -> float:
        """Per-axis variance (pixels^2) of the discrete kernel of radius ``rho``."""
        k = self.kernel(rho).astype(np.float64)
        yy, xx = _grid(k.shape[0] // 2)
        return float((k * (xx * xx + yy * yy)).sum() / 2.0)

    @lru_cache(maxsize=256)  # noqa: B019 (Aperture is a small frozen value; the cache is bounded)
    def radius_for_variance(self, var: float) -> float:
        """Radius whose discrete kernel has per-axis variance ``var`` (bisection)."""
        lo, hi = 0.0, 4.0 * math.sqrt(max(var, 1e-12)) + 2.0
        if var <= 0:
            return 0.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.variance(mid) < var else (lo, mid)
        return 0.5 * (lo + hi)

    @lru_cache(maxsize=8)  # noqa: B019 (as above)
    def variance_per_radius2(self) -> float:
        """Per-axis variance of the continuous shape of radius 1 (1/4 for a disc)."""
        return self.variance(200.0) / 200.0 ** 2
