"""Renderer behaviour against closed-form answers and a brute-force reference.

Tolerances are in 8-bit sRGB output steps (1/255) unless stated.
"""

import math

import numpy as np
import pytest
from conftest import emulated_subset
from helpers.reference import disc_average, smooth_texture
from helpers.reference_renderer import bilinear_at

from deocused.errors import InputError
from deocused.io.colour import linear_to_srgb, linear_to_srgb8, srgb_to_linear
from deocused.render.aperture import Aperture
from deocused.render.cpu.backend import CpuRenderer
from deocused.render.renderer import boost_highlights

# Tests taking ``renderer_factory`` (tests/conftest.py) run on every backend: the CPU and the
# GPU (a real device, or the CUDA kernels executed on the host).


def host(r, a):
    return r.to_host(a)


@pytest.mark.slow
def test_uniform_image_stays_uniform(renderer_factory):
    rng = np.random.default_rng(1)
    img = np.full((90, 130, 3), (0.2, 0.5, 0.8), np.float32)
    disp = rng.random((90, 130)).astype(np.float32)
    r = renderer_factory()
    r.prepare(img, disp)
    for focus, k in ((0.1, 12.0), (0.7, 40.0)):
        out = r.render_srgb8(focus, k)
        ref = linear_to_srgb8(img)
        assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_in_focus_plane_is_unchanged(renderer_factory):
    img = smooth_texture(100, 120, 2)
    img[::7] = 1.0  # some sharp detail
    disp = np.full((100, 120), 0.4, np.float32)
    r = renderer_factory()
    r.prepare(img, disp)
    out = r.render_srgb8(0.4, 50.0)
    assert np.abs(out.astype(int) - linear_to_srgb8(img).astype(int)).max() <= 1


@pytest.mark.slow
def test_pixels_at_focus_unchanged_unless_covered_by_nearer_blur(renderer_factory):
    # Near square (d=0.9) in front of a far textured plane (d=0.1).
    img = smooth_texture(120, 160, 3)
    disp = np.full((120, 160), 0.1, np.float32)
    disp[40:80, 60:100] = 0.9
    r = renderer_factory()
    r.prepare(img, disp)
    ref = linear_to_srgb8(img).astype(int)
    # Focus on the near square: nothing is in front of it, so all of it stays exact but
    # its 1-px outline, whose share of the background's colour is the blurred background
    # (the outline split: test_outline_pixel_takes_the_blurred_background).
    out = r.render_srgb8(0.9, 20.0).astype(int)
    assert np.abs(out - ref)[41:79, 61:99].max() <= 1
    # Focus on the far plane: exact wherever the blurred square (radius 16; with its
    # outline, the far pixels around it that share its colour) cannot reach.
    out = r.render_srgb8(0.1, 20.0).astype(int)
    far = np.ones((120, 160), bool)
    far[40 - 19:80 + 19, 60 - 19:100 + 19] = False
    assert np.abs(out - ref)[far].max() <= 1


def test_zero_blur_returns_the_input(renderer_factory):
    """K = 0 puts everything in focus: the output is the input, including the outline
    pixels at depth edges whose colour is split between two bands."""
    img, disp = smooth_texture(70, 90, 4), np.full((70, 90), 0.2, np.float32)
    disp[10:50, 20:45] = 0.9
    disp[30:65, 40:80] = 0.55
    r = renderer_factory()
    r.prepare(img, disp)
    for focus in (0.2, 0.9, 0.55):
        np.testing.assert_allclose(r.to_host(r.render(focus, 0.0)), img, atol=1e-5)


@pytest.mark.slow
def test_outline_pixel_takes_the_blurred_background(renderer_factory):
    """An anti-aliased edge: the near plane's last column is 0.7 of its colour A and
    0.3 of the far plane's first column B1 (far plane: stripes B1, B2 of 2 px). In focus
    on the near plane with the far one blurred, the mixed pixel's far part must blur
    with the far plane: 0.7 A + 0.3 (B1 + B2) / 2, as a real lens renders it, not the
    sharp 0.7 A + 0.3 B1 of the input."""
    h, w, edge = 40, 64, 23
    a, b1, b2 = (np.array(c, np.float32) for c in ((0.8, 0.2, 0.1), (0.1, 0.3, 0.9), (0.6, 0.9, 0.2)))
    img = np.empty((h, w, 3), np.float32)
    img[:, :edge] = a
    cols = np.arange(edge + 1, w)
    img[:, edge + 1:] = np.where(((cols - edge - 1) // 2 % 2 == 0)[:, None], b1, b2)
    img[:, edge] = 0.7 * a + 0.3 * b1
    disp = np.full((h, w), 0.1, np.float32)
    disp[:, :edge + 1] = 0.9
    r = renderer_factory()
    r.prepare(img, disp)
    out = r.to_host(r.render(0.9, 25.0))  # far plane: radius 20 px
    want = 0.7 * a + 0.3 * (b1 + b2) / 2
    rows = slice(12, 28)  # away from the top and bottom borders
    assert np.abs(out[rows, edge] - want).max() < 0.01
    assert np.abs(img[rows, edge] - want).max() > 0.1  # what a hard assignment keeps
    np.testing.assert_allclose(out[rows, :edge], np.broadcast_to(a, out[rows, :edge].shape), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("blades", [0, 5])
@pytest.mark.parametrize("radius", [2.0, 7.3, 12.0, 23.5, 41.0])
def test_point_light_becomes_aperture_of_the_thin_lens_radius(renderer_factory, blades, radius):
    emulated_subset(renderer_factory, (blades, radius), {(0, 2.0), (0, 23.5), (5, 12.0)})
    size = 161
    c = size // 2
    img = np.zeros((size, size, 3), np.float32)
    img[c, c] = 1.0
    disp = np.zeros((size, size), np.float32)
    ap = Aperture(blades)
    r = renderer_factory(aperture=ap)
    r.prepare(img, disp)
    k, focus = 2.0 * radius, 0.5  # K * |0 - 0.5| = radius
    out = host(r, r.render(focus, k))[:, :, 0].astype(np.float64)
    assert out.sum() == pytest.approx(1.0, abs=0.01)  # energy is conserved
    yy, xx = np.mgrid[:size, :size] - c
    # Second-moment radius of the spread, relative to the aperture shape's own.
    var = (out * (xx ** 2 + yy ** 2)).sum() / out.sum() / 2.0
    measured = math.sqrt(var / ap.variance_per_radius2())
    assert measured == pytest.approx(radius, abs=1.0)
    # Energy stays inside the shape, plus the level interpolation's 25 % margin and the
    # bilinear upsampling's reach (the level's scale) of a downsampled level.
    from deocused.render.pyramid import level_scale

    outside = ap.signed_distance(xx, yy, 1.25 * radius + level_scale(1.25 * radius) + 1.0) > 0
    assert out[outside].sum() < 0.01


@pytest.mark.slow
def test_blur_grows_monotonically_with_disparity_difference(renderer_factory):
    # A vertical black/white edge on a constant-depth plane; edge width (10-90 %) vs |d - d_f|.
    img = np.zeros((64, 200, 3), np.float32)
    img[:, 100:] = 1.0
    disp = np.full((64, 200), 0.5, np.float32)
    r = renderer_factory()
    r.prepare(img, disp)
    widths = []
    for delta in (0.0, 0.05, 0.1, 0.2, 0.3, 0.45):
        for sign in (-1, 1):
            row = host(r, r.render(0.5 + sign * delta, 60.0))[32, :, 0]
            widths.append((delta, int(((row > 0.1) & (row < 0.9)).sum())))
    by_delta = {}
    for delta, w in widths:
        by_delta.setdefault(delta, []).append(w)
    series = [max(v) for _, v in sorted(by_delta.items())]
    assert series[0] == 0
    assert all(b > a for a, b in zip(series, series[1:])), series
    for v in by_delta.values():  # in front of and behind the focus alike
        assert abs(v[0] - v[1]) <= 1


@pytest.mark.slow
@pytest.mark.parametrize("radius,max_err,mean_err", [
    (1.0, 1, 0.05), (3.0, 1, 0.05), (5.0, 1, 0.05),        # full-resolution levels: exact
    (8.0, 8, 1.0), (16.0, 8, 1.0), (32.0, 8, 1.0),         # downsampled levels
    (4.5, 10, 1.5), (11.0, 10, 1.5), (23.0, 10, 1.5),      # between levels
])
def test_constant_depth_plane_matches_brute_force_disc_average(renderer_factory, radius, max_err, mean_err):
    emulated_subset(renderer_factory, radius, {3.0, 11.0, 16.0})
    img = smooth_texture(140, 180, 4)
    disp = np.full((140, 180), 0.25, np.float32)
    r = renderer_factory()
    r.prepare(img, disp)
    out = r.render_srgb8(0.75, radius / 0.5).astype(int)
    ref = linear_to_srgb8(disc_average(img, radius).astype(np.float32)).astype(int)
    # Where the disc (and a level's reach) leaves the frame, the part beyond it is coloured as the
    # photo next to the pixel (HIDDEN_FILL_RADIUS), not renormalised as disc_average does: compare inside.
    from deocused.render.pyramid import level_scale

    m = int(np.ceil(1.25 * radius)) + 2 * level_scale(1.25 * radius) + 2
    err = np.abs(out - ref)[m:-m, m:-m]
    assert err.size > 0
    assert err.max() <= max_err
    assert err.mean() <= mean_err


@pytest.mark.slow
def test_sharp_foreground_does_not_bleed_into_blurred_background(renderer_factory):
    # Saturated red disc in focus (near) over a blurred green/blue textured background.
    h, w = 160, 160
    bg = smooth_texture(h, w, 5)
    bg[:, :, 0] = 0.0  # no red anywhere in the background
    yy, xx = np.mgrid[:h, :w]
    inside = (yy - 80) ** 2 + (xx - 80) ** 2 < 30 ** 2
    img = np.where(inside[:, :, None], np.array([1.0, 0.0, 0.0], np.float32), bg).astype(np.float32)
    disp = np.where(inside, 0.9, 0.1).astype(np.float32)
    r = renderer_factory()
    r.prepare(img, disp)
    out = host(r, r.render(0.9, 40.0))  # background radius 32 px
    ring = ~inside & ((yy - 80) ** 2 + (xx - 80) ** 2 >= 31 ** 2)
    assert out[:, :, 0][ring].max() < 1e-3  # linear red leaking out of the disc
    assert np.abs(out[inside] - img[inside]).max() < 2e-3


@pytest.mark.slow
def test_blurred_foreground_edge_is_see_through_with_the_expected_width(renderer_factory):
    # White near half-plane (left) blurred with radius R over a sharp black/grey stripe background.
    h, w = 80, 200
    img = np.zeros((h, w, 3), np.float32)
    img[:, :100] = 1.0
    img[:, 100:][:, ::2] = 0.25  # sharp stripes behind
    disp = np.where(np.arange(w)[None, :] < 100, 0.9, 0.1).repeat(h, 0).astype(np.float32)
    R = 12.0
    r = renderer_factory()
    r.prepare(img, disp)
    out = host(r, r.render(0.1, R / 0.8))[h // 2, :, 0]
    # Expected foreground coverage at x: fraction of a disc of radius R centred at x
    # that lies left of the edge (x = 99.5) -- a blurred edge spreads to both sides.
    x = np.arange(w) + 0.0
    t = np.clip((99.5 - x) / R, -1, 1)
    alpha = (np.arccos(-t) - (-t) * np.sqrt(1 - t * t)) / np.pi
    bg = img[h // 2, :, 0]
    # Outside the foreground, the result is foreground*alpha + sharp background*(1-alpha).
    sel = slice(100, 100 + int(R) + 4)
    expect = alpha[sel] + (1 - alpha[sel]) * bg[sel]
    assert np.abs(out[sel] - expect).max() < 0.08
    assert out[100] > 0.35 and out[100 + int(R) + 2] == pytest.approx(bg[100 + int(R) + 2], abs=1e-3)
    # The stripes behind stay sharp (partly transparent foreground, not a smear).
    stripes = out[100 + 3: 100 + 9]
    assert np.abs(np.diff(stripes)).min() > 0.02


def test_n_blade_aperture_gives_a_polygon_of_the_right_radius_and_orientation():
    size, c, radius = 141, 70, 20.0
    img = np.zeros((size, size, 3), np.float32)
    img[c, c] = 1.0
    disp = np.zeros((size, size), np.float32)
    yy, xx = np.mgrid[:size, :size] - c
    theta = np.arctan2(-yy, xx)  # screen angle, y up
    for blades, rot in ((5, 90.0), (6, 10.0), (7, -20.0)):
        ap = Aperture(blades, rot)
        r = CpuRenderer(aperture=ap)
        r.prepare(img, disp)
        out = r.render(1.0, radius)[:, :, 0].astype(np.float64)
        # Radius: the spread's second moment equals the polygon's (circumradius = K*|dd|).
        var = (out * (xx ** 2 + yy ** 2)).sum() / out.sum() / 2.0
        assert math.sqrt(var / ap.variance_per_radius2()) == pytest.approx(radius, abs=1.0)
        # Orientation: corners stick out, so the N-th angular harmonic of the outer
        # mass has its phase at N * (corner angle).
        w = out * (xx ** 2 + yy ** 2)
        phase = np.angle((w * np.exp(1j * blades * theta)).sum()) / blades
        period = 2 * math.pi / blades
        diff = (phase - math.radians(rot) + period / 2) % period - period / 2
        assert abs(math.degrees(diff)) < 2.0
        # And the shape is an N-gon: mass along corner directions reaches further.
        ring = (np.hypot(xx, yy) > 0.9 * radius) & (np.hypot(xx, yy) < 1.1 * radius)
        harmonic = abs((out[ring] * np.exp(1j * blades * theta[ring])).sum()) / out[ring].sum()
        circle = CpuRenderer()
        circle.prepare(img, disp)
        disc = circle.render(1.0, radius)[:, :, 0].astype(np.float64)
        disc_harmonic = abs((disc[ring] * np.exp(1j * blades * theta[ring])).sum()) / disc[ring].sum()
        assert harmonic > 0.08 > 4 * disc_harmonic


def test_highlight_boost_is_off_by_default_and_only_touches_bright_pixels():
    rng = np.random.default_rng(0)
    img = rng.random((50, 60, 3)).astype(np.float32)
    assert boost_highlights(img, 0.0) is img
    boosted = boost_highlights(img, 4.0)
    bright = img.max(axis=2) > 0.9
    assert np.array_equal(boosted[~bright], img[~bright])
    assert (boosted[bright] > img[bright]).all()
    disp = rng.random((50, 60)).astype(np.float32)
    a, b = CpuRenderer(), CpuRenderer(highlights=0.0)
    a.prepare(img, disp)
    b.prepare(img, disp)
    assert np.array_equal(a.render(0.3, 10.0), b.render(0.3, 10.0))


def test_srgb_round_trip_and_known_values():
    v = np.linspace(0, 1, 256, dtype=np.float32)
    assert np.abs(linear_to_srgb(srgb_to_linear(v)) - v).max() < 1e-5
    assert srgb_to_linear(np.float32([0.5]))[0] == pytest.approx(0.21404, abs=1e-4)
    assert linear_to_srgb8(np.float32([0.0, 1.0, 0.0031308])).tolist() == [0, 255, 10]


def test_bilinear_sampling_matches_opencv_resize():
    import cv2

    rng = np.random.default_rng(3)
    small = rng.random((8, 10, 4)).astype(np.float32)
    for s in (2, 4):
        up = cv2.resize(small, (10 * s, 8 * s), interpolation=cv2.INTER_LINEAR)
        ys, xs = np.mgrid[: 8 * s, : 10 * s]
        mine = bilinear_at(small, s, ys.ravel(), xs.ravel()).reshape(up.shape)
        assert np.abs(mine - up).max() < 1e-5


def test_render_validates_arguments():
    r = CpuRenderer()
    with pytest.raises(InputError):
        r.prepare(np.zeros((10, 10, 3), np.float32), np.zeros((10, 11), np.float32))
    bad = np.zeros((10, 10), np.float32)
    bad[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        r.prepare(np.zeros((10, 10, 3), np.float32), bad)
    r.prepare(np.zeros((10, 10, 3), np.float32), np.zeros((10, 10), np.float32))
    with pytest.raises(InputError):
        r.render(1.5, 10.0)
    with pytest.raises(InputError):
        r.render(0.5, -1.0)


def _bad_value_cases():
    """(name, image, disparity) on a 37 x 53 photo (several tile rows, ragged edges): one bad value
    each at places different threads check, and two bad together (the message's precedence)."""
    rng = np.random.default_rng(5)
    img, disp = rng.random((37, 53, 3)).astype(np.float32), rng.random((37, 53)).astype(np.float32)
    cases = []
    for name, where, value in (("disparity NaN", (36, 52), np.nan), ("disparity +inf", (0, 0), np.inf),
                               ("disparity -inf", (20, 7), -np.inf), ("disparity -0.5", (17, 52), -0.5),
                               ("disparity 1.5", (36, 0), 1.5), ("disparity just above 1", (5, 5), np.nextafter(
                                   np.float32(1), np.float32(2)))):
        d = disp.copy()
        d[where] = value
        cases.append((name, img, d))
    for name, where, value in (("image NaN", (36, 52, 2), np.nan), ("image -inf", (16, 16, 0), -np.inf)):
        i = img.copy()
        i[where] = value
        cases.append((name, i, disp))
    i, d = img.copy(), disp.copy()
    i[3, 4, 1], d[30, 30] = np.nan, 2.0
    cases.append(("image NaN and disparity 2", i, d))
    d2 = d.copy()
    d2[0, 1] = np.nan
    cases.append(("image NaN, disparity 2 and NaN", i, d2))
    return cases


def test_prepare_refuses_bad_values_as_check_values_does(renderer_factory):
    """Each backend refuses what Renderer.check_values refuses, with its message (the CPU renderer
    finds them in its first pass over the pixels), and is not left half-prepared: the next
    photo renders as on a fresh renderer."""
    from deocused.render.renderer import Renderer

    r = renderer_factory()
    good_img, good_disp = smooth_texture(37, 53, 4), np.tile(np.linspace(0, 1, 53, dtype=np.float32), (37, 1))
    for name, img, disp in _bad_value_cases():
        with pytest.raises(InputError) as expected:
            Renderer.check_values(img, disp)
        with pytest.raises(InputError) as got:
            r.prepare(img, disp)
        assert str(got.value) == str(expected.value), name
        with pytest.raises(InputError):
            r.render(0.5, 10.0)  # nothing prepared
    r.prepare(good_img, good_disp)
    fresh = renderer_factory()
    fresh.prepare(good_img, good_disp)
    assert np.array_equal(r.to_host(r.render(0.3, 12.0)), fresh.to_host(fresh.render(0.3, 12.0)))


def test_dof_range_keeps_a_slab_sharp():
    img = smooth_texture(60, 200, 6)
    disp = np.tile(np.linspace(0, 1, 200, dtype=np.float32), (60, 1))
    r = CpuRenderer()
    r.prepare(img, disp)
    out = r.render_srgb8(0.5, 30.0, dof=0.15).astype(int)
    ref = linear_to_srgb8(img).astype(int)
    slab = np.abs(disp - 0.5) < 0.15 - 0.04  # inside the range, away from its blurred borders
    assert np.abs(out - ref)[slab].max() <= 2
    far = np.abs(disp - 0.5) > 0.4
    assert np.abs(out - ref)[far].mean() > 3


def test_cpu_refuses_a_pyramid_larger_than_the_memory(monkeypatch):
    import deocused.render.cpu.backend as cb
    from deocused.errors import DeviceError
    from deocused.render.pyramid import levels_needed

    ramp = np.linspace(0, 1, 64 * 96, dtype=np.float32).reshape(64, 96)
    r = CpuRenderer()
    r.prepare(smooth_texture(64, 96, 7), ramp)
    need = r.level_bytes(10)
    # Sparse blocks of levels 1..9 (radii up to 12.5 px) and the half-resolution band means
    # (counted exactly in test_cpu_kernels.py): less than dense float32 levels of all 8 layers.
    assert 0 < need < 8 * 16 * 64 * 96 * (6 + 3 / 4)
    monkeypatch.setattr(cb, "available_memory", lambda: need)  # K=20 needs levels up to 10 px
    with pytest.raises(DeviceError, match="not enough memory"):
        r.render(0.5, 20.0)
    monkeypatch.setattr(cb, "available_memory", lambda: 2 * need)
    assert r.render(0.5, 20.0).shape == (64, 96, 3)
    # prepare() checks the padded image, band map and output and the levels up to 8 px.
    monkeypatch.setattr(cb, "available_memory", lambda: None)
    fresh = CpuRenderer()
    fresh.prepare(smooth_texture(64, 96, 7), ramp)
    first = 64 * 96 * cb.BASE_BYTES_PER_PIXEL + fresh.level_bytes(levels_needed(cb.MIN_PYRAMID_RADIUS))
    monkeypatch.setattr(cb, "available_memory", lambda: first)
    with pytest.raises(DeviceError, match="blur pyramid"):
        r.prepare(smooth_texture(64, 96, 7), ramp)
    monkeypatch.setattr(cb, "available_memory", lambda: 2 * first)
    r.prepare(smooth_texture(64, 96, 7), ramp)
