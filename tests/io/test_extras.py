"""A missing optional part (pip extra) is one line naming the extra to install."""

import importlib.util

import pytest

from deocused import extras
from deocused.errors import RefocusError


def test_installed_extras_pass():
    for extra, (modules, _) in extras.EXTRAS.items():
        if all(importlib.util.find_spec(m) is not None for m in modules):
            extras.require(extra, "x")  # does not raise


@pytest.mark.parametrize("extra", sorted(extras.EXTRAS))
def test_missing_extra_names_the_extra(extra, monkeypatch):
    real = importlib.util.find_spec
    hidden = set(extras.EXTRAS[extra][0])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a))
    assert extras.missing(extra) == list(extras.EXTRAS[extra][0])
    with pytest.raises(RefocusError) as ei:
        extras.require(extra, "refocus something")
    msg = str(ei.value)
    assert f"pip install 'deocused[{extra}]'" in msg and "refocus something" in msg and "\n" not in msg


def test_view_without_the_viewer_extra_is_one_line(monkeypatch, capsys):
    from deocused.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "glfw" else real(name, *a))
    try:
        rc = main(["view", "--sample", "synthetic"])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc not in (0, None) and "deocused[viewer]" in err and "Traceback" not in err
