"""The original project's method, kept as a baseline for benchmarks.

A stack of ``BASELINE_LEVELS`` Gaussian-blurred copies of the linear image with
sigma from 0 to K/2 (a disc of radius r has a per-axis standard deviation of
r/2), and per pixel a linear blend of the two copies around its own sigma
``K * |d - d_f| / 2``. No occlusion handling, Gaussian (not disc) bokeh. Works
on NumPy (OpenCV) and CuPy (cupyx) arrays.
"""

from __future__ import annotations

import numpy as np

from ..xp import array_module as _xp

BASELINE_LEVELS = 8


def baseline_sigmas(max_blur: float, n: int = BASELINE_LEVELS) -> np.ndarray:
    """Gaussian sigmas of the baseline stack: ``n`` values evenly from 0 to K/2."""
    return np.linspace(0.0, max_blur / 2.0, n)


def baseline_stack(image_linear, max_blur: float, n: int = BASELINE_LEVELS) -> list:
    """The baseline's stack: ``n`` Gaussian-blurred copies of ``image_linear`` (H, W, 3),
    sigma 0..K/2. NumPy input: ``cv2.GaussianBlur`` (default border, reflect-101);
    CuPy input: ``cupyx.scipy.ndimage.gaussian_filter`` (mode "mirror", the same border)."""
    xp = _xp(image_linear)
    out = []
    for s in baseline_sigmas(max_blur, n):
        if s <= 0:
            out.append(image_linear.copy())
        elif xp is np:
            import cv2

            out.append(cv2.GaussianBlur(image_linear, (0, 0), float(s)))
        else:
            from cupyx.scipy.ndimage import gaussian_filter

            out.append(gaussian_filter(image_linear, sigma=(float(s), float(s), 0.0), mode="mirror"))
    return out


def baseline_select(stack: list, disparity, focus_disparity: float, max_blur: float):
    """Per pixel, blend the two copies nearest its blur: sigma = r/2 for radius
    r = K*|d - d_f|, linearly between the neighbouring copies' sigmas."""
    from ..render.optics import coc_radius

    xp = _xp(disparity)
    n = len(stack)
    r = coc_radius(disparity, focus_disparity, max_blur).astype(xp.float32)
    t = xp.clip(r * np.float32((n - 1) / max_blur), 0.0, n - 1)
    out = xp.zeros(stack[0].shape, xp.float32)
    for i, level in enumerate(stack):
        w = xp.maximum(1.0 - xp.abs(t - np.float32(i)), 0.0)
        if xp is np and not w.any():  # (no host sync per level on the GPU)
            continue
        out += w[:, :, None] * level
    return out


def baseline_render(image_linear, disparity, focus_disparity: float, max_blur: float):
    """The whole baseline: stack + selection."""
    return baseline_select(baseline_stack(image_linear, max_blur), disparity, focus_disparity, max_blur)
