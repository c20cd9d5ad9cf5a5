"""The GPU backend: :mod:`.backend` (``GpuRenderer``, CuPy) and the CUDA kernels it launches, beside it
(``pyramid.cu``, ``refocus.cu``, ``common.cuh``)."""
