"""Pre- and post-processing around a depth network (NumPy/OpenCV, no TensorFlow).

Pre: resize the float32 sRGB RGB image (H, W, 3) in [0, 1] to the network's
input size, reorder colours, scale to the manifest's ``input_range``, apply
mean/std, lay out as NHWC or NCHW with batch 1.
Post: squeeze the network output to (h, w), turn it into disparity (invert if
the output is depth), bring it to full resolution with a guided filter that
follows the image's edges, and min-max normalise to [0, 1] (1 = nearest).
"""

from __future__ import annotations

import cv2
import numpy as np

from .registry import ModelSpec

GUIDE_MAX_SIDE = 1536
"""Long side (pixels) at which the guided-filter coefficients are computed."""


def preprocess(image_srgb: np.ndarray, spec: ModelSpec, size: tuple[int, int]) -> np.ndarray:
    """Network input (1, h, w, 3) or (1, 3, h, w) float32 for ``size`` = (h, w)."""
    h, w = size
    img = np.asarray(image_srgb, dtype=np.float32)
    shrink = img.shape[0] > h or img.shape[1] > w
    x = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    x = np.clip(x, 0.0, 1.0)
    if spec.colour_order == "BGR":
        x = x[:, :, ::-1]
    lo, hi = spec.input_range
    x = x * (hi - lo) + lo
    if spec.mean is not None:
        x = x - np.asarray(spec.mean, np.float32)
    if spec.std is not None:
        x = x / np.asarray(spec.std, np.float32)
    if spec.layout == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None], dtype=np.float32)


def squeeze_output(out: np.ndarray) -> np.ndarray:
    """Network output (1, h, w), (1, h, w, 1), (1, 1, h, w) or (h, w) -> float32 (h, w)."""
    a = np.asarray(out, dtype=np.float32)
    a = np.squeeze(a)
    if a.ndim == 3:  # several channels: take the first (channel axis is the small one)
        a = a[0] if a.shape[0] < a.shape[-1] else a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"depth network output has shape {np.shape(out)}; expected one 2-D map")
    return a


def normalise(d: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1]; a constant map becomes all zeros. Non-finite values -> 0."""
    d = np.nan_to_num(d.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(d.min()), float(d.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.zeros_like(d)
    return ((d - lo) / (hi - lo)).astype(np.float32)


def network_to_disparity(raw: np.ndarray, output_kind: str) -> np.ndarray:
    """Raw network map -> disparity in [0, 1] (1 = nearest), at the network's resolution
    (a depth file's values: :func:`deocused.io.depthmap.to_disparity`)."""
    d = squeeze_output(raw)
    if output_kind == "depth":
        d = np.where(d > 0, 1.0 / np.maximum(d, 1e-12), 0.0).astype(np.float32)
    return normalise(d)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_upsample(disparity: np.ndarray, guide_srgb: np.ndarray, radius: int | None = None,
                    eps: float = 1e-3) -> np.ndarray:
    """Edge-aware upsampling of a low-resolution map to the guide's size (H, W).

    Fast guided filter (He & Sun 2015) with the image luminance as guide: the
    bilinearly upsampled map is locally fit as ``a * I + b``; the coefficients
    are computed at a working resolution (long side <= ``GUIDE_MAX_SIDE``),
    smoothed, upsampled, and applied to the full-resolution guide, so depth
    steps snap to the image's edges. ``radius`` is in working-resolution
    pixels (default: about two low-resolution pixels); ``eps`` is the
    regularisation in units of guide intensity squared.
    """
    H, W = guide_srgb.shape[:2]
    lh, lw = disparity.shape
    g = guide_srgb.astype(np.float32)
    gray_full = g @ np.array([0.299, 0.587, 0.114], np.float32) if g.ndim == 3 else g
    s = max(1.0, max(H, W) / GUIDE_MAX_SIDE)
    wh, ww = max(1, round(H / s)), max(1, round(W / s))
    gray = cv2.resize(gray_full, (ww, wh), interpolation=cv2.INTER_AREA) if s > 1 else gray_full
    p = cv2.resize(disparity.astype(np.float32), (ww, wh), interpolation=cv2.INTER_LINEAR)
    if radius is None:
        radius = max(2, int(np.ceil(2.0 * max(wh / lh, ww / lw))))
    m_i, m_p = _box(gray, radius), _box(p, radius)
    cov = _box(gray * p, radius) - m_i * m_p
    var = _box(gray * gray, radius) - m_i * m_i
    a = cov / (var + eps)
    b = m_p - a * m_i
    a, b = _box(a, radius), _box(b, radius)
    if s > 1:
        a = cv2.resize(a, (W, H), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (W, H), interpolation=cv2.INTER_LINEAR)
    return (a * gray_full + b).astype(np.float32)


def postprocess(raw: np.ndarray, spec: ModelSpec, image_srgb: np.ndarray, guided: bool = True) -> np.ndarray:
    """Network output -> float32 disparity (H, W) of the image, in [0, 1], 1 = nearest."""
    d = network_to_disparity(raw, spec.output)
    H, W = image_srgb.shape[:2]
    if guided:
        full = guided_upsample(d, image_srgb)
    else:
        full = cv2.resize(d, (W, H), interpolation=cv2.INTER_LINEAR)
    return normalise(full)
