"""Lens character: anamorphic (elliptical) bokeh and custom aperture images, on both
backends, checked against closed forms of a single bright pixel's spread."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import emulated_subset
from helpers.malformed import run_cli

from deocused.errors import InputError
from deocused.render.aperture import Aperture, ApertureImage
from deocused.render.pyramid import level_scale
from deocused.settings import RenderSettings


def _point_spread(factory, ap: Aperture, radius: float, size: int = 121) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A single bright pixel at the centre, all at disparity 0, focus 0.5, K = 2 radius:
    its spread (float64), and column/row offsets from the pixel (x right, y down)."""
    c = size // 2
    img = np.zeros((size, size, 3), np.float32)
    img[c, c] = 1.0
    r = factory(aperture=ap)
    r.prepare(img, np.zeros((size, size), np.float32))
    out = r.to_host(r.render(0.5, 2.0 * radius))[:, :, 0].astype(np.float64)
    yy, xx = np.mgrid[:size, :size] - c
    return out, xx, yy


@pytest.mark.slow
@pytest.mark.parametrize("ratio", [2.0, 0.6])
@pytest.mark.parametrize("radius", [6.5, 12.0, 23.5])
def test_anamorphic_disc_is_an_ellipse_of_the_right_axes(renderer_factory, ratio, radius):
    emulated_subset(renderer_factory, (ratio, radius), {(2.0, 12.0), (0.6, 6.5)})
    ap = Aperture(anamorphic=ratio)
    out, xx, yy = _point_spread(renderer_factory, ap, radius)
    assert out.sum() == pytest.approx(1.0, abs=0.01)
    # Closed form: an ellipse of semi-axes a (x), b (y) has second moments a^2/4, b^2/4;
    # the longer semi-axis is the radius, the other radius / max(ratio, 1/ratio).
    a, b = (radius / ratio, radius) if ratio >= 1 else (radius, radius * ratio)
    sx = math.sqrt(4 * (out * xx ** 2).sum() / out.sum())
    sy = math.sqrt(4 * (out * yy ** 2).sum() / out.sum())
    # Coarse levels add the same box/bilinear spread on both axes: 1 px plus 4 % of the radius.
    tol = 1.0 + 0.04 * radius
    assert sx == pytest.approx(a, abs=tol) and sy == pytest.approx(b, abs=tol)
    # Energy stays inside the ellipse grown by the level interpolation's 25 % and a level's reach.
    grow = level_scale(1.25 * radius) + 1.0
    outside = (xx / (1.25 * a + grow)) ** 2 + (yy / (1.25 * b + grow)) ** 2 > 1.0
    assert out[outside].sum() < 0.01


def _quadrant_image(n: int = 64) -> np.ndarray:
    """An aperture open only in its top-left quadrant (as seen looking into the lens)."""
    a = np.zeros((n, n), np.float32)
    a[: n // 2, : n // 2] = 1.0
    return a


@pytest.mark.slow
@pytest.mark.parametrize("radius", [6.5, 16.0])
def test_custom_aperture_imprint_is_the_image_mirrored_left_right(renderer_factory, radius):
    emulated_subset(renderer_factory, radius, {6.5})
    ap = Aperture(image=ApertureImage.from_array(_quadrant_image()))
    out, xx, yy = _point_spread(renderer_factory, ap, radius)
    assert out.sum() == pytest.approx(1.0, abs=0.01)
    # Closed form: the top-left quadrant mirrored left-right is the square x in [0, R],
    # y in [-R, 0] (up): centroid (R/2, -R/2), per-axis variance R^2/12.
    # A downsampled level puts the pixel at its block's centre: measure from a round
    # aperture's centroid, which is that position.
    disc, _, _ = _point_spread(renderer_factory, Aperture(), radius)
    x0, y0 = (disc * xx).sum() / disc.sum(), (disc * yy).sum() / disc.sum()
    cx, cy = (out * xx).sum() / out.sum(), (out * yy).sum() / out.sum()
    tol = 1.0 + 0.04 * radius
    assert cx - x0 == pytest.approx(radius / 2, abs=tol) and cy - y0 == pytest.approx(-radius / 2, abs=tol)
    vx = (out * (xx - cx) ** 2).sum() / out.sum()
    assert math.sqrt(12 * vx) == pytest.approx(radius, abs=2 * tol)
    # Nearly all of the light lies in that square (grown by a level's reach).
    grow = level_scale(1.25 * radius) + 1.5
    inside = (xx >= -grow) & (xx <= 1.25 * radius + grow) & (yy <= grow) & (yy >= -1.25 * radius - grow)
    assert out[inside].sum() > 0.98
    # The other three quadrants (the unmirrored, upside-down and rotated shapes) stay dark.
    assert out[(xx < -grow) | (yy > grow)].sum() < 0.01


def test_aperture_kernel_follows_the_image_shape():
    # A centred open disc image gives the round kernel (to the image's resolution).
    n = 256
    yy, xx = (np.mgrid[:n, :n] + 0.5 - n / 2) / (n / 2)
    disc = (np.hypot(xx, yy) <= 1.0).astype(np.float32)
    for rho in (4.0, 9.3):
        k_img = Aperture(image=ApertureImage.from_array(disc)).kernel(rho)
        k_disc = Aperture().kernel(rho)
        assert k_img.shape == k_disc.shape
        assert np.abs(k_img - k_disc).sum() < 0.05
    # Grey levels weight the light: an image twice as bright on its right half
    # gives twice the energy on the kernel's left half (mirrored).
    a = np.ones((64, 64))
    a[:, 32:] = 2.0
    k = Aperture(image=ApertureImage.from_array(a)).kernel(10.0).astype(np.float64)
    r = k.shape[0] // 2
    assert k[:, :r].sum() / k[:, r + 1:].sum() == pytest.approx(2.0, rel=0.05)


def test_default_aperture_is_unchanged_by_the_new_fields():
    for rho in (1.0, 3.7, 12.0):
        assert np.array_equal(Aperture(anamorphic=1.0).kernel(rho), Aperture().kernel(rho))


@pytest.mark.parametrize("bad", [np.zeros((8, 8)), np.ones(8), np.full((8, 8), np.nan), -np.ones((8, 8)),
                                 np.ones((2, 9))])
def test_bad_aperture_images_are_refused(bad):
    with pytest.raises(InputError):
        ApertureImage.from_array(bad)


@pytest.mark.parametrize("ratio", [0.2, 5.0, float("nan"), "2", True])
def test_bad_anamorphic_ratios_are_refused(ratio):
    with pytest.raises(InputError):
        Aperture(anamorphic=ratio)
    with pytest.raises(InputError):
        RenderSettings(anamorphic=ratio)


def test_settings_carry_lens_character_to_the_renderer(tmp_path):
    from PIL import Image

    path = tmp_path / "ap.png"
    Image.fromarray((_quadrant_image() * 255).astype(np.uint8)).save(path)
    s = RenderSettings(anamorphic=1.5, aperture_image=str(path))
    ap = s.renderer_options()["aperture"]
    assert ap.anamorphic == 1.5
    assert np.array_equal(ap.image.array(), _quadrant_image())
    assert RenderSettings(aperture_image=_quadrant_image()).aperture() == Aperture(image=ap.image)
    with pytest.raises(InputError, match="cannot read"):
        RenderSettings(aperture_image=str(tmp_path / "missing.png"))


@pytest.mark.parametrize("flags, message", [
    (["--anamorphic", "9"], "--anamorphic must be a ratio"),
    (["--aperture-image", "/nonexistent/ap.png"], "/nonexistent/ap.png: cannot read the aperture image"),
])
def test_cli_refuses_bad_lens_flags_in_one_line(tmp_path, flags, message):
    r = run_cli("render", "--sample", "motorcycle", "-o", tmp_path / "o.png", *flags)
    assert r.code != 0
    assert len(r.error_lines) == 1 and message in r.error_lines[0] and "Traceback" not in r.err
    assert not (tmp_path / "o.png").exists()


def test_aperture_image_files_keep_their_grey_levels(tmp_path):
    from PIL import Image

    a = (np.arange(64 * 48).reshape(48, 64) * 13).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "ap16.png")  # 16-bit: not cut to 8 bits
    im = ApertureImage.load(tmp_path / "ap16.png")
    assert im.size == 64 and "data" not in repr(im)
    np.testing.assert_allclose(im.array()[8:56], a / a.max(), rtol=1e-6)  # centred in a 64 x 64 square
    assert not im.array()[:8].any() and not im.array()[56:].any()
    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[5:15, 5:15] = 255
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_allclose(ApertureImage.load(tmp_path / "rgb.png").array(), rgb[:, :, 0] / 255.0, atol=1 / 255)
