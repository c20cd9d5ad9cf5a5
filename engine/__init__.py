"""Deocused: synthetic depth of field from one photo and its depth.

The Python API (see the README's "Python API")::

    import deocused
    photo = deocused.load_photo("photo.jpg")                # + its depth (file, sidecar or network)
    settings = deocused.RenderSettings(focus_point=(300, 250))  # or focus_disparity=0.6, max_blur=32
    renderer = deocused.make_renderer("auto", **settings.renderer_options())
    deocused.write_image("out.png", deocused.render_photo(photo, settings, renderer))

Layers, top to bottom: ``cli`` -> apps (``viewer``, ``live``, ``batch``,
``bench``) -> photo layer (``photo``, ``settings``) -> ``depth`` and
``render.backends`` -> the backends ``render.cpu`` / ``render.gpu`` with the
``render.renderer`` contract -> kernels (``render.cpu.kernels``,
``render/gpu/*.cu``) and the render maths (``render.pyramid``, ``optics``,
``aperture``) -> ``io`` (files) -> basics (``errors``, ``constants``, ``xp``,
``extras``); ``engine/DESIGN.md`` describes the algorithm.

Conventions: colours are RGB; images are float32 in [0, 1]; "sRGB" values are
gamma-encoded, "linear" values are light intensities. Depth is carried as
*disparity* (inverse depth, near = large) normalised to [0, 1]. Blur radii are
in pixels of the full-resolution image; ``max_blur`` (K) is the radius for a
disparity difference of 1; ``focus_point`` is a pixel (x, y) and
``focus_disparity`` a disparity.
"""

from .lazy import lazy_names

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first use, so `import deocused` stays light)
_API = {
    "Photo": "photo", "load_photo": "photo", "render_photo": "photo",
    "RenderSettings": "settings", "srgb_to_linear": "io.colour", "linear_to_srgb8": "io.colour",
    "Aperture": "render.aperture", "ApertureImage": "render.aperture",
    "Renderer": "render.renderer", "make_renderer": "render.backends", "gpu_available": "render.backends",
    "write_image": "io.images", "load_image": "io.images",
    "VideoReader": "io.video", "VideoWriter": "io.video", "probe_video": "io.video",
    "RefocusError": "errors", "InputError": "errors", "DeviceError": "errors",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_names(__name__, _API, globals())
