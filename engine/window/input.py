"""Mouse and keyboard mapping shared by the windows.

A window object (the *target*) provides ``on_click(x, y)`` (window
coordinates, screen units), ``on_key(key, mods)`` (GLFW key codes),
``on_char(codepoint)``, ``on_scroll(dy)`` (wheel notches) and
``on_resize(width, height)`` (and optionally ``on_drag(x, y)``: the pointer
moved with the left button held); :func:`install_callbacks` routes GLFW's callbacks
to them, so tests call the same handlers real events reach. Printable keys
arrive through the character callback, so that "+", "D", "Q"... follow the
keyboard layout; the key callback handles only the listed special keys.
"""

from __future__ import annotations

K_STEP = 1.25  # K factor per wheel notch or +/- press


def key_for_char(glfw, codepoint: int, letters: str):
    """The GLFW key a typed character stands for: "+"/"=" and "-"/"_" (K up/down, whatever the
    keyboard layout) and the given ``letters`` (case-insensitive; " " is space); else None."""
    c = chr(codepoint).lower()
    if c in "+=":
        return glfw.KEY_EQUAL
    if c in "-_":
        return glfw.KEY_MINUS
    if c and c in letters:
        return glfw.KEY_SPACE if c == " " else getattr(glfw, f"KEY_{c.upper()}")
    return None


def step_max_blur(k: float, notches: float) -> float:
    """K (pixels) after ``notches`` wheel notches (x1.25 each; from below 0.5 px, up jumps to 1 px)."""
    from ..render.pyramid import MAX_RADIUS

    new = k * K_STEP ** notches
    if notches > 0 and k < 0.5:
        new = max(new, 1.0)
    return float(min(MAX_RADIUS, round(new, 2) if new >= 0.05 else 0.0))


def k_key_steps(glfw, key: int) -> int:
    """+1 for the K-up keys ("=", keypad +), -1 for K-down ("-", keypad -), else 0."""
    if key in (glfw.KEY_EQUAL, glfw.KEY_KP_ADD):
        return 1
    if key in (glfw.KEY_MINUS, glfw.KEY_KP_SUBTRACT):
        return -1
    return 0


def install_callbacks(glfw, window, target, special_keys=(), on_refresh=None) -> tuple:
    """Route GLFW's mouse, key, character, scroll and resize callbacks of ``window`` to ``target``.

    Returns the callback objects (keep a reference: GLFW holds them weakly).
    """
    g = glfw
    special = set(special_keys)

    def on_mouse(win, button, action, mods):
        if button == g.MOUSE_BUTTON_LEFT and action == g.PRESS:
            target.on_click(*g.get_cursor_pos(win))

    def on_key(win, key, scancode, action, mods):
        if action in (g.PRESS, g.REPEAT) and key in special:
            target.on_key(key, mods)

    def on_cursor(win, x, y):  # press-and-drag: the target follows the pointer (if it wants to)
        if g.get_mouse_button(win, g.MOUSE_BUTTON_LEFT) == g.PRESS and hasattr(target, "on_drag"):
            target.on_drag(x, y)

    g.set_mouse_button_callback(window, on_mouse)
    g.set_cursor_pos_callback(window, on_cursor)
    g.set_key_callback(window, on_key)
    g.set_char_callback(window, lambda win, codepoint: target.on_char(codepoint))
    def on_scroll(win, dx, dy):  # Ctrl + wheel zooms (targets that zoom), the wheel alone sets K
        ctrl = g.get_key(win, g.KEY_LEFT_CONTROL) == g.PRESS or g.get_key(win, g.KEY_RIGHT_CONTROL) == g.PRESS
        if ctrl and hasattr(target, "on_zoom"):
            target.on_zoom(round(dy), *g.get_cursor_pos(win))
        else:
            target.on_scroll(dy)

    g.set_scroll_callback(window, on_scroll)
    g.set_window_size_callback(window, lambda win, ww, wh: target.on_resize(ww, wh))
    g.set_framebuffer_size_callback(window, lambda win, fw, fh: target.on_resize(*g.get_window_size(win)))
    if on_refresh is not None:
        g.set_window_refresh_callback(window, lambda win: on_refresh())
    return on_mouse, on_key, on_cursor, on_scroll
