"""``refocus batch --ray``: the same workers as Ray actors write the same bytes
as the local pool. One local Ray session (2 CPUs) serves the whole module."""

import json
from pathlib import Path

import pytest
from test_batch import batch, video_frames, write_photo, write_video

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # starting a Ray session takes seconds; every test here uses one


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_writes_the_same_bytes_as_the_local_pool(ray_session, tmp_path):
    src = tmp_path / "in"
    for i in range(4):
        write_photo(src / f"p{i}.png", i)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    write_video(src / "clip.mkv", (7, 8))
    local, remote = tmp_path / "local", tmp_path / "ray"
    flags = ("--focus-disparity", "0.4", "--video-codec", "ffv1")
    assert batch(src, "-o", local, "-j", "2", *flags) == 1
    assert batch(src, "-o", remote, "--ray", "-j", "2", *flags) == 1
    files = sorted(p.relative_to(local) for p in local.rglob("*") if p.suffix in (".png", ".mkv"))
    assert [str(f) for f in files] == ["clip.mkv", "p0.png", "p1.png", "p2.png", "p3.png"]
    for f in files:
        if f.suffix == ".png":
            assert (remote / f).read_bytes() == (local / f).read_bytes(), f
    import numpy as np

    for a, b in zip(video_frames(local / "clip.mkv"), video_frames(remote / "clip.mkv"), strict=True):
        assert np.array_equal(a, b)
    report = json.loads((remote / "batch-report.json").read_text())
    assert report["summary"]["runner"] == "ray" and report["summary"]["workers"] == 2
    failed = [e for e in report["items"] if e["status"] == "failed"]
    assert [Path(e["input"]).name for e in failed] == ["broken.png"]
    # resume through Ray: nothing left to do
    assert batch(src, "-o", remote, "--ray", "--resume", *flags) == 1  # broken.png is retried and fails again
    report = json.loads((remote / "batch-report.json").read_text())
    assert sum(bool(e.get("skipped")) for e in report["items"]) == 5


def test_ray_sweep_matches_local(ray_session, tmp_path):
    write_photo(tmp_path / "a.png", 3)
    for name, extra in (("local", ()), ("ray", ("--ray",))):
        assert batch(tmp_path / "a.png", "-o", tmp_path / name, "--sweep", "2", *extra) == 0
    for i in range(2):
        p = f"a.sweep-{i:02d}.png"
        assert (tmp_path / "ray" / p).read_bytes() == (tmp_path / "local" / p).read_bytes()


def test_throughput_measurement_local_and_ray(ray_session, tmp_path):
    import cv2

    from deocused.bench.batch_throughput import main

    out, png = tmp_path / "t.json", tmp_path / "t.png"
    assert main(["--size", "64x48", "--items", "2", "--workers", "1,2", "--repeat", "1",
                 "--json", str(out), "--plot", str(png)]) == 0
    data = json.loads(out.read_text())
    rows = [(r["runner"], r["workers"], r["items"]) for r in data["results"]]
    assert rows == [("local", 1, 2), ("local", 2, 2), ("ray", 1, 2), ("ray", 2, 2)]
    assert all(r["items_per_s"] > 0 and r["elapsed_s"] > 0 and r["all_items_per_s"] == [r["items_per_s"]]
               for r in data["results"])
    assert set(data["ray_over_local"]) == {"1", "2"} and data["results"][0]["speedup"] == 1.0
    assert cv2.imread(str(png)) is not None


def test_ray_splits_a_clip_into_parts_like_the_local_pool(ray_session, tmp_path):
    """An H.264 + AAC clip split into 2 parts on Ray actors and joined: the same frames as the local pool's
    parts, the input's timestamps and audio packets."""
    import numpy as np
    from helpers.videoclips import audio_packets, make_clip, read_pts
    from test_batch_video import depth_stack

    src = tmp_path / "clip.mp4"
    make_clip(src, n=48, size=(64, 48), gop=12)
    np.save(tmp_path / "clip.depth.npy", depth_stack(48, 48, 64))
    flags = ("--focus-disparity", "0.4", "-j", "2", "--video-parts", "2")
    assert batch(src, "-o", tmp_path / "local", *flags) == 0
    assert batch(src, "-o", tmp_path / "ray", "--ray", *flags) == 0
    out = tmp_path / "ray" / "clip.mp4"
    report = json.loads((tmp_path / "ray" / "batch-report.json").read_text())
    assert sum("[part " in e["input"] for e in report["items"]) == 2
    assert read_pts(out) == read_pts(src) and audio_packets(out) == audio_packets(src)
    for a, b in zip(video_frames(tmp_path / "local" / "clip.mp4"), video_frames(out), strict=True):
        assert np.array_equal(a, b)


def _actor_running_an_item() -> int | None:
    """Pid of a Ray actor process that is running a batch item now (its title is ``ray::_Actor.run``)."""
    import os

    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if f.read().startswith(b"ray::_Actor.run"):
                        return int(d)
            except OSError:
                continue
    return None


@pytest.mark.slow
def test_ray_actor_killed_mid_batch_retries_its_item_on_another_actor(ray_session, tmp_path):
    """SIGKILL to a Ray actor while it processes an item: the item is retried once on another actor, the
    batch succeeds, the report says which item was retried (attempts 2) and why, and every output is
    byte for byte that of an uninterrupted local run."""
    import os
    import signal
    import threading
    import time

    src = tmp_path / "in"
    n = 10
    for i in range(n):
        write_photo(src / f"p{i}.png", i, w=480, h=320)
    local, remote = tmp_path / "local", tmp_path / "ray"
    flags = ("--focus-disparity", "0.4")
    assert batch(src, "-o", local, "-j", "1", *flags) == 0
    killed = []

    def kill_one():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            pid = _actor_running_an_item() if any(remote.glob("p*.png")) else None
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    rc = batch(src, "-o", remote, "--ray", "-j", "2", *flags)
    killer.join(5)
    assert killed, "no actor was caught running an item"
    assert rc == 0
    report = json.loads((remote / "batch-report.json").read_text())
    retried = [e for e in report["items"] if e.get("attempts") == 2]
    # the item in flight, and possibly the next one sent to the same actor before Ray restarted it
    assert 1 <= len(retried) <= 2, report["items"]
    assert all("Ray worker died" in e["retried_because"] for e in retried)
    assert all(e["status"] == "ok" for e in report["items"])
    for i in range(n):
        assert (remote / f"p{i}.png").read_bytes() == (local / f"p{i}.png").read_bytes(), i
