"""The viewer's render jobs and what its display texture holds (:mod:`.scheduler` runs the jobs)."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum


class JobKind(Enum):
    """What a render job does."""

    FULL = "full"  # the fit view at display resolution
    PREVIEW = "preview"  # the quick low-resolution frame (CPU; clicks on slow renders, drags)
    COMPLETE = "complete"  # idle: the rest of the pyramid the current K may read
    REGION = "region"  # zoomed in: the photo pixels shown, from the full-resolution photo


class TexKind(Enum):
    """What the display texture holds."""

    PHOTO = "photo"  # the photo unblurred (until its first render)
    LOWRES = "lowres"  # a preview render
    RENDER = "render"  # a display-resolution render


@dataclass
class Job:
    index: int
    params: tuple  # (focus_disparity, max_blur in image pixels, dof, display size (w, h), zoomed view or None)
    future: Future = field(default=None)
    prepare: bool = False
    kind: JobKind = JobKind.FULL
