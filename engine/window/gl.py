"""Small OpenGL 3.3 core helpers: shaders from ``shaders/``, textures, the quad.

Import only after a context exists (PyOpenGL resolves functions lazily, but
every call here needs a current context).
"""

from __future__ import annotations

import ctypes

import numpy as np
from OpenGL import GL

from ..errors import RefocusError
from ..io.resources import data_dir

SHADER_DIR = data_dir("shaders")


def shader_source(name: str) -> str:
    p = SHADER_DIR / name
    try:
        return p.read_text(encoding="utf-8")
    except OSError as e:
        raise RefocusError(f"{p}: cannot read shader ({e.strerror or e}); is the install complete?") from None


def _compile(kind, name: str) -> int:
    sh = GL.glCreateShader(kind)
    GL.glShaderSource(sh, shader_source(name))
    GL.glCompileShader(sh)
    if not GL.glGetShaderiv(sh, GL.GL_COMPILE_STATUS):
        log = GL.glGetShaderInfoLog(sh)
        log = log.decode(errors="replace") if isinstance(log, bytes) else str(log)
        raise RefocusError(f"shader {name} does not compile: {' '.join(log.split())}")
    return sh


class Program:
    """A linked vertex + fragment program with cached uniform locations."""

    def __init__(self, vert: str, frag: str):
        vs, fs = _compile(GL.GL_VERTEX_SHADER, vert), _compile(GL.GL_FRAGMENT_SHADER, frag)
        self.id = GL.glCreateProgram()
        GL.glAttachShader(self.id, vs)
        GL.glAttachShader(self.id, fs)
        GL.glLinkProgram(self.id)
        GL.glDeleteShader(vs)
        GL.glDeleteShader(fs)
        if not GL.glGetProgramiv(self.id, GL.GL_LINK_STATUS):
            log = GL.glGetProgramInfoLog(self.id)
            log = log.decode(errors="replace") if isinstance(log, bytes) else str(log)
            raise RefocusError(f"shaders {vert}+{frag} do not link: {' '.join(log.split())}")
        self._loc: dict[str, int] = {}

    def loc(self, name: str) -> int:
        if name not in self._loc:
            self._loc[name] = GL.glGetUniformLocation(self.id, name)
        return self._loc[name]

    def use(self, **uniforms) -> None:
        GL.glUseProgram(self.id)
        for k, v in uniforms.items():
            loc = self.loc(k)
            if loc < 0:
                continue
            if isinstance(v, (tuple, list)):
                {2: GL.glUniform2f, 3: GL.glUniform3f, 4: GL.glUniform4f}[len(v)](loc, *map(float, v))
            elif isinstance(v, (bool, int, np.integer)):
                GL.glUniform1i(loc, int(v))
            else:
                GL.glUniform1f(loc, float(v))


class Texture:
    """A 2-D texture whose storage is (re)allocated when the size or format changes."""

    # internal format -> (format, type, numpy dtype, channels)
    FORMATS = {
        GL.GL_RGB8: (GL.GL_RGB, GL.GL_UNSIGNED_BYTE, np.uint8, 3),
        GL.GL_RGBA8: (GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, np.uint8, 4),
        GL.GL_R32F: (GL.GL_RED, GL.GL_FLOAT, np.float32, 1),
        GL.GL_RGB32F: (GL.GL_RGB, GL.GL_FLOAT, np.float32, 3),
    }

    def __init__(self):
        self.id = GL.glGenTextures(1)
        self.size = (0, 0)
        self.internal = None
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.id)
        for p, v in ((GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE), (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE),
                     (GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, p, v)

    def allocate(self, width: int, height: int, internal) -> None:
        if (width, height) == self.size and internal == self.internal:
            return
        fmt, typ, _, _ = self.FORMATS[internal]
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.id)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, internal, width, height, 0, fmt, typ, None)
        self.size, self.internal = (width, height), internal

    def upload(self, array: np.ndarray, internal=None) -> None:
        """Upload a host array (H, W[, C]), row 0 first; reallocates if needed."""
        internal = internal or {(np.dtype(np.uint8), 3): GL.GL_RGB8, (np.dtype(np.uint8), 4): GL.GL_RGBA8,
                                (np.dtype(np.float32), 1): GL.GL_R32F,
                                (np.dtype(np.float32), 3): GL.GL_RGB32F}[
            (array.dtype, 1 if array.ndim == 2 else array.shape[2])]
        h, w = array.shape[:2]
        self.allocate(w, h, internal)
        fmt, typ, dtype, _ = self.FORMATS[internal]
        a = np.ascontiguousarray(array, dtype=dtype)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.id)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, fmt, typ, a)

    def upload_from_pbo(self, pbo: int) -> None:
        """Fill the whole texture from the bound-format pixel buffer ``pbo`` (offset 0)."""
        fmt, typ, _, _ = self.FORMATS[self.internal]
        w, h = self.size
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, pbo)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.id)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, fmt, typ, ctypes.c_void_p(0))
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)

    def bind(self, unit: int = 0) -> None:
        GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.id)

    def delete(self) -> None:
        GL.glDeleteTextures([self.id])


def read_pixels(width: int, height: int) -> np.ndarray:
    """The current read buffer as uint8 RGB (height, width, 3), top row first."""
    GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
    data = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
    arr = np.frombuffer(data, np.uint8).reshape(height, width, 3)
    return arr[::-1].copy()


def rect_ndc(x: int, y: int, w: int, h: int, fb_w: int, fb_h: int) -> tuple[float, float, float, float]:
    """Framebuffer rectangle (top-left origin, pixels) -> (x0, y0, x1, y1) in NDC for quad.vert."""
    x0 = 2.0 * x / fb_w - 1.0
    x1 = 2.0 * (x + w) / fb_w - 1.0
    y0 = 1.0 - 2.0 * (y + h) / fb_h
    y1 = 1.0 - 2.0 * y / fb_h
    return x0, y0, x1, y1
