"""Deocused: synthetic depth of field from one photo and its depth.

Pipeline stages, one module each:

* :mod:`engine.images`   -- read/write photos (OpenCV at the edges, RGB inside)
* :mod:`engine.depthmap` -- read depth/disparity maps, fill holes, normalise
* :mod:`engine.optics`   -- thin-lens blur radius and focus picking
* :mod:`engine.aperture` -- aperture (bokeh) kernels
* :mod:`engine.renderer` -- the ``Renderer`` interface and backend selection
* :mod:`engine.cpu_backend` / :mod:`engine.gpu_backend` -- NumPy/OpenCV and CuPy backends

Conventions: colours are RGB; images are float32 in [0, 1]; "sRGB" values are
gamma-encoded, "linear" values are light intensities. Depth is carried as
*disparity* (inverse depth, near = large) normalised to [0, 1]. Blur radii are
in pixels of the full-resolution image.
"""

__version__ = "0.1.0"
