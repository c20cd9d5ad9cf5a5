"""TensorFlow model loaders: frozen GraphDef ``.pb``, SavedModel, TFLite, Keras ``.keras``.

Imports TensorFlow. Only the depth worker process (and tests/bench) may import
this module -- never the renderer or an OpenGL process.

Each loader returns a :class:`Runner`: call it with a float32 batch laid out as
the manifest says and get the raw network output as a NumPy array.

NCHW graphs: TensorFlow's CPU kernels reject NCHW Conv2D, depthwise conv,
pooling and transposed conv. When no GPU is visible, :func:`nchw_to_nhwc`
rewrites each such node into ``transpose -> op in NHWC -> transpose back``,
so the official NCHW MiDaS graphs also run on the CPU (slowly; the TFLite file
is the CPU model).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from ..errors import InputError
from .registry import ModelSpec

_NCHW_OPS = {"Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool", "Conv2DBackpropInput"}
#: CPU threads a network may use (None: every core); see :func:`load`.
_THREADS: int | None = None


class Runner:
    """A loaded model: ``runner(batch) -> np.ndarray``.

    ``input_hw`` is the fixed input (H, W) if the model has one, else None;
    ``input_layout`` is NHWC or NCHW as fed.
    """

    def __init__(self, fn, input_hw, description: str):
        self._fn = fn
        self.input_hw = input_hw
        self.description = description

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._fn(np.ascontiguousarray(batch, dtype=np.float32)))


def gpu_available() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def _fixed_hw(shape, layout: str):
    dims = list(shape)
    if len(dims) != 4:
        return None
    h, w = (dims[2], dims[3]) if layout == "NCHW" else (dims[1], dims[2])
    h, w = (None if v is None or int(v) < 0 else int(v) for v in (h, w))
    return (h, w) if h and w else None


# ---------------------------------------------------------------- Keras

def load_keras(path: Path, spec: ModelSpec) -> Runner:
    import keras

    model = keras.models.load_model(str(path), compile=False)
    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return Runner(lambda x: fn(tf.constant(x)).numpy(), _fixed_hw(model.inputs[0].shape, spec.layout),
                  f"Keras model {path.name}")


# ---------------------------------------------------------------- SavedModel

def load_savedmodel(path: Path, spec: ModelSpec) -> Runner:
    obj = tf.saved_model.load(str(path))
    sig = getattr(obj, "signatures", {}).get("serving_default") if hasattr(obj, "signatures") else None
    if sig is not None:
        _, kwargs = sig.structured_input_signature
        if len(kwargs) != 1:
            raise InputError(f"{path}: SavedModel signature has {len(kwargs)} inputs; expected one image")
        (in_key, in_spec), = kwargs.items()
        out_keys = sorted(sig.structured_outputs)
        out_key = spec.output_name if spec.output_name in out_keys else out_keys[0]

        def run(x):
            return sig(**{in_key: tf.constant(x)})[out_key].numpy()

        return Runner(run, _fixed_hw(in_spec.shape, spec.layout), f"SavedModel {path.name}")
    if callable(obj):
        return Runner(lambda x: obj(tf.constant(x)).numpy(), None, f"SavedModel {path.name}")
    raise InputError(f"{path}: SavedModel has no 'serving_default' signature and is not callable")


# ---------------------------------------------------------------- frozen GraphDef

def _permute(vals, perm):
    return [vals[i] for i in perm]


def nchw_to_nhwc(graph_def):
    """Rewrite NCHW conv/pool nodes to NHWC wrapped in transposes; returns (graph_def, n_rewritten)."""
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    n = 0
    need_perm = False
    to_nhwc, to_nchw = "deocused_nhwc/perm_to_nhwc", "deocused_nhwc/perm_to_nchw"
    for node in graph_def.node:
        df = node.attr["data_format"].s if "data_format" in node.attr else b""
        if node.op not in _NCHW_OPS or df != b"NCHW":
            out.node.add().CopyFrom(node)
            continue
        n += 1
        need_perm = True
        data_idx = 2 if node.op == "Conv2DBackpropInput" else 0
        t = node.attr["T"]
        inner = out.node.add()
        inner.CopyFrom(node)
        inner.name = node.name + "/_nhwc"
        inner.attr["data_format"].s = b"NHWC"
        _attrs_to_nhwc(inner)
        tin = out.node.add()
        tin.name, tin.op = node.name + "/_to_nhwc", "Transpose"
        tin.input.extend([node.input[data_idx], to_nhwc])
        tin.attr["T"].CopyFrom(t)
        tin.attr["Tperm"].type = tf.int32.as_datatype_enum
        if node.device:
            tin.device = node.device
        inner.input[data_idx] = tin.name
        if node.op == "Conv2DBackpropInput":  # input_sizes is an NCHW shape vector: permute it
            inner.input[0] = _sizes_to_nhwc(out, node, to_nhwc)
        back = out.node.add()
        back.name, back.op = node.name, "Transpose"
        back.input.extend([inner.name, to_nchw])
        back.attr["T"].CopyFrom(t)
        back.attr["Tperm"].type = tf.int32.as_datatype_enum
    if need_perm:
        for name, perm in ((to_nhwc, [0, 2, 3, 1]), (to_nchw, [0, 3, 1, 2])):
            c = out.node.add()
            c.name, c.op = name, "Const"
            c.attr["dtype"].type = tf.int32.as_datatype_enum
            c.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(perm, np.int32)))
    return out, n


def _attrs_to_nhwc(inner) -> None:
    """Permute a node's NCHW strides, ksize, dilations and explicit paddings to NHWC, in place."""
    for key in ("strides", "ksize", "dilations"):
        if key in inner.attr and len(inner.attr[key].list.i) == 4:
            vals = _permute(list(inner.attr[key].list.i), [0, 2, 3, 1])
            del inner.attr[key].list.i[:]
            inner.attr[key].list.i.extend(vals)
    if "explicit_paddings" in inner.attr and len(inner.attr["explicit_paddings"].list.i) == 8:
        p = list(inner.attr["explicit_paddings"].list.i)
        pairs = _permute([p[0:2], p[2:4], p[4:6], p[6:8]], [0, 2, 3, 1])
        del inner.attr["explicit_paddings"].list.i[:]
        inner.attr["explicit_paddings"].list.i.extend(sum(pairs, []))


def _sizes_to_nhwc(out, node, to_nhwc: str) -> str:
    """Add to ``out`` a gather that permutes ``node``'s NCHW input_sizes vector to NHWC; its name."""
    g = out.node.add()
    g.name, g.op = node.name + "/_sizes_nhwc", "GatherV2"
    axis = node.name + "/_axis0"
    ax = out.node.add()
    ax.name, ax.op = axis, "Const"
    ax.attr["dtype"].type = tf.int32.as_datatype_enum
    ax.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(0, tf.int32))
    g.input.extend([node.input[0], to_nhwc, axis])
    g.attr["Tparams"].type = tf.int32.as_datatype_enum
    g.attr["Tindices"].type = tf.int32.as_datatype_enum
    g.attr["Taxis"].type = tf.int32.as_datatype_enum
    g.attr["batch_dims"].i = 0
    return g.name


def _tensor_name(name: str) -> str:
    return name if ":" in name else name + ":0"


def load_frozen_graph(path: Path, spec: ModelSpec, force_nhwc: bool | None = None) -> Runner:
    """Frozen GraphDef. Input: ``spec.input_name`` or the only Placeholder; output:
    ``spec.output_name`` or the last node (as in MiDaS ``tf/run_pb.py``)."""
    gd = tf.compat.v1.GraphDef()
    try:
        gd.ParseFromString(Path(path).read_bytes())
    except Exception as e:  # protobuf DecodeError
        raise InputError(f"{path}: not a frozen TensorFlow GraphDef ({type(e).__name__}: {e})") from None
    if not gd.node:
        raise InputError(f"{path}: GraphDef has no nodes")
    nchw = sum(1 for nd in gd.node if nd.op in _NCHW_OPS
               and "data_format" in nd.attr and nd.attr["data_format"].s == b"NCHW")
    if force_nhwc is None:
        force_nhwc = nchw > 0 and not gpu_available()
    if force_nhwc and nchw:
        gd, _ = nchw_to_nhwc(gd)
    if spec.input_name:
        in_name = _tensor_name(spec.input_name)
    else:
        ph = [nd.name for nd in gd.node if nd.op == "Placeholder"]
        if len(ph) != 1:
            raise InputError(f"{path}: graph has {len(ph)} Placeholder inputs ({', '.join(ph[:5])}); "
                             "write a manifest with input_name")
        in_name = ph[0] + ":0"
    if spec.output_name:
        out_name = _tensor_name(spec.output_name)
    else:
        skip = {"NoOp", "Const", "Assert"}
        cands = [nd for nd in gd.node if nd.op not in skip and not nd.name.startswith("deocused_nhwc/")
                 and not nd.name.endswith(("/_to_nhwc", "/_nhwc", "/_sizes_nhwc", "/_axis0"))]
        out_name = cands[-1].name + ":0"

    def _imports():
        tf.compat.v1.import_graph_def(gd, name="")

    try:
        wrapped = tf.compat.v1.wrap_function(_imports, [])
        g = wrapped.graph
        fn = wrapped.prune(g.as_graph_element(in_name), g.as_graph_element(out_name))
        in_shape = g.as_graph_element(in_name).shape
    except (KeyError, ValueError, TypeError) as e:
        raise InputError(f"{path}: cannot use tensors {in_name} -> {out_name} ({e})") from None
    hw = _fixed_hw(in_shape.as_list() if in_shape.rank is not None else [], spec.layout)
    note = f" ({nchw} NCHW ops rewritten to NHWC for the CPU)" if force_nhwc and nchw else ""
    return Runner(lambda x: fn(tf.constant(x)).numpy(), hw, f"frozen graph {path.name}{note}")


# ---------------------------------------------------------------- TFLite

def _interpreter_class():
    """LiteRT's interpreter when installed (its successor), else ``tf.lite.Interpreter``
    (still shipped in TF 2.21, with a deprecation warning that is silenced here)."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    lite = getattr(tf, "lite", None)
    cls = getattr(lite, "Interpreter", None) if lite is not None else None
    if cls is None:
        raise InputError("this TensorFlow has no tf.lite.Interpreter; pip install ai-edge-litert "
                         "to run .tflite models")
    return cls


def load_tflite(path: Path, spec: ModelSpec) -> Runner:
    cls = _interpreter_class()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
            interp = cls(model_path=str(path), num_threads=_THREADS or os.cpu_count() or 1)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise InputError(f"{path}: not a usable TFLite model ({str(e).splitlines()[0]})") from None
    inp = interp.get_input_details()
    outp = interp.get_output_details()
    if len(inp) != 1:
        raise InputError(f"{path}: TFLite model has {len(inp)} inputs; expected one image")
    i0 = inp[0]
    o0 = outp[0]
    if spec.output_name:
        named = [o for o in outp if o["name"] == spec.output_name]
        o0 = named[0] if named else o0
    shape = [int(v) for v in i0["shape"]]
    sig = [int(v) for v in i0.get("shape_signature", i0["shape"])]
    state = {"shape": tuple(shape)}
    if i0["dtype"] != np.float32:
        raise InputError(f"{path}: TFLite input is {np.dtype(i0['dtype']).name}; only float32 models are supported")

    def run(x):
        if tuple(x.shape) != state["shape"]:
            interp.resize_tensor_input(i0["index"], list(x.shape))
            interp.allocate_tensors()
            state["shape"] = tuple(x.shape)
        interp.set_tensor(i0["index"], x)
        interp.invoke()
        return interp.get_tensor(o0["index"]).copy()

    fixed = None if any(v < 0 for v in sig) else sig
    return Runner(run, _fixed_hw(fixed, spec.layout) if fixed else None, f"TFLite {path.name}")


# ---------------------------------------------------------------- dispatch

def load(path: str | os.PathLike, spec: ModelSpec, threads: int | None = None) -> Runner:
    """Load ``path`` with the loader for ``spec.format``; errors as one-line :class:`InputError`.
    ``threads``: CPU threads the network may use (None: every core); set before the
    first TensorFlow operation, so once per process."""
    from ..io.images import check_input_file

    p = Path(path)
    check_input_file(p, "model file", allow_dir=True)  # a FIFO or device would block the loader
    global _THREADS
    if threads is not None:
        _THREADS = threads
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already initialised in this process: keep its pools
            pass
    loaders = {"keras": load_keras, "savedmodel": load_savedmodel, "pb": load_frozen_graph, "tflite": load_tflite}
    try:
        return loaders[spec.format](p, spec)
    except InputError:
        raise
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InputError(f"{p}: cannot load {spec.format} model ({type(e).__name__}: {msg[:300]})") from None
