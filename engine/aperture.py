"""Aperture shapes: the kernels a point light is spread into (its "bokeh").

A kernel of radius ``rho`` (pixels) is the anti-aliased indicator of the
aperture shape scaled to that radius: a disc of radius ``rho`` by default, or a
regular polygon with ``blades`` sides whose corners lie on the circle of radius
``rho`` (circumradius), the first corner at ``rotation`` degrees
counter-clockwise from the +x axis as seen on screen (y up). Kernels are
normalised to sum 1 and have odd size ``2*ceil(rho)+1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .errors import InputError

#: Most aperture blades: more is indistinguishable from a circle, and kernel
#: construction time grows with the count.
MAX_BLADES = 32
#: Largest aperture rotation magnitude accepted, in degrees.
MAX_ROTATION = 360.0


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


@dataclass(frozen=True)
class Aperture:
    """Aperture shape: ``blades=0`` is a circle; ``blades`` in 3..MAX_BLADES a regular
    polygon; ``rotation`` in degrees, finite, |rotation| <= MAX_ROTATION. Anything
    else raises :class:`~deocused.errors.InputError`."""

    blades: int = 0
    rotation: float = 0.0  # degrees, counter-clockwise on screen

    def __post_init__(self):
        check_aperture(self.blades, self.rotation)

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
        yy, xx = np.mgrid[-r: r + 1, -r: r + 1].astype(np.float64)
        w = np.clip(0.5 - self.signed_distance(xx, yy, rho), 0.0, 1.0)
        return (w / w.sum()).astype(np.float32)

    def variance(self, rho: float) -> float:
        """Per-axis variance (pixels^2) of the discrete kernel of radius ``rho``."""
        k = self.kernel(rho).astype(np.float64)
        r = k.shape[0] // 2
        yy, xx = np.mgrid[-r: r + 1, -r: r + 1]
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
