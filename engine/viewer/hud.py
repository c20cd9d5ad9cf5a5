"""HUD and help overlay text, drawn into RGBA images with OpenCV.

The viewer uploads these images as textures and alpha-blends them over the
photo (``shaders/overlay.frag``). OpenCV's Hershey font is ASCII only, so the
text uses "..." rather than an ellipsis character.
"""

from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKGROUND = (0, 0, 0, 170)

HELP_LINES = (
    "Keys and mouse",
    "",
    "left click    focus on the clicked point",
    "wheel, + / -  change the blur K (aperture)",
    "D             toggle the depth view",
    "S             save the result as PNG next to the image",
    "Left / Right  previous / next image",
    "R             reset focus and K",
    "F             full screen on / off",
    "H             show / hide this help",
    "Esc, Q        quit",
)


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


def format_status(name: str, index: int, count: int, size, device: str, focus, k: float,
                  render_ms, fps, state: str = "", message: str = "") -> list[str]:
    """The HUD's lines: image and device; focus, K, timing; then the state or message."""
    w, h = size if size else (0, 0)
    lines = [f"{name}  [{index + 1}/{count}]" + (f"  {w}x{h}" if size else "") + f"  {device}"]
    parts = [f"focus d={focus:.3f}" if focus is not None else "focus -", f"K {k:.1f} px" if k is not None else "K -"]
    parts.append(f"render {render_ms:.0f} ms" if render_ms is not None else "render -")
    parts.append(f"{fps:.0f} fps" if fps else "- fps")
    lines.append("  ".join(parts))
    extra = "  ".join(s for s in (state, message) if s)
    lines.append(extra if extra else "H: help")
    return lines
