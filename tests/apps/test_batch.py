"""``refocus batch``: inputs, focus rules, sweeps, video, failures, resume.

Outputs are checked byte for byte against ``refocus render`` with the same
settings (or, for video, against the photo layer applied frame by frame).
"""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from deocused.batch.focus import autofocus_disparity, sweep_disparities
from deocused.batch.inputs import expand_inputs, read_focus_file
from deocused.cli import main
from deocused.errors import InputError
from deocused.io.depthmap import load_disparity, to_disparity
from deocused.io.samples import synthetic_scene
from deocused.photo import Photo, render_photo
from deocused.render.backends import make_renderer
from deocused.settings import RenderSettings

W, H = 96, 64


def scene(seed: int, w: int = W, h: int = H):
    """(uint8 RGB image, float32 disparity) of the synthetic scene."""
    img, depth = synthetic_scene(w, h, seed=seed)
    return (img * 255).round().astype(np.uint8), (1.0 / depth).astype(np.float32)


def write_photo(path: Path, seed: int, w: int = W, h: int = H, sidecar: str = ".npy") -> Path:
    """A photo with its disparity sidecar (``.npy`` float, or 16-bit ``.png``)."""
    img, disp = scene(seed, w, h)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.ascontiguousarray(img[:, :, ::-1]))
    side = path.with_name(path.stem + ".depth" + sidecar)
    if sidecar == ".npy":
        np.save(side, disp)
    else:
        d = (disp - disp.min()) / (disp.max() - disp.min())
        cv2.imwrite(str(side), (d * 65535).round().astype(np.uint16))
    return path


def write_video(path: Path, seeds) -> list:
    """A lossless (FFV1) video of synthetic frames with a ``.depth.npy`` sidecar; returns the frames."""
    from deocused.io.video import VideoWriter

    frames = [scene(s) for s in seeds]
    with VideoWriter(path, codec="ffv1", rate=12) as out:
        for img, _ in frames:
            out.write(img)
        out.commit()
    np.save(path.with_name(path.stem + ".depth.npy"), np.stack([d for _, d in frames]))
    return frames


def video_frames(path) -> list:
    from deocused.io.video import VideoReader

    with VideoReader(path) as r:
        return [rgb for rgb, _ in r.frames(raw=True)]


def render_ref(tmp_path, image, *flags) -> bytes:
    """What ``refocus render IMAGE FLAGS`` writes."""
    out = tmp_path / "ref" / f"{abs(hash((str(image),) + flags))}.png"
    out.parent.mkdir(exist_ok=True)
    assert main(["-q", "render", str(image), "-o", str(out), "--overwrite", *flags]) == 0
    return out.read_bytes()


def batch(*argv) -> int:
    return main(["-q", "batch", "--no-progress", *map(str, argv)])


@pytest.fixture
def photos(tmp_path):
    """in/a.png, in/b.png (16-bit PNG sidecar), in/sub/c.png, in/notes.txt."""
    src = tmp_path / "in"
    write_photo(src / "a.png", 1)
    write_photo(src / "b.png", 2, sidecar=".png")
    write_photo(src / "sub" / "c.png", 3)
    (src / "notes.txt").write_text("not a photo")
    return src


# -- inputs ----------------------------------------------------------------------------

def test_expand_folders_globs_files_without_sidecars(photos, tmp_path):
    out = tmp_path / "out"
    found = expand_inputs([str(photos)], out)
    assert [str(rel) for _, _, rel in found] == ["a.png", "b.png", str(Path("sub") / "c.png")]
    found = expand_inputs([str(photos / "*.png"), str(photos / "sub" / "c.png"), str(photos / "a.png")], out)
    assert [f.name for _, f, _ in found] == ["a.png", "b.png", "c.png"]  # sidecars out, duplicates once
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.png")], out)
    with pytest.raises(InputError, match="no photo or video matches"):
        expand_inputs([str(tmp_path / "*.jpg")], out)


@pytest.mark.slow
def test_folder_batch_matches_render_byte_for_byte(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert batch(photos, "-o", out, "-j", "2", "--max-blur", "6") == 0
    for rel in ("a.png", "b.png", "sub/c.png"):
        assert (out / rel).read_bytes() == render_ref(tmp_path, photos / rel, "--max-blur", "6"), rel
    report = json.loads((out / "batch-report.json").read_text())
    assert report["summary"]["ok"] == 3 and report["summary"]["failed"] == 0
    assert all(set(e["timings"]) == {"load", "render", "write", "total"} for e in report["items"])
    assert not list(photos.rglob("*.png.tmp*")) and sorted(p.name for p in photos.iterdir()) == [
        "a.depth.npy", "a.png", "b.depth.png", "b.png", "notes.txt", "sub"]  # inputs untouched
    # outputs are never picked up as inputs, even inside an input folder
    assert batch(photos, "-o", photos / "out", "-j", "1") == 0
    assert batch(photos, "-o", photos / "out", "--resume") == 0
    assert sorted(p.name for p in (photos / "out").rglob("*.png")) == ["a.png", "b.png", "c.png"]


@pytest.mark.slow
def test_focus_flags_and_focus_file(photos, tmp_path):
    csv = tmp_path / "focus.csv"
    csv.write_text("name,x,y\na.png,20,50\n# a comment\nsub/c.png,0.25\n")
    table = read_focus_file(csv)
    assert table["a.png"].point == (20.0, 50.0) and table["sub/c.png"].disparity == 0.25
    out = tmp_path / "out"
    assert batch(photos, "-o", out, "-j", "2", "--focus-file", csv, "--focus-disparity", "0.9") == 0
    assert (out / "a.png").read_bytes() == render_ref(tmp_path, photos / "a.png", "--focus", "20,50")
    assert (out / "sub/c.png").read_bytes() == render_ref(tmp_path, photos / "sub/c.png", "--focus-disparity", "0.25")
    assert (out / "b.png").read_bytes() == render_ref(tmp_path, photos / "b.png", "--focus-disparity", "0.9")
    csv.write_text("a.png,one,two\n")
    assert batch(photos, "-o", tmp_path / "o2", "--focus-file", csv) == 2


def test_autofocus_rule():
    d = np.full((60, 80), 0.2, np.float32)
    d[25:35, 30:50] = 0.8  # 200 px: 17 % of the 30x40 centre region -> the subject
    assert autofocus_disparity(d) == pytest.approx(0.8)
    d[25:35, 30:50] = 0.2
    d[28:32, 36:44] = 0.95  # a small near thing (2.7 %): ignored
    d[0:10, 0:20] = 0.99  # a large near thing outside the centre: ignored
    assert autofocus_disparity(d) == pytest.approx(0.2)
    ramp = np.tile(np.linspace(0, 1, 80, dtype=np.float32), (60, 1))  # no bin holds 15 %: the median
    assert autofocus_disparity(ramp) == pytest.approx(float(np.median(ramp[15:45, 20:60])))


def test_autofocus_batch(photos, tmp_path):
    out = tmp_path / "out"
    assert batch(photos / "a.png", "-o", out, "--autofocus") == 0
    f = autofocus_disparity(load_disparity(photos / "a.depth.npy", (H, W)))
    assert (out / "a.png").read_bytes() == render_ref(tmp_path, photos / "a.png", "--focus-disparity", repr(f))
    report = json.loads((out / "batch-report.json").read_text())
    assert report["items"][0]["focus_disparity"] == pytest.approx(f)


@pytest.mark.slow
def test_sweep_stack_and_focus_pull_video(photos, tmp_path):
    out = tmp_path / "out"
    assert sweep_disparities(3) == [1.0, 0.5, 0.0]
    assert batch(photos / "a.png", "-o", out, "--sweep", "3") == 0
    stack = [out / f"a.sweep-{i:02d}.png" for i in range(3)]
    for p, d in zip(stack, ("1", "0.5", "0"), strict=True):
        assert p.read_bytes() == render_ref(tmp_path, photos / "a.png", "--focus-disparity", d)
    assert batch(photos / "a.png", "-o", out, "--sweep", "3", "--sweep-video", "--video-codec", "ffv1") == 0
    frames = video_frames(out / "a.sweep.mkv")
    assert len(frames) == 3
    for p, f in zip(stack, frames, strict=True):
        assert np.array_equal(cv2.imread(str(p))[:, :, ::-1], f)


@pytest.mark.slow
def test_video_every_frame_refocused(tmp_path):
    src = tmp_path / "clip.mkv"
    frames = write_video(src, (4, 5, 6))
    out = tmp_path / "out"
    assert batch(src, "-o", out, "--video-codec", "ffv1", "--focus-disparity", "0.3", "-K", "5") == 0
    got = video_frames(out / "clip.mkv")
    assert len(got) == 3
    r = make_renderer("cpu")
    settings = RenderSettings(focus_disparity=0.3, max_blur=5.0)
    for (img, disp), g in zip(frames, got, strict=True):
        want = render_photo(Photo(img.astype(np.float32) / 255.0, to_disparity(disp)), settings, r)
        assert np.array_equal(want, g)
    # H.264 in the input's container (the default) is written too; lossy, so only close
    assert batch(src, "-o", tmp_path / "o2", "--focus-disparity", "0.3", "-K", "5") == 0
    h264 = video_frames(tmp_path / "o2" / "clip.mkv")
    assert len(h264) == 3 and np.abs(h264[0].astype(int) - got[0]).mean() < 6


@pytest.mark.slow
def test_corrupt_files_reported_batch_goes_on(tmp_path, capsys):
    src = tmp_path / "in"
    for i in range(100):
        write_photo(src / f"p{i:03d}.png", i % 7, 32, 24)
    bad = [3, 20, 47, 71, 99]
    for i in bad[:3]:
        (src / f"p{i:03d}.png").write_bytes(b"this is not a png")
    data = (src / "p071.png").read_bytes()
    (src / "p071.png").write_bytes(data[: len(data) // 2])  # truncated
    (src / "p099.depth.npy").write_bytes(b"corrupt sidecar")
    out = tmp_path / "out"
    capsys.readouterr()
    assert batch(src, "-o", out, "-j", "2") == 1
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("refocus: error:")]
    assert len(errors) == 5 and all(f"p{i:03d}" in "".join(errors) for i in bad)
    assert "Traceback" not in "\n".join(err)
    assert len(list(out.glob("*.png"))) == 95 and not list(out.glob(".*tmp*"))
    report = json.loads((out / "batch-report.json").read_text())
    failed = [e for e in report["items"] if e["status"] == "failed"]
    assert sorted(Path(e["input"]).stem for e in failed) == [f"p{i:03d}" for i in bad]
    assert all(e["error"] and "\n" not in e["error"] for e in failed)
    assert report["summary"]["ok"] == 95 and report["summary"]["failed"] == 5


@pytest.mark.slow
def test_resume_redoes_only_unfinished(photos, tmp_path, capsys):
    for i in range(3):
        write_photo(photos / f"x{i}.png", 10 + i)
    out = tmp_path / "out"
    assert batch(photos, "-o", out, "-j", "2") == 0
    assert batch(photos, "-o", out) == 2  # outputs exist: refuse without --resume/--overwrite
    assert "already exists" in capsys.readouterr().err
    # simulate a killed run: x0 never written (a temp file left), x1 written after the last report save,
    # x2 reported failed, b made with other settings, c pending without output, a pending with its output
    rp = out / "batch-report.json"
    report = json.loads(rp.read_text())
    items = {Path(e["input"]).name: e for e in report["items"]}
    (out / "x0.png").unlink()
    (out / ".x0.png.tmp4242").write_bytes(b"half")
    items["x2.png"].update(status="failed", error="boom")
    items["b.png"]["fingerprint"] = "0" * 16
    items["c.png"].update(status="pending")
    items["a.png"].update(status="pending", timings={})
    (out / "sub" / "c.png").unlink()
    report["items"] = [e for e in report["items"] if Path(e["input"]).name != "x1.png"]
    rp.write_text(json.dumps(report))
    before = {p.name: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert batch(photos, "-o", out, "--resume", "-j", "2") == 0
    report = json.loads(rp.read_text())
    redone = sorted(Path(e["input"]).name for e in report["items"] if not e.get("skipped"))
    assert redone == ["b.png", "c.png", "x0.png", "x2.png"]
    assert all(e["status"] == "ok" for e in report["items"])
    assert not (out / ".x0.png.tmp4242").exists()
    after = {p.name: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert after["a.png"] == before["a.png"] and after["x1.png"] == before["x1.png"]
    assert (out / "x0.png").read_bytes() == render_ref(tmp_path, photos / "x0.png")


def test_bad_arguments_one_line_no_output(photos, tmp_path, capsys):
    out = tmp_path / "out"
    for argv, msg in (((photos, "-o", out, "--sweep-video"), "--sweep-video goes with --sweep"),
                      ((tmp_path / "nope", "-o", out), "no such file"),
                      ((photos, "-o", out, "--workers", "0"), "--workers must be at least 1"),
                      ((photos, "-o", out, "--focus-disparity", "1.5"), "must be in [0, 1]"),
                      ((photos, "-o", out, "--depth", photos / "a.depth.npy"), "--depth FILE goes with one"),
                      ((photos / "a.png", "-o", photos), "would overwrite this input")):
        assert batch(*argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("refocus: error:") and msg in err[0], err
        assert not out.exists()


def _thread_settings():
    import numba

    return os.environ.get("OMP_NUM_THREADS"), os.environ.get("OPENBLAS_NUM_THREADS"), cv2.getNumThreads(), \
        numba.get_num_threads()


@pytest.mark.slow
def test_workers_single_threaded_and_pipelined_chunks_match(photos, tmp_path):
    """Worker set-up, and the stage-overlapping path of GPU workers (run here on
    the CPU) against one job at a time: same results, same bytes."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from deocused.batch.inputs import Focus, plan_jobs
    from deocused.batch.worker import init_worker, process_job, process_jobs

    (photos / "bad.png").write_bytes(b"garbage")
    write_video(photos / "clip.mkv", (1, 2))
    plan = {name: plan_jobs([str(photos)], tmp_path / name, RenderSettings(max_blur=5.0), focus=Focus(auto=True),
                            codec="ffv1", sweep=0)
            for name in ("one", "chunk")}
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=init_worker,
                             initargs=("cpu", {})) as ex:
        assert ex.submit(_thread_settings).result() == ("1", "1", 1, 1)
        one = [ex.submit(process_job, j).result() for j in plan["one"]]
        chunk = ex.submit(process_jobs, plan["chunk"]).result()
    assert [r["status"] for r in one] == [r["status"] for r in chunk] == ["ok", "ok", "failed", "ok", "ok"]
    assert chunk[2]["error"] == one[2]["error"]
    for name in ("a.png", "b.png", "sub/c.png"):
        assert (tmp_path / "chunk" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    assert (tmp_path / "chunk" / "clip.mkv").is_file()


@pytest.mark.slow
def test_bench_batch_flag_runs_the_throughput_measurement(tmp_path):
    """`refocus bench --batch` measures the local pool for each worker count (Ray left out here)."""
    from deocused.cli import main

    out, png = tmp_path / "b.json", tmp_path / "b.png"
    rc = main(["bench", "--batch", "--no-ray", "--sizes", "64x48", "--items", "2", "--workers", "1,2",
               "--repeat", "1", "--json", str(out), "--plot", str(png)])
    assert rc in (0, None)
    data = json.loads(out.read_text())
    assert [(r["runner"], r["workers"], r["items"]) for r in data["results"]] == [("local", 1, 2), ("local", 2, 2)]
    assert data["size"] in ("64x48", [64, 48])
    assert png.stat().st_size > 0
