"""The viewer's fit view at the screen's resolution (deocused.viewer.display): the size, the depth
resampling (checked against a per-block reference), and that the display-resolution render is the same
picture as the full-resolution render resampled to the window (PSNR, deocused.bench.fit_view)."""

import numpy as np
import pytest

from deocused.viewer.display import display_scale, display_size, resample_disparity

cv2 = pytest.importorskip("cv2")


def test_display_size_is_the_fit_never_above_the_photo():
    assert display_size((4032, 3024), (1600, 1000)) == (1333, 1000)
    assert display_size((6000, 4000), (1600, 1000)) == (1500, 1000)
    assert display_size((640, 480), (1600, 1000)) == (640, 480)  # smaller than the window: 1:1
    assert display_size((1600, 1000), (1600, 1000)) == (1600, 1000)
    assert display_scale((6000, 4000), (1500, 1000)) == 0.25


def reference_resample(d, w, h):
    """Per block of an integer factor: the block's min or max, whichever is closer to its mean."""
    fy, fx = d.shape[0] // h, d.shape[1] // w
    out = np.empty((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            b = d[y * fy:(y + 1) * fy, x * fx:(x + 1) * fx].astype(np.float64)
            lo, hi, m = b.min(), b.max(), b.mean()
            out[y, x] = hi if hi - m < m - lo else lo
    return out


def test_resample_disparity_takes_the_surface_covering_most_of_each_block():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:60, 0:90]
    d = np.where((xx - 40) ** 2 + (yy - 25) ** 2 < 18 ** 2, 0.9, 0.2).astype(np.float32)  # a disc in front
    d += rng.uniform(0, 0.01, d.shape).astype(np.float32)  # texture within each surface
    out = resample_disparity(d, (30, 20))
    assert out.shape == (20, 30) and out.dtype == np.float32
    assert np.array_equal(out, reference_resample(d, 30, 20))
    # no depth between the two surfaces (an area average would put some there)
    assert ((out < 0.22) | (out > 0.89)).all()
    area = cv2.resize(d, (30, 20), interpolation=cv2.INTER_AREA)
    assert ((area > 0.3) & (area < 0.8)).any()
    # the edge stays where the photo's is: the near disc covers the blocks most of whose pixels are near
    near_share = cv2.resize((d > 0.5).astype(np.float32), (30, 20), interpolation=cv2.INTER_AREA)
    assert np.array_equal(out > 0.5, near_share > 0.5)


def test_resample_disparity_at_a_non_integer_factor_and_the_same_size():
    d = np.linspace(0, 1, 101 * 77, dtype=np.float32).reshape(77, 101)
    out = resample_disparity(d, (34, 26))
    assert out.shape == (26, 34) and 0.0 <= out.min() and out.max() <= 1.0
    assert np.array_equal(resample_disparity(d, (101, 77)), d)


@pytest.mark.slow
def test_fit_view_is_the_full_render_resampled_to_the_window():
    """Motorcycle scaled to 2016x1512 in an 800x500 window (shown at 667x500, a third of the photo's
    pixels per axis, as a 12 MP photo in a 1600x1000 window): >= 40 dB at every focus and K."""
    from deocused.bench.fit_view import fit_view_psnr
    from deocused.bench.scenes import scene_arrays
    from deocused.render.optics import default_max_blur

    img, disp = scene_arrays(2016, 1512, "motorcycle")
    k0 = default_max_blur(disp.shape)
    settings = [(0.2, k0), (0.5, 2 * k0), (0.8, k0 / 2), (0.8, k0)]
    r = fit_view_psnr(img, disp, (800, 500), settings)
    assert r["size"] == (667, 500)
    assert min(r["psnr"]) >= 40.0, r["psnr"]


def test_reduced_jpeg_decode_is_the_photo_at_a_fraction_of_its_size(tmp_path):
    from deocused.io.images import load_image, load_image_reduced

    yy, xx = np.mgrid[0:600, 0:800]
    img = np.stack([xx / 800, yy / 600, 0.5 + 0.4 * np.sin(xx / 9.0) * np.cos(yy / 7.0)], -1)
    path = tmp_path / "p.jpg"
    cv2.imwrite(str(path), np.rint(img[..., ::-1] * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
    small, full = load_image_reduced(path, (300, 200))  # 1/2 (400x300); 1/4 (200x150) would be too small
    assert full == (800, 600) and small.shape == (300, 400, 3) and small.dtype == np.float32
    ref = cv2.resize(load_image(path), (400, 300), interpolation=cv2.INTER_AREA)
    assert np.abs(small - ref).mean() < 1.5 / 255 and np.abs(small - ref).max() < 12 / 255
    assert load_image_reduced(path, (100, 75))[0].shape == (75, 100, 3)  # 1/8
    assert load_image_reduced(path, (401, 300)) is None  # no reduction is big enough
    png = tmp_path / "p.png"
    cv2.imwrite(str(png), np.zeros((600, 800, 3), np.uint8))
    assert load_image_reduced(png, (100, 75)) is None  # not a JPEG: decoded whole elsewhere


def test_view_transform_zooms_about_the_pointer_and_clamps_pans():
    from deocused.viewer.view import ViewTransform

    v, image, fb = ViewTransform(), (4000, 3000), (1600, 1000)
    p = v.to_image(400, 300, image, fb)  # at the fit: letterboxed 1333x1000 at x = 133
    assert p == pytest.approx(((400 - 133) * 3, 900), abs=3)
    v.step(1, 400, 300, image, fb)
    assert v.zoom == 1 and v.to_image(400, 300, image, fb) == pytest.approx(p, abs=1)
    (x0, y0, x1, y1), origin = v.region(image, fb)
    assert (x1 - x0, y1 - y0, origin) == (1600, 1000, (0, 0))
    v.step(2, 0, 0, image, fb)  # 4:1 about the top-left corner
    q = v.to_image(0, 0, image, fb)
    assert v.zoom == 4 and (q[0] - x0, q[1] - y0) == pytest.approx((0, 0), abs=1)
    v.pan(1e6, 1e6, image, fb)  # far beyond the photo's corner: stops there
    assert v.region(image, fb)[0][:2] == (0, 0)
    small = ViewTransform(zoom=1)  # a photo smaller than the window at 1:1 is centred
    assert small.region((800, 600), fb) == ((0, 0, 800, 600), (400, 200))


def test_depth_decodes_beside_the_photo_only_when_the_photo_opens_reduced(tmp_path):
    """The viewer starts the depth file's decode beside the photo's only for a JPEG that
    load_image_reduced halves at least for the screen (else the file would be decoded twice)."""
    from deocused.io.images import load_image_reduced
    from deocused.viewer.loader import _may_reduce

    img = np.zeros((400, 640, 3), np.uint8)
    for name, data in (("a.jpg", cv2.imencode(".jpg", img)[1]), ("a.png", cv2.imencode(".png", img)[1])):
        (tmp_path / name).write_bytes(data.tobytes())
    for screen in ((320, 200), (300, 100), (321, 200), (320, 201), (1600, 1000)):
        reduced = load_image_reduced(tmp_path / "a.jpg", screen) is not None
        assert _may_reduce(tmp_path / "a.jpg", screen) == reduced == (screen[0] <= 320 and screen[1] <= 200)
    assert not _may_reduce(tmp_path / "a.png", (10, 10)) and not _may_reduce(tmp_path / "none.jpg", (10, 10))
