"""The renderer interface and backend selection.

A :class:`Renderer` turns a linear-light RGB image and its normalised disparity
into refocused images. The work is split so that a refocus click is cheap:

* :meth:`Renderer.prepare` -- per image: the blur pyramid (see :mod:`deocused.render.pyramid`).
* :meth:`Renderer.render`  -- per focus: per-pixel level selection and compositing.

Backends: ``CpuRenderer`` (Numba kernels, :mod:`deocused.render.cpu.backend`) and
``GpuRenderer`` (CuPy kernels, :mod:`deocused.render.gpu.backend`). Both implement the
same algorithm and pass the same tests; :func:`deocused.render.backends.make_renderer`
picks one.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..constants import HIGHLIGHT_THRESHOLD, MAX_BANDS
from ..errors import InputError, NotPreparedError, check_float_array
from ..io.colour import linear_to_srgb8
from .aperture import Aperture
from .cateye import check_cat_eye, reach_factor
from .optics import coc_radius
from .pyramid import DEFAULT_BANDS, LEVEL_RADII, MAX_RADIUS, MAX_SCALE, band_of, level_scale, levels_needed, small_radius

#: Largest highlight boost gain a renderer accepts.
MAX_HIGHLIGHTS = 100.0


def boost_highlights(linear, gain: float, threshold: float = HIGHLIGHT_THRESHOLD):
    """Brighten near-clipped pixels of a linear image (NumPy or CuPy).

    8-bit photos clip bright lights at 1.0, so blurred lights come out dull. A
    pixel whose brightest channel ``m`` exceeds ``threshold`` is multiplied by
    ``1 + gain * t**2`` with ``t = (m - threshold) / (1 - threshold)``; pixels
    at or below the threshold are unchanged. ``gain=0`` is the identity.
    """
    if gain <= 0:
        return linear
    m = linear.max(axis=2, keepdims=True)
    t = ((m - threshold) / (1.0 - threshold)).clip(0.0, 1.0)
    return (linear * (1.0 + gain * t * t)).astype(linear.dtype)


@dataclass(frozen=True)
class BandStats:
    """What ``prepare`` measures over the whole photo and ``render`` uses beyond each pixel's
    neighbourhood: pixels per disparity band, their disparity sums, the disparity range. A crop
    prepared with its photo's stats renders as the photo does (see :meth:`Renderer.render_region`)."""

    counts: np.ndarray  # int64 (n_bands,)
    sums: np.ndarray  # float64 (n_bands,)
    d_lo: float
    d_hi: float

    @classmethod
    def of(cls, disparity: np.ndarray, n_bands: int, chunk: int = 1 << 20) -> BandStats:
        """The stats of ``disparity`` (float32 (H, W) in [0, 1]), a ``chunk`` of pixels at a time."""
        d = np.asarray(disparity, np.float32).reshape(-1)
        counts, sums = np.zeros(n_bands, np.int64), np.zeros(n_bands, np.float64)
        for i in range(0, d.size, chunk):
            part = d[i:i + chunk]
            band = band_of(part, n_bands)
            counts += np.bincount(band, minlength=n_bands)
            sums += np.bincount(band, weights=part, minlength=n_bands)
        return cls(counts, sums, float(d.min()), float(d.max()))


@functools.lru_cache(maxsize=8)
def level_kernels(aperture: Aperture) -> tuple[np.ndarray, ...]:
    """Each level's kernel of ``aperture`` at the level's scale, flipped (the kernels correlate),
    float32 C order; level 0 (the image itself): [[1]]. Made once per aperture (~15-50 ms) for
    every renderer of it; not to be written to."""
    out = [np.ones((1, 1), np.float32)]
    for rho in LEVEL_RADII[1:]:
        k = aperture.kernel(small_radius(rho, level_scale(rho), aperture))
        out.append(np.ascontiguousarray(k[::-1, ::-1], dtype=np.float32))
    return tuple(out)


def region_reach(stats: BandStats, focus_disparity: float, max_blur: float, dof: float, cat_eye: float = 0.0) -> int:
    """Pixels around a region whose input a render of it reads: the largest level's radius, its
    downsampling box and bilinear footprint, and the outline split's neighbour. ``cat_eye``: the
    renderer's (its taps reach further, see :func:`deocused.render.cateye.reach_factor`)."""
    r = float(coc_radius(np.array([stats.d_lo, stats.d_hi], np.float32), focus_disparity, max_blur, dof).max())
    r *= reach_factor(cat_eye)
    rho = LEVEL_RADII[min(levels_needed(r), len(LEVEL_RADII)) - 1]
    return int(np.ceil(rho)) + 2 * level_scale(rho) + 2


def aligned_window(region, reach: int, shape) -> tuple[int, int, int, int]:
    """``region`` (x0, y0, x1, y1) grown by ``reach`` and out to multiples of the coarsest level
    scale (so every level's downsampling blocks fall as in the whole photo), within ``shape`` (h, w)."""
    x0, y0, x1, y1 = region
    h, w = shape
    a = MAX_SCALE
    return (max(0, (x0 - reach) // a * a), max(0, (y0 - reach) // a * a),
            min(w, -(-(x1 + reach) // a) * a), min(h, -(-(y1 + reach) // a) * a))


class Renderer(ABC):
    """Refocus renderer: ``prepare`` once per image, ``render`` once per focus.

    Parameters are fixed per renderer because the pyramid depends on them:
    ``aperture`` (kernel shape), ``n_bands`` (disparity bands used for occlusion),
    ``highlights`` (highlight boost gain, 0 = off), ``cat_eye`` (cat-eye strength in
    [0, MAX_CAT_EYE], 0 = off: discs clipped toward the frame's corners, see
    :mod:`deocused.render.cateye`; it needs where the prepared image lies in its photo, the
    ``place`` of :meth:`prepare`).

    >>> import deocused
    >>> renderer = deocused.make_renderer("cpu")
    >>> image = np.full((32, 48, 3), 0.25, np.float32)  # linear RGB
    >>> disparity = np.tile(np.linspace(0, 1, 48, dtype=np.float32), (32, 1))
    >>> renderer.prepare(image, disparity)
    >>> out = renderer.render(focus_disparity=0.5, max_blur=8.0)  # float32 linear RGB
    >>> out.shape, bool(abs(out - 0.25).max() < 1e-4)  # a flat image stays flat
    ((32, 48, 3), True)
    """

    device = "?"

    def __init__(self, aperture: Aperture | None = None, n_bands: int = DEFAULT_BANDS, highlights: float = 0.0,
                 cat_eye: float = 0.0):
        self.aperture = aperture or Aperture()
        check_cat_eye(cat_eye)
        self.cat_eye = float(cat_eye)
        if isinstance(n_bands, bool) or not isinstance(n_bands, (int, np.integer)) or not 1 <= n_bands <= MAX_BANDS:
            raise InputError(f"n_bands must be an integer in 1..{MAX_BANDS}, got {n_bands!r}")
        self.n_bands = n_bands
        try:
            self.highlights = float(highlights)
        except (TypeError, ValueError):
            raise InputError(f"highlights must be a number, got {highlights!r}") from None
        if not 0.0 <= self.highlights <= MAX_HIGHLIGHTS:  # False for NaN
            raise InputError(f"highlights must be a finite gain in [0, {MAX_HIGHLIGHTS:g}], got {highlights}")
        self.shape: tuple[int, int] | None = None
        self.place: tuple[int, int, int, int] | None = None

    def _set_place(self, place, h: int, w: int) -> None:
        """Keep ``place`` (x0, y0, width, height: the prepared (h, w) array's origin in its photo and
        the photo's size, pixels; None: the array is the photo) for the cat-eye's frame position."""
        if place is None:
            self.place = (0, 0, int(w), int(h))
            return
        try:
            x0, y0, pw, ph = (int(v) for v in place)
        except (TypeError, ValueError):
            raise InputError(f"place must be (x0, y0, width, height), got {place!r}") from None
        if not (0 <= x0 and 0 <= y0 and x0 + w <= pw and y0 + h <= ph):
            raise InputError(f"place {place} does not hold the {w}x{h} image")
        self.place = (x0, y0, pw, ph)

    def warm_up(self) -> None:
        """Load (or compile) what a render runs, so that the first real frame does not
        wait for it; may run on another thread beside this renderer's own work (the prepared
        photo is left as it is). Default: nothing to do."""
        return None

    def band_stats(self, disparity: np.ndarray) -> BandStats:
        """:meth:`BandStats.of` ``disparity`` (float32 (H, W), host memory) with this renderer's bands
        (a backend may count them faster)."""
        return BandStats.of(disparity, self.n_bands)

    @staticmethod
    def check_shapes(image_linear, disparity) -> None:
        """Validate the types and shapes of prepare()'s inputs (NumPy or CuPy arrays, before any
        conversion: integer images are refused, not taken as floats); raise :class:`InputError`."""
        check_float_array(image_linear, "image", "(H, W, 3)")
        check_float_array(disparity, "disparity", "(H, W)")
        ishape, dshape = tuple(np.shape(image_linear)), tuple(np.shape(disparity))
        if len(ishape) != 3 or ishape[2] != 3 or min(ishape[:2]) < 1:
            raise InputError(f"image must be (H, W, 3) RGB, got shape {ishape}")
        if dshape != ishape[:2]:
            what = "x".join(str(v) for v in dshape[::-1]) if len(dshape) == 2 else f"of shape {dshape}"
            raise InputError(f"disparity is {what} but the image is {ishape[1]}x{ishape[0]}")

    @classmethod
    def check_inputs(cls, image_linear: np.ndarray, disparity: np.ndarray) -> None:
        """Validate prepare()'s inputs (types, shapes, then values; NumPy arrays); raise
        :class:`InputError` with a clear message."""
        cls.check_shapes(image_linear, disparity)
        cls.check_values(image_linear, disparity)

    @staticmethod
    def check_values(image_linear: np.ndarray, disparity: np.ndarray) -> None:
        """Validate the values of prepare()'s inputs (NumPy arrays of checked shapes): finite, the
        disparity normalised; raise :class:`InputError`."""
        # min and max propagate NaN and keep infinities: two passes, no temporary arrays
        d_lo, d_hi = float(disparity.min()), float(disparity.max())
        ok = np.isfinite(d_lo) and np.isfinite(d_hi)  # else the image's passes are not needed
        Renderer.refuse_values(not ok, ok and not (np.isfinite(float(image_linear.min()))
                                                   and np.isfinite(float(image_linear.max()))),
                               ok and (d_lo < 0.0 or d_hi > 1.0))

    @staticmethod
    def refuse_values(disparity_not_finite, image_not_finite, disparity_outside) -> None:
        """The :class:`InputError` of :meth:`check_values` for what a backend found (in this order of
        precedence): NaN or infinite disparities, NaN or infinite image values, finite disparities
        outside [0, 1]. Nothing found: nothing raised."""
        if disparity_not_finite:
            raise InputError("disparity contains NaN or infinite values (fill holes first)")
        if image_not_finite:
            raise InputError("image contains NaN or infinite values")
        if disparity_outside:
            raise InputError("disparity must be normalised to [0, 1]")

    def check_prepared(self) -> None:
        """Raise :class:`~deocused.errors.NotPreparedError` (an InputError) unless a photo is prepared."""
        if self.shape is None:
            raise NotPreparedError("render() before prepare(): prepare the photo first")

    @staticmethod
    def check_focus(focus_disparity: float, max_blur: float, dof: float) -> None:
        """Validate render()'s arguments (NaN and infinities fail every range check)."""
        try:
            focus_disparity, max_blur, dof = float(focus_disparity), float(max_blur), float(dof)
        except (TypeError, ValueError):
            raise InputError(f"focus disparity, max blur and dof must be numbers, got "
                             f"{focus_disparity!r}, {max_blur!r}, {dof!r}") from None
        if not (0.0 <= focus_disparity <= 1.0):
            raise InputError(f"focus disparity must be in [0, 1], got {focus_disparity}")
        if not (0.0 <= max_blur <= MAX_RADIUS):
            raise InputError(f"max blur must be in [0, {MAX_RADIUS:g}] pixels, got {max_blur}")
        if not (0.0 <= dof <= 1.0):
            raise InputError(f"depth-of-field range must be in [0, 1], got {dof}")

    # -- shared by the backends ---------------------------------------------------------
    @property
    def _kernels(self) -> tuple[np.ndarray, ...]:
        """:func:`level_kernels` of this renderer's aperture (fixed per renderer)."""
        return level_kernels(self.aperture)

    def _set_bands(self, counts: np.ndarray, sums: np.ndarray, d_lo: float, d_hi: float,
                   whole: BandStats | None) -> None:
        """Keep what render() uses of prepare()'s statistics: each band's pixel count
        (``band_count``) and mean disparity (``band_centre``, float32; an empty band's middle),
        and the disparity range. ``whole``: a crop's photo, whose bands win (see :meth:`render_region`)."""
        if whole is not None:
            counts, sums, d_lo, d_hi = whole.counts, whole.sums, whole.d_lo, whole.d_hi
        mids = (np.arange(self.n_bands) + 0.5) / self.n_bands
        self.band_count = counts
        self.band_centre = np.where(counts > 0, sums / np.maximum(counts, 1), mids).astype(np.float32)
        self._d_extremes = np.array([d_lo, d_hi], np.float32)

    def _band_radii(self, focus_disparity: float, max_blur: float, dof: float) -> tuple[np.ndarray, int]:
        """Each band's blur radius (float32, at its mean disparity) and the levels a render needs
        (:func:`deocused.render.pyramid.levels_needed` of the largest radius, which lies at an extreme
        disparity: the radius is monotonic in ``|d - focus_disparity|``, in float32 too)."""
        rmax = float(coc_radius(self._d_extremes, focus_disparity, max_blur, dof).astype(np.float32).max())
        band_radius = coc_radius(self.band_centre, focus_disparity, max_blur, dof).astype(np.float32)
        return band_radius, levels_needed(max(rmax, float(band_radius.max())))

    @abstractmethod
    def prepare(self, image_linear, disparity, whole: BandStats | None = None, place=None) -> None:
        """Per-image work. ``image_linear``: float32 (H, W, 3) linear RGB;
        ``disparity``: float32 (H, W) in [0, 1], 1 = nearest. ``whole``: the
        :class:`BandStats` of the photo this image is a crop of (None: it is the photo);
        ``place``: (x0, y0, width, height), the crop's origin in that photo and the photo's size
        in pixels (None: the image is the photo; see :meth:`_set_place`)."""

    def render_region(self, image_linear, disparity, region, focus_disparity: float, max_blur: float,
                      dof: float = 0.0, whole: BandStats | None = None, place=None):
        """Region ``(x0, y0, x1, y1)`` (pixels, end exclusive) of the photo refocused: equal to that crop
        of :meth:`render` after ``prepare(image_linear, disparity)`` within the backends' parity
        tolerance, at the cost of the region and the kernel's reach around it only (this renderer
        is prepared on that window). ``whole``: the photo's :class:`BandStats` if known; ``place``:
        where ``image_linear`` lies in the photo (x0, y0, width, height; None: it is the photo)."""
        self.check_focus(focus_disparity, max_blur, dof)
        h, w = disparity.shape[:2]
        x0, y0, x1, y1 = (int(v) for v in region)
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise InputError(f"region {region} is not within the {w}x{h} image")
        whole = whole or self.band_stats(disparity)
        reach = region_reach(whole, focus_disparity, max_blur, dof, self.cat_eye)
        wx0, wy0, wx1, wy1 = aligned_window((x0, y0, x1, y1), reach, (h, w))
        box = (x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0)
        px0, py0, pw, ph = (0, 0, w, h) if place is None else place
        self.prepare_for(box, image_linear[wy0:wy1, wx0:wx1], disparity[wy0:wy1, wx0:wx1], whole=whole,
                         place=(px0 + wx0, py0 + wy0, pw, ph))
        return self.render_crop(focus_disparity, max_blur, dof, box)

    def prepare_for(self, box, image_linear, disparity, whole: BandStats | None = None, place=None) -> None:
        """:meth:`prepare`, for :meth:`render_crop` of ``box`` (x0, y0, x1, y1) only: a backend may leave out
        what only other pixels need. Default: :meth:`prepare`."""
        self.prepare(image_linear, disparity, whole=whole, place=place)

    def render_crop(self, focus_disparity: float, max_blur: float, dof: float, box):
        """The crop ``box`` (x0, y0, x1, y1) of :meth:`render` of the prepared image (a backend may
        render only that part). Default: the whole render, cropped."""
        x0, y0, x1, y1 = box
        return self.render(focus_disparity, max_blur, dof)[y0:y1, x0:x1]

    def release(self) -> None:  # noqa: B027 (a no-op unless the backend keeps buffers for the next photo)
        """Free the prepared image's buffers and those kept for the next ``prepare`` (``render`` then
        needs ``prepare`` again): after the last strip of a one-shot render."""

    @abstractmethod
    def ensure_levels(self, n_levels: int) -> None:
        """Build the pyramid's levels ``0 .. n_levels - 1`` not built yet (``render``
        calls it for the levels its ``max_blur`` needs; see :mod:`deocused.render.pyramid`)."""

    @abstractmethod
    def render(self, focus_disparity: float, max_blur: float, dof: float = 0.0):
        """Per-focus work: the refocused image, float32 (H, W, 3) linear RGB, as an
        array of the backend (NumPy or CuPy). Points at ``focus_disparity`` (+- ``dof``)
        stay sharp; others blur with radius ``max_blur * |d - focus|`` pixels."""

    def to_host(self, array) -> np.ndarray:
        """Copy a backend array to a NumPy array."""
        return np.asarray(array)

    def synchronize(self) -> None:  # noqa: B027 (a no-op unless the backend queues work)
        """Wait until all work this renderer issued has finished (for timing and
        hand-over to other APIs). Backends that work synchronously return at once."""

    def encode_srgb8(self, linear):
        """A frame :meth:`render` returned, as 8-bit sRGB (uint8 (H, W, 3)) on the frame's device,
        equal to :func:`deocused.io.colour.linear_to_srgb8`: a host frame through the table encoder
        (:class:`deocused.render.cpu.srgb8.Srgb8Encoder`, several times faster; its buffers kept
        per renderer), a device frame with ``linear_to_srgb8`` on the device."""
        if type(linear) is not np.ndarray:  # a device array (the CUDA host layer's are NumPy subclasses)
            return linear_to_srgb8(linear)
        encoder = self.__dict__.get("_srgb8_encoder")
        if encoder is None:
            from .cpu.srgb8 import Srgb8Encoder

            encoder = self.__dict__["_srgb8_encoder"] = Srgb8Encoder()
        return encoder(linear)

    def render_srgb8(self, focus_disparity: float, max_blur: float, dof: float = 0.0) -> np.ndarray:
        """:meth:`render`, encoded as 8-bit sRGB on the host (uint8 (H, W, 3); see :meth:`encode_srgb8`)."""
        return self.to_host(self.encode_srgb8(self.render(focus_disparity, max_blur, dof)))
