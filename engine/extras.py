"""Optional parts of the package (pip extras) and the one-line error when one is missing.

``pip install deocused`` gives rendering on the CPU (files in, files out); the
depth network, the windows, the GPU backend and Ray come with extras.
"""

from __future__ import annotations

import importlib.util

from .errors import RefocusError

#: extra name -> (importable modules, what the user installs)
EXTRAS = {
    "depth": (("tensorflow",), "TensorFlow"),
    "viewer": (("glfw", "OpenGL"), "GLFW and PyOpenGL"),
    "gpu": (("cupy",), "CuPy"),
    "ray": (("ray",), "Ray"),
    "raw": (("rawpy",), "rawpy (LibRaw)"),
}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported (found without importing them)."""
    modules, _ = EXTRAS[extra]
    out = []
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                out.append(m)
        except (ImportError, ValueError):
            out.append(m)
    return out


def require(extra: str, purpose: str) -> None:
    """Raise a one-line :class:`RefocusError` naming the extra when ``purpose`` cannot run."""
    if missing(extra):
        raise RefocusError(f"{purpose} needs {EXTRAS[extra][1]} (not installed): "
                           f"pip install 'deocused[{extra}]'")
