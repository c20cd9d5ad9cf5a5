"""Thin-lens optics in disparity space.

For a thin lens focused at disparity ``d_f`` (disparity = inverse depth), the
circle of confusion of a point at disparity ``d`` has a radius proportional to
``|d - d_f|``: radius_px = K * |d - d_f|, where ``K`` (``--max-blur``) is the
radius in pixels for a normalised-disparity difference of 1.0 (K = f/(2N) *
f_px * (1/z_min - 1/z_max) for focal length f, f-number N, focal length in
pixels f_px). A focal range ``dof`` keeps |d - d_f| <= dof sharp.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .pyramid import MAX_RADIUS

#: Default ``max_blur``: this fraction of the image's longer side (pixels), at most MAX_RADIUS.
DEFAULT_MAX_BLUR_FRACTION = 0.04


def default_max_blur(shape) -> float:
    """Default K (pixels) for an image of ``shape`` (rows, cols): 4 % of the longer
    side, at most the pyramid's largest radius."""
    return min(round(DEFAULT_MAX_BLUR_FRACTION * max(shape[:2]), 1), MAX_RADIUS)


def resolve_max_blur(max_blur: float | None, shape) -> float:
    """``max_blur`` (pixels) as a float, or :func:`default_max_blur` for ``shape`` when None."""
    return float(max_blur) if max_blur is not None else default_max_blur(shape)


def coc_radius(disparity, focus_disparity: float, max_blur: float, dof: float = 0.0):
    """Blur radius in pixels: ``K * max(|d - d_f| - dof, 0)`` (NumPy or CuPy)."""
    diff = abs(disparity - focus_disparity) - dof
    return max_blur * (diff * (diff > 0))


def focus_disparity_at(disparity: np.ndarray, x: float, y: float, window: int = 9) -> float:
    """Focus disparity picked at pixel (x = column, y = row, from the top-left).

    Returns the median disparity of a ``window`` x ``window`` box around the
    pixel, robust to a click that lands on an edge or a hole.
    """
    h, w = disparity.shape
    if not (0 <= x < w and 0 <= y < h):
        raise InputError(f"focus point {x:g},{y:g} is outside the {w}x{h} image")
    r = window // 2
    xi, yi = int(x), int(y)
    box = disparity[max(0, yi - r): yi + r + 1, max(0, xi - r): xi + r + 1]
    return float(np.median(box))


def parse_point(text: str) -> tuple[float, float]:
    """Parse ``"X,Y"`` pixel coordinates."""
    try:
        xs, ys = text.split(",")
        return float(xs), float(ys)
    except ValueError:
        raise InputError(f"--focus expects X,Y pixel coordinates, got '{text}'") from None
