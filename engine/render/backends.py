"""Backend selection: which :class:`~deocused.render.renderer.Renderer` runs where.

The one module that knows every backend; callers ask :func:`make_renderer`
for a device ("auto", "cpu" or "gpu") and use the common interface.
"""

from __future__ import annotations

import logging

from ..errors import DeviceError, InputError
from .renderer import Renderer

log = logging.getLogger("deocused")

DEVICES = ("auto", "cpu", "gpu")


def gpu_available() -> tuple[bool, str]:
    """Whether CuPy and a CUDA device are usable, and if not, why (one line).

    >>> ok, why = gpu_available()
    >>> ok or why != ""
    True
    """
    try:
        import cupy
    except Exception as e:  # ImportError, or a broken CUDA install
        return False, f"CuPy is not installed ({type(e).__name__}); install with: pip install 'deocused[gpu]'"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        return False, f"no usable CUDA device ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if n < 1:
        return False, "no CUDA device found"
    return True, ""


def make_renderer(device: str = "auto", **options) -> Renderer:
    """A renderer for ``device`` ("auto", "cpu" or "gpu").

    "auto" picks the GPU when CuPy and a CUDA device are present, else the CPU
    with a one-line notice; "gpu" without a GPU is a :class:`DeviceError`.
    ``options``: :class:`~deocused.render.renderer.Renderer`'s (``aperture``,
    ``n_bands``, ``highlights``; see ``RenderSettings.renderer_options()``).

    >>> renderer = make_renderer("cpu", highlights=4.0)
    >>> renderer.device, renderer.n_bands
    ('cpu', 8)
    """
    if pick_device(device) == "gpu":
        from .gpu.backend import GpuRenderer

        return GpuRenderer(**options)
    from .cpu.backend import CpuRenderer

    return CpuRenderer(**options)


def pick_device(device: str = "auto") -> str:
    """The device ("cpu" or "gpu") :func:`make_renderer` uses for ``device``, with its errors and
    its notice (cheap: it loads no backend)."""
    if device not in DEVICES:
        raise InputError(f"unknown device '{device}' (expected one of {', '.join(DEVICES)})")
    if device == "cpu":
        return "cpu"
    ok, why = gpu_available()
    if ok:
        return "gpu"
    if device == "gpu":
        raise DeviceError(f"--device gpu: {why}")
    log.info("no GPU (%s); rendering on the CPU", why)
    return "cpu"
