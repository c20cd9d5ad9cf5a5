"""Each loader reproduces the Keras output of a tiny depth-like model (rtol 1e-4, atol 1e-5)."""


import numpy as np
import pytest
from helpers import conftest_depth as h

from deocused.depth.registry import ModelSpec
from deocused.errors import InputError

loaders = pytest.importorskip("deocused.depth.loaders")  # imports TensorFlow (this test process only)

X = h.rng_image(seed=5)[None]  # (1, 32, 32, 3)


@pytest.fixture(scope="module")
def reference():
    return np.squeeze(h.keras_reference(X))


@pytest.mark.parametrize("fmt,make", [
    ("keras", h.keras_file),
    ("savedmodel", h.savedmodel_dir),
    ("pb", h.frozen_pb),
    ("tflite", h.tflite_file),
])
def test_loader_matches_keras_nhwc(fmt, make, reference):
    runner = loaders.load(make(), ModelSpec(name="t", format=fmt))
    assert runner.input_hw == (h.SIZE, h.SIZE)
    out = runner(X)
    np.testing.assert_allclose(np.squeeze(out), reference, **h.TOL)


def test_nchw_input_manifest(reference):
    """Graph fed NCHW (transposes inside): the manifest's layout drives the feed."""
    from deocused.depth.processing import preprocess

    spec = ModelSpec(name="t", format="pb", layout="NCHW")
    runner = loaders.load(h.frozen_pb_nchw_input(), spec)
    assert runner.input_hw == (h.SIZE, h.SIZE)
    x = preprocess(X[0], spec, (h.SIZE, h.SIZE))
    assert x.shape == (1, 3, h.SIZE, h.SIZE)
    np.testing.assert_allclose(np.squeeze(runner(x)), reference, **h.TOL)


def test_nchw_conv_graph_is_rewritten_for_cpu(reference):
    """A graph with NCHW Conv2D/MaxPool/depthwise ops runs after our NHWC rewrite and
    matches the Keras model (the rewrite is what we own; whether TF's CPU kernels accept
    NCHW themselves changes between releases and is checked separately)."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("rewrite only happens without a GPU")
    spec = ModelSpec(name="t", format="pb", layout="NCHW")
    runner = loaders.load(h.frozen_pb_nchw_ops(), spec)
    assert "rewritten" in runner.description
    out = runner(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))
    assert out.shape == (1, 1, h.SIZE, h.SIZE)
    np.testing.assert_allclose(np.squeeze(out), reference, **h.TOL)


def test_nchw_conv_graph_without_rewrite_fails_or_matches(reference):
    """Without the rewrite, a TF release either rejects NCHW on the CPU (older releases:
    the reason the rewrite exists) or runs it; when it runs, the result must still match."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("rewrite only happens without a GPU")
    spec = ModelSpec(name="t", format="pb", layout="NCHW")
    raw = loaders.load_frozen_graph(h.frozen_pb_nchw_ops(), spec, force_nhwc=False)
    try:
        out = raw(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))
    except Exception as e:  # TF < 2.21: "... only supports NHWC"
        assert "NHWC" in str(e)
        pytest.skip(f"TensorFlow {tf.__version__} rejects NCHW on the CPU; the rewrite is required")
    np.testing.assert_allclose(np.squeeze(out), reference, **h.TOL)


def test_frozen_graph_named_tensors(reference):
    spec = ModelSpec(name="t", format="pb", input_name="image", output_name="Identity:0")
    np.testing.assert_allclose(np.squeeze(loaders.load(h.frozen_pb(), spec)(X)), reference, **h.TOL)
    with pytest.raises(InputError, match="cannot use tensors"):
        loaders.load(h.frozen_pb(), ModelSpec(name="t", format="pb", input_name="nope:0"))


@pytest.mark.parametrize("fmt", ["pb", "tflite", "keras"])
def test_broken_file_is_one_line_input_error(fmt, tmp_path):
    p = tmp_path / f"broken.{fmt}"
    p.write_bytes(h.broken_model_file().read_bytes())
    with pytest.raises(InputError) as ei:
        loaders.load(p, ModelSpec(name="t", format=fmt))
    assert str(p) in str(ei.value) and "\n" not in str(ei.value)
