"""The CPU backend: :mod:`.backend` (``CpuRenderer``) over the Numba kernels of :mod:`.pixels`,
:mod:`.kernels` and :mod:`.refocus`, compiled or loaded by :mod:`.jit`; :mod:`.srgb8` is the 8-bit sRGB
table codec for frames on their way to a screen or video file."""
