"""CPU backend: the blur pyramid with OpenCV, level selection with NumPy.

Algorithm (identical on the GPU, see :mod:`engine.pyramid` for the pyramid):

For a pixel x with blur radius r = K*|d(x) - d_f| in disparity band b, write
S_j(r) for layer j's premultiplied RGBA sampled at x with radius r (levels
interpolated in r^2) and B_k(r) = S_k(r) - S_{k-1}(r) for band k alone.

1. own    = B_b(r): x's own band gathered at x's own radius. Pixels in front of
   x are not in it, so a sharp foreground never bleeds into a blurred
   background (no halo), and in-focus pixels (r = 0) are returned unchanged.
2. behind = S_{b-1}(r) / alpha: everything behind x's band, renormalised;
   it fills the part of x's neighbourhood the own band does not cover (what a
   blurred foreground hides), so a blurred foreground edge fades into the
   background behind it rather than into black.
3. over x, for each band k in front of it (k = b+1 .. n-1, far to near), the
   band blurred with its own radius R_k = K*|c_k - d_f| (c_k: the band's mean
   disparity) is composited with premultiplied "over": a blurred foreground
   spreads over sharp pixels behind it and is see-through at its edge.
4. the result is divided by the accumulated coverage.

Level arrays are stored as float16 (half the memory; errors < 1/255 after
8-bit encoding); arithmetic is float32.
"""

from __future__ import annotations

import cv2
import numpy as np

from .optics import coc_radius
from .pyramid import (LEVEL_RADII, band_of, level_scale, level_weights, levels_needed, padded_shape,
                      small_radius)
from .renderer import Renderer, boost_highlights

STORE = np.float16
EPS = 1e-6


def box_down(rgba: np.ndarray, s: int) -> np.ndarray:
    """Average s x s blocks (the size must divide)."""
    if s == 1:
        return rgba
    h, w, c = rgba.shape
    return rgba.reshape(h // s, s, w // s, s, c).mean(axis=(1, 3), dtype=np.float32)


def convolve(rgba: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve (not correlate) each channel with ``kernel``; zero outside the image."""
    if kernel.shape == (1, 1):
        return rgba
    return cv2.filter2D(rgba, -1, cv2.flip(kernel, -1), borderType=cv2.BORDER_CONSTANT)


def bilinear_at(level: np.ndarray, s: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample a level stored at 1/s resolution at full-resolution pixels (ys, xs):
    bilinear, pixel centres at (i + 0.5) * s, clamped at the borders (as cv2.resize)."""
    if s == 1:
        return level[ys, xs].astype(np.float32)
    hs, ws = level.shape[:2]
    fy = (ys + 0.5) / s - 0.5
    fx = (xs + 0.5) / s - 0.5
    y0 = np.floor(fy).astype(np.int64)
    x0 = np.floor(fx).astype(np.int64)
    ty = (fy - y0).astype(np.float32)[:, None]
    tx = (fx - x0).astype(np.float32)[:, None]
    y0c, y1c = np.clip(y0, 0, hs - 1), np.clip(y0 + 1, 0, hs - 1)
    x0c, x1c = np.clip(x0, 0, ws - 1), np.clip(x0 + 1, 0, ws - 1)
    a = level[y0c, x0c].astype(np.float32)
    b = level[y0c, x1c].astype(np.float32)
    c = level[y1c, x0c].astype(np.float32)
    d = level[y1c, x1c].astype(np.float32)
    return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty


class CpuRenderer(Renderer):
    """NumPy/OpenCV implementation of the refocus renderer."""

    device = "cpu"

    def prepare(self, image_linear, disparity) -> None:
        image_linear = np.asarray(image_linear, np.float32)
        disparity = np.asarray(disparity, np.float32)
        self.check_inputs(image_linear, disparity)
        h, w = disparity.shape
        hp, wp = padded_shape(h, w)
        self.shape = (h, w)
        self.disparity = disparity
        img = boost_highlights(image_linear, self.highlights)
        self.band = band_of(disparity, self.n_bands)
        # Padded band map: outside the image no layer has content.
        band_p = np.full((hp, wp), self.n_bands, np.int32)
        band_p[:h, :w] = self.band
        self._band_p = band_p
        self._image_p = np.zeros((hp, wp, 3), np.float32)
        self._image_p[:h, :w] = img
        counts = np.bincount(self.band.ravel(), minlength=self.n_bands)
        sums = np.bincount(self.band.ravel(), weights=disparity.ravel(), minlength=self.n_bands)
        mids = (np.arange(self.n_bands) + 0.5) / self.n_bands
        self.band_count = counts
        self.band_centre = np.where(counts > 0, sums / np.maximum(counts, 1), mids).astype(np.float32)
        self._down: dict[tuple[int, int], np.ndarray] = {}
        self._levels: dict[tuple[int, int], np.ndarray] = {}
        self._n_levels = 1

    # -- pyramid -------------------------------------------------------------------------
    def _layer_rgba(self, j: int) -> np.ndarray:
        """Full-resolution premultiplied RGBA of layer j (bands <= j), padded."""
        m = (self._band_p <= j).astype(np.float32)[:, :, None]
        return np.concatenate([self._image_p * m, m], axis=2)

    def _downsampled(self, j: int, s: int) -> np.ndarray:
        key = (j, s)
        if key not in self._down:
            self._down[key] = box_down(self._layer_rgba(j), s)
        return self._down[key]

    def ensure_levels(self, n: int) -> None:
        """Build pyramid levels 1..n-1 of every layer that are not built yet."""
        n = min(n, len(LEVEL_RADII))
        for i in range(self._n_levels, n):
            rho = LEVEL_RADII[i]
            s = level_scale(rho)
            kernel = self.aperture.kernel(small_radius(rho, s, self.aperture))
            for j in range(self.n_bands):
                self._levels[(j, i)] = convolve(self._downsampled(j, s), kernel).astype(STORE)
        self._n_levels = max(self._n_levels, n)

    def level(self, j: int, i: int) -> tuple[np.ndarray, int]:
        """Level i of layer j as (array at 1/s resolution, s)."""
        if i == 0:
            return self._layer_rgba(j), 1
        return self._levels[(j, i)], level_scale(LEVEL_RADII[i])

    # -- per focus -----------------------------------------------------------------------
    def _sample_pixels(self, j: int, i_lo: np.ndarray, w: np.ndarray, ys, xs) -> np.ndarray:
        """Layer j sampled at pixels (ys, xs) between levels i_lo and i_lo+1 with weight w."""
        out = np.zeros((ys.size, 4), np.float32)
        if j < 0:
            return out
        for i in np.unique(i_lo):
            sel = i_lo == i
            yy, xx = ys[sel], xs[sel]
            lo = self._sample_level(j, int(i), yy, xx)
            if self._n_levels > 1:
                hi = self._sample_level(j, int(i) + 1, yy, xx)
                ww = w[sel][:, None]
                out[sel] = ww * lo + (1 - ww) * hi
            else:
                out[sel] = lo
        return out

    def _sample_level(self, j: int, i: int, ys, xs) -> np.ndarray:
        if i == 0:
            m = (self._band_p[ys, xs] <= j).astype(np.float32)[:, None]
            return np.concatenate([self._image_p[ys, xs] * m, m], axis=1)
        arr, s = self.level(j, i)
        return bilinear_at(arr, s, ys, xs)

    def _full_layer(self, j: int, radius: float) -> np.ndarray:
        """Layer j at one radius for the whole image (H, W, 4), float32."""
        h, w = self.shape
        if j < 0:
            return np.zeros((h, w, 4), np.float32)
        i, wt = level_weights(np.array([radius], np.float32), self._n_levels)
        i, wt = int(i[0]), float(wt[0])
        parts = []
        for lvl in (i, i + 1) if self._n_levels > 1 else (i,):
            arr, s = self.level(j, lvl)
            arr = arr.astype(np.float32)
            if s > 1:
                arr = cv2.resize(arr, (arr.shape[1] * s, arr.shape[0] * s), interpolation=cv2.INTER_LINEAR)
            parts.append(arr[:h, :w])
        return parts[0] if len(parts) == 1 else wt * parts[0] + (1 - wt) * parts[1]

    def render(self, focus_disparity: float, max_blur: float, dof: float = 0.0) -> np.ndarray:
        if self.shape is None:
            raise RuntimeError("render() before prepare()")
        self.check_focus(focus_disparity, max_blur, dof)
        h, w = self.shape
        radius = coc_radius(self.disparity, focus_disparity, max_blur, dof).astype(np.float32)
        band_radius = coc_radius(self.band_centre, focus_disparity, max_blur, dof).astype(np.float32)
        self.ensure_levels(levels_needed(max(float(radius.max()), float(band_radius.max()))))
        i_lo, wt = level_weights(radius, self._n_levels)

        colour = np.zeros((h, w, 3), np.float32)
        cover = np.zeros((h, w), np.float32)
        # 1-2: own band at own radius, over the renormalised content behind it.
        for b in np.flatnonzero(self.band_count):
            ys, xs = np.nonzero(self.band == b)
            il, ww = i_lo[ys, xs], wt[ys, xs]
            here = self._sample_pixels(b, il, ww, ys, xs)
            behind = self._sample_pixels(b - 1, il, ww, ys, xs)
            own = here - behind
            c = own[:, :3]
            a = own[:, 3]
            has_behind = behind[:, 3] > 1e-3
            fill = behind[:, :3] / np.maximum(behind[:, 3:], EPS)
            c = c + np.where(has_behind[:, None], (1 - a)[:, None] * fill, 0.0)
            a = np.where(has_behind, 1.0, a)
            colour[ys, xs] = c
            cover[ys, xs] = a
        # 3: bands in front, each with its own radius, composited far to near.
        for k in range(1, self.n_bands):
            if self.band_count[k] == 0 or band_radius[k] <= 0:
                continue
            front = self.band < k
            if not front.any():
                continue
            f = self._full_layer(k, band_radius[k]) - self._full_layer(k - 1, band_radius[k])
            fa = np.where(front, f[:, :, 3], 0.0)[:, :, None]
            colour = np.where(front[:, :, None], f[:, :, :3] + (1 - fa) * colour, colour)
            cover = np.where(front, fa[:, :, 0] + (1 - fa[:, :, 0]) * cover, cover)
        # 4: normalise by coverage.
        return (colour / np.maximum(cover, EPS)[:, :, None]).astype(np.float32)
