"""Overlay text (HUD, help) drawn into RGBA images with OpenCV.

The windows upload these images as textures and alpha-blend them over the
picture (``shaders/overlay.frag``). OpenCV's Hershey font is ASCII only.
"""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKGROUND = (0, 0, 0, 170)


def text_panel(lines, scale: float = 1.0, pad: int | None = None) -> np.ndarray:
    """RGBA uint8 image (top row first) of ``lines`` on a translucent dark panel.

    ``scale`` is the HiDPI content scale (1 on ordinary displays).
    """
    lines = [str(s) for s in lines] or [""]
    font_scale = 0.5 * scale
    thick = max(1, round(scale))
    pad = round(6 * scale) if pad is None else pad
    (_, th), base = cv2.getTextSize("Ag", FONT, font_scale, thick)
    line_h = th + base + round(4 * scale)
    width = max(cv2.getTextSize(s, FONT, font_scale, thick)[0][0] for s in lines)
    w = max(1, width + 2 * pad)
    h = line_h * len(lines) + 2 * pad
    mask = np.zeros((h, w), np.uint8)  # text coverage (anti-aliased)
    for i, s in enumerate(lines):
        if s:
            y = pad + i * line_h + th
            cv2.putText(mask, s, (pad, y), FONT, font_scale, 255, thick, cv2.LINE_AA)
    # white text of coverage m over a black panel of opacity a0, as one straight-alpha
    # RGBA layer for glBlendFunc(SRC_ALPHA, ONE_MINUS_SRC_ALPHA):
    # alpha = 1 - (1 - m)(1 - a0), colour = m / alpha.
    m = mask.astype(np.float32) / 255.0
    a0 = BACKGROUND[3] / 255.0
    alpha = 1.0 - (1.0 - m) * (1.0 - a0)
    img = np.empty((h, w, 4), np.uint8)
    img[..., :3] = np.rint(255.0 * m / alpha)[..., None]
    img[..., 3] = np.rint(255.0 * alpha)
    return img
