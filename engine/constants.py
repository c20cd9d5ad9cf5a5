"""Constants of the rendering algorithm, shared by the CPU and GPU backends.

This module is the one place they are defined: the GPU backend passes them to
the CUDA kernels as compile-time definitions (``-D NAME=value``), so the
``.cu`` sources never repeat a value. Units: alphas and coverages are
fractions in [0, 1]; disparities are normalised to [0, 1].
"""

#: Guard against division by a zero coverage or alpha.
EPS = 1e-6
#: The background fill (what a blurred foreground hides) fades in linearly as the
#: layer behind a pixel covers 0 .. FILL_BEHIND_RAMP of its neighbourhood. A ramp,
#: not a threshold: float16 storage of the levels (GPU) perturbs the coverage, and
#: a hard threshold would flip the fill on such rounding.
FILL_BEHIND_RAMP = 1e-3
#: The fill is estimated from the background blurred at its own radius where that
#: layer covers at least about FILL_MIN_COVER of the neighbourhood; the estimate
#: blends linearly over FILL_MIN_COVER +- FILL_COVER_RAMP / 2 (continuous, as above).
FILL_MIN_COVER = 0.1
FILL_COVER_RAMP = 0.1
#: Hidden background. The part of a pixel's neighbourhood (radius r) that nearer bands hide
#: (1 - coverage of everything at or behind the pixel's band) is filled with that layer's
#: colour renormalised at HIDDEN_FILL_RADIUS * r (the level at or below it, one level read):
#: the hidden background continues what lies next to the pixel, rather than the average of
#: the whole disc (0: off, plain renormalisation). The part of a disc beyond the frame is
#: coloured the same way.
#: Measured against ground truth in bench/quality.py (see engine/DESIGN.md).
HIDDEN_FILL_RADIUS = 0.5
#: ... only where nearer bands hide more than HIDDEN_MIN_SHARE of the disc (elsewhere the plain
#: renormalisation differs by less than that share of the colour, and the extra sample is skipped).
HIDDEN_MIN_SHARE = 1e-3
#: Highlight boost: pixels whose brightest linear channel exceeds this are boosted.
HIGHLIGHT_THRESHOLD = 0.9
#: Most disparity bands a renderer may use.
MAX_BANDS = 64
#: Anti-aliased outlines. A pixel at a depth edge (a 4-neighbour in another band)
#: is a mix of its own surface and the one across the edge; the part that matches
#: the neighbour's colour (projection onto the line between the colour on the far
#: side of the pixel and the neighbour's, at most OUTLINE_MAX_SHARE: the pixel's
#: centre lies on its own side) moves to the neighbour's band, so it blurs with the
#: surface it belongs to. The share is quantised to q / OUTLINE_STEPS (q integer),
#: so both backends derive the same share from the same float32 arithmetic.
OUTLINE_MAX_SHARE = 0.5
OUTLINE_STEPS = 126
#: The mix is only trusted where the pixel's own side is flat: the share is scaled by
#: 1 - (|F2 - F| / (OUTLINE_FLATNESS |B - F|))^2 (F, F2: the next two pixels on the
#: far side, B: the neighbour), so texture at pixel scale is not taken for an edge.
OUTLINE_FLATNESS = 0.25

# -- embedded phone depth ---------------------------------------------------------------
#: Window radius of the guided filter that upsamples a phone's depth map, in pixels of
#: the small map (1 = 3x3 windows; measured best on the ground-truth scenes, see bench/).
GUIDED_RADIUS = 1
#: Regularisation of that guided filter (variance units of a [0, 1] guide): colour edges
#: with less contrast than about sqrt(eps) = 0.01 are smoothed over rather than followed.
GUIDED_EPS = 1e-4
#: Largest XMP packet (standard plus extended) read from a photo, in bytes.
MAX_XMP_BYTES = 128 << 20

# -- one-shot renders -------------------------------------------------------------------
#: A photo above STRIP_ABOVE_PIXELS (phone and camera photos; 1080p and 4K frames render
#: whole, as fast as before) renders in horizontal strips of about STRIP_PIXELS pixels
#: (``Renderer.render_region``: each strip prepares only its rows and the kernel's reach),
#: so a one-shot render's pyramid memory is bounded by the strip, not the photo.
STRIP_ABOVE_PIXELS = 9_000_000
STRIP_PIXELS = 2_000_000

# -- lens character ---------------------------------------------------------------------
#: Cat-eye bokeh (see deocused.render.cateye): each layer sample becomes CAT_EYE_TAPS samples of
#: the isotropic pyramid (weights 1/4, 1/2, 1/4 along the lens's chord) matching the clipped
#: disc's centroid and second moments. MAX_CAT_EYE: the largest strength (1: a corner's disc is
#: clipped by a circle through its centre).
CAT_EYE_TAPS = 3
MAX_CAT_EYE = 1.0
