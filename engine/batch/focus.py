"""Focus rules for batch items: autofocus and focal sweeps.

Autofocus ("the nearest large object in the centre"):

1. Take the centre region: the middle ``AUTOFOCUS_REGION`` (50 %) of the
   image's width and of its height.
2. Histogram its disparities in ``AUTOFOCUS_BINS`` (16) equal bins over [0, 1].
3. Walk the bins from the nearest (disparity 1) to the farthest; the first bin
   holding at least ``AUTOFOCUS_MIN_AREA`` (15 %) of the region's pixels is the
   subject -- so a small near thing (a twig, a speck of noise) does not steal
   the focus, but a person in front of a large background does.
4. The focus disparity is the median of the region's disparities in that bin
   and its two neighbours. (If no bin is large enough -- a smooth ramp -- the
   region's median.)

Sweep: ``N`` focal planes evenly spaced in disparity from 1 (the nearest point
of the normalised disparity) to 0 (the farthest), near to far.
"""

from __future__ import annotations

import numpy as np

from .inputs import Focus

#: Fraction of the width and of the height, centred, that autofocus looks at.
AUTOFOCUS_REGION = 0.5
#: Disparity histogram bins over [0, 1].
AUTOFOCUS_BINS = 16
#: Fraction of the centre region a bin must hold to count as a large object.
AUTOFOCUS_MIN_AREA = 0.15


def autofocus_disparity(disparity: np.ndarray) -> float:
    """The autofocus rule of the module docstring: a disparity in [0, 1] for a
    normalised disparity map (H, W), 1 = nearest."""
    h, w = disparity.shape[:2]
    mh, mw = max(1, round(h * AUTOFOCUS_REGION)), max(1, round(w * AUTOFOCUS_REGION))
    y0, x0 = (h - mh) // 2, (w - mw) // 2
    region = np.asarray(disparity[y0:y0 + mh, x0:x0 + mw], np.float64).ravel()
    bins = np.clip((region * AUTOFOCUS_BINS).astype(np.int64), 0, AUTOFOCUS_BINS - 1)
    counts = np.bincount(bins, minlength=AUTOFOCUS_BINS)
    for b in range(AUTOFOCUS_BINS - 1, -1, -1):
        if counts[b] >= AUTOFOCUS_MIN_AREA * region.size:
            near = region[np.abs(bins - b) <= 1]
            return float(np.median(near))
    return float(np.median(region))


def sweep_disparities(n: int) -> list[float]:
    """``n`` focus disparities from near (1) to far (0); one plane is the middle (0.5)."""
    if n == 1:
        return [0.5]
    return [float(v) for v in np.linspace(1.0, 0.0, n)]


def focus_settings(settings, focus: Focus, disparity: np.ndarray):
    """``settings`` with the item's focus applied (a copy; ``settings`` unchanged)."""
    if focus.disparity is not None:
        return settings.with_(focus_point=None, focus_disparity=focus.disparity)
    if focus.point is not None:
        return settings.with_(focus_point=focus.point, focus_disparity=None)
    if focus.auto:
        return settings.with_(focus_point=None, focus_disparity=autofocus_disparity(disparity))
    return settings
