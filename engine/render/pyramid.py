"""The blur pyramid's layout, shared by the CPU and GPU backends.

Per image the renderer builds, for each *depth layer* j (the pixels whose
disparity band is <= j, i.e. everything at or behind band j) and each *level* i
(blur radius ``LEVEL_RADII[i]`` pixels), a premultiplied RGBA image: the linear
colour times the layer mask, and the mask, both blurred with the aperture
kernel. Level 0 is unblurred. Level i is computed at 1/``scale`` of the full
resolution (box-downsampled; sampled back bilinearly), with the kernel radius
shrunk so the total blur variance matches a kernel of ``LEVEL_RADII[i]`` at
full resolution. Disparity bands are ``n_bands`` equal slices of [0, 1].

Per focus, each pixel interpolates between the two levels around its radius
(weights linear in radius squared); ``engine/DESIGN.md`` describes the algorithm.
"""

from __future__ import annotations

import math

from ..xp import array_module

#: Level radii in full-resolution pixels (ratio <= 1.25 between neighbours above 4 px).
LEVEL_RADII = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.5, 8.0, 10.0, 12.5, 16.0, 20.0, 25.0, 32.0, 40.0,
               50.0, 64.0, 80.0, 100.0, 128.0, 160.0, 200.0, 256.0)
MAX_RADIUS = LEVEL_RADII[-1]
MAX_SCALE = 32
#: Padding multiple: every level's resolution divides the padded size exactly.
PAD_MULTIPLE = MAX_SCALE
DEFAULT_BANDS = 8


def level_scale(rho: float) -> int:
    """Downsampling factor of a level of radius ``rho``: the largest power of two
    <= rho/4 (so kernels keep >= 4 px of radius), between 1 and ``MAX_SCALE``."""
    if rho < 8.0:
        return 1
    return int(min(MAX_SCALE, 2 ** math.floor(math.log2(rho / 4.0))))


def small_radius(rho: float, scale: int, aperture) -> float:
    """Kernel radius in downsampled pixels so that box-downsampling (variance
    (s^2-1)/12), the kernel and bilinear upsampling ((s^2-1)/6) together have the
    variance of the aperture's continuous shape of radius ``rho``."""
    if scale == 1:
        return rho
    target = aperture.variance_per_radius2() * rho * rho - (scale * scale - 1) / 4.0
    return aperture.radius_for_variance(max(target, 0.25 * aperture.variance_per_radius2() * rho * rho) / scale ** 2)


def levels_needed(max_radius: float) -> int:
    """Number of levels (from level 0) needed to cover blur radii up to ``max_radius``."""
    for i, rho in enumerate(LEVEL_RADII):
        if rho >= max_radius:
            return i + 1
    return len(LEVEL_RADII)


def padded_shape(h: int, w: int) -> tuple[int, int]:
    """Image size rounded up to a multiple of ``PAD_MULTIPLE``."""
    m = PAD_MULTIPLE
    return (h + m - 1) // m * m, (w + m - 1) // m * m


def band_of(disparity, n_bands: int):
    """Disparity band index (0 = farthest) of each pixel: floor(d * n), clipped."""
    xp = array_module(disparity)
    return xp.clip((disparity * n_bands).astype(xp.int32), 0, n_bands - 1)


def level_weights(radius, n_levels: int):
    """Per-pixel lower level index ``i`` and weight ``w`` of level i (1-w for i+1)
    for blur ``radius`` (NumPy or CuPy), interpolating linearly in radius squared.
    Radii beyond the last level clamp to it."""
    xp = array_module(radius)
    radii = xp.asarray(LEVEL_RADII[:n_levels], dtype=xp.float32)
    r = xp.clip(xp.asarray(radius, dtype=xp.float32), 0.0, radii[-1])
    i = xp.clip(xp.searchsorted(radii, r, side="right") - 1, 0, max(n_levels - 2, 0)).astype(xp.int32)
    if n_levels == 1:
        return i, xp.ones_like(r)
    lo, hi = radii[i], radii[i + 1]
    w = xp.clip((hi * hi - r * r) / (hi * hi - lo * lo), 0.0, 1.0).astype(xp.float32)
    return i, w
