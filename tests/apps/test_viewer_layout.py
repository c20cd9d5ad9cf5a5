"""Pure geometry and HUD text of the viewer (no display needed)."""

import numpy as np
import pytest

from deocused.viewer import hud
from deocused.window.layout import Rect, fit_window, image_to_window, letterbox, window_to_image


def test_letterbox_exact_fit_is_identity():
    assert letterbox((160, 120), (160, 120)) == Rect(0, 0, 160, 120)


def test_letterbox_pillarbox_and_letterbox():
    assert letterbox((320, 120), (160, 120)) == Rect(80, 0, 160, 120)  # bars left and right
    assert letterbox((240, 240), (160, 120)) == Rect(0, 30, 240, 180)  # bars top and bottom
    assert letterbox((0, 100), (160, 120)) == Rect(0, 0, 0, 0)


@pytest.mark.parametrize("fb", [(160, 120), (333, 97), (97, 333), (1920, 1080), (641, 479)])
def test_letterbox_keeps_aspect_and_centres(fb):
    r = letterbox(fb, (160, 120))
    assert r.x >= 0 and r.y >= 0 and r.x + r.w <= fb[0] and r.y + r.h <= fb[1]
    assert r.w == fb[0] or r.h == fb[1]  # touches two sides
    assert abs(r.w / r.h - 160 / 120) <= 1.0 / min(r.w, r.h) * 2  # aspect within one pixel of rounding
    assert abs((fb[0] - r.w) - 2 * r.x) <= 1 and abs((fb[1] - r.h) - 2 * r.y) <= 1


def test_gl_viewport_flips_origin():
    assert Rect(10, 20, 30, 40).gl_viewport(100) == (10, 40, 30, 40)


def test_every_pixel_maps_to_itself_at_1_to_1():
    ys, xs = np.mgrid[0:120, 0:160]
    for x, y in zip(xs.ravel()[::37], ys.ravel()[::37]):
        p = window_to_image(x + 0.5, y + 0.5, (160, 120), (160, 120), (160, 120))
        assert (int(p[0]), int(p[1])) == (x, y)
        p = window_to_image(float(x), float(y), (160, 120), (160, 120), (160, 120))  # integer cursor
        assert (int(p[0]), int(p[1])) == (x, y)


def test_bars_and_outside_map_to_none():
    assert window_to_image(10, 60, (320, 120), (320, 120), (160, 120)) is None  # left bar
    assert window_to_image(250, 60, (320, 120), (320, 120), (160, 120)) is None  # right bar
    assert window_to_image(100, 10, (240, 240), (240, 240), (160, 120)) is None  # top bar
    assert window_to_image(-1, 5, (160, 120), (160, 120), (160, 120)) is None
    assert window_to_image(160, 5, (160, 120), (160, 120), (160, 120)) is None
    assert window_to_image(90, 50, (320, 120), (320, 120), (160, 120)) == (10.0, 50.0)


@pytest.mark.parametrize("hidpi", [1.0, 2.0, 1.5])
def test_hidpi_framebuffer_maps_like_the_window(hidpi):
    win = (400, 300)
    fb = (round(400 * hidpi), round(300 * hidpi))
    for img in [(160, 120), (1920, 1080), (90, 200)]:
        for wx, wy in [(200, 150), (13.25, 77.5), (399.0, 299.0), (0.0, 0.0)]:
            lo = window_to_image(wx, wy, win, win, img)
            hi = window_to_image(wx, wy, win, fb, img)
            assert (lo is None) == (hi is None)
            if lo is not None:  # same image point up to the finer framebuffer's rounding
                assert abs(lo[0] - hi[0]) <= img[0] / letterbox(win, img).w + 1e-9
                assert abs(lo[1] - hi[1]) <= img[1] / letterbox(win, img).h + 1e-9


def test_round_trip_random():
    rng = np.random.default_rng(1)
    for _ in range(300):
        img = tuple(int(v) for v in rng.integers(2, 3000, 2))
        win = tuple(int(v) for v in rng.integers(50, 2000, 2))
        s = float(rng.choice([1.0, 1.25, 2.0]))
        fb = (round(win[0] * s), round(win[1] * s))
        ix, iy = rng.uniform(0, img[0]), rng.uniform(0, img[1])
        wx, wy = image_to_window(ix, iy, win, fb, img)
        p = window_to_image(wx, wy, win, fb, img)
        assert p is not None
        assert p[0] == pytest.approx(ix, abs=1e-6 * img[0]) and p[1] == pytest.approx(iy, abs=1e-6 * img[1])


def test_fit_window():
    assert fit_window((160, 120), (1920, 1080)) == (320, 240)  # minimum size
    assert fit_window((800, 600), (1920, 1080)) == (800, 600)
    w, h = fit_window((4000, 3000), (1920, 1080))
    assert h <= 0.85 * 1080 + 1 and abs(w / h - 4 / 3) < 0.01


def test_hud_panel_and_status_lines():
    lines = hud.format_status("a.jpg", 0, 3, (640, 480), "cpu", 0.25, 12.0, 41.6, 30, "rendering...", "")
    assert lines[0].startswith("a.jpg  [1/3]  640x480") and "focus d=0.250" in lines[1]
    assert "K 12.0 px" in lines[1] and "render 42 ms" in lines[1] and "30 fps" in lines[1]
    assert lines[2] == "rendering..."
    img = hud.text_panel(lines)
    assert img.dtype == np.uint8 and img.shape[2] == 4
    assert (img[..., 3] >= 170).all() and (img[..., :3] == 255).any()
    big = hud.text_panel(lines, scale=2.0)
    assert big.shape[0] > 1.8 * img.shape[0]
    assert any("Esc" in s for s in hud.HELP_LINES)


def test_table_encoder_equals_linear_to_srgb8():
    """The windows' table-driven sRGB encoding is exactly deocused.io.colour's, including values next to
    rounding boundaries, out-of-range values and a change of frame size (buffers reused)."""
    from deocused.io.colour import linear_to_srgb8, srgb_to_linear
    from deocused.render.cpu.srgb8 import Srgb8Encoder, srgb8_to_linear

    rng = np.random.default_rng(5)
    enc = Srgb8Encoder()
    # linear values exactly at the decision points of each 8-bit code, +- a few float32 steps
    edges = srgb_to_linear((np.arange(256, dtype=np.float32) + 0.5) / 255.0)
    near = np.concatenate([np.nextafter(edges, 0), edges, np.nextafter(edges, 1), [-0.5, 0.0, 1.0, 3.0]])
    for a in (rng.random((37, 41, 3), dtype=np.float32) ** 3, near.astype(np.float32).reshape(1, -1, 1).repeat(3, 2),
              rng.random((20, 30, 3), dtype=np.float32) * 1.4 - 0.2):
        np.testing.assert_array_equal(enc(a), linear_to_srgb8(a))
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2)
    np.testing.assert_array_equal(srgb8_to_linear(codes), srgb_to_linear(codes.astype(np.float32) / np.float32(255)))
