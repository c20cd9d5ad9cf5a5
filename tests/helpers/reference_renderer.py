"""The CPU renderer as straightforward NumPy/OpenCV code (dense float32 levels of
every layer, fancy-index gathers): the reference the fast CPU backend
(deocused.render.cpu.backend, Numba kernels, sparse tiles) is tested against. Same
algorithm; results differ only by float summation order.
"""

from __future__ import annotations

import cv2
import numpy as np

from deocused.constants import (
    EPS,
    FILL_BEHIND_RAMP,
    FILL_COVER_RAMP,
    FILL_MIN_COVER,
    HIDDEN_FILL_RADIUS,
    HIDDEN_MIN_SHARE,
    OUTLINE_FLATNESS,
    OUTLINE_MAX_SHARE,
    OUTLINE_STEPS,
)
from deocused.errors import DeviceError
from deocused.render.cateye import pixel_taps
from deocused.render.cpu.backend import MIN_PYRAMID_RADIUS
from deocused.render.optics import coc_radius
from deocused.render.pyramid import (
    LEVEL_RADII,
    band_of,
    level_scale,
    level_weights,
    levels_needed,
    padded_shape,
    small_radius,
)
from deocused.render.renderer import Renderer, boost_highlights


def box_down2(rgba: np.ndarray) -> np.ndarray:
    """Average 2 x 2 blocks (even sizes)."""
    h, w = rgba.shape[:2]
    return cv2.resize(rgba, (w // 2, h // 2), interpolation=cv2.INTER_AREA)


def convolve(rgba: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve (not correlate) each channel with ``kernel``; zero outside the image."""
    if kernel.shape == (1, 1):
        return rgba
    return cv2.filter2D(rgba, -1, cv2.flip(kernel, -1), borderType=cv2.BORDER_CONSTANT)


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: (dy, dx) of the outline split's direction codes 0..3: right, down, left, up.
DIRECTIONS = ((0, 1), (1, 0), (0, -1), (-1, 0))


def outline_split(img: np.ndarray, band: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The outline split of every pixel, vectorised: (code, other band, share colour
    RGBA premultiplied (c, s)). See deocused.constants.OUTLINE_MAX_SHARE; float32
    arithmetic in the kernels' order, so the codes are exactly the backends'."""
    h, w = band.shape
    b = band.astype(np.int64)
    pb = np.pad(b, 1, constant_values=-1)
    pi = np.pad(img, ((1, 1), (1, 1), (0, 0)))
    inside = np.pad(np.ones((h, w), bool), 1)
    best = np.full((h, w), -1, np.int64)
    most = np.zeros((h, w), np.int64)
    for d, (dy, dx) in enumerate(DIRECTIONS):
        ok = inside[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        diff = np.where(ok, np.abs(pb[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] - b), 0)
        upd = diff > most
        best[upd], most[upd] = d, diff[upd]
    code = np.zeros((h, w), np.uint8)
    other = b.copy()
    share = np.zeros((h, w, 4), np.float32)
    for d, (dy, dx) in enumerate(DIRECTIONS):
        sel = (best == d) & inside[1 - dy:1 - dy + h, 1 - dx:1 - dx + w]  # the far side is in the image
        ys, xs = np.nonzero(sel)
        p, f, nb = img[ys, xs], pi[1 + ys - dy, 1 + xs - dx], pi[1 + ys + dy, 1 + xs + dx]
        y2, x2 = ys - 2 * dy, xs - 2 * dx
        out = (y2 < 0) | (y2 >= h) | (x2 < 0) | (x2 >= w)
        f2 = img[np.where(out, ys - dy, y2), np.where(out, xs - dx, x2)]  # F itself beyond the border
        g = f2 - f
        dF = (g[:, 0] * g[:, 0] + g[:, 1] * g[:, 1]) + g[:, 2] * g[:, 2]
        v = nb - f
        num = ((p[:, 0] - f[:, 0]) * v[:, 0] + (p[:, 1] - f[:, 1]) * v[:, 1]) + (p[:, 2] - f[:, 2]) * v[:, 2]
        den = (v[:, 0] * v[:, 0] + v[:, 1] * v[:, 1]) + v[:, 2] * v[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(den > 0, num / np.where(den > 0, den, np.float32(1)), np.float32(0)).astype(np.float32)
        flatness = np.float32(OUTLINE_FLATNESS)
        with np.errstate(divide="ignore", invalid="ignore"):  # den == 0: no split (t = 0)
            flat = (np.float32(1) - dF / ((flatness * flatness) * den)).astype(np.float32)
            t = np.where((t > 0) & (flat > 0), t * flat, np.float32(0)).astype(np.float32)
        q = (np.minimum(t, np.float32(OUTLINE_MAX_SHARE)) * np.float32(OUTLINE_STEPS) + np.float32(0.5)).astype(np.int64)
        keep = q > 0
        ys, xs, q, p, nb = ys[keep], xs[keep], q[keep], p[keep], nb[keep]
        code[ys, xs] = (q << 2) | d
        other[ys, xs] = b[ys + dy, xs + dx]
        sh = q.astype(np.float32) / np.float32(OUTLINE_STEPS)
        share[ys, xs, :3] = np.minimum(sh[:, None] * nb, p)
        share[ys, xs, 3] = sh
    return code, other, share


class BilinearTaps:
    """Where full-resolution pixels (ys, xs) fall in a level stored at 1/s
    resolution (hs, ws): flat indices of the four neighbours and the weights.
    Pixel centres at (i + 0.5) * s, indices clamped at the borders (as cv2.resize
    INTER_LINEAR)."""

    def __init__(self, ys: np.ndarray, xs: np.ndarray, s: int, hs: int, ws: int):
        self.s = s
        if s == 1:
            self.flat = ys.astype(np.int64) * ws + xs
            return
        fy = (ys + 0.5) / s - 0.5
        fx = (xs + 0.5) / s - 0.5
        y0 = np.floor(fy).astype(np.int64)
        x0 = np.floor(fx).astype(np.int64)
        self.ty = (fy - y0).astype(np.float32)[:, None]
        self.tx = (fx - x0).astype(np.float32)[:, None]
        y0c, y1c = np.clip(y0, 0, hs - 1) * ws, np.clip(y0 + 1, 0, hs - 1) * ws
        x0c, x1c = np.clip(x0, 0, ws - 1), np.clip(x0 + 1, 0, ws - 1)
        self.idx = (y0c + x0c, y0c + x1c, y1c + x0c, y1c + x1c)

    def sample(self, level: np.ndarray, sel=slice(None)) -> np.ndarray:
        """Bilinear samples (n, C) of ``level`` (hs, ws, C) at the pixels (or ``sel`` of them)."""
        flat = level.reshape(-1, level.shape[2])
        if self.s == 1:
            return flat[self.flat[sel]]
        a, b, c, d = (flat[i[sel]] for i in self.idx)
        tx, ty = self.tx[sel], self.ty[sel]
        return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty


def bilinear_at(level: np.ndarray, s: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample a level stored at 1/s resolution at full-resolution pixels (ys, xs)."""
    return BilinearTaps(ys, xs, s, level.shape[0], level.shape[1]).sample(level)


class ReferenceRenderer(Renderer):
    """NumPy/OpenCV implementation of the refocus renderer (slow, dense)."""

    device = "cpu"

    def prepare(self, image_linear, disparity, place=None) -> None:
        image_linear = np.asarray(image_linear, np.float32)
        disparity = np.asarray(disparity, np.float32)
        self.check_inputs(image_linear, disparity)
        h, w = disparity.shape
        self._set_place(place, h, w)
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
        self.codes, other, share = outline_split(img, self.band)
        # Bounding box (y0, y1, x0, x1) of each band's content (pixels and splits), None when empty.
        self._bbox = []
        for j in range(self.n_bands):
            if counts[j] == 0:
                self._bbox.append(None)
                continue
            has = (self.band == j) | ((other == j) & (self.codes > 0))
            rows = np.flatnonzero(has.any(axis=1))
            cols = np.flatnonzero(has.any(axis=0))
            self._bbox.append((int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1))
        # Refuse early what cannot fit: the layers and their levels up to MIN_PYRAMID_RADIUS.
        self._n_levels = 1
        layers = int(np.count_nonzero(counts[1:])) + 1
        need = layers * hp * wp * 16 + self.level_bytes(levels_needed(MIN_PYRAMID_RADIUS))
        free = available_memory()
        if free is not None and need > 0.8 * free:
            self.shape = None
            raise DeviceError(f"not enough memory for the {w}x{h} image's blur pyramid: needs at least "
                              f"{need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB available; use a smaller image")
        self._layer0: list[np.ndarray] = []
        for j in range(self.n_bands):
            if j > 0 and counts[j] == 0:
                self._layer0.append(self._layer0[-1])  # empty band: same layer as below
                continue
            m = (band_p <= j).astype(np.float32)[:, :, None]
            layer = np.concatenate([self._image_p * m, m], axis=2)
            # Outline splits: share (c, s) leaves the pixel's band for the other one.
            layer[:h, :w] -= m[:h, :w] * share
            layer[:h, :w] += (other <= j)[:, :, None] * share
            self._layer0.append(layer)
        self._down: dict[tuple[int, int], np.ndarray] = {}
        self._levels: dict[tuple[int, int], np.ndarray] = {}
        self._n_levels = 1
        self._pixels: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._taps: dict[tuple[int, int], BilinearTaps] = {}

    # -- pyramid -------------------------------------------------------------------------
    def _downsampled(self, j: int, s: int) -> np.ndarray:
        """Layer j box-averaged over s x s blocks (each scale from the one before)."""
        if s == 1:
            return self._layer0[j]
        key = (j, s)
        if key not in self._down:
            if j > 0 and self._layer0[j] is self._layer0[j - 1]:
                self._down[key] = self._downsampled(j - 1, s)
            else:
                self._down[key] = box_down2(self._downsampled(j, s // 2))
        return self._down[key]

    def level_bytes(self, n: int) -> int:
        """Memory that levels ``self._n_levels .. n-1`` of all non-empty layers take (bytes)."""
        hp, wp = self._band_p.shape
        layers = int(np.count_nonzero(self.band_count[1:])) + 1
        return sum(layers * (hp // level_scale(r)) * (wp // level_scale(r)) * 16
                   for r in LEVEL_RADII[self._n_levels:n])

    def ensure_levels(self, n: int) -> None:
        """Build pyramid levels 1..n-1 of every layer that are not built yet.

        Raises :class:`DeviceError` instead of running the machine out of memory."""
        n = min(n, len(LEVEL_RADII))
        need, free = self.level_bytes(n), available_memory()
        if free is not None and need > 0.8 * free:
            h, w = self.shape
            raise DeviceError(f"not enough memory to blur the {w}x{h} image up to {LEVEL_RADII[n - 1]:g} px: "
                              f"needs {need / 2**30:.1f} GiB, {free / 2**30:.1f} GiB available; "
                              "use a smaller image or a smaller --max-blur")
        for i in range(self._n_levels, n):
            rho = LEVEL_RADII[i]
            s = level_scale(rho)
            kernel = self.aperture.kernel(small_radius(rho, s, self.aperture))
            r = kernel.shape[0] // 2
            for j in range(self.n_bands):
                if j > 0 and self._layer0[j] is self._layer0[j - 1]:
                    self._levels[(j, i)] = self._levels[(j - 1, i)]
                elif j == 0 or self._bbox[j] is None:
                    self._levels[(j, i)] = convolve(self._downsampled(j, s), kernel)
                else:
                    # Layers are cumulative and convolution is linear: layer j's level is
                    # layer j-1's plus band j's alone, which is zero outside its bounding
                    # box (grown by the kernel radius), so only that window is convolved.
                    y0, y1, x0, x1 = self._bbox[j]
                    src = self._downsampled(j, s)
                    hs, ws = src.shape[:2]
                    y0, x0 = max(y0 // s - r - 1, 0), max(x0 // s - r - 1, 0)
                    y1, x1 = min(y1 // s + r + 2, hs), min(x1 // s + r + 2, ws)
                    below = self._downsampled(j - 1, s)
                    band = src[y0:y1, x0:x1] - below[y0:y1, x0:x1]
                    level = self._levels[(j - 1, i)].copy()
                    level[y0:y1, x0:x1] += convolve(band, kernel)
                    self._levels[(j, i)] = level
        self._n_levels = max(self._n_levels, n)

    def _level_reach(self, i: int) -> int:
        """How far (full-resolution pixels) level i spreads a pixel: s * (kernel radius + 2)
        at scale s (the box block, the kernel, and the two bilinear taps)."""
        if i == 0:
            return 0
        rho = LEVEL_RADII[i]
        s = level_scale(rho)
        return s * (self.aperture.kernel(small_radius(rho, s, self.aperture)).shape[0] // 2 + 2)

    def level(self, j: int, i: int) -> tuple[np.ndarray, int]:
        """Level i of layer j as (array at 1/s resolution, s)."""
        if i == 0:
            return self._layer0[j], 1
        return self._levels[(j, i)], level_scale(LEVEL_RADII[i])

    # -- per focus -----------------------------------------------------------------------
    def _band_pixels(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        if b not in self._pixels:
            self._pixels[b] = np.nonzero(self.band == b)
        return self._pixels[b]

    def _band_taps(self, b: int, s: int) -> BilinearTaps:
        """Bilinear taps of band b's pixels in levels of scale s (cached per image)."""
        if (b, s) not in self._taps:
            ys, xs = self._band_pixels(b)
            hp, wp = self._band_p.shape
            self._taps[(b, s)] = BilinearTaps(ys, xs, s, hp // s, wp // s)
        return self._taps[(b, s)]

    def _sample_band(self, j: int, b: int, i_lo: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Layer j at band b's pixels, between levels i_lo and i_lo+1 with weight w."""
        out = np.zeros((i_lo.size, 4), np.float32)
        if j < 0:
            return out
        for i in np.unique(i_lo):
            sel = np.flatnonzero(i_lo == i)
            lo = self._sample_level(j, int(i), b, sel)
            if self._n_levels > 1:
                ww = w[sel][:, None]
                out[sel] = ww * lo + (1 - ww) * self._sample_level(j, int(i) + 1, b, sel)
            else:
                out[sel] = lo
        return out

    def _sample_level(self, j: int, i: int, b: int, sel) -> np.ndarray:
        arr, s = self.level(j, i)
        if s > 1 and 4 * self.band_count[b] > arr.shape[0] * arr.shape[1] * s * s // 8:
            # Many pixels: one bilinear upsampling of the level (cv2.resize, same
            # sampling rule) beats four gathers per pixel.
            return self._band_taps(b, 1).sample(self._upsampled(j, i), sel)
        return self._band_taps(b, s).sample(arr, sel)

    def _upsampled(self, j: int, i: int) -> np.ndarray:
        """Level i of layer j at full (padded) resolution, cached for one render."""
        key = (j, i)
        if key not in self._up:
            arr, s = self.level(j, i)
            self._up[key] = arr if s == 1 else cv2.resize(arr, (arr.shape[1] * s, arr.shape[0] * s),
                                                          interpolation=cv2.INTER_LINEAR)
        return self._up[key]

    def _layer_window(self, j: int, radius: float, win) -> np.ndarray:
        """Layer j at one radius over the window ``win`` = (y0, y1, x0, x1), float32 (h, w, 4)."""
        y0, y1, x0, x1 = win
        if j < 0:
            return np.zeros((y1 - y0, x1 - x0, 4), np.float32)
        i, wt = level_weights(np.array([radius], np.float32), self._n_levels)
        i, wt = int(i[0]), float(wt[0])
        parts = [self._upsampled(j, lvl)[y0:y1, x0:x1] for lvl in ((i, i + 1) if self._n_levels > 1 else (i,))]
        return parts[0] if len(parts) == 1 else wt * parts[0] + (1 - wt) * parts[1]

    def _hidden_fill(self, b: int, c: np.ndarray, a: np.ndarray, here_a: np.ndarray, r: np.ndarray):
        """Own band (c, a) plus the part of band b's pixels' neighbourhood that bands in front
        hide (1 - here_a), estimated from layer b at HIDDEN_FILL_RADIUS times the pixels' radius
        ``r`` (see deocused.constants.HIDDEN_FILL_RADIUS)."""
        if self.cat_eye > 0:
            ys, xs = self._band_pixels(b)
            near = self._cat_sample(b, r * np.float32(HIDDEN_FILL_RADIUS), ys, xs, lower_only=True)
        else:
            i3, _ = level_weights(r * np.float32(HIDDEN_FILL_RADIUS), self._n_levels)
            near = self._sample_band(b, b, i3, np.ones(i3.shape, np.float32))  # the lower level alone
        g = np.clip(near[:, 3] / np.float32(FILL_BEHIND_RAMP), 0.0, 1.0)
        hid = np.float32(1) - here_a
        hid = np.where(hid > np.float32(HIDDEN_MIN_SHARE), g * hid, np.float32(0))
        c = c + hid[:, None] * (near[:, :3] / np.maximum(near[:, 3:], EPS))
        return c, a + hid

    # -- cat-eye (deocused.render.cateye): each sample is three taps of the isotropic pyramid ----
    def _level_at(self, j: int, i: int, ys: np.ndarray, xs: np.ndarray, yf: np.ndarray, xf: np.ndarray) -> np.ndarray:
        """Level i of layer j at full-resolution positions (yf, xf) (float32, bilinear, pixel centres at
        (k + 0.5) s, indices clamped); level 0 is the pixel (ys, xs) itself, unshifted."""
        if i == 0:
            return self._layer0[j][ys, xs]
        arr, s = self.level(j, i)
        hs, ws = arr.shape[:2]
        fy = (yf.astype(np.float64) + 0.5) * (1.0 / s) - 0.5  # float64, as the kernels
        fx = (xf.astype(np.float64) + 0.5) * (1.0 / s) - 0.5
        y0, x0 = np.floor(fy), np.floor(fx)
        ty, tx = (fy - y0).astype(np.float32)[:, None], (fx - x0).astype(np.float32)[:, None]
        y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
        y0c, y1c = np.clip(y0, 0, hs - 1), np.clip(y0 + 1, 0, hs - 1)
        x0c, x1c = np.clip(x0, 0, ws - 1), np.clip(x0 + 1, 0, ws - 1)
        ux, uy = 1 - tx, 1 - ty
        return (arr[y0c, x0c] * ux + arr[y0c, x1c] * tx) * uy + (arr[y1c, x0c] * ux + arr[y1c, x1c] * tx) * ty

    def _cat_sample(self, j: int, radius: np.ndarray, ys: np.ndarray, xs: np.ndarray, lower_only: bool = False):
        """Layer j at pixels (ys, xs) through the cat-eye lens of blur ``radius`` (float32 per pixel):
        CAT_EYE_TAPS taps at the tap radius (``lower_only``: its lower level alone)."""
        out = np.zeros((ys.size, 4), np.float32)
        if j < 0:
            return out
        f = np.float32
        kf, tf, ox, oy, evx, evy = pixel_taps(xs, ys, self.place, self.cat_eye)
        radius = radius.astype(f)
        i_lo, w = level_weights(kf * radius, self._n_levels)
        if lower_only:
            w = np.ones_like(w)
        cy, cx, sp = radius * oy, radius * ox, tf * radius
        for d, tw in ((-1, 0.25), (0, 0.5), (1, 0.25)):
            tw = np.where(sp > 0, f(tw), f(1.0 if d == 0 else 0.0))[:, None]
            yf = ys.astype(f) - (cy + f(d) * sp * evy)
            xf = xs.astype(f) - (cx + f(d) * sp * evx)
            for i in np.unique(i_lo):
                sel = np.flatnonzero(i_lo == i)
                v = self._level_at(j, int(i), ys[sel], xs[sel], yf[sel], xf[sel])
                if self._n_levels > 1 and not lower_only:
                    ww = w[sel][:, None]
                    v = ww * v + (1 - ww) * self._level_at(j, int(i) + 1, ys[sel], xs[sel], yf[sel], xf[sel])
                out[sel] += tw[sel] * v
        return out

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
        self._up = {}
        # 1-2: own band at own radius, over the renormalised content behind it.
        for b in np.flatnonzero(self.band_count):
            for key in [key for key in self._up if key[0] < b - 1]:
                del self._up[key]  # layers below b-1 are not sampled again
            ys, xs = self._band_pixels(b)
            il, ww = i_lo[ys, xs], wt[ys, xs]
            if self.cat_eye > 0:
                here, behind = (self._cat_sample(j, radius[ys, xs], ys, xs) for j in (b, b - 1))
            else:
                here = self._sample_band(b, b, il, ww)
                behind = self._sample_band(b - 1, b, il, ww)
            own = here - behind
            c = own[:, :3]
            a = own[:, 3]
            if HIDDEN_FILL_RADIUS > 0:
                c, a = self._hidden_fill(b, c, a, here[:, 3], radius[ys, xs])
            # g: how much of the fill to use, continuous in the background's coverage.
            g = np.clip(behind[:, 3] / np.float32(FILL_BEHIND_RAMP), 0.0, 1.0)
            fill = behind[:, :3] / np.maximum(behind[:, 3:], EPS)
            below = np.flatnonzero(self.band_count[:b])
            if below.size:
                # Prefer the hidden background as blurred by its own radius (that of the
                # nearest band behind), where enough of it is near to estimate it from.
                r_b = np.full(ys.size, band_radius[below[-1]], np.float32)
                if self.cat_eye > 0:
                    near = self._cat_sample(b - 1, r_b, ys, xs)
                else:
                    i2, w2 = level_weights(r_b, self._n_levels)
                    near = self._sample_band(b - 1, b, i2, w2)
                t = np.clip((near[:, 3] - np.float32(FILL_MIN_COVER)) / np.float32(FILL_COVER_RAMP) + 0.5, 0.0, 1.0)
                fill = fill + t[:, None] * (near[:, :3] / np.maximum(near[:, 3:], EPS) - fill)
            k = g * (1 - a)
            c = c + k[:, None] * fill
            a = a + k
            # Normalised: what lies behind the bands in front is opaque.
            covered = a > EPS
            c = np.where(covered[:, None], c / np.maximum(a, EPS)[:, None], c)
            a = np.where(covered, np.float32(1), a)
            colour[ys, xs] = c
            cover[ys, xs] = a
        # 3: bands in front, each with its own radius, composited far to near (at radius 0
        # only the outline splits of the pixels behind add anything).
        self._up = {}
        for k in range(1, self.n_bands):
            if self.band_count[k] == 0:
                continue
            # Band k reaches beyond its bounding box at most as far as the two levels
            # it is sampled from spread a pixel (box, kernel, bilinear upsampling).
            i_k, _ = level_weights(band_radius[k:k + 1], self._n_levels)
            reach = max(self._level_reach(lv) for lv in (int(i_k[0]), int(i_k[0]) + 1) if lv < self._n_levels)
            y0, y1, x0, x1 = self._bbox[k]
            win = (max(y0 - reach, 0), min(y1 + reach, h), max(x0 - reach, 0), min(x1 + reach, w))
            if self.cat_eye > 0:
                win = (0, h, 0, w)  # the taps move: every pixel
            front = self.band[win[0]:win[1], win[2]:win[3]] < k
            if not front.any():
                continue
            if self.cat_eye > 0:  # per pixel: the taps' positions and radius vary across the frame
                fy, fx = np.nonzero(np.ones(front.shape, bool))
                fy, fx = fy + win[0], fx + win[2]
                rk = np.full(fy.size, band_radius[k], np.float32)
                f = (self._cat_sample(k, rk, fy, fx) - self._cat_sample(k - 1, rk, fy, fx)).reshape(front.shape + (4,))
            else:
                f = self._layer_window(k, band_radius[k], win) - self._layer_window(k - 1, band_radius[k], win)
            fa = f[:, :, 3] * front
            c = colour[win[0]:win[1], win[2]:win[3]]
            a = cover[win[0]:win[1], win[2]:win[3]]
            c *= (1 - fa)[:, :, None]
            c += f[:, :, :3] * front[:, :, None]
            a *= 1 - fa
            a += fa
            for key in [key for key in self._up if key[0] < k]:
                del self._up[key]
        self._up = {}
        # 4: normalise by coverage.
        colour /= np.maximum(cover, EPS)[:, :, None]
        return colour
