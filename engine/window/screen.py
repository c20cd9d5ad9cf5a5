"""What the windows draw: the picture (or its depth) letterboxed, the HUD panel, the help panel.

Create a :class:`Screen` once the window's GL context is current. The caller
uploads the picture into :attr:`Screen.tex_image` (uint8 sRGB) and the
disparity into :attr:`Screen.tex_depth` (float32) when they change; the HUD
and help panels are re-rendered only when their text or scale changes.
"""

from __future__ import annotations

import numpy as np

from . import layout
from .text import text_panel

FULL = (-1.0, -1.0, 1.0, 1.0)


class Screen:
    """GL programs, textures and the drawing shared by the viewer and the live window."""

    def __init__(self):
        from OpenGL import GL

        from .gl import Program, Texture

        self.GL = GL
        self.vao = GL.glGenVertexArrays(1)
        GL.glBindVertexArray(self.vao)
        self.prog_image = Program("quad.vert", "image.frag")
        self.prog_depth = Program("quad.vert", "depth.frag")
        self.prog_overlay = Program("quad.vert", "overlay.frag")
        self.tex_image, self.tex_depth, self.tex_hud, self.tex_help = Texture(), Texture(), Texture(), Texture()
        self.hud_lines = None  # the lines in tex_hud
        self._help_key = None
        self.image_rect: layout.Rect | None = None
        self.hud_rect: layout.Rect | None = None

    def draw(self, fb_size, win_size, image_size=None, *, depth_view: bool = False, focus: float | None = None,
             hud_lines=None, help_lines=None, rect: layout.Rect | None = None, nearest: bool = False) -> None:
        """Clear, then draw the picture (``image_size`` (w, h); None: none) letterboxed in the framebuffer
        (``depth_view``: the depth texture with the focus band marked), the HUD panel top-left
        (``hud_lines``; None: none) and the help panel centred (``help_lines``; None: hidden).
        ``win_size`` (screen units) sets the HiDPI scale of the panels. ``rect``: where the picture goes
        instead (a zoomed view), ``nearest``: its pixels drawn as blocks."""
        GL = self.GL
        from .gl import rect_ndc

        fw, fh = fb_size
        GL.glDisable(GL.GL_BLEND)
        GL.glViewport(0, 0, fw, fh)
        GL.glClearColor(0.0, 0.0, 0.0, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        GL.glBindVertexArray(self.vao)
        self.image_rect = self.hud_rect = None
        if image_size is not None:
            r = rect or layout.letterbox(fb_size, image_size)
            self.image_rect = r
            GL.glViewport(*r.gl_viewport(fh))
            if depth_view:
                self.tex_depth.bind(0)
                self.prog_depth.use(u_rect=FULL, u_tex=0, u_focus=focus if focus is not None else -1.0, u_band=0.01)
            else:
                self.tex_image.bind(0)
                GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_NEAREST if nearest else GL.GL_LINEAR)
                self.prog_image.use(u_rect=FULL, u_tex=0, u_encode_srgb=0)
            GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        GL.glViewport(0, 0, fw, fh)
        if hud_lines is None:
            return
        scale = max(1.0, fw / max(1, win_size[0]))
        if hud_lines != self.hud_lines or self.tex_hud.size == (0, 0):
            self.tex_hud.upload(text_panel(hud_lines, scale))
            self.hud_lines = hud_lines
        GL.glEnable(GL.GL_BLEND)
        GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
        m = round(8 * scale)
        tw, th = self.tex_hud.size
        self.hud_rect = layout.Rect(m, m, tw, th)
        self.tex_hud.bind(0)
        self.prog_overlay.use(u_rect=rect_ndc(m, m, tw, th, fw, fh), u_tex=0)
        GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        if help_lines is not None:
            key = (tuple(help_lines), scale)
            if key != self._help_key or self.tex_help.size == (0, 0):
                self.tex_help.upload(text_panel(help_lines, 1.2 * scale, pad=round(16 * scale)))
                self._help_key = key
            hw, hh = self.tex_help.size
            fit = min(1.0, 0.95 * fw / hw, 0.95 * fh / hh)  # shrink to fit small windows
            hw, hh = max(1, round(hw * fit)), max(1, round(hh * fit))
            self.tex_help.bind(0)
            self.prog_overlay.use(u_rect=rect_ndc((fw - hw) // 2, (fh - hh) // 2, hw, hh, fw, fh), u_tex=0)
            GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        GL.glDisable(GL.GL_BLEND)

    def read_back(self, fb_size) -> np.ndarray:
        """The back buffer as uint8 RGB (fb_height, fb_width, 3), top row first (after :meth:`draw`)."""
        from .gl import read_pixels

        self.GL.glFinish()
        self.GL.glReadBuffer(self.GL.GL_BACK)
        return read_pixels(*fb_size)
