"""Is the viewer's fit view the same picture? Display-resolution render vs full-resolution render.

The viewer renders its fit view on the photo resampled to the window
(:mod:`deocused.viewer.display`). This compares, per focus and K, that render
with the full-resolution render of the photo area-resampled (INTER_AREA, linear
light) to the same size, as 8-bit sRGB PSNR. Used by
``tests/apps/test_viewer_display.py`` and ``bench/fit_view_psnr.py``.
"""

from __future__ import annotations

import numpy as np


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (peak 255)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def fit_view_psnr(image_srgb: np.ndarray, disparity: np.ndarray, fb_size: tuple[int, int], settings,
                  device: str = "cpu") -> dict:
    """PSNR (dB) of the fit view against the resampled full render for each (focus disparity, K) of
    ``settings`` (K in photo pixels). Returns ``{"size": display (w, h), "psnr": [...]}``."""
    from ..io.colour import linear_to_srgb8, srgb_to_linear
    from ..render.backends import make_renderer
    from ..viewer.display import display_inputs, display_scale, display_size, resample_linear

    h, w = disparity.shape
    size = display_size((w, h), fb_size)
    full, fit = make_renderer(device), make_renderer(device)
    full.prepare(srgb_to_linear(image_srgb), disparity)
    fit.prepare(*display_inputs(image_srgb, disparity, size))
    scale = display_scale((w, h), size)
    out = []
    for focus, k in settings:
        ref = linear_to_srgb8(resample_linear(full.to_host(full.render(focus, k)), size))
        out.append(psnr8(fit.render_srgb8(focus, k * scale), ref))
    return {"size": size, "psnr": out}
