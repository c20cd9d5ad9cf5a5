"""Bundled samples that work offline, each with a real depth map.

* ``motorcycle`` -- the Middlebury 2014 "motorcycle" stereo pair's left view
  with its ground-truth disparity, shipped inside scikit-image (holes are +inf).
* ``synthetic``  -- a procedurally rendered scene with exact depth, made by
  :func:`synthetic_scene` (``samples/make_synthetic.py`` writes it to PNG).

A sample is (sRGB image float32 (H, W, 3) in [0, 1], raw disparity (H, W) with
holes as non-finite values, default focus point (x, y) in pixels).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

SAMPLES = ("motorcycle", "synthetic")


def load_sample(name: str):
    """Return ``(image_srgb, raw_disparity, focus_xy)`` for a bundled sample."""
    if name == "motorcycle":
        from skimage.data import stereo_motorcycle

        left, _right, disp = stereo_motorcycle()
        return left.astype(np.float32) / 255.0, disp.astype(np.float32), (300.0, 250.0)
    if name == "synthetic":
        img, depth = synthetic_scene()
        return img, (1.0 / depth).astype(np.float32), (200.0, 330.0)
    raise InputError(f"unknown sample '{name}' (available: {', '.join(SAMPLES)})")


def _checker(u, v, n, c0, c1):
    u, v = np.nan_to_num(u, posinf=0.0, neginf=0.0), np.nan_to_num(v, posinf=0.0, neginf=0.0)
    t = ((np.floor(u * n) + np.floor(v * n)) % 2)[..., None]
    return c0 * (1 - t) + c1 * t


def synthetic_scene(width: int = 640, height: int = 426, seed: int = 7):
    """A ray-cast scene with exact depth: a textured back wall at 12 m, a checker
    floor, a sphere, two cards at 2-6 m and small bright lights.

    Returns (sRGB image float32 (H, W, 3), depth in metres float32 (H, W)).
    Pinhole camera at the origin looking down +z, focal length ``width`` px.
    """
    rng = np.random.default_rng(seed)
    f = float(width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    dx, dy = (xx + 0.5 - width / 2) / f, (yy + 0.5 - height / 2) / f  # ray direction (dx, dy, 1)
    depth = np.full((height, width), np.inf)
    colour = np.zeros((height, width, 3))
    # back wall z = 12: smooth colour noise
    noise = cv2_blur(rng.random((height // 40 + 2, width // 40 + 2, 3)), (width, height))
    z = 12.0
    wall = 0.25 + 0.5 * noise
    depth[:] = z
    colour[:] = wall
    # floor y = 1.2 (camera 1.2 m above it): checker in linear light
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(dy > 0, 1.2 / dy, np.inf)
    hit = t < depth
    u, v = dx * t, t
    floor = _checker(u, v, 1.0, np.array([0.75, 0.7, 0.6]), np.array([0.15, 0.2, 0.3]))
    depth = np.where(hit, t, depth)
    colour = np.where(hit[..., None], floor, colour)
    # sphere centre (-0.6, 0.5, 4), radius 0.7
    c, rad = np.array([-0.6, 0.5, 4.0]), 0.7
    dn = np.sqrt(dx * dx + dy * dy + 1)
    ux, uy, uz = dx / dn, dy / dn, 1 / dn
    bq = ux * c[0] + uy * c[1] + uz * c[2]
    disc = bq * bq - (c @ c - rad * rad)
    ts = bq - np.sqrt(np.maximum(disc, 0))
    zs = ts * uz
    hit = (disc > 0) & (zs < depth)
    px, py, pz = ux * ts - c[0], uy * ts - c[1], uz * ts - c[2]
    shade = np.clip(0.3 + 0.7 * (-px * 0.4 - py * 0.7 - pz * 0.6) / rad, 0.05, 1.0)
    stripes = 0.6 + 0.4 * (np.sin(12 * np.arctan2(py, px)) > 0)
    sph = shade[..., None] * stripes[..., None] * np.array([0.8, 0.25, 0.2])
    depth = np.where(hit, zs, depth)
    colour = np.where(hit[..., None], sph, colour)
    # cards: axis-aligned rectangles at fixed z (x0, x1, y0, y1 in metres)
    for zc, (x0, x1, y0, y1), col in ((2.2, (0.35, 0.9, -0.2, 0.6), (0.2, 0.6, 0.9)),
                                      (6.0, (0.9, 2.6, -1.0, 0.9), (0.9, 0.85, 0.3))):
        X, Y = dx * zc, dy * zc
        hit = (X > x0) & (X < x1) & (Y > y0) & (Y < y1) & (zc < depth)
        tex = _checker(X, Y, 6.0, np.array(col), np.array(col) * 0.35)
        depth = np.where(hit, zc, depth)
        colour = np.where(hit[..., None], tex, colour)
    # a few small lights on the wall (bright, clip in 8-bit)
    for lx, ly in rng.uniform([-4, -2.5], [4, 0.5], size=(6, 2)):
        X, Y = dx * 12.0, dy * 12.0
        hit = ((X - lx) ** 2 + (Y - ly) ** 2 < 0.07 ** 2) & (depth >= 12.0 - 1e-6)
        colour = np.where(hit[..., None], 1.0, colour)
    from .colour import linear_to_srgb

    return linear_to_srgb(colour.astype(np.float32)), depth.astype(np.float32)


def cv2_blur(small, size):
    import cv2

    return cv2.resize(small.astype(np.float32), size, interpolation=cv2.INTER_CUBIC).clip(0, 1)
