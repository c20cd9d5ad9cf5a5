"""Cat-eye bokeh (deocused.render.cateye): the lens's closed form against a supersampled mask, a
point light's imprint on both backends against that closed form, and the few-tap approximation
against a brute-force gather of every pixel's exact lens (deocused.bench.cat_eye_gather)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import emulated_subset

from deocused.errors import InputError
from deocused.render.cateye import lens_moments, pixel_taps, tap_factors


@pytest.mark.parametrize("a", [0.0, 0.1, 0.25, 0.4, 0.5])
def test_lens_moments_equal_a_supersampled_mask(a):
    n = 1600
    g = (np.arange(n) + 0.5) / n * 2 - 1
    xx, yy = np.meshgrid(g, g)
    m = (xx ** 2 + yy ** 2 <= 1) & ((xx - 2 * a) ** 2 + yy ** 2 <= 1)
    area, var_u, var_v = lens_moments(a)
    assert m.sum() * (2 / n) ** 2 == pytest.approx(area, rel=2e-3)
    assert xx[m].mean() == pytest.approx(a, abs=1e-3)  # the lens's centre: c / 2
    assert ((xx[m] - a) ** 2).mean() == pytest.approx(var_u, rel=3e-3)
    assert (yy[m] ** 2).mean() == pytest.approx(var_v, rel=3e-3)
    # The three taps (1/4, 1/2, 1/4 at -t, 0, t) of discs of radius k have both second moments.
    k, t = tap_factors(a)
    assert k * k / 4 == pytest.approx(var_u) and k * k / 4 + t * t / 2 == pytest.approx(var_v)


def test_pixel_taps_follow_the_closed_form_in_float32():
    xs, ys = np.array([0, 37, 99, 50]), np.array([0, 80, 99, 50])
    kf, tf, ox, oy, evx, evy = pixel_taps(xs, ys, (0, 0, 100, 100), 0.8)
    px, py = (xs + 0.5 - 50) / (50 * math.sqrt(2)), (ys + 0.5 - 50) / (50 * math.sqrt(2))
    k, t = tap_factors(0.4 * np.hypot(px, py))
    np.testing.assert_allclose(kf, k, rtol=1e-5)
    np.testing.assert_allclose(tf, t, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ox, 0.4 * px, rtol=1e-6)
    np.testing.assert_allclose(oy, 0.4 * py, rtol=1e-6)
    np.testing.assert_allclose(evx * px + evy * py, 0.0, atol=1e-6)  # along the chord: across p
    # A crop placed in its photo sees the photo's positions.
    crop = pixel_taps(xs - 20, ys - 30, (20, 30, 100, 100), 0.8)
    for got, want in zip(crop, (kf, tf, ox, oy, evx, evy)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


N = 400  # large against the radius: the gather's per-pixel lens magnifies an imprint by ~1 / (1 - R / N)


def _imprint(factory, strength, x, y, radius):
    """A 4 x 4 light (its centre on every level's block grid up to scale 4) at (x, y), everything at
    disparity 0, focus 0.5, K = 2 radius: its spread (float64) and the light's centre."""
    img = np.zeros((N, N, 3), np.float32)
    img[y:y + 4, x:x + 4] = 1.0 / 16
    r = factory(cat_eye=strength)
    r.prepare(img, np.zeros((N, N), np.float32))
    return r.to_host(r.render(0.5, 2.0 * radius))[:, :, 0].astype(np.float64), np.array([x + 2.0, y + 2.0])


@pytest.mark.slow
@pytest.mark.parametrize("radius", [12.0, 16.0])
@pytest.mark.parametrize("x,y", [(198, 198), (40, 40), (300, 40), (40, 348)])
def test_a_point_light_is_imprinted_as_the_lens(renderer_factory, radius, x, y):
    emulated_subset(renderer_factory, (radius, x, y), {(12.0, 40, 40), (16.0, 300, 40)})
    out, centre = _imprint(renderer_factory, 1.0, x, y, radius)
    yy, xx = np.mgrid[:N, :N] + 0.5
    s = out.sum()
    cx, cy = (out * xx).sum() / s, (out * yy).sum() / s
    p = (centre - N / 2) / (N / math.sqrt(2))
    pl = float(np.hypot(*p))
    u = p / pl if pl > 0 else np.array([1.0, 0.0])  # outward
    v = np.array([-u[1], u[0]])  # along the chord
    _, var_u, var_v = lens_moments(pl / 2)
    off = np.array([cx, cy]) - centre
    # The centroid moves outward by c / 2 = |p| R / 2 (the top-left light toward the top-left corner).
    assert off @ u == pytest.approx(pl / 2 * radius, abs=0.5)
    assert abs(off @ v) < 0.3
    du, dv = (xx - cx) * u[0] + (yy - cy) * u[1], (xx - cx) * v[0] + (yy - cy) * v[1]
    box = (16 - 1) / 12  # the 4 x 4 light's own variance per axis
    su = math.sqrt((out * du ** 2).sum() / s - box) / radius
    sv = math.sqrt((out * dv ** 2).sum() / s - box) / radius
    assert su == pytest.approx(math.sqrt(var_u), rel=0.04)  # thin across p ...
    assert sv == pytest.approx(math.sqrt(var_v), rel=0.04)  # ... long along the chord
    # Its extent across p is the lens's, 2 R - |c| (+ the light and a level's spread).
    across = np.abs(du)[(out > 0.02 * out.max()) & (np.abs(dv) < 1.0)]
    if pl > 0.5:
        assert 2 * across.max() == pytest.approx(2 * radius - pl * radius + 4, abs=4.0)


@pytest.mark.slow
def test_cat_eye_off_renders_as_a_renderer_without_it(renderer_factory):
    """Strength 0 takes the plain path: the same values as a renderer without the option (the centre's
    round disc under strength 1: test_a_point_light_is_imprinted_as_the_lens)."""
    img = np.zeros((96, 96, 3), np.float32)
    img[46:50, 46:50] = 1.0 / 16
    img[4, 4] = 1.0
    disp = np.zeros((96, 96), np.float32)
    outs = []
    for r in (renderer_factory(), renderer_factory(cat_eye=0.0), renderer_factory(cat_eye=1.0)):
        r.prepare(img, disp)
        outs.append(r.to_host(r.render(0.5, 20.0)))
    assert np.array_equal(outs[0], outs[1])
    assert np.abs(outs[2][:24, :24] - outs[0][:24, :24]).max() > 0.1 * outs[0][:24, :24].max()


@pytest.mark.slow
def test_three_taps_approach_the_exact_lens_gather():
    """The renderer (the reference implementation the CPU kernels equal) with the cat-eye is closer to
    the brute-force gather of every pixel's exact lens than the renderer without it, and the three taps
    with exact discs halve the exact disc's RMSE against the exact lens (measured: 0.53; numbers on larger
    images in bench/results/cat_eye_error.json)."""
    from helpers.reference import smooth_texture
    from helpers.reference_renderer import ReferenceRenderer

    from deocused.bench.cat_eye_gather import exact_lens, tap_lens

    size, radius, m = 160, 10.0, 17
    img = smooth_texture(size, size, 5)
    img[8::24, 8::24] = 20.0  # point lights
    disp = np.zeros((size, size), np.float32)
    exact = exact_lens(img, radius, 1.0)[m:-m, m:-m]
    disc = exact_lens(img, radius, 0.0)[m:-m, m:-m]
    taps = tap_lens(img, radius, 1.0)[m:-m, m:-m]

    def rmse(a, b):
        return float(np.sqrt(((a - b) ** 2).mean()))

    outs = {}
    for s in (0.0, 1.0):
        r = ReferenceRenderer(cat_eye=s)
        r.prepare(img, disp)
        outs[s] = r.render(0.5, 2 * radius)[m:-m, m:-m].astype(np.float64)
    assert rmse(outs[1.0], exact) < 0.75 * rmse(outs[0.0], exact)
    assert rmse(taps, exact) < 0.6 * rmse(disc, exact)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf"), "1", True, None])
def test_bad_cat_eye_strengths_are_refused(bad):
    from deocused.render.cpu.backend import CpuRenderer
    from deocused.settings import RenderSettings

    with pytest.raises(InputError, match="cat_eye must be a strength"):
        CpuRenderer(cat_eye=bad)
    with pytest.raises(InputError, match="cat_eye must be a strength"):
        RenderSettings(cat_eye=bad)


def test_settings_carry_the_cat_eye_to_every_renderer():
    from deocused.render.backends import make_renderer
    from deocused.settings import RenderSettings

    s = RenderSettings(cat_eye=0.7, anamorphic=1.5)
    assert s.renderer_options()["cat_eye"] == 0.7 and RenderSettings().renderer_options()["cat_eye"] == 0.0
    assert make_renderer("cpu", **s.renderer_options()).cat_eye == 0.7
    assert s.with_(cat_eye=0.2).cat_eye == 0.2


@pytest.mark.slow
def test_cli_renders_cat_eye_bokeh_and_refuses_bad_strengths(tmp_path):
    """End to end: `refocus render --cat-eye 1` moves a corner's bokeh, and a bad value is one line."""
    from helpers.malformed import run_cli
    from PIL import Image

    img = np.zeros((120, 160, 3), np.uint8)
    img[10:14, 10:14] = 255  # a light near the top-left corner, on a far plane
    Image.fromarray(img).save(tmp_path / "in.png")
    np.save(tmp_path / "d.npy", np.zeros((120, 160), np.float32))
    outs = {}
    for strength in ("0", "1"):
        out = tmp_path / f"o{strength}.png"
        r = run_cli("render", tmp_path / "in.png", "--depth", tmp_path / "d.npy", "--focus-disparity", "1",
                    "--max-blur", "12", "--device", "cpu", "--cat-eye", strength, "-o", out)
        assert r.code == 0, r.err
        outs[strength] = np.asarray(Image.open(out), np.float64)[:, :, 0]
    yy, xx = np.mgrid[:120, :160]
    centroid = [((o * xx).sum() / o.sum(), (o * yy).sum() / o.sum()) for o in (outs["0"], outs["1"])]
    assert centroid[1][0] < centroid[0][0] - 1 and centroid[1][1] < centroid[0][1] - 1  # toward the corner
    r = run_cli("render", tmp_path / "in.png", "--depth", tmp_path / "d.npy", "--cat-eye", "2", "-o", tmp_path / "x.png")
    assert r.code != 0 and len(r.error_lines) == 1 and "--cat-eye must be a strength" in r.error_lines[0]
    assert "Traceback" not in r.err and not (tmp_path / "x.png").exists()


@pytest.mark.slow
@pytest.mark.parametrize("strength", [1.0, 0.4])
def test_cpu_builds_every_full_resolution_tile_the_taps_read(strength):
    """The CPU builds the scale-1 level tiles lazily, per render: the taps read tiles around their pixel's
    own, at radii down to min_tap_factor of the stage's. Blocks never built are NaN here (the pool is
    filled with NaN after prepare), so a tap that reads one shows; the renders, one after another as a
    viewer makes them, equal those of a renderer with every level built."""
    from deocused.io.colour import srgb_to_linear
    from deocused.io.samples import synthetic_scene
    from deocused.render.cpu.backend import CpuRenderer

    img, depth = synthetic_scene(512, 320)  # planes at several depths: bands in front of a far ground
    inv = 1.0 / depth
    disp = ((inv - inv.min()) / (inv.max() - inv.min())).astype(np.float32)
    lin = srgb_to_linear(img)
    lazy, whole = CpuRenderer(cat_eye=strength), CpuRenderer(cat_eye=strength)
    lazy.prepare(lin, disp)
    whole.prepare(lin, disp)
    lazy._pool[:] = np.nan
    whole.ensure_levels(23)
    for f, k in ((0.0, 10.0), (0.0, 20.48), (0.5, 9.0), (0.9, 30.0), (0.3, 64.0), (1.0, 4.0)):
        a = lazy.render(f, k)
        assert np.isfinite(a).all(), (f, k)
        assert np.array_equal(a, whole.render(f, k)), (f, k)
