"""Depth pre/post-processing (NumPy/OpenCV only)."""

import numpy as np
import pytest

from deocused.depth.processing import guided_upsample, normalise, postprocess, preprocess, squeeze_output
from deocused.depth.processing import network_to_disparity as to_disparity
from deocused.depth.registry import ModelSpec


def _img(h=40, w=60):
    return np.random.default_rng(0).random((h, w, 3), dtype=np.float32)


def test_preprocess_nhwc_plain():
    spec = ModelSpec(name="t", format="tflite")
    x = preprocess(_img(), spec, (32, 16))
    assert x.shape == (1, 32, 16, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_preprocess_nchw_mean_std_bgr():
    img = np.zeros((8, 8, 3), np.float32)
    img[..., 0] = 1.0  # pure red
    spec = ModelSpec(name="t", format="pb", layout="NCHW", colour_order="BGR",
                     mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x = preprocess(img, spec, (8, 8))
    assert x.shape == (1, 3, 8, 8)
    # BGR: red lands in channel 2; (1 - 0.5) / 0.25 = 2, (0 - 0.5) / 0.25 = -2
    np.testing.assert_allclose(x[0, 2], 2.0, atol=1e-6)
    np.testing.assert_allclose(x[0, 0], -2.0, atol=1e-6)


def test_preprocess_midas_tflite_normalisation():
    img = np.full((4, 4, 3), 0.5, np.float32)
    spec = ModelSpec(name="t", format="tflite", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    x = preprocess(img, spec, (4, 4))
    np.testing.assert_allclose(x[0, 0, 0], (0.5 - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225],
                               rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 5, 7), (1, 5, 7, 1), (1, 1, 5, 7), (5, 7)])
def test_squeeze_output_shapes(shape):
    assert squeeze_output(np.zeros(shape)).shape == (5, 7)


def test_to_disparity_depth_is_inverted():
    depth = np.array([[1.0, 2.0], [4.0, 8.0]], np.float32)
    d = to_disparity(depth, "depth")
    assert d[0, 0] == 1.0 and d[1, 1] == 0.0  # nearest = 1
    d2 = to_disparity(depth, "inverse_depth")
    assert d2[0, 0] == 0.0 and d2[1, 1] == 1.0


def test_normalise_constant_and_nonfinite():
    assert not normalise(np.full((3, 3), 5.0)).any()
    d = normalise(np.array([[np.nan, 1.0], [2.0, 3.0]]))
    assert np.isfinite(d).all() and d.min() == 0.0 and d.max() == 1.0


@pytest.mark.parametrize("shift", [0, 3])
def test_guided_upsampling_puts_depth_step_on_image_edge(shift):
    """A low-res (32x32) depth step, area-downsampled and possibly misplaced by a few
    pixels, comes back with its steepest jump exactly on the image edge; plain
    bilinear upsampling smears it over a low-res pixel."""
    import cv2

    H = W = 256
    edge = 100  # object (bright, near) covers columns >= 100
    img = np.full((H, W, 3), 0.2, np.float32)
    img[:, edge:] = 0.8
    true = np.zeros((H, W), np.float32)
    true[:, edge + shift:] = 1.0
    low = cv2.resize(true, (32, 32), interpolation=cv2.INTER_AREA)
    bilinear = normalise(cv2.resize(low, (W, H), interpolation=cv2.INTER_LINEAR))[H // 2]
    guided = normalise(guided_upsample(low, img))[H // 2]
    jump_g, jump_b = np.diff(guided), np.diff(bilinear)
    assert int(np.argmax(jump_g)) == edge - 1  # the step is between columns 99 and 100
    assert jump_g.max() > 0.6  # most of the depth range in one pixel
    assert jump_b.max() < 0.15  # bilinear: no step anywhere
    assert guided[edge - 1] < 0.5 < guided[edge]


def test_guided_upsampling_large_image_uses_working_resolution():
    img = np.zeros((3000, 2000, 3), np.float32)
    img[:, 1000:] = 1.0
    low = np.zeros((24, 16), np.float32)
    low[:, 8:] = 1.0
    out = normalise(guided_upsample(low, img))
    assert out.shape == (3000, 2000)
    row = out[1500]
    assert int(np.argmax(np.diff(row))) == 999 and np.diff(row).max() > 0.6


def test_postprocess_full_resolution_range():
    spec = ModelSpec(name="t", format="tflite")
    raw = np.random.default_rng(1).random((1, 16, 16, 1)).astype(np.float32) * 40 + 3
    img = _img(48, 64)
    for guided in (True, False):
        d = postprocess(raw, spec, img, guided=guided)
        assert d.shape == (48, 64) and d.dtype == np.float32
        assert d.min() == 0.0 and d.max() == 1.0
