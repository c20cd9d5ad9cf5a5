"""Stand-in depth networks for benchmarks and tests (TensorFlow/Keras imported only when called).

* :func:`tiny_model`: a 32x32 Conv -> maxpool -> depthwise -> conv -> upsample
  -> conv network with fixed random weights and non-zero biases (what the depth
  tests export to every format, and the render-bound live benchmark uses);
* :func:`encoder_standin`: a randomly initialised ``keras.applications``
  encoder (EfficientNetB0 / ResNet50, ``weights=None``) with a light upsampling
  decoder, the size and cost of MiDaS-class networks. Its output is
  meaningless: only its cost is real.

:func:`to_tflite` freezes a model and converts it to TFLite bytes.
"""

from __future__ import annotations

import functools

import numpy as np

TINY_SIZE = 32  # tiny_model takes (1, 32, 32, 3) NHWC float RGB in [0, 1]


@functools.lru_cache(None)
def tiny_model():
    """Conv -> maxpool -> depthwise -> conv -> upsample -> conv: (1,32,32,3) -> (1,32,32,1)."""
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((TINY_SIZE, TINY_SIZE, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.UpSampling2D(2, name="up")(x)
    out = keras.layers.Conv2D(1, 3, padding="same", name="head")(x)
    model = keras.Model(inp, out)
    for layer in model.layers:  # non-zero biases, so that they are exercised too
        ws = layer.get_weights()
        if len(ws) == 2:
            layer.set_weights([ws[0], np.linspace(-0.1, 0.1, ws[1].size).astype(np.float32)])
    return model


def encoder_standin(encoder: str, size: int):
    """Random-weight encoder (keras.applications, weights=None) + light decoder -> (1, size, size, 1)."""
    import keras

    inp = keras.Input((size, size, 3), batch_size=1)
    enc_cls = {"EfficientNetB0": keras.applications.EfficientNetB0,
               "ResNet50": keras.applications.ResNet50}[encoder]
    enc = enc_cls(include_top=False, weights=None, input_tensor=inp)
    x = keras.layers.Conv2D(128, 1, activation="relu")(enc.output)  # stride 32
    for ch in (128, 64, 64, 32, 32):  # back to full resolution
        x = keras.layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = keras.layers.Conv2D(ch, 3, padding="same", activation="relu")(x)
    out = keras.layers.Conv2D(1, 1, activation="relu")(x)
    return keras.Model(inp, out, name=f"{encoder}_standin_{size}")


def to_tflite(model, size: int) -> bytes:
    """``model`` (input (1, size, size, 3)) frozen and converted to a TFLite flatbuffer."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # freeze first: converting the live function keeps resource variables (READ_VARIABLE fails at run time)
    cf = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, size, size, 3], tf.float32, name="image"))
    return tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(cf)]).convert()


def build_tflite(which: str, path) -> int | None:
    """Write the stand-in ``which`` ("tiny" or "standin": EfficientNetB0 at 256) to ``path``; its parameter count."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if which == "tiny":
        model, size = tiny_model(), TINY_SIZE
    elif which == "standin":
        import keras

        keras.utils.set_random_seed(0)
        model, size = encoder_standin("EfficientNetB0", 256), 256
    else:
        raise ValueError(f"unknown stand-in {which!r}")
    with open(path, "wb") as f:
        f.write(to_tflite(model, size))
    return int(model.count_params())
