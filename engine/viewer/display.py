"""The fit view at the screen's resolution.

Image viewers render what the screen shows: the viewer prepares its renderer on
the photo resampled to the framebuffer pixels that show it (the letterboxed
fit), so a click costs what the window's pixels cost, not what the photo's do.

* the photo (linear light) is area-averaged (OpenCV ``INTER_AREA``);
* the disparity is not averaged across depth edges (an average of a near and a
  far surface is a depth nothing in the photo has, which blurs as neither):
  each display pixel takes the nearest or the farthest disparity of its block of
  photo pixels, whichever lies closer to the block's mean (the surface covering
  most of it), so depth edges stay where the photo's are;
* ``max_blur`` (K, pixels) scales by the same factor, :func:`display_scale`.

A display-resolution render equals the full-resolution render area-resampled to
the window within 40 dB PSNR (``tests/apps/test_viewer_display.py``).
"""

from __future__ import annotations

import numpy as np

from ..window import layout


def display_size(image_size: tuple[int, int], fb_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) in framebuffer pixels at which the fitted image is shown, never more than the
    image's own size (a photo smaller than the window is rendered at 1:1 and magnified by the GPU)."""
    iw, ih = image_size
    r = layout.letterbox(fb_size, image_size)
    if r.w <= 0 or r.h <= 0 or r.w >= iw or r.h >= ih:
        return int(iw), int(ih)
    return int(r.w), int(r.h)


def display_scale(image_size: tuple[int, int], size: tuple[int, int]) -> float:
    """Display pixels per image pixel (the factor ``max_blur`` is multiplied by)."""
    return size[0] / image_size[0]


def _block_starts(n_in: int, n_out: int) -> np.ndarray:
    """First input index of each of ``n_out`` blocks tiling ``0 .. n_in - 1`` (every block non-empty)."""
    return np.floor(np.arange(n_out) * (n_in / n_out)).astype(np.intp)


def _block_extreme(a: np.ndarray, starts: np.ndarray, axis: int, ufunc) -> np.ndarray:
    """``ufunc`` (np.maximum or np.minimum) over each block of ``a`` along ``axis`` (blocks begin at
    ``starts``): the k-th element of every block gathered at once (what ``ufunc.reduceat`` gives,
    without its per-block loop; blocks here are a few elements long)."""
    ends = np.append(starts[1:], a.shape[axis])
    out = np.take(a, starts, axis=axis)
    for k in range(1, int((ends - starts).max())):
        ufunc(out, np.take(a, np.minimum(starts + k, ends - 1), axis=axis), out=out)
    return out


def resample_disparity(disparity: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``disparity`` (H, W) float32 shrunk to ``size`` (w, h) <= (W, H) keeping depth edges: per display
    pixel, the block's min or max, whichever is closer to the block's area mean."""
    import cv2

    w, h = size
    d = np.ascontiguousarray(disparity, np.float32)
    if (w, h) == (d.shape[1], d.shape[0]):
        return d.copy()
    mean = cv2.resize(d, (w, h), interpolation=cv2.INTER_AREA)
    rows, cols = _block_starts(d.shape[0], h), _block_starts(d.shape[1], w)
    hi = _block_extreme(_block_extreme(d, rows, 0, np.maximum), cols, 1, np.maximum)
    lo = _block_extreme(_block_extreme(d, rows, 0, np.minimum), cols, 1, np.minimum)
    return np.where(hi - mean < mean - lo, hi, lo).astype(np.float32)


def resample_linear(image_linear: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A linear-light image (H, W, 3) float32 area-averaged to ``size`` (w, h)."""
    import cv2

    if (size[0], size[1]) == (image_linear.shape[1], image_linear.shape[0]):
        return image_linear
    return cv2.resize(np.ascontiguousarray(image_linear), size, interpolation=cv2.INTER_AREA)


def display_inputs(image_srgb: np.ndarray, disparity: np.ndarray, size: tuple[int, int]):
    """(linear image, disparity) of a photo at the display ``size`` (w, h), ready for ``Renderer.prepare``."""
    from ..io.colour import srgb_to_linear

    small = resample_linear(srgb_to_linear(image_srgb), size)
    return small, resample_disparity(disparity, size)
