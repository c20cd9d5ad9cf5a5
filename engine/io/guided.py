"""Upsampling a small depth map guided by the full-size photo.

Phone depth maps are small (768x576 for a 12 MP photo). Plain interpolation
leaves their edges where the small grid put them, a few photo pixels off the
object's outline, which shows as a blurred halo around a sharp subject.
:func:`guided_upsample` is the fast guided filter (He and Sun, 2015, "Fast
Guided Filter"): at the depth map's resolution it fits, in every window, the
local linear model ``depth = a . colour + b`` (colour guide: ``a`` is a
3-vector), then interpolates ``a`` and ``b`` to full size and evaluates the
model on the full-size photo, so depth edges follow the photo's edges. Box
sums are ``cv2.boxFilter`` (OpenCV's contrib ``ximgproc`` is not in
opencv-python).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..constants import GUIDED_EPS, GUIDED_RADIUS


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def _coefficients(guide: list[np.ndarray], p: np.ndarray, r: int, eps: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Window-averaged ``a`` (3 maps) and ``b`` of the colour guided filter at low
    resolution; ``guide``: the three channels. The 3x3 systems are solved in
    closed form (symmetric adjugate), elementwise over the image."""
    m = [_box(g, r) for g in guide]
    mp = _box(p, r)
    c = [_box(g * p, r) - mg * mp for g, mg in zip(guide, m)]
    s = {(i, j): _box(guide[i] * guide[j], r) - m[i] * m[j] + (eps if i == j else 0.0)
         for i in range(3) for j in range(i, 3)}
    s00, s01, s02, s11, s12, s22 = (s[k] for k in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)))
    i00, i01, i02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    i11, i12, i22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    det = s00 * i00 + s01 * i01 + s02 * i02
    a = [(i00 * c[0] + i01 * c[1] + i02 * c[2]) / det,
         (i01 * c[0] + i11 * c[1] + i12 * c[2]) / det,
         (i02 * c[0] + i12 * c[1] + i22 * c[2]) / det]
    b = mp - a[0] * m[0] - a[1] * m[1] - a[2] * m[2]
    return [_box(x, r) for x in a], _box(b, r)


def guided_upsample(small: np.ndarray, guide: np.ndarray, radius: int = GUIDED_RADIUS,
                    eps: float = GUIDED_EPS) -> np.ndarray:
    """``small`` (h, w) float32 resized to the ``guide``'s (H, W), its edges
    moved onto the guide's edges. ``guide``: float32 (H, W, 3) in [0, 1]
    (sRGB-encoded values suit: edges are judged by eye). The result is clipped
    to ``small``'s range."""
    h, w = small.shape
    big_h, big_w = guide.shape[:2]
    p = small.astype(np.float32, copy=False)
    g_small = cv2.split(cv2.resize(guide, (w, h), interpolation=cv2.INTER_AREA))
    a, b = _coefficients(g_small, p, radius, eps)
    out = cv2.resize(b, (big_w, big_h), interpolation=cv2.INTER_LINEAR)
    for a_c, g_c in zip(a, cv2.split(guide)):  # single-channel resizes: OpenCV's fast path
        out += cv2.multiply(cv2.resize(a_c, (big_w, big_h), interpolation=cv2.INTER_LINEAR), g_c)
    return np.clip(out, float(p.min()), float(p.max()), out=out)
