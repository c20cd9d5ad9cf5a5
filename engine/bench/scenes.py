"""Benchmark inputs: a real photo with real depth, or the ray-cast synthetic scene, at any size.

* ``motorcycle`` (default): the bundled Middlebury "motorcycle" photo and its
  stereo disparity (:func:`deocused.photo.load_photo`, holes filled, normalised
  to [0, 1]), centre-cropped to the requested aspect ratio, then scaled to the
  requested size: the photo with INTER_AREA when shrinking and INTER_CUBIC
  when enlarging, the disparity with nearest neighbour (no invented depths).
* ``synthetic``: :func:`deocused.io.samples.synthetic_scene` ray-cast at the size
  (exact depth, no resampling), disparity 1/depth normalised to [0, 1].
"""

from __future__ import annotations

import functools

import numpy as np

SCENES = ("motorcycle", "synthetic")
DEFAULT_SCENE = "motorcycle"
DESCRIPTION = {
    "motorcycle": "deocused.io.samples 'motorcycle' photo (741x500) with its stereo disparity (holes filled, "
                  "normalised to [0, 1]), centre-cropped to each size's aspect ratio and scaled to it "
                  "(photo: INTER_AREA down / INTER_CUBIC up; disparity: nearest neighbour)",
    "synthetic": "deocused.io.samples.synthetic_scene ray-cast at each size; disparity = 1/depth normalised to [0, 1]",
}


@functools.lru_cache(1)
def _motorcycle():
    import logging

    from ..photo import load_photo

    log = logging.getLogger("deocused")
    level = log.level
    log.setLevel(logging.ERROR)  # the sample's hole-filling notice, once per child process
    try:
        p = load_photo(None, sample="motorcycle", estimate=False)
    finally:
        log.setLevel(level)
    return p.image_srgb, p.disparity


def crop_to_aspect(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """The centred part of ``a`` (H, W[, C]) with the aspect ratio width:height."""
    h, w = a.shape[:2]
    if w * height > h * width:  # too wide
        cw = max(1, round(h * width / height))
        x0 = (w - cw) // 2
        return a[:, x0:x0 + cw]
    ch = max(1, round(w * height / width))
    y0 = (h - ch) // 2
    return a[y0:y0 + ch]


def scaled_photo(image: np.ndarray, disparity: np.ndarray, width: int, height: int):
    """``image`` (sRGB float32) and ``disparity`` cropped to width:height and scaled to width x height."""
    import cv2

    img = crop_to_aspect(image, width, height)
    disp = crop_to_aspect(disparity, width, height)
    shrink = width * height < img.shape[0] * img.shape[1]
    img = cv2.resize(np.ascontiguousarray(img), (width, height),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    disp = cv2.resize(np.ascontiguousarray(disp), (width, height), interpolation=cv2.INTER_NEAREST)
    return np.clip(img, 0.0, 1.0).astype(np.float32), np.ascontiguousarray(disp, np.float32)


def scene_arrays(width: int, height: int, scene: str = DEFAULT_SCENE):
    """(sRGB float32 (H, W, 3) in [0, 1], disparity float32 (H, W) in [0, 1]) of ``scene`` at the size."""
    if scene == "motorcycle":
        return scaled_photo(*_motorcycle(), width, height)
    if scene == "synthetic":
        from ..io.depthmap import to_disparity
        from ..io.samples import synthetic_scene

        img, depth = synthetic_scene(width, height)
        return img, to_disparity((1.0 / depth).astype(np.float32), "disparity", "synthetic scene")
    raise ValueError(f"unknown scene {scene!r} (available: {', '.join(SCENES)})")


def make_inputs(width: int, height: int, scene: str = DEFAULT_SCENE) -> dict:
    """The scene at ``width`` x ``height``: sRGB image, disparity, and its JPEG (quality 95) and PNG bytes."""
    import cv2

    img, disp = scene_arrays(width, height, scene)
    bgr8 = np.rint(img[:, :, ::-1] * 255.0).astype(np.uint8)
    ok1, jpg = cv2.imencode(".jpg", bgr8, [cv2.IMWRITE_JPEG_QUALITY, 95])
    ok2, png = cv2.imencode(".png", bgr8)
    assert ok1 and ok2
    return {"srgb": img, "disparity": disp, "jpeg": jpg.tobytes(), "png": png.tobytes()}
