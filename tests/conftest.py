"""Shared test setup: GPU-marked tests skip cleanly without CuPy and a CUDA device."""

import logging

import pytest


def pytest_collection_modifyitems(config, items):
    from engine.renderer import gpu_available

    ok, why = gpu_available()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"GPU test: {why}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _engine_logs_propagate():
    """Let caplog see the engine's warnings even after the CLI replaced its handlers."""
    logging.getLogger("engine").propagate = True
    yield
