"""`refocus view` command line: registration and the no-display error path."""

import os
import subprocess
import sys

import pytest


def _run(args, env_changes, timeout=120):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-m", "deocused.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_view_is_registered():
    from deocused.cli import build_parser

    args = build_parser().parse_args(["view", "a.jpg", "b.jpg", "--device", "cpu", "-K", "9"])
    assert args.images == ["a.jpg", "b.jpg"] and args.device == "cpu" and args.max_blur == 9
    assert build_parser().parse_args(["view"]).images == []


def test_no_display_is_one_line_and_suggests_render(tmp_path):
    out = _run(["view"], {})
    assert out.returncode != 0
    err = [s for s in out.stderr.splitlines() if s.strip()]
    assert len(err) == 1, out.stderr
    assert "no display" in err[0] and "refocus render" in err[0]
    assert "Traceback" not in out.stderr


def test_unreachable_display_is_one_line(tmp_path):
    out = _run(["view", "--device", "cpu"], {"DISPLAY": ":987"})
    assert out.returncode != 0
    lines = [s for s in out.stderr.splitlines() if s.strip() and "rendering on the CPU" not in s
             and "non-finite values" not in s]  # info lines from the renderer/sample
    assert len(lines) == 1, out.stderr
    assert "refocus render" in lines[0] and "Traceback" not in out.stderr


def test_depth_file_needs_a_single_image():
    from deocused.cli import main

    assert main(["view", "a.png", "b.png", "--depth", "d.png"]) != 0


@pytest.mark.parametrize("argv", [["view", "--help"]])
def test_help_lists_keys(argv, capsys):
    from deocused.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    assert "Esc/Q quit" in capsys.readouterr().out


def test_no_preview_flag_reaches_the_viewer(monkeypatch):
    import deocused.viewer.app
    from deocused.cli import build_parser, main

    assert build_parser().parse_args(["view"]).preview is True
    assert build_parser().parse_args(["view", "--no-preview"]).preview is False
    seen = {}

    class FakeViewer:
        def __init__(self, sources, **kw):
            seen.update(kw)

        def run(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(deocused.viewer.app, "Viewer", FakeViewer)
    assert main(["view", "--no-preview", "--device", "cpu"]) == 0 and seen["preview"] is False
    assert main(["view", "--device", "cpu"]) == 0 and seen["preview"] is True
