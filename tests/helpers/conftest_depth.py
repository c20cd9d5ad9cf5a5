"""Shared helpers for the depth tests: tiny depth-like models exported once per session.

Not a conftest: test modules import what they need from here. The tiny network
itself is :func:`deocused.bench.standin.tiny_model` (benchmarks use it too).
Exports are built lazily and cached at module level, so every test module in
one pytest run shares them. Importing this module does not
import TensorFlow; the ``*_model`` builders do.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np

from deocused.bench.standin import TINY_SIZE, tiny_model, to_tflite

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SIZE = TINY_SIZE  # tiny models take (1, 32, 32, 3) NHWC float RGB in [0, 1]
TOL = dict(rtol=1e-4, atol=1e-5)  # float32 loaders vs Keras: same maths, different kernels

_ROOT = Path(tempfile.mkdtemp(prefix="deocused-depth-tests-"))
atexit.register(shutil.rmtree, _ROOT, True)


def rng_image(h=SIZE, w=SIZE, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def keras_model():
    """Conv -> maxpool -> depthwise -> conv -> upsample -> conv: (1,32,32,3) -> (1,32,32,1)."""
    return tiny_model()


def keras_reference(x_nhwc: np.ndarray) -> np.ndarray:
    return np.asarray(keras_model()(x_nhwc, training=False))


@functools.lru_cache(None)
def keras_file() -> Path:
    p = _ROOT / "tiny.keras"
    keras_model().save(p)
    return p


@functools.lru_cache(None)
def savedmodel_dir() -> Path:
    p = _ROOT / "tiny_savedmodel"
    keras_model().export(str(p), format="tf_saved_model", verbose=False)
    return p


def _concrete(fn, shape):
    import tensorflow as tf

    return tf.function(fn).get_concrete_function(tf.TensorSpec(shape, tf.float32, name="image"))


def _freeze(cf, path: Path) -> Path:
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(cf)
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return path


@functools.lru_cache(None)
def frozen_pb() -> Path:
    """NHWC frozen GraphDef of the Keras model (input placeholder ``image``)."""
    m = keras_model()
    return _freeze(_concrete(lambda x: m(x, training=False), [1, SIZE, SIZE, 3]), _ROOT / "tiny.pb")


@functools.lru_cache(None)
def frozen_pb_nchw_input() -> Path:
    """Frozen graph fed NCHW (1,3,32,32): transposes to NHWC inside, then the Keras model."""
    import tensorflow as tf

    m = keras_model()
    return _freeze(_concrete(lambda x: m(tf.transpose(x, [0, 2, 3, 1]), training=False), [1, 3, SIZE, SIZE]),
                   _ROOT / "tiny_nchw_input.pb")


@functools.lru_cache(None)
def frozen_pb_nchw_ops() -> Path:
    """Same network written with NCHW conv/pool/depthwise ops (what TF's CPU kernels reject).

    Input NCHW (1,3,32,32), output (1,1,32,32); weights copied from the Keras model.
    """
    import tensorflow as tf

    w = {layer.name: [np.asarray(v) for v in layer.get_weights()] for layer in keras_model().layers}

    def net(x):
        def c(t, k, b):
            return tf.nn.bias_add(tf.nn.conv2d(t, tf.constant(k), 1, "SAME", data_format="NCHW"),
                                  tf.constant(b), data_format="NCHW")
        y = tf.nn.relu(c(x, *w["c1"]))
        y = tf.nn.max_pool2d(y, 2, 2, "VALID", data_format="NCHW")
        y = tf.nn.depthwise_conv2d(y, tf.constant(w["dw"][0]), [1, 1, 1, 1], "SAME", data_format="NCHW")
        y = tf.nn.relu(tf.nn.bias_add(y, tf.constant(w["dw"][1]), data_format="NCHW"))
        y = tf.nn.relu(c(y, *w["c2"]))
        y = tf.repeat(tf.repeat(y, 2, axis=2), 2, axis=3)  # nearest upsampling, as UpSampling2D
        return c(y, *w["head"])

    cf = _concrete(net, [1, 3, SIZE, SIZE])
    p = _ROOT / "tiny_nchw_ops.pb"
    p.write_bytes(cf.graph.as_graph_def().SerializeToString())
    return p


@functools.lru_cache(None)
def tflite_file() -> Path:
    p = _ROOT / "tiny.tflite"
    p.write_bytes(to_tflite(keras_model(), SIZE))
    return p


def broken_model_file() -> Path:
    """A .pb that is not a GraphDef (random bytes)."""
    p = _ROOT / "broken.pb"
    if not p.exists():
        p.write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return p


def free_port() -> int:
    """A localhost TCP port with nothing listening (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (zombies count as dead)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
