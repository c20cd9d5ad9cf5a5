"""Where the project's data folders (``shaders/``, ``models/``) are.

In a source checkout or an editable install they sit next to ``engine/``; a
regular (wheel) install copies them to ``<prefix>/share/deocused/``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def data_dir(name: str) -> Path:
    """The folder ``name`` ("shaders" or "models") of this installation."""
    here = Path(__file__).resolve().parents[2] / name
    if here.is_dir():
        return here
    return Path(sys.prefix) / "share" / "deocused" / name
