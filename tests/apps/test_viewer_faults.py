"""The viewer when the machine misbehaves: its depth worker is killed (the out-of-memory killer
sends SIGKILL) while it waits for depth; the GPU runs out of memory in the middle of a render.

The viewer runs in this process in an Xvfb window, as in test_viewer_gl.py; depth comes from the
real depth worker process running the tiny stand-in network of deocused.bench.standin (TFLite).
"""

import logging
import os
import secrets
import signal
from multiprocessing import shared_memory

import numpy as np
import pytest
from helpers.procs import build_tiny_model, state, wait_for

pytest.importorskip("glfw")
pytest.importorskip("OpenGL")

pytestmark = pytest.mark.display

W, H = 64, 48


def card():
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.stack([xx / (W - 1), ((xx // 8 + yy // 8) % 2) * 0.8 + 0.1, yy / (H - 1)], -1).astype(np.float32)
    return img, np.where(xx < W // 2, 0.1, 0.9).astype(np.float32)


@pytest.mark.slow
def test_viewer_depth_worker_killed_is_restarted_once_then_one_error_and_the_viewer_goes_on(
        xdisplay, tmp_path, monkeypatch, caplog):
    """SIGKILL to the depth worker while the viewer waits for its answer (the worker is stopped with
    SIGSTOP as each request is sent, so the kill lands while the request is in flight): one
    "restarting" notice, a new worker, the old one reaped (no zombie). SIGKILL to the new one: one
    warning naming the signal, on the HUD too; the photo is skipped and the viewer goes on with the
    next one (it renders and takes clicks). No process and no shared memory segment left behind."""
    import deocused.depth
    from deocused.depth import DepthWorker
    from deocused.viewer.app import Source, Viewer

    model = build_tiny_model(tmp_path / "tiny.tflite")
    if not hasattr(shared_memory, "_make_filename"):
        pytest.skip("this Python names shared memory segments differently (no _make_filename)")
    tag = f"v{os.getpid()}"  # this process creates the request's segments: they are named psm_TAG_...
    monkeypatch.setattr(shared_memory, "_make_filename", lambda: f"/psm_{tag}_{secrets.token_hex(6)}")

    def segments():
        return [n for n in os.listdir("/dev/shm") if n.startswith(f"psm_{tag}_")]

    workers = []

    class HeldWorker(DepthWorker):
        def _send(self, req):
            workers.append(self._proc.pid)
            os.kill(self._proc.pid, signal.SIGSTOP)  # the request stays in flight until the test kills it
            super()._send(req)

    monkeypatch.setattr(deocused.depth, "DepthWorker", HeldWorker)
    img, disp = card()
    caplog.set_level(logging.INFO, logger="deocused")
    sources = [Source("nodepth", image=img), Source("card", image=img, disparity=disp)]
    with Viewer(sources, device="cpu", size=(W, H), model_path=str(model)) as v:
        assert v.slots[0].status == "depth" and len(workers) == 1
        assert len(segments()) == 2, "the request's segments cannot be told apart (tagging failed)"
        v.step()
        first = workers[0]
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: (v.step(wait=0.01), len(workers) == 2)[1], 120, "a new depth worker")
        assert state(first) is None, "the killed worker was not reaped (zombie)"
        second = workers[1]
        wait_for(lambda: state(second) == "T", 10, "the new worker held")
        assert second != first and v.slots[0].status == "depth"
        notices = [r.getMessage() for r in caplog.records if "restarting" in r.getMessage()]
        assert notices == ["depth worker was killed by SIGKILL (signal 9); restarting it"]
        os.kill(second, signal.SIGKILL)
        wait_for(lambda: (v.step(wait=0.01), v.slots[0].status == "failed")[1], 60, "the photo skipped")
        assert state(second) is None, "the second worker was not reaped (zombie)"
        assert len(workers) == 2, "restarted more than once"
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        gave_up = [m for m in warnings if "giving up" in m]
        assert len(gave_up) == 1 and "SIGKILL" in gave_up[0] and "depth worker" in gave_up[0], warnings
        assert "SIGKILL" in v.message  # on the HUD
        assert not segments(), "shared memory left in /dev/shm"
        # the viewer goes on: the next photo is shown, rendered and refocused by a click
        assert v.index == 1 and v.run_until_idle(60) and not v.closed
        assert v.on_click(10, 20) and v.run_until_idle(60)
        assert v.focus_disparity == pytest.approx(0.1) and v.scheduler.shown[1] == pytest.approx(0.1)
        assert any("SIGKILL" in line for line in v._hud_lines)
    assert not segments()


@pytest.mark.gpu
@pytest.mark.parametrize("device", ["auto", "gpu"])
def test_viewer_gpu_out_of_memory_mid_render_falls_back_to_the_cpu_or_shows_the_error(
        xdisplay, cupy_device, device, caplog):
    """Every GPU allocation fails (the CUDA host layer's allocator raises CuPy's OutOfMemoryError) when
    the viewer moves to the next photo, whose pyramid is then built. Device "auto": one notice (log and
    HUD), the photo is rendered on the CPU (the screen equals the CPU renderer's output) and the
    viewer takes clicks. Device "gpu" asked for: the memory error on the HUD, the viewer goes on (the
    first photo still renders on the GPU once memory is back)."""
    from deocused.render.cpu.backend import CpuRenderer
    from deocused.render.gpu.backend import GpuRenderer
    from deocused.viewer.app import Source, Viewer

    cp = cupy_device
    img, disp = card()
    # the second photo is narrower: its pyramid needs buffers of a new size (a same-sized one reuses them)
    sources = [Source("card", image=img, disparity=disp),
               Source("flipped", image=img[:, ::-1][:, :40].copy(), disparity=disp[:, ::-1][:, :40].copy())]

    def failing_malloc(size):
        raise cp.cuda.memory.OutOfMemoryError(size, 0)

    caplog.set_level(logging.INFO, logger="deocused")
    with Viewer(sources, renderer=GpuRenderer(), device=device, size=(W, H)) as v:
        assert v.scheduler.device == "gpu" and v.run_until_idle(60) and v.scheduler.frames_rendered >= 1
        old = cp.cuda.get_allocator()
        cp.cuda.set_allocator(failing_malloc)
        try:
            v.goto(1)
            assert v.run_until_idle(60), "the viewer hangs after the GPU ran out of memory"
        finally:
            cp.cuda.set_allocator(old)
        notices = [r.getMessage() for r in caplog.records if "GPU out of memory" in r.getMessage()]
        assert "GPU out of memory for the 40x48 image" in v.message
        if device == "auto":
            assert len(notices) == 1 and notices[0].startswith("GPU out of memory for the 40x48 image")
            assert notices[0].endswith("; rendering on the CPU instead") and notices[0] == v.message
            assert v.scheduler.device == "cpu" and isinstance(v.scheduler.renderer, CpuRenderer)
            assert v.scheduler.shown is not None and v.scheduler.shown[0] == 1
            fb = v.read_framebuffer(overlay=False)[:, 12:52]  # the 40x48 photo at 1:1, centred
            ref = CpuRenderer()  # a fresh CPU renderer on the same photo
            ref.prepare(*v.scheduler.display_inputs(1, (40, H)))
            _, focus, k, dof, *_ = v.scheduler.shown
            assert np.abs(fb.astype(int) - ref.render_srgb8(focus, k, dof)).max() <= 2
            assert v.on_click(12 + 10, 20) and v.run_until_idle(60)
            assert v.scheduler.shown[1] == pytest.approx(0.9)  # flipped: the left half is near
        else:
            assert v.scheduler.device == "gpu" and "GPU out of memory" in " ".join(v._hud_lines)
            v.goto(0)  # memory is back: the GPU renders again
            assert v.run_until_idle(60) and v.scheduler.shown[0] == 0
        assert not v.closed
