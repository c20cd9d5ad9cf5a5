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

from ..lazy import lazy_names

#: public name -> submodule that defines it (imported on first use: the command line's parser needs
#: only ``cli``, and ``download`` and ``worker`` bring urllib, http and multiprocessing)
_API = {
    "estimate_disparity": "worker", "DepthWorker": "worker", "DepthWorkerError": "worker", "shutdown": "worker",
    "add_cli": "cli", "add_model_arguments": "cli", "ModelSpec": "registry", "get_model": "registry",
    "list_models": "registry", "DEFAULT_MODEL": "registry", "cache_dir": "download", "cached_path": "download",
    "fetch": "download", "resolve": "download",
}

__all__ = list(_API)


__getattr__, __dir__ = lazy_names(__name__, _API, globals())
