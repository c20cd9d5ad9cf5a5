"""HEIF/HEIC and AVIF photos: decoded through the same loader as every other format,
at their bit depth, upright."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers import phone_files as pf

from deocused.errors import InputError
from deocused.io.heif import is_heif
from deocused.io.images import decode_image, decode_raw, load_image

pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")


def _scene(h=48, w=64):
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin(xx / 5.0)], axis=2)
    rgb[: h // 4, : w // 4] = 1.0  # an asymmetric mark to check the turn
    return rgb


def test_8_bit_heic_decodes_to_the_pixels_written():
    rgb8 = np.rint(_scene() * 255).astype(np.uint8)
    data = pf.heic(rgb8)
    assert is_heif(data)
    out = decode_image(data, "x.heic")
    assert out.shape == (48, 64, 3) and out.dtype == np.float32
    assert np.abs(out * 255 - rgb8).mean() < 2.0  # lossless HEVC, YCbCr rounding only


@pytest.mark.parametrize("bits", [10, 12])
def test_high_bit_depth_heic_keeps_its_levels(bits):
    ramp = np.tile(np.linspace(0.25, 0.35, 64), (48, 1))  # 0.1 wide: 26 levels at 8 bits
    rgb16 = np.rint(np.repeat(ramp[:, :, None], 3, 2) * 65535).astype(np.uint16)
    raw = decode_raw(pf.heic(rgb16, bits=bits), "x.heic")
    assert raw.dtype == np.uint16
    out = decode_image(pf.heic(rgb16, bits=bits), "x.heic")
    levels = np.unique(np.rint(out[24, :, 1] * 65535)).size
    assert levels > 40, f"{bits}-bit HEIC came out with {levels} levels in a 0.1 ramp (8-bit would give 26)"
    assert np.abs(out[24, :, 1] - ramp[24]).max() < 4 / 1023


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_heic_rotation_is_applied_once(orientation):
    from helpers import malformed as m

    rgb8 = np.rint(_scene() * 255).astype(np.uint8)
    out = decode_image(pf.heic(rgb8, orientation=orientation), "x.heic")
    want = m.oriented(rgb8, orientation)
    assert out.shape == want.shape
    assert np.abs(out * 255 - want).mean() < 2.0


def test_avif_decodes_upright(tmp_path):
    from PIL import Image, features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    rgb8 = np.rint(_scene() * 255).astype(np.uint8)
    ex = Image.Exif()
    ex[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(rgb8).save(buf, format="AVIF", quality=100, exif=ex)
    assert is_heif(buf.getvalue())
    out = decode_image(buf.getvalue(), "x.avif")
    assert out.shape == (64, 48, 3)
    assert np.abs(out * 255 - np.rot90(rgb8, -1)).mean() < 6.0
    from deocused.photo import load_photo

    p = tmp_path / "x.avif"
    p.write_bytes(buf.getvalue())
    photo = load_photo(p, estimate=False)  # no depth in it: the network's turn, nothing refused
    assert photo.disparity is None and photo.image_srgb.shape == (64, 48, 3)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
def test_truncated_heic_is_refused(cut):
    data = pf.heic(np.rint(_scene() * 255).astype(np.uint8))
    with pytest.raises(InputError, match="HEIF"):
        decode_image(data[: int(len(data) * cut)], "x.heic")


@pytest.mark.skipif(not pf.PUG.exists(), reason="real sample not present (../shared/realdata/pug.heic)")
def test_real_iphone_heic_loads_upright():
    img = load_image(pf.PUG)
    assert img.shape == (3024, 4032, 3)
    assert 0.2 < float(img.mean()) < 0.8
