"""The photo layer: one photo's journey from its files to a refocused image.

* :func:`load_photo` -- the photo and its disparity, from an explicit depth
  file, a bundled sample, the sidecar next to the image (``IMAGE.depth.png``,
  ``.npy``, ``.exr``), the depth the phone recorded in the file
  (:mod:`deocused.io.embedded_depth`) or the depth network, in that order.
* :func:`render_photo` -- a :class:`~deocused.settings.RenderSettings` applied to a
  :class:`Photo` with a renderer: 8-bit sRGB.

The command line, the viewer, live mode and batch jobs all load photos here.
Images are float32 sRGB in [0, 1], RGB order; disparity is float32 in [0, 1],
1 = nearest.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from .errors import InputError, check_float_array
from .io.colour import code_table, codes8, decode_codes, linear_to_srgb, srgb_to_linear
from .io.metadata import PhotoMeta
from .settings import RenderSettings

log = logging.getLogger("deocused")


@dataclass
class Photo:
    """A photo and its depth. ``disparity`` is None while the depth is still to be
    estimated (``load_photo(..., estimate=False)`` leaves that to the caller).

    A photo from an 8-bit file keeps the file's codes (``image_codes``): its renders decode
    them through a table, and ``image_srgb`` (``image_codes * float32(1/255)``) is made when
    first read, read-only (assign a new array to change the image: that drops the codes)."""

    image_srgb: np.ndarray | None  # float32 (H, W, 3) sRGB in [0, 1] (None: made from image_codes)
    disparity: np.ndarray | None  # float32 (H, W) in [0, 1], 1 = nearest
    focus_point: tuple[float, float] | None = None  # the photo's default focus point (a sample's), pixels
    image_path: Path | None = None
    depth_path: Path | None = None
    meta: PhotoMeta | None = None  # the input file's ICC profile, EXIF and XMP, ready for outputs
    image_linear: np.ndarray | None = None  # scene-linear RGB of a camera RAW (values above 1 kept)
    image_codes: np.ndarray | None = field(default=None, repr=False)  # uint8 (H, W, 3) RGB codes of an 8-bit file

    def __post_init__(self):
        """Refuse what the renderer cannot take (:class:`InputError`): integer images (codes, not
        values in [0, 1]), other dtypes, and shapes other than (H, W, 3) and (H, W)."""
        codes, srgb = self.image_codes, self.__dict__["_srgb"]
        if codes is None:
            check_float_array(srgb, "Photo.image_srgb", "(H, W, 3)")
        elif not isinstance(codes, np.ndarray) or codes.dtype != np.uint8:
            raise InputError(f"Photo.image_codes must be uint8 codes, got {type(codes).__name__} "
                             f"{getattr(codes, 'dtype', '')}")
        elif srgb is not None:  # both (dataclasses.replace): the float image must stay what the codes say
            if srgb.shape != codes.shape:
                raise InputError(f"Photo.image_srgb has shape {srgb.shape}, image_codes {codes.shape}")
            srgb.flags.writeable = False
        shape = tuple(np.shape(srgb if codes is None else codes))
        if len(shape) != 3 or shape[2] != 3 or min(shape[:2]) < 1:
            raise InputError(f"Photo.image_srgb must be (H, W, 3) RGB, got shape {shape}")
        if self.disparity is not None:
            check_float_array(self.disparity, "Photo.disparity", "(H, W)")
            if tuple(np.shape(self.disparity)) != shape[:2]:
                raise InputError(f"Photo.disparity has shape {tuple(np.shape(self.disparity))}, "
                                 f"the image {shape[:2]}")
        if self.image_linear is not None:
            check_float_array(self.image_linear, "Photo.image_linear", "(H, W, 3)")
            if tuple(np.shape(self.image_linear)) != shape:
                raise InputError(f"Photo.image_linear has shape {tuple(np.shape(self.image_linear))}, "
                                 f"image_srgb {shape}")

    def _image_srgb(self) -> np.ndarray | None:
        srgb = self.__dict__.get("_srgb")
        if srgb is None and self.image_codes is not None:
            from .io.images import unit_float8

            srgb = self.__dict__["_srgb"] = unit_float8(self.image_codes)
            srgb.flags.writeable = False
        return srgb

    def _set_image_srgb(self, value: np.ndarray | None) -> None:
        self.__dict__["_srgb"] = value
        if value is not None:
            self.image_codes = None  # a new image: the codes were the old one's

    def with_depth(self, disparity: np.ndarray | None, **changes) -> Photo:
        """A new photo: this one with ``disparity`` and the other fields in ``changes``, checked. The
        image arrays are shared (an 8-bit photo's float image is not made for it)."""
        now = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "image_srgb"}
        return Photo(self.__dict__["_srgb"], **{**now, "disparity": disparity, **changes})

    @property
    def focus(self) -> tuple[float, float] | None:
        """The old name of ``focus_point``."""
        return self.focus_point

    def linear(self, transfer=None) -> np.ndarray:
        """The photo in linear light: a RAW's own values, else ``image_srgb`` decoded
        with ``transfer`` (:class:`deocused.io.iccolour.Transfer`; None: the sRGB curve)."""
        return self.linear_rows(transfer)(0, self.shape[0])

    def linear_rows(self, transfer=None):
        """``rows(y0, y1, out=None)``: :meth:`linear` of rows y0..y1-1 (float32), made when asked for
        (an 8-bit photo's into ``out`` when given: float32 (y1 - y0, W, 3), C order). An 8-bit
        photo (every value code * float32(1/255)) is decoded once per code through a table: the same
        floats as decoding every value."""
        if self.image_linear is not None:
            return lambda y0, y1, out=None: self.image_linear[y0:y1]
        decode = srgb_to_linear if transfer is None else transfer.decode
        codes = self.image_codes if self.image_codes is not None else codes8(self.image_srgb)
        if codes is None:
            return lambda y0, y1, out=None: decode(self.image_srgb[y0:y1])
        table = code_table(decode)
        return lambda y0, y1, out=None: decode_codes(codes[y0:y1], table, out)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.image_srgb if self.image_codes is None else self.image_codes).shape[:2]

    @property
    def inputs(self) -> list[Path]:
        """The user's files this photo came from: never to be overwritten."""
        return [p for p in (self.image_path, self.depth_path) if p is not None]


# image_srgb is a property over the dataclass field (made from image_codes when first read); set after
# @dataclass, which would otherwise take the property for the field's default value
Photo.image_srgb = property(Photo._image_srgb, Photo._set_image_srgb, doc="float32 (H, W, 3) sRGB in [0, 1].")


def load_photo(image: str | Path | None = None, *, sample: str | None = None, depth: str | Path | None = None,
               depth_kind: str = "disparity", model: str | None = None, model_path: str | None = None,
               estimate: bool = True, embedded: bool = True) -> Photo:
    """Load a photo (a file, or the bundled ``sample``) and its disparity.

    ``depth_kind``: whether the depth file holds disparity or metric depth.
    Without a depth file or sidecar, the depth embedded in the photo is used
    (unless ``embedded`` is False); without any, the depth network runs (in its
    worker process) when ``estimate``, else ``Photo.disparity`` stays None.

    >>> photo = load_photo(sample="synthetic")
    >>> photo.shape, photo.image_srgb.dtype, photo.disparity.shape == photo.shape
    ((426, 640), dtype('float32'), True)
    """
    from .io.depthmap import find_sidecar, fit_to_image, load_disparity, to_disparity
    from .io.images import decode_image, read_bytes
    from .io.metadata import read_metadata

    if sample:
        from .io.samples import load_sample

        img, raw, focus = load_sample(sample)
        if depth:
            return Photo(img, load_disparity(str(depth), img.shape[:2], depth_kind), focus, None, Path(depth))
        return Photo(img, to_disparity(raw, "disparity", f"sample '{sample}'"), focus)
    if not image:
        raise InputError("no image given (pass IMAGE or --sample NAME)")
    if depth is None:
        depth = find_sidecar(str(image))
        if depth is not None:
            log.info("using depth map %s", depth)
    with ThreadPoolExecutor(1) as pool:
        # the depth file decodes beside the photo (both decoders release the GIL); the photo's errors come first
        disparity = None if depth is None else pool.submit(load_disparity, str(depth), None, depth_kind)
        data = read_bytes(str(image), "image")  # read once: the pixels, the metadata, the embedded depth
        linear = _camera_raw(image, data)
        img = decode_image(data, str(image), codes=True) if linear is None else linear_to_srgb(linear)
        codes, img = (img, None) if img.dtype == np.uint8 else (None, img)  # an 8-bit file: its codes
        meta = read_metadata(data, str(image))
        photo = Photo(img, None, None, Path(image), meta=meta, image_linear=linear, image_codes=codes)
        if disparity is not None:
            return photo.with_depth(fit_to_image(disparity.result(), photo.shape, str(depth)), depth_path=Path(depth))
    if embedded:
        found = _embedded_photo(photo, data)
        if found is not None:
            return found
    if not estimate:
        return photo
    from .depth import estimate_disparity

    log.info("no depth map for %s; estimating depth with the model", image)
    disp = estimate_disparity(photo.image_srgb, model=model, model_path=model_path)
    return photo.with_depth(fit_to_image(to_disparity(disp, "disparity", "model output"), photo.shape))


def _camera_raw(image, data: bytes) -> np.ndarray | None:
    """Scene-linear RGB of a camera RAW file (by its extension; ``data``: its bytes), else None."""
    from .io.camera_raw import decode_camera_raw, is_camera_raw
    from .io.images import MAX_PIXELS

    if not is_camera_raw(str(image)):
        return None
    return decode_camera_raw(data, str(image), MAX_PIXELS)


def _embedded_photo(photo: Photo, data: bytes) -> Photo | None:
    """``photo`` with the depth its file (``data``) carries (GDepth's unblurred original
    image replacing the primary one), or None."""
    from .io.embedded_depth import find_embedded_depth, fit_to_photo
    from .io.images import decode_image

    path = photo.image_path
    emb = find_embedded_depth(data, str(path))
    if emb is None:
        return None
    log.info("%s: using the depth embedded in the photo (%s)", path, emb.source)
    if emb.image is not None:
        photo = Photo(decode_image(emb.image, f"{path} (original image)"), None, None, path, meta=photo.meta)
    focus = None
    if emb.focus is not None:
        h, w = photo.shape
        focus = (min(emb.focus[0] * w, w - 1.0), min(emb.focus[1] * h, h - 1.0))
    return photo.with_depth(fit_to_photo(emb, photo.image_srgb, f"{path} (embedded depth)"), focus_point=focus)


def render_photo(photo: Photo, settings: RenderSettings, renderer, bit_depth: int = 8) -> np.ndarray:
    """Refocus ``photo`` with ``settings`` on ``renderer`` (made with
    ``settings.renderer_options()``): uint8 (H, W, 3), or uint16 when
    ``bit_depth`` is 16. Blurred in linear light, decoded and encoded with the
    tone curve of the photo's ICC profile (sRGB without one). Settings are
    checked before the slow part. A photo above
    :data:`~deocused.constants.STRIP_ABOVE_PIXELS` renders in horizontal strips
    (:meth:`~deocused.render.renderer.Renderer.render_region`, so memory is bounded by a
    strip): the whole render within the region render's tolerance (on the CPU
    the same codes in the tests and on the 12 MP motorcycle photo).

    >>> import deocused
    >>> photo = deocused.load_photo(sample="synthetic")
    >>> settings = deocused.RenderSettings(focus_disparity=0.6, max_blur=12)
    >>> out = render_photo(photo, settings, deocused.make_renderer("cpu", **settings.renderer_options()))
    >>> out.dtype, out.shape == (*photo.shape, 3)
    (dtype('uint8'), True)
    """
    (focus_disparity,), max_blur, transfer = _render_inputs(photo, settings, renderer, bit_depth)
    linear, disparity = photo.linear_rows(transfer), photo.disparity
    h, w = disparity.shape
    if _strip_rows(h, w) >= h:
        renderer.prepare(linear(0, h), disparity)
        return _encode(renderer, renderer.render(focus_disparity, max_blur, settings.dof), transfer, bit_depth)
    from .render.renderer import aligned_window, region_reach

    whole = renderer.band_stats(disparity)
    reach = region_reach(whole, focus_disparity, max_blur, settings.dof, renderer.cat_eye)
    # each strip prepares its rows and the reach above and below: strips under twice the reach would cost more
    step = max(_strip_rows(h, w), 2 * reach)
    out = np.empty((h, w, 3), np.uint8 if bit_depth == 8 else np.uint16)
    strips = []  # (y0, y1, wy0, wy1): a strip's rows and those render_region prepares for it (its window)
    for y0 in range(0, h, step):
        y1 = min(h, y0 + step)
        _, wy0, _, wy1 = aligned_window((0, y0, w, y1), reach, (h, w))
        strips.append((y0, y1, wy0, wy1))
    # the linear light of each window, made for those rows only, decodes into one buffer; the largest
    # window first, so that the renderer's buffers, made for it, serve every later strip (scratch.py)
    strips.sort(key=lambda s: s[3] - s[2], reverse=True)
    rows = np.empty((strips[0][3] - strips[0][2], w, 3), np.float32)
    for y0, y1, wy0, wy1 in strips:
        window = linear(wy0, wy1, rows[:wy1 - wy0])
        strip = renderer.render_region(window, disparity[wy0:wy1], (0, y0 - wy0, w, y1 - wy0),
                                       focus_disparity, max_blur, settings.dof, whole=whole, place=(0, wy0, w, h))
        out[y0:y1] = _encode(renderer, strip, transfer, bit_depth)
        del strip, window  # the next strip reuses the renderer's buffers (CPU: see render/cpu/scratch.py)
    renderer.release()  # prepared on the last strip's window: of no use to a later render
    return out


def render_photo_sweep(photo: Photo, settings: RenderSettings, renderer, focus_disparities, bit_depth: int = 8):
    """:func:`render_photo` at each of ``focus_disparities`` (``settings``' focus aside): one
    ``prepare``, then one render per disparity (the photo whole, not in strips). Checks
    everything at once, then yields the encoded frames one by one."""
    focus_disparities, max_blur, transfer = _render_inputs(photo, settings, renderer, bit_depth, focus_disparities)
    renderer.prepare(photo.linear(transfer), photo.disparity)
    return (_encode(renderer, renderer.render(d, max_blur, settings.dof), transfer, bit_depth)
            for d in focus_disparities)


def _render_inputs(photo: Photo, settings: RenderSettings, renderer, bit_depth: int, focus_disparities=None):
    """Check a render of ``photo`` before the slow part (:class:`InputError`); return its focus
    disparities (default: the one ``settings`` resolve to), ``max_blur`` (pixels) and the
    transfer curve of the photo's ICC profile (None: the engine's sRGB curve)."""
    from .io.iccolour import transfer_from_icc

    if not isinstance(photo, Photo):
        raise InputError(f"render_photo takes a Photo (deocused.Photo(image_srgb, disparity)), "
                         f"got {type(photo).__name__}")
    if photo.disparity is None:
        raise InputError("the photo has no depth yet")
    if bit_depth not in (8, 16):
        raise InputError(f"--bit-depth must be 8 or 16, got {bit_depth}")
    if focus_disparities is None:
        focus_disparities = [settings.resolve_focus_disparity(photo.disparity, photo.focus_point)]
    max_blur = settings.resolve_max_blur(photo.shape)
    for d in focus_disparities:
        renderer.check_focus(d, max_blur, settings.dof)
    transfer = transfer_from_icc(photo.meta.icc if photo.meta else None, str(photo.image_path or "photo"))
    if transfer is not None and transfer.is_srgb:
        transfer = None  # the engine's own sRGB curve (the same to 2e-4), on the renderer's device
    return list(focus_disparities), max_blur, transfer


def _strip_rows(h: int, w: int) -> int:
    """Rows per strip of a one-shot render (:data:`~deocused.constants.STRIP_PIXELS`; ``h``: no strips)."""
    from .constants import STRIP_ABOVE_PIXELS, STRIP_PIXELS

    if h * w <= STRIP_ABOVE_PIXELS:
        return h
    n = -(-h * w // STRIP_PIXELS)
    return -(-h // n)


def _encode(renderer, linear, transfer, bit_depth: int) -> np.ndarray:
    """A rendered linear frame (the backend's array) as host uint8 / uint16 codes of ``transfer`` (None: sRGB)."""
    if transfer is None and bit_depth == 8:
        return renderer.to_host(renderer.encode_srgb8(linear))
    linear = renderer.to_host(linear)
    encoded = linear_to_srgb(linear) if transfer is None else transfer.encode(linear)
    top = 255.0 if bit_depth == 8 else 65535.0
    return np.rint(encoded * top).astype(np.uint8 if bit_depth == 8 else np.uint16)
