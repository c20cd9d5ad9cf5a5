"""Video I/O with PyAV (deocused.io.video): timestamps, rotation, audio copy, colour, codecs, encoders."""

from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np
import pytest
from helpers.videoclips import audio_packets, make_clip, read_pts, scene

from deocused.errors import InputError
from deocused.io.video import CODECS, VideoReader, VideoWriter, codec_for, probe
from deocused.io.video import codecs as vcodecs

av = pytest.importorskip("av")


def _roundtrip(src, out, **kw):
    with VideoReader(src) as r:
        w = VideoWriter(out, time_base=r.info.time_base, rate=r.info.rate, source=r.info, audio_from=src, **kw)
        frames = []
        for rgb, pts in r.frames():
            frames.append(rgb)
            w.write((rgb * 255 + 0.5).astype(np.uint8), pts)
        w.commit()
    return r.info, frames


@pytest.mark.parametrize("vfr", [False, True], ids=["cfr", "vfr"])
def test_timestamps_and_audio_survive_a_round_trip(tmp_path, vfr):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, n=30, vfr=vfr)
    _roundtrip(src, out)
    a, b = read_pts(src), read_pts(out)
    assert len(b) == len(a) == 30 and b == a
    if vfr:
        assert len({y - x for x, y in zip(a, a[1:])}) > 3  # the clip really has irregular gaps
    pa, pb = audio_packets(src), audio_packets(out)
    assert pa and pb == pa  # every packet copied byte for byte at its time
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert len(c.streams.audio) == 1


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_display_rotation_is_applied(tmp_path, rotation):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, n=4, audio=False, rotation=rotation, size=(64, 48))
    info, frames = _roundtrip(src, out)
    upright = np.rot90(scene(0, 64, 48), rotation // 90).astype(np.float32) / 255
    assert info.rotation == rotation
    assert (info.width, info.height) == (upright.shape[1], upright.shape[0])
    assert frames[0].shape == upright.shape
    assert np.abs(frames[0] - upright).mean() < 0.03
    assert np.abs(frames[0] - np.rot90(upright, 2)).mean() > 0.1  # the other way round would not match
    with VideoReader(out) as r:  # written upright, without a rotation of its own
        rgb, _ = next(r.frames())
        assert r.info.rotation == 0 and rgb.shape == upright.shape


def test_colour_tags_and_creation_time_are_kept(tmp_path):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, n=3, audio=False, colour=(1, 13, 1))  # BT.709 primaries and matrix, sRGB transfer
    with av.open(str(src)) as c:
        assert c.streams.video[0].codec_context.color_trc == 13
    with VideoReader(src) as r:
        r.info.metadata["creation_time"] = "2026-05-04T03:02:01.000000Z"
        w = VideoWriter(out, source=r.info, rate=r.info.rate, time_base=r.info.time_base)
        for rgb, pts in r.frames():
            w.write((rgb * 255).astype(np.uint8), pts)
        w.commit()
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert (int(cc.color_primaries), int(cc.color_trc), int(cc.colorspace)) == (1, 13, 1)
        assert c.metadata.get("creation_time", "").startswith("2026-05-04T03:02:01")


def test_ten_bit_video_keeps_its_precision(tmp_path):
    src = tmp_path / "ten.mkv"
    make_clip(src, n=2, audio=False, size=(256, 64), codec="libx265", pix_fmt="yuv420p10le")
    with VideoReader(src) as r:
        assert r.info.bit_depth == 10
        rgb, _ = next(r.frames())
    ref = scene(0, 256, 64).astype(np.float32) / 255
    assert np.abs(rgb - ref).mean() < 0.02
    levels = np.unique(np.round(rgb[40:, 100:200, 0] * 65535))  # the horizontal gradient's red ramp
    assert not np.allclose(levels / 257, np.round(levels / 257))  # values between 8-bit steps: not truncated


def test_hdr_transfer_is_refused(tmp_path):
    src = tmp_path / "pq.mkv"
    make_clip(src, n=2, audio=False, colour=(9, 16, 9))
    with pytest.raises(InputError, match=r"HDR video \(PQ"):
        probe(src)


def test_output_codecs(tmp_path):
    src = tmp_path / "in.mp4"
    make_clip(src, n=6, audio=True)
    for codec, ext, names in [("hevc", ".mp4", ("hevc",)), ("ffv1", ".mkv", ("ffv1",)), ("mjpg", ".avi", ("mjpeg",)),
                              ("av1", ".mkv", ("av1", "libdav1d"))]:
        out = tmp_path / f"out-{codec}{ext}"
        _roundtrip(src, out, codec=codec)
        with av.open(str(out)) as c:
            assert c.streams.video[0].codec_context.name in names
        assert len(read_pts(out)) == 6
        a, b = read_pts(src), read_pts(out)
        if ext == ".mp4":
            assert b == a
        elif ext == ".mkv":  # Matroska (ms ticks) shifts the timeline so the AAC priming (negative audio times) starts at 0
            assert max(abs((y - b[0]) - (x - a[0])) for x, y in zip(a, b)) <= Fraction(1, 1000)


def test_codec_for_extension_and_names():
    assert codec_for("a.mp4") == "h264" and codec_for("a.mov") == "h264" and codec_for("a.avi") == "mjpg"
    assert codec_for("a.mkv", "ffv1") == "ffv1"
    with pytest.raises(InputError, match="cannot hold hevc"):
        codec_for("a.webm", "hevc")
    with pytest.raises(InputError, match="unknown video codec"):
        codec_for("a.mp4", "divx")
    with pytest.raises(InputError, match="unsupported video extension"):
        codec_for("a.flv")


def test_missing_encoders_are_named_in_one_line(monkeypatch, caplog):
    vcodecs.missing_encoders.cache_clear()
    have = set(av.codec.codecs_available)
    assert {c.encoder for c in CODECS.values()} <= have, "this PyAV wheel should carry every encoder"
    monkeypatch.setattr(av.codec, "codecs_available", have - {"libx265", "libsvtav1"})
    try:
        with caplog.at_level(logging.WARNING, "deocused"):
            vcodecs.check_encoders("h264")
        lines = [r.getMessage() for r in caplog.records]
        assert lines == ["this PyAV build lacks the encoders for: hevc (libx265), av1 (libsvtav1)"]
        with pytest.raises(Exception, match="no libx265 encoder"):
            vcodecs.check_encoders("hevc")
    finally:
        vcodecs.missing_encoders.cache_clear()


def test_atomic_writer_leaves_nothing_on_abort(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, rate=Fraction(25)) as w:
            w.write(scene(0, 32, 32))
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
