"""Packages whose public names import their submodules on first use (PEP 562), so that importing
the package (``import deocused``, the command line's parser) stays light."""

from __future__ import annotations

from importlib import import_module


def lazy_names(package: str, api: dict[str, str], namespace: dict):
    """``(__getattr__, __dir__)`` for ``package``: each name of ``api`` is taken from its submodule
    (relative to the package) when first asked for; ``namespace``: the package's globals()."""

    def __getattr__(name: str):
        if name in api:
            return getattr(import_module(f".{api[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(api))

    return __getattr__, __dir__
