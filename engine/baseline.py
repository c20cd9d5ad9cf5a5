"""The original project's method, kept as a baseline for benchmarks.

A stack of ``n_levels`` Gaussian-blurred copies of the linear image with sigma
from 0 to K/2 (a disc of radius r has a per-axis standard deviation of r/2),
and per pixel a linear interpolation between the two levels around its own
sigma ``K * |d - d_f| / 2``. No occlusion handling, Gaussian (not disc) bokeh.
"""

from __future__ import annotations

import cv2
import numpy as np


def gaussian_sigmas(max_blur: float, n_levels: int = 8) -> np.ndarray:
    """The stack's sigmas in pixels: evenly spaced from 0 to K/2."""
    return np.linspace(0.0, max_blur / 2.0, n_levels)


def gaussian_stack_levels(linear: np.ndarray, max_blur: float, n_levels: int = 8) -> list[np.ndarray]:
    """The blurred copies (float32 (H, W, 3) linear), level 0 unblurred."""
    return [linear if s == 0 else cv2.GaussianBlur(linear, (0, 0), float(s)) for s in gaussian_sigmas(max_blur, n_levels)]


def gaussian_stack_select(levels: list[np.ndarray], disparity: np.ndarray, focus_disparity: float,
                          max_blur: float) -> np.ndarray:
    """Per-pixel interpolation between the two levels around sigma = K*|d - d_f|/2."""
    n = len(levels)
    if max_blur <= 0 or n == 1:
        return levels[0]
    pos = np.clip(np.abs(disparity - focus_disparity) * (n - 1), 0.0, n - 1 - 1e-6)
    i = pos.astype(np.int32)
    t = (pos - i)[:, :, None].astype(np.float32)
    out = np.empty_like(levels[0])
    for k in range(n - 1):
        sel = i == k
        if sel.any():
            out[sel] = levels[k][sel] * (1 - t[sel]) + levels[k + 1][sel] * t[sel]
    return out


def gaussian_stack(linear: np.ndarray, disparity: np.ndarray, focus_disparity: float, max_blur: float,
                   n_levels: int = 8) -> np.ndarray:
    """Refocus with the Gaussian stack: float32 (H, W, 3) linear RGB."""
    return gaussian_stack_select(gaussian_stack_levels(linear, max_blur, n_levels), disparity, focus_disparity, max_blur)
