"""Depth stage: monocular depth with TensorFlow, run in a worker process.

Public API (none of it imports TensorFlow in this process):

* :func:`estimate_disparity` -- float32 sRGB RGB (H, W, 3) in [0, 1] ->
  float32 disparity (H, W) in [0, 1], 1 = nearest, full resolution.
* :class:`DepthWorker` -- the worker client (sync ``infer``, async
  ``submit``/``result``, ``close``, context manager).
* :func:`add_cli`, :func:`add_model_arguments` -- CLI wiring.

Modules: ``registry`` (manifests in ``models/``), ``download`` (cache,
sha256), ``processing`` (pre/post, guided upsampling), ``worker`` (process,
shared memory), ``loaders`` (TensorFlow; worker only), ``cli``.
"""

from .cli import add_cli, add_model_arguments
from .download import cache_dir, cached_path, fetch, resolve
from .registry import DEFAULT_MODEL, ModelSpec, get_model, list_models
from .worker import DepthWorker, DepthWorkerError, estimate_disparity, shutdown

__all__ = [
    "estimate_disparity", "DepthWorker", "DepthWorkerError", "add_cli", "add_model_arguments",
    "ModelSpec", "get_model", "list_models", "DEFAULT_MODEL", "cache_dir", "cached_path", "fetch",
    "resolve", "shutdown",
]
