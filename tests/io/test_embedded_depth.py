"""Depth recorded in the photo file: Apple HEIC depth images, Google GDepth JPEGs,
their order against --depth/sidecar/network, and the guided upsampling."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import phone_files as pf

from deocused.errors import InputError
from deocused.io.embedded_depth import find_embedded_depth, fit_to_photo
from deocused.io.guided import guided_upsample
from deocused.photo import load_photo

pytest.importorskip("defusedxml", reason="defusedxml is not installed")

H, W = 96, 128
NEAR, FAR = 1.0, 4.0


def _three_planes():
    """Depth in metres: left third 1 m, middle 2 m, right third 4 m."""
    d = np.full((H, W), 2.0)
    d[:, : W // 3] = NEAR
    d[:, 2 * W // 3:] = FAR
    return d


def _photo(seed=0):
    return np.clip(np.random.default_rng(seed).normal(128, 40, (H, W, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["RangeInverse", "RangeLinear"])
@pytest.mark.parametrize("split", [True, False])
def test_gdepth_disparity_follows_the_spec(tmp_path, fmt, split):
    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, fmt)
    p = tmp_path / "lensblur.jpg"
    p.write_bytes(pf.gdepth_jpeg(_photo(), depth8, NEAR, FAR, fmt, split=split))
    photo = load_photo(p, estimate=False)
    d = photo.disparity
    assert d.shape == (H, W)
    # normalised disparity (1/z - 1/far) / (1/near - 1/far): 1, 1/3, 0 for 1 m, 2 m, 4 m
    assert d[:, 5].mean() == pytest.approx(1.0, abs=0.01)
    assert d[:, W // 2].mean() == pytest.approx(1 / 3, abs=0.02)
    assert d[:, -5].mean() == pytest.approx(0.0, abs=0.01)


def test_gdepth_original_image_and_focus_are_used(tmp_path):
    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, "RangeInverse")
    blurred, original = np.full((H, W, 3), 128, np.uint8), _photo(1)
    p = tmp_path / "lensblur.jpg"
    p.write_bytes(pf.gdepth_jpeg(blurred, depth8, NEAR, FAR, original=original, focus=(0.25, 0.5)))
    photo = load_photo(p, estimate=False)
    want = cv2.imdecode(np.frombuffer(pf.jpeg(original), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.abs(photo.image_srgb * 255 - want).max() < 0.01  # the original's JPEG, not the grey primary
    assert photo.focus == pytest.approx((0.25 * W, 0.5 * H))


def test_gdepth_jpeg_depth_data_is_read(tmp_path):
    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, "RangeLinear")
    emb = find_embedded_depth(pf.gdepth_jpeg(_photo(), depth8, NEAR, FAR, "RangeLinear", depth_mime="image/jpeg"))
    assert emb.disparity[:, 5].mean() == pytest.approx(1.0, abs=0.03)  # 1/z at 1 m


def test_order_depth_flag_then_sidecar_then_embedded(tmp_path):
    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, "RangeInverse")
    p = tmp_path / "a.jpg"
    p.write_bytes(pf.gdepth_jpeg(_photo(), depth8, NEAR, FAR))
    ramp = np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1))  # near on the right: the embedded's mirror
    np.save(tmp_path / "flag.npy", ramp)
    assert load_photo(p, estimate=False).disparity[:, 5].mean() > 0.9  # embedded
    assert load_photo(p, estimate=False, embedded=False).disparity is None  # skipped: network's turn
    np.save(tmp_path / "a.depth.npy", ramp)
    assert load_photo(p, estimate=False).disparity[:, 5].mean() < 0.1  # the sidecar wins
    assert load_photo(p, depth=tmp_path / "flag.npy", estimate=False).depth_path == tmp_path / "flag.npy"


def test_photo_without_embedded_depth_has_none(tmp_path):
    assert find_embedded_depth(pf.jpeg(_photo())) is None
    assert find_embedded_depth(pf.png(_photo())) is None


def test_guided_upsampling_puts_depth_edges_on_photo_edges():
    """A photo with a sharp vertical edge at column 77, depth stepping there: the
    guided result has the step at the edge, where bilinear smears it over the
    small map's pixel (8 photo pixels)."""
    h, w, f = 64, 160, 8
    photo = np.zeros((h, w, 3), np.float32)
    photo[:, :77] = (0.8, 0.5, 0.3)
    photo[:, 77:] = (0.1, 0.3, 0.6)
    depth = np.where(np.arange(w) < 77, 1.0, 0.0).astype(np.float32)[None, :].repeat(h, 0)
    small = cv2.resize(depth, (w // f, h // f), interpolation=cv2.INTER_AREA)
    bil = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    gui = guided_upsample(small, photo)
    band = slice(77 - 8, 77 + 8)
    assert np.abs(gui - depth)[:, band].mean() < 0.5 * np.abs(bil - depth)[:, band].mean()


@pytest.mark.skipif(not pf.GROUNDTRUTH.is_dir(), reason="ground truth not present (../shared/groundtruth)")
@pytest.mark.parametrize("scene", ["scene00", "scene01"])
def test_guided_beats_bilinear_at_depth_edges_on_known_depth(scene):
    """Ground-truth disparity shrunk by 5.25 (a 12 MP photo's 768x576 map), upsampled
    back: mean error within 8 px of depth discontinuities."""
    from deocused.io.images import load_image

    root = pf.GROUNDTRUTH / scene
    if not (root / "disparity.png").exists():
        pytest.skip(f"{scene} not present")
    img = load_image(root / "image.png")
    d = cv2.imread(str(root / "disparity.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 65535
    h, w = d.shape
    edges = np.hypot(cv2.Sobel(d, cv2.CV_32F, 1, 0), cv2.Sobel(d, cv2.CV_32F, 0, 1)) > 0.05
    band = cv2.dilate(edges.astype(np.uint8), np.ones((17, 17), np.uint8)) > 0
    small = cv2.resize(d, (round(w / 5.25), round(h / 5.25)), interpolation=cv2.INTER_AREA)
    bil = np.abs(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) - d)
    gui = np.abs(guided_upsample(small, img) - d)
    assert gui[band].mean() < 0.8 * bil[band].mean()
    assert gui.mean() < 1.1 * bil.mean()  # and no worse away from the edges


@pytest.mark.skipif(not pf.PUG.exists(), reason="real sample not present (../shared/realdata/pug.heic)")
def test_real_iphone_portrait_depth():
    from deocused.io.images import load_image, read_bytes

    emb = find_embedded_depth(read_bytes(pf.PUG), "pug.heic")
    assert emb is not None and "disparity" in emb.source and emb.disparity.shape == (576, 768)
    img = load_image(pf.PUG)
    d = fit_to_photo(emb, img)
    assert d.shape == img.shape[:2]
    # the phone measured the bed in the bottom corners as nearer than the wall at the top
    assert d[-100:, -300:].mean() > d[:300, 1000:3000].mean() + 0.3


def test_broken_gdepth_data_is_refused():
    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, "RangeInverse")
    main, ext = pf.gdepth_attrs(depth8, NEAR, FAR)
    bad = pf.xmp_jpeg(_photo(), main, {"GDepth:Data": "%%%" + ext["GDepth:Data"]})
    with pytest.raises(InputError, match="base64"):
        find_embedded_depth(bad, "x.jpg")


def test_depth_command_exports_the_embedded_depth(tmp_path):
    from helpers import malformed as m

    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, "RangeInverse")
    p = tmp_path / "a.jpg"
    p.write_bytes(pf.gdepth_jpeg(_photo(), depth8, NEAR, FAR))
    res = m.run_cli("depth", p, "-o", tmp_path / "d.png")
    assert res.code == 0, res.err
    assert "embedded in the photo" in res.err
    d16 = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert d16.dtype == np.uint16 and d16.shape == (H, W)
    want = load_photo(p, estimate=False).disparity
    assert np.abs(d16 / 65535.0 - want).max() <= 1 / 65535


def test_render_no_embedded_depth_goes_to_the_network(tmp_path, monkeypatch):
    """--no-embedded-depth hands the photo to the depth network (here a stand-in
    returning a left-to-right ramp, to see which depth the render used)."""
    from helpers import malformed as m

    import deocused.depth as depth_pkg

    calls = []

    def stand_in(img, **kw):
        calls.append(img.shape)
        return np.tile(np.linspace(0, 1, img.shape[1], dtype=np.float32), (img.shape[0], 1))

    monkeypatch.setattr(depth_pkg, "estimate_disparity", stand_in)
    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, "RangeInverse")
    p = tmp_path / "a.jpg"
    p.write_bytes(pf.gdepth_jpeg(_photo(), depth8, NEAR, FAR))
    common = ["render", p, "--device", "cpu", "--focus", "5,40", "--overwrite"]
    res = m.run_cli(*common, "-o", tmp_path / "e.png")
    assert res.code == 0, res.err
    assert not calls and "focus disparity 1.000" in res.out  # the embedded depth: near at the left
    res = m.run_cli(*common, "--no-embedded-depth", "-o", tmp_path / "n.png")
    assert res.code == 0, res.err
    assert calls and "focus disparity 0.0" in res.out  # the ramp: far at the left


@pytest.mark.slow
def test_batch_uses_embedded_depth_and_heic_like_render(tmp_path):
    """A folder with a GDepth JPEG and a HEIC (with a sidecar): batch finds both and
    writes what render writes for each."""
    from deocused.cli import main

    pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
    src = tmp_path / "in"
    src.mkdir()
    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, "RangeInverse")
    (src / "a.jpg").write_bytes(pf.gdepth_jpeg(_photo(), depth8, NEAR, FAR))
    (src / "b.heic").write_bytes(pf.heic(_photo(2)))
    np.save(src / "b.depth.npy", np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1)))
    assert main(["-q", "batch", "--no-progress", str(src), "-o", str(tmp_path / "out"), "--device", "cpu"]) == 0
    for name in ("a.jpg", "b.heic"):
        ref = tmp_path / f"{name}.ref.png"
        assert main(["-q", "render", str(src / name), "-o", str(ref), "--device", "cpu"]) == 0
        assert (tmp_path / "out" / name).with_suffix(".png").read_bytes() == ref.read_bytes(), name


@pytest.mark.parametrize("fmt", ["RangeInverse", "RangeLinear"])
@pytest.mark.parametrize("padding", [0, 7])
def test_dynamic_depth_disparity_follows_the_spec(tmp_path, fmt, padding):
    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, fmt)  # the same normalisation as GDepth
    p = tmp_path / "pixel.jpg"
    p.write_bytes(pf.dynamic_depth_jpeg(_photo(), depth8, NEAR, FAR, fmt, padding=padding))
    d = load_photo(p, estimate=False).disparity
    assert d[:, 5].mean() == pytest.approx(1.0, abs=0.01)
    assert d[:, W // 2].mean() == pytest.approx(1 / 3, abs=0.02)
    assert d[:, -5].mean() == pytest.approx(0.0, abs=0.01)


def test_dynamic_depth_in_diopters():
    diopters = 1.0 / _three_planes()  # 1, 0.5, 0.25 dioptres
    dn = (diopters - 1.0) / (0.25 - 1.0)  # RangeLinear with near = 1 D, far = 0.25 D
    depth8 = np.rint(dn * 255).astype(np.uint8)
    emb = find_embedded_depth(pf.dynamic_depth_jpeg(_photo(), depth8, 1.0, 0.25, "RangeLinear", units="Diopters"))
    assert emb.disparity[:, 5].mean() == pytest.approx(1.0, abs=0.01)  # dioptres are 1/m already
    assert emb.disparity[:, W // 2].mean() == pytest.approx(0.5, abs=0.01)


def test_dynamic_depth_original_image_is_refocused(tmp_path):
    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, "RangeInverse")
    original = _photo(5)
    p = tmp_path / "pixel.jpg"
    p.write_bytes(pf.dynamic_depth_jpeg(np.full((H, W, 3), 90, np.uint8), depth8, NEAR, FAR, original=original,
                                        padding=3))
    photo = load_photo(p, estimate=False)
    want = cv2.imdecode(np.frombuffer(pf.jpeg(original), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.abs(photo.image_srgb * 255 - want).max() < 0.01


def test_dynamic_depth_output_drops_the_container(tmp_path):
    from helpers import malformed as m

    depth8 = pf.encode_gdepth(_three_planes(), NEAR, FAR, "RangeInverse")
    p = tmp_path / "pixel.jpg"
    p.write_bytes(pf.dynamic_depth_jpeg(_photo(), depth8, NEAR, FAR))
    res = m.run_cli("render", p, "-o", tmp_path / "o.jpg", "--device", "cpu")
    assert res.code == 0, res.err
    out = (tmp_path / "o.jpg").read_bytes()
    assert b"Container:Directory" not in out and b"DepthMap:DepthURI" not in out
    assert find_embedded_depth(out) is None


@pytest.mark.parametrize("kind,lo,hi,near_is", [(1, 1.5, 4.4, "high"), (0, 0.25, 1.0, "high"), (2, 1.0, 4.0, "low")])
def test_heif_depth_representations(kind, lo, hi, near_is):
    """Values v in [0, 1] map to d_min + v (d_max - d_min); uniform Z is depth (near =
    small, inverted to disparity), the others are disparity-like already."""
    from deocused.io.embedded_depth import representation_to_disparity

    v = np.linspace(0, 1, 11, dtype=np.float32)[None, :].repeat(2, 0)
    disp, what = representation_to_disparity(v, {"representation_type": kind, "d_min": lo, "d_max": hi}, "x")
    stored = lo + v * (hi - lo)
    want = 1.0 / stored if kind == 2 else stored
    assert np.allclose(disp, want, rtol=1e-5)
    assert (disp[0, 0] < disp[0, -1]) == (near_is == "high")
    assert what == {0: "inverse depth", 1: "disparity", 2: "depth"}[kind]


def test_heif_uniform_z_without_range_is_refused():
    from deocused.io.embedded_depth import representation_to_disparity

    with pytest.raises(InputError, match="uniform Z"):
        representation_to_disparity(np.ones((2, 2), np.float32), {"representation_type": 2}, "x")


@pytest.mark.parametrize("orientation", [6, 8])
def test_heif_depth_is_turned_like_the_photo(orientation):
    """Apple stores the depth image unturned; the primary image is turned by libheif
    (and its EXIF orientation says how): the depth follows it."""
    from helpers import malformed as m

    from deocused.io.embedded_depth import _upright

    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    exif = pf.exif_block(orientation)
    got = _upright(depth, exif, (30, 40), "x")  # the photo, upright, is 30 wide and 40 tall
    assert np.array_equal(got, m.oriented(depth, orientation))
    assert np.array_equal(_upright(depth, exif, (40, 30), "x"), depth)  # already matching: left as stored
