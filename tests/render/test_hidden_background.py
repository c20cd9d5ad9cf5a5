"""The hidden background (deocused.constants.HIDDEN_FILL_RADIUS), on both backends: the part
of a blurred background pixel's disc that a sharp foreground hides is coloured as the
background next to the pixel, checked against the closed form of a disc cut by straight edges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deocused.constants import HIDDEN_FILL_RADIUS

R = 24.0  # the background's blur radius (px)
STRIP = 16  # width of the background strip next to the foreground (px)
X0 = 64  # first foreground column


def _below(t: float, r: float = R) -> float:
    """Area of the part {u < t} of a disc of radius r centred at u = 0."""
    t = min(max(t, -r), r)
    return r * r * math.acos(-t / r) + t * math.sqrt(r * r - t * t)


def _scene(h: int = 48, w: int = 112) -> tuple[np.ndarray, np.ndarray]:
    """Background (disparity 0): red everywhere, green only in the STRIP columns next to the
    foreground; foreground (disparity 1, blue) from column X0 on."""
    img = np.zeros((h, w, 3), np.float32)
    img[:, :X0, 0] = 1.0
    img[:, X0 - STRIP:X0, 1] = 1.0
    img[:, X0:, 2] = 1.0
    disp = np.zeros((h, w), np.float32)
    disp[:, X0:] = 1.0
    return img, disp


def test_hidden_part_of_the_disc_is_the_background_next_to_the_pixel(renderer_factory):
    assert HIDDEN_FILL_RADIUS * R < STRIP  # the estimate's disc lies in the strip
    img, disp = _scene()
    r = renderer_factory()
    r.prepare(img, disp)
    out = r.to_host(r.render(1.0, R)).astype(np.float64)  # focus on the foreground: it stays sharp
    px = out[16:32, X0 - 1]  # background pixels next to the outline, away from the top and bottom
    # No foreground colour bleeds into the background, and the foreground is unchanged.
    assert np.abs(px[:, 2]).max() < 1e-3
    assert np.abs(out[:, X0 + 1:] - img[:, X0 + 1:]).max() < 1e-3
    assert np.abs(px[:, 0] - 1.0).max() < 2e-3  # red: the background's colour, renormalised
    # Green, closed form: the pixel's centre is 0.5 px from the outline (u < 0.5 visible), the
    # strip covers u in [0.5 - STRIP, 0.5). The visible part of the disc keeps its own mean; the
    # hidden part (the rest of the disc) is coloured as the background within HIDDEN_FILL_RADIUS * R:
    # the strip, green 1. Plain renormalisation (the visible mean for all of it) would give `seen`.
    visible = _below(0.5)
    seen = (visible - _below(0.5 - STRIP)) / visible
    cover = visible / (math.pi * R * R)
    want = cover * seen + (1.0 - cover) * 1.0
    assert want - seen > 0.08  # the two rules are told apart
    # Coarse levels (scale 4 at this radius) and the level interpolation spread the edges.
    assert px[:, 1].mean() == pytest.approx(want, abs=0.03)
