"""The viewer's HUD and help text (drawn by :func:`deocused.window.text.text_panel`).

OpenCV's Hershey font is ASCII only, so the text uses "..." rather than an
ellipsis character.
"""

from __future__ import annotations

from ..window.text import text_panel

__all__ = ["HELP_LINES", "format_status", "text_panel"]

HELP_LINES = (
    "Keys and mouse",
    "",
    "click, drag   focus on the point under the pointer",
    "wheel, + / -  change the blur K (aperture)",
    "Ctrl+wheel, Z zoom in about the pointer (Shift+Z out)",
    "1 / 0         zoom to 1:1 / back to the fit; drag pans",
    "D             toggle the depth view",
    "S             save the full-resolution result as PNG next to the image",
    "Left / Right  previous / next image",
    "R             reset focus and K",
    "F             full screen on / off",
    "H             show / hide this help",
    "Esc, Q        quit",
)


def format_status(name: str, index: int, count: int, size, device: str, focus_disparity, max_blur: float,
                  render_ms, fps, state: str = "", message: str = "") -> list[str]:
    """The HUD's lines: image and device; focus, K, timing; then the state or message."""
    w, h = size if size else (0, 0)
    lines = [f"{name}  [{index + 1}/{count}]" + (f"  {w}x{h}" if size else "") + f"  {device}"]
    parts = [f"focus d={focus_disparity:.3f}" if focus_disparity is not None else "focus -",
             f"K {max_blur:.1f} px" if max_blur is not None else "K -"]
    parts.append(f"render {render_ms:.0f} ms" if render_ms is not None else "render -")
    parts.append(f"{fps:.0f} fps" if fps else "- fps")
    lines.append("  ".join(parts))
    extra = "  ".join(s for s in (state, message) if s)
    lines.append(extra if extra else "H: help")
    return lines
