"""Rendering: the :class:`~.renderer.Renderer` contract, the backend choice (:mod:`.backends`), the blur
pyramid's geometry (:mod:`.pyramid`), apertures and optics; the backends in :mod:`.cpu` (Numba) and
:mod:`.gpu` (CuPy + CUDA). ``engine/DESIGN.md`` describes the algorithm."""
