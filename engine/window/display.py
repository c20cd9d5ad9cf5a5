"""Opening a GLFW window with an OpenGL 3.3 core context, with one clear error when there is no display."""

from __future__ import annotations

import os
import sys

from ..errors import RefocusError
from . import layout

NO_DISPLAY_HINT = "use `refocus render IMAGE` to write refocused files without a window"


def check_display(command: str = "refocus view") -> None:
    """Fail fast (before loading anything) when there is obviously no display."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise RefocusError(f"no display: `{command}` needs a graphical session (DISPLAY is not set); "
                           f"{NO_DISPLAY_HINT}")


def open_window(size, title: str, visible: bool = True, image_size=None, command: str = "refocus view"):
    """Initialise GLFW and open a window with an OpenGL 3.3 core context; returns (glfw module, window).

    ``size``: window size in screen units, or None to fit ``image_size`` (1:1,
    shrunk to 85 % of the monitor's work area).

    Raises :class:`RefocusError` (one line, suggesting ``refocus render``) when
    there is no display, GLFW cannot start or OpenGL 3.3 is not available.
    """
    check_display(command)
    try:
        import glfw
    except ImportError as e:
        raise RefocusError(f"cannot open a window: GLFW is not available ({e}); {NO_DISPLAY_HINT}") from None
    errors: list[str] = []
    glfw.set_error_callback(lambda code, desc: errors.append(
        desc.decode(errors="replace") if isinstance(desc, bytes) else str(desc)))
    if not glfw.init():
        why = errors[-1] if errors else "unknown reason"
        raise RefocusError(f"no display: cannot start GLFW ({why}); {NO_DISPLAY_HINT}")
    if size is None:
        area = (1920, 1080)
        mon = glfw.get_primary_monitor()
        if mon:
            _, _, aw, ah = glfw.get_monitor_workarea(mon)
            if aw > 0 and ah > 0:
                area = (aw, ah)
        size = layout.fit_window(image_size or (960, 640), area)
    glfw.default_window_hints()
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
    glfw.window_hint(glfw.VISIBLE, bool(visible))
    glfw.window_hint(glfw.SCALE_TO_MONITOR, True)
    glfw.window_hint(glfw.DOUBLEBUFFER, True)
    win = glfw.create_window(int(size[0]), int(size[1]), title, None, None)
    if not win:
        why = errors[-1] if errors else "unknown reason"
        glfw.terminate()
        raise RefocusError(f"cannot create an OpenGL 3.3 core window ({why}); {NO_DISPLAY_HINT}")
    glfw.make_context_current(win)
    glfw.swap_interval(1)
    return glfw, win


def screen_pixels() -> tuple[int, int] | None:
    """The primary monitor's work area in framebuffer pixels (HiDPI scale applied): the most a window
    can show without going full screen. None when GLFW or the monitor cannot say."""
    try:
        import glfw
    except ImportError:
        return None
    glfw.set_error_callback(lambda code, desc: None)  # open_window reports what goes wrong
    if not glfw.init():
        return None
    mon = glfw.get_primary_monitor()
    if not mon:
        return None
    _, _, aw, ah = glfw.get_monitor_workarea(mon)
    sx, sy = glfw.get_monitor_content_scale(mon)
    return (round(aw * max(1.0, sx)), round(ah * max(1.0, sy))) if aw > 0 and ah > 0 else None


def toggle_fullscreen(g, w, fullscreen: bool, saved_geometry):
    """Window ``w`` to full screen on its monitor (remembering its geometry) or back; returns
    (full screen now, the geometry to go back to)."""
    if not fullscreen:
        mon = g.get_window_monitor(w) or g.get_primary_monitor()
        if not mon:
            return False, saved_geometry
        saved_geometry = (*g.get_window_pos(w), *g.get_window_size(w))
        mode = g.get_video_mode(mon)
        g.set_window_monitor(w, mon, 0, 0, mode.size.width, mode.size.height, mode.refresh_rate)
        return True, saved_geometry
    x, y, ww, wh = saved_geometry or (50, 50, 960, 640)
    g.set_window_monitor(w, None, x, y, ww, wh, 0)
    return False, saved_geometry


def close_window(glfw, window) -> None:
    glfw.destroy_window(window)
    glfw.terminate()
