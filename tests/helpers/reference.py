"""Reference implementations the tests compare the engine against (slow, obvious code)."""

import numpy as np
from scipy.ndimage import convolve


def disc_average(image: np.ndarray, radius: float, aperture=None) -> np.ndarray:
    """Brute-force normalised disc average of each channel: every output pixel is the
    mean of the input pixels inside the (anti-aliased) disc of ``radius`` around it,
    renormalised where the disc leaves the image."""
    from deocused.render.aperture import Aperture

    k = (aperture or Aperture()).kernel(radius).astype(np.float64)
    k = k[::-1, ::-1]  # scipy convolve == true convolution; flip twice keeps it
    ones = np.ones(image.shape[:2])
    norm = convolve(ones, k, mode="constant", cval=0.0)
    out = np.stack([convolve(image[:, :, c].astype(np.float64), k, mode="constant", cval=0.0)
                    for c in range(image.shape[2])], axis=2)
    return out / norm[:, :, None]


def smooth_texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A random but band-limited RGB texture in [0.05, 0.95] (linear)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.random((h // 4 + 2, w // 4 + 2, 3)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(0.05 + 0.9 * big, 0.0, 1.0).astype(np.float32)
