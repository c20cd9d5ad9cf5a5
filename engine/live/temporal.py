"""Temporal stability for video: depth alignment + smoothing, and a gliding focus.

Monocular depth networks give each frame a disparity map that is only defined
up to an unknown scale and shift, and the worker min-max normalises it, so the
same scene "breathes" from frame to frame. :class:`DepthSmoother` therefore

1. aligns each new map ``d`` to the running estimate ``s`` by least squares,
   ``a, b = argmin sum (a*d + b - s)^2`` (on a subsampled grid; ``a <= 0`` or a
   poor fit counts as a scene cut and resets the estimate), then
2. blends the aligned map into the estimate with an exponential moving average
   whose weight for the new frame is ``alpha`` where the two agree and rises to
   1 where they differ by more than ``motion`` (things that really moved follow
   at once instead of ghosting).

The result is clipped to [0, 1] for the renderer. :class:`FocusSmoother`
moves the focus disparity toward its target exponentially with time constant
``tau`` seconds (frame-rate independent), so the focal plane glides.
"""

from __future__ import annotations

import math

import numpy as np


def fit_scale_shift(d: np.ndarray, ref: np.ndarray, step: int = 4) -> tuple[float, float, float]:
    """Least-squares ``a, b`` with ``a*d + b ~ ref`` on every ``step``-th pixel; also the RMS residual."""
    x = np.asarray(d, np.float64)[::step, ::step].ravel()
    y = np.asarray(ref, np.float64)[::step, ::step].ravel()
    mx, my = x.mean(), y.mean()
    vx = ((x - mx) ** 2).mean()
    if vx < 1e-12:
        return 1.0, float(my - mx), float(np.sqrt(((y - my) ** 2).mean()))
    a = ((x - mx) * (y - my)).mean() / vx
    b = my - a * mx
    rms = float(np.sqrt(((a * x + b - y) ** 2).mean()))
    return float(a), float(b), rms


class DepthSmoother:
    """Align-then-smooth filter for a stream of disparity maps (float32 (H, W) in [0, 1]).

    ``alpha``: weight of the new frame where it agrees with the estimate
    (smaller = smoother, more lag). ``motion``: disparity difference at which
    the new frame takes over completely. ``align``/``smooth``: switch the two
    steps. ``cut_rms``: an alignment residual above this resets the estimate.
    """

    def __init__(self, alpha: float = 0.3, motion: float = 0.2, align: bool = True, smooth: bool = True,
                 cut_rms: float = 0.25, step: int = 4):
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = float(alpha)
        self.motion = float(motion)
        self.align = align
        self.smooth = smooth
        self.cut_rms = cut_rms
        self.step = step
        self.state: np.ndarray | None = None
        self.last_fit: tuple[float, float, float] | None = None
        self.resets = 0

    def reset(self) -> None:
        self.state = None

    def update(self, d: np.ndarray) -> np.ndarray:
        """Feed one disparity map; returns the stabilised map, float32 (H, W) in [0, 1]."""
        d = np.asarray(d, np.float32)
        if not self.smooth and not self.align:
            return d
        if self.state is None or self.state.shape != d.shape:
            self.state = d.copy()
            return d
        x = d
        if self.align:
            a, b, rms = fit_scale_shift(d, self.state, self.step)
            self.last_fit = (a, b, rms)
            if a <= 0.05 or rms > self.cut_rms:  # scene cut or a useless fit: start again
                self.resets += 1
                self.state = d.copy()
                return d
            x = (a * d + b).astype(np.float32)
        if self.smooth:
            diff = np.abs(x - self.state)
            w = self.alpha + (1.0 - self.alpha) * np.minimum(diff * (1.0 / max(self.motion, 1e-6)), 1.0)
            self.state += w * (x - self.state)
        else:
            self.state = x
        return np.clip(self.state, 0.0, 1.0)


class FocusSmoother:
    """Exponential approach of the focus disparity to its target, time constant ``tau`` s (0 = jump)."""

    def __init__(self, tau: float = 0.25, enabled: bool = True):
        self.tau = float(tau)
        self.enabled = enabled
        self.value: float | None = None
        self._t: float | None = None

    def update(self, target: float, now: float) -> float:
        if not self.enabled or self.tau <= 0 or self.value is None or self._t is None:
            self.value = float(target)
        else:
            dt = max(0.0, now - self._t)
            self.value += (float(target) - self.value) * (1.0 - math.exp(-dt / self.tau))
        self._t = now
        return self.value

    def jump(self, value: float, now: float) -> None:
        self.value, self._t = float(value), now


def frame_variation(maps) -> float:
    """Mean absolute frame-to-frame difference of a sequence of maps (for tests and diagnostics)."""
    maps = [np.asarray(m, np.float64) for m in maps]
    if len(maps) < 2:
        return 0.0
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(maps, maps[1:])]))
