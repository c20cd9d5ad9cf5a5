"""Cat-eye bokeh (mechanical vignetting): the closed-form lens and its few-tap approximation.

A pixel at photo position x (pixel centres, in the whole photo) lies at ``p = (x - centre) /
half_diagonal`` (|p| = 1 in the corners; optical centre = photo centre). A blur disc of radius
``rho`` there is clipped by a second circle of the same radius centred ``c = strength * rho * p``
(outward): the aperture is ``disc(0, rho) & disc(c, rho)``, a symmetric lens whose centroid is
``c / 2`` and which is thinner across p than along the chord (perpendicular to p).

The renderer's pyramid holds isotropic discs only, so each sample of a layer becomes
``CAT_EYE_TAPS`` samples of the same pyramid at the radius ``2 sqrt(var_u)`` (a disc's per-axis
variance is radius^2 / 4), moved by the centroid and spread along the chord with weights
(1/4, 1/2, 1/4) at +-``sqrt(2 (var_v - var_u))``: the centroid and both second moments equal the
lens's (var_u across p, var_v along the chord). Everything scales with ``rho`` and depends on the
pixel only through ``a = strength |p| / 2`` (half the circles' distance, in radii).
"""

from __future__ import annotations

import math

import numpy as np

from ..constants import MAX_CAT_EYE
from ..errors import InputError


def check_cat_eye(strength, name="cat_eye") -> None:
    """Raise :class:`InputError` unless ``strength`` is a finite number in [0, MAX_CAT_EYE]."""
    if isinstance(strength, (str, bytes, bool)) or not isinstance(strength, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be a strength (0 = off, 1 = full), got {strength!r}")
    if not (math.isfinite(float(strength)) and 0.0 <= float(strength) <= MAX_CAT_EYE):
        raise InputError(f"{name} must be a strength in [0, {MAX_CAT_EYE:g}] (0 = off), got {strength}")


def lens_moments(a):
    """(area, var_u, var_v) of the lens ``disc(0, 1) & disc((2a, 0), 1)`` (unit radius, a in [0, 1]):
    var_u across the chord (along the circles' axis), var_v along it, both about the lens centre.
    NumPy arrays or floats (float64)."""
    a = np.clip(np.asarray(a, np.float64), 0.0, 1.0)
    s = np.sqrt(1.0 - a * a)
    ac = np.arccos(a)
    seg = ac - a * s  # area of one segment (half the lens)
    i0 = seg / 2.0  # int_a^1 sqrt(1 - u^2)
    i1 = s ** 3 / 3.0  # int_a^1 u sqrt(1 - u^2)
    i3 = (3.0 * ac - a * (5.0 - 2.0 * a * a) * s) / 8.0  # int_a^1 (1 - u^2)^(3/2)
    i2 = i0 - i3  # int_a^1 u^2 sqrt(1 - u^2)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_u = np.where(seg > 0, 2.0 / np.maximum(seg, 1e-300) * (i2 - 2.0 * a * i1 + a * a * i0), 0.0)
        var_v = np.where(seg > 0, (2.0 / 3.0) * i3 / np.maximum(seg, 1e-300), 0.0)
    return 2.0 * seg, var_u, var_v


def tap_factors(a):
    """Per unit of blur radius: (tap disc radius 2 sqrt(var_u), tap spacing sqrt(2 (var_v - var_u)))."""
    _, vu, vv = lens_moments(a)
    return 2.0 * np.sqrt(vu), np.sqrt(2.0 * np.maximum(vv - vu, 0.0))


def photo_position(x, y, place) -> tuple[np.ndarray, np.ndarray]:
    """p (x right, y down) of pixel centres (x, y) of an array placed at ``place`` = (x0, y0, width,
    height): its origin in the whole photo and the photo's size."""
    x0, y0, w, h = place
    hd = 0.5 * math.hypot(w, h)
    return (np.asarray(x) + 0.5 + x0 - 0.5 * w) / hd, (np.asarray(y) + 0.5 + y0 - 0.5 * h) / hd


def reach_factor(strength: float) -> float:
    """Largest distance, in blur radii, from a pixel to the edge of a tap disc it reads
    (centroid + spacing + tap radius), over every position in the frame."""
    if strength <= 0:
        return 1.0
    a = np.linspace(0.0, 0.5 * strength, 201)
    k, t = tap_factors(a)
    return float(max(1.0, (a + t + k).max()))


def offset_factor(strength: float) -> float:
    """Largest tap offset (centroid + spacing) per unit of blur radius, over every position."""
    if strength <= 0:
        return 0.0
    a = np.linspace(0.0, 0.5 * strength, 201)
    k, t = tap_factors(a)
    return float((a + t).max())


def scale1_reach(strength: float, radius: float) -> float:
    """Largest tap offset (px) of a tap whose disc radius is below ``radius`` (the scale-1 levels'
    limit), over every position: where the CPU's lazily built level tiles must extend."""
    if strength <= 0:
        return 0.0
    a = np.linspace(0.0, 0.5 * strength, 201)
    k, t = tap_factors(a)
    return float((radius * (a + t) / k).max())


def min_tap_factor(strength: float) -> float:
    """Smallest tap disc radius per unit of blur radius over the frame (at the corners)."""
    return float(tap_factors(0.5 * strength)[0]) if strength > 0 else 1.0


def pixel_taps(xs, ys, place, strength: float):
    """Per pixel (NumPy float32, the kernels' arithmetic): tap radius and spacing per unit of blur
    radius (kf, tf), the centroid's offset per unit of blur radius (ox, oy: x right, y down) and the
    chord's unit direction (evx, evy). A sample of radius R reads the isotropic pyramid at radius
    kf R at ``(x, y) - R (ox, oy) - d tf R (evx, evy)``, d = -1, 0, 1, weights 1/4, 1/2, 1/4."""
    f = np.float32
    x0, y0, w, h = place
    hinv = f(1.0 / (0.5 * math.hypot(w, h)))
    px = (np.asarray(xs, f) + f(x0 + 0.5 - 0.5 * w)) * hinv
    py = (np.asarray(ys, f) + f(y0 + 0.5 - 0.5 * h)) * hinv
    pl = np.sqrt(px * px + py * py)
    a = np.minimum(f(0.5) * f(strength) * pl, f(1.0))
    s = np.sqrt(f(1.0) - a * a)
    ac = np.arccos(a)
    seg = ac - a * s
    i0 = f(0.5) * seg
    i1 = s * s * s / f(3.0)
    i3 = (f(3.0) * ac - a * (f(5.0) - f(2.0) * a * a) * s) / f(8.0)
    i2 = i0 - i3
    vu = f(2.0) / seg * (i2 - f(2.0) * a * i1 + a * a * i0)
    vv = f(2.0) / f(3.0) * i3 / seg
    kf = f(2.0) * np.sqrt(np.maximum(vu, f(0.0)))
    tf = np.sqrt(f(2.0) * np.maximum(vv - vu, f(0.0)))
    half = f(0.5) * f(strength)
    inv = np.where(pl > 0, f(1.0) / np.where(pl > 0, pl, f(1.0)), f(0.0)).astype(f)
    return kf, tf, half * px, half * py, -py * inv, px * inv
