"""What a batch works on: input expansion, output names and per-item focus.

* :func:`expand_inputs` -- files, folders (searched recursively for photo and
  video extensions) and glob patterns, in a stable order, without depth
  sidecars (``IMAGE.depth.png``...) and without anything under the output folder.
* :func:`plan_jobs` -- one :class:`BatchJob` per input: its output paths under the
  output folder (mirroring the input's path below the folder it was found in)
  and its focus (the focus file's entry, else the rule for all items).
* :func:`read_focus_file` -- the ``--focus-file`` CSV: ``name,x,y`` (a point in
  pixels) or ``name,disparity`` per line; a header line is allowed.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError
from ..io.camera_raw import RAW_EXTENSIONS
from ..settings import RenderSettings

log = logging.getLogger("deocused")

#: Photo extensions a folder search picks up (lower case).
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".exr", ".hdr", ".pfm", ".heic", ".heif",
                    ".avif", *RAW_EXTENSIONS)
#: Video extensions: every frame is refocused into an output video.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")
#: First cells that mark a focus file's first row as a header.
HEADER_NAMES = ("name", "file", "filename", "image", "path", "input")
#: A file whose name contains this before its extension is a depth map, never an input.
DEPTH_MARK = ".depth."


@dataclass(frozen=True)
class Focus:
    """How one item is focused: a point (x = column, y = row, pixels), a disparity
    in [0, 1], the autofocus rule, or nothing (the image centre)."""

    point: tuple[float, float] | None = None
    disparity: float | None = None
    auto: bool = False

    def describe(self) -> str:
        if self.disparity is not None:
            return f"disparity {self.disparity:g}"
        if self.point is not None:
            return f"point {self.point[0]:g},{self.point[1]:g}"
        return "auto" if self.auto else "centre"


@dataclass
class BatchJob:
    """One batch item, self-contained and picklable (it travels to worker
    processes and Ray actors). Paths are absolute so workers on shared storage
    find them; ``key`` is the input as the user named it (the report's key)."""

    key: str
    path: str
    kind: str  # "photo" or "video"
    outputs: list[str]
    settings: RenderSettings
    focus: Focus = field(default_factory=Focus)
    sweep: int = 0  # focal planes (0 = one image at the item's focus)
    sweep_video: bool = False
    fps: float = 24.0
    codec: str | None = None  # a deocused.io.video codec name; None: the input's container family (H.264 in MP4...)
    crf: int | None = None
    span: tuple | None = None  # a part of a clip (chunks.split_jobs): (start pts, end pts | None, first, count, last)
    depth: str | None = None
    depth_kind: str = "disparity"
    embedded_depth: bool = True  # use the depth the photo carries (when no depth file)
    quality: int | None = None  # JPEG/WebP/HEIC quality (None: the format's default)
    bit_depth: int | None = None  # 8, 16 or None (16 for a 16-bit input written as PNG/TIFF)
    strip_metadata: bool = False  # leave EXIF and XMP out (the ICC profile stays)
    model: str | None = None
    model_path: str | None = None

    def fingerprint(self) -> str:
        """A short hash of everything that decides the outputs' content."""
        d = asdict(self)
        d.pop("key")
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_depth_file(p: Path) -> bool:
    """Whether ``p`` is a depth sidecar (``photo.depth.png``, ``clip.depth.avi``...)."""
    return DEPTH_MARK in p.name.lower()


def _kind(p: Path) -> str | None:
    ext = p.suffix.lower()
    return "photo" if ext in PHOTO_EXTENSIONS else "video" if ext in VIDEO_EXTENSIONS else None


def _inside(p: Path, folder: Path) -> bool:
    try:
        p.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def expand_inputs(inputs: list[str], output_dir: str | os.PathLike) -> list[tuple[str, Path, Path]]:
    """Expand INPUT arguments into ``(key, file, relative path)`` triples.

    A folder contributes every photo/video below it (sorted), named relative to
    the folder; a file or a glob match contributes itself under its own name.
    Folder and glob searches skip anything inside ``output_dir`` (earlier outputs).
    Duplicates (the same file reached twice) are dropped. Raises
    :class:`InputError` for an argument that matches nothing.
    """
    out_dir = Path(output_dir).resolve()
    seen: set[Path] = set()
    found: list[tuple[str, Path, Path]] = []

    def add(p: Path, rel: Path, scanned: bool = True) -> None:
        real = p.resolve()
        if real in seen or is_depth_file(p) or (scanned and _inside(p, out_dir)):
            return
        seen.add(real)
        found.append((str(p), p, rel))

    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            files = sorted(q for q in p.rglob("*") if q.is_file() and _kind(q))
            for q in files:
                add(q, q.relative_to(p))
            if not files:
                raise InputError(f"{arg}: no photos or videos in this folder")
        elif p.is_file():
            if _kind(p) is None:
                raise InputError(f"{arg}: not a photo or video extension "
                                 f"({', '.join(PHOTO_EXTENSIONS + VIDEO_EXTENSIONS)})")
            add(p, Path(p.name), scanned=False)
        elif glob.has_magic(arg):
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=True))
            matches = [m for m in matches if m.is_file() and _kind(m)]
            if not matches:
                raise InputError(f"{arg}: no photo or video matches this pattern")
            for m in matches:
                add(m, Path(m.name))
        else:
            raise InputError(f"{arg}: no such file, folder or pattern")
    if not found:
        raise InputError("no inputs to process (only depth maps or files inside --output-dir)")
    return found


def read_focus_file(path: str | os.PathLike) -> dict[str, Focus]:
    """Read a focus CSV: ``name,x,y`` or ``name,disparity`` per row (``#`` comments
    and a first row starting with one of :data:`HEADER_NAMES` are skipped). ``name`` is an input's path as given, its
    path below its folder, or its file name."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise InputError(f"{p}: cannot read the focus file ({e.strerror or e})") from None
    table: dict[str, Focus] = {}
    for n, row in enumerate(csv.reader(text.splitlines()), 1):
        row = [c.strip() for c in row]
        if not row or not row[0] or row[0].startswith("#"):
            continue
        if n == 1 and row[0].lower() in HEADER_NAMES:
            continue
        try:
            values = [float(c) for c in row[1:]]
        except ValueError:
            raise InputError(f"{p}:{n}: expected name,x,y or name,disparity; got '{','.join(row)}'") from None
        if len(values) == 2:
            table[row[0]] = Focus(point=(values[0], values[1]))
        elif len(values) == 1:
            if not 0.0 <= values[0] <= 1.0:
                raise InputError(f"{p}:{n}: disparity must be in [0, 1], got {values[0]:g}")
            table[row[0]] = Focus(disparity=values[0])
        else:
            raise InputError(f"{p}:{n}: expected name,x,y or name,disparity; got '{','.join(row)}'")
    return table


def _lookup(table: dict[str, Focus], key: str, rel: Path, file: Path) -> tuple[str, Focus] | None:
    for name in (key, str(rel), rel.as_posix(), file.name):
        for cand in (name, os.path.normpath(name)):
            if cand in table:
                return cand, table[cand]
    return None


def output_paths(stem: Path, out_dir: Path, kind: str, fmt: str, sweep: int, sweep_video: bool,
                 codec: str | None, src_ext: str = "") -> list[Path]:
    """The files one item writes, under ``out_dir``: ``stem.FMT`` for a photo,
    ``stem.sweep-NN.FMT`` for a focal stack, ``stem.sweep.EXT`` for a focus
    pull (EXT from the codec, default H.264 .mp4) and ``stem.EXT`` for a video
    (its input's extension when that container holds the codec)."""
    from .video import output_extension

    base = out_dir / stem
    if kind == "video":
        return [base.with_name(base.name + output_extension(src_ext, codec))]
    if sweep and sweep_video:
        return [base.with_name(base.name + ".sweep" + output_extension(".mp4", codec))]
    if sweep:
        return [base.with_name(f"{base.name}.sweep-{i:02d}.{fmt}") for i in range(sweep)]
    return [base.with_name(f"{base.name}.{fmt}")]


def plan_jobs(inputs: list[str], output_dir: str | os.PathLike, settings: RenderSettings, *, focus: Focus,
              focus_file: str | None = None, fmt: str = "png", sweep: int = 0, sweep_video: bool = False,
              fps: float = 24.0, codec: str | None = None, crf: int | None = None, depth: str | None = None,
              depth_kind: str = "disparity", model: str | None = None, model_path: str | None = None,
              embedded_depth: bool = True, output: dict | None = None) -> list[BatchJob]:
    """One :class:`BatchJob` per input (see the module docstring). Two inputs that
    would write the same output file get their extension added to the name.
    ``output``: the BatchJob's output fields (``quality``, ``bit_depth``, ``strip_metadata``)."""
    out_dir = Path(output_dir).resolve()
    found = expand_inputs(inputs, out_dir)
    if depth is not None and len(found) > 1:
        raise InputError("--depth FILE goes with one input; for several, put IMAGE.depth.png next to each photo")
    table = read_focus_file(focus_file) if focus_file else {}
    inputs_real = {f.resolve() for _, f, _ in found}
    used: set[str] = set()
    taken: set[Path] = set()
    jobs = []
    for key, file, rel in found:
        stem = rel.with_suffix("")
        kind = _kind(file)
        outs = output_paths(stem, out_dir, kind, fmt, sweep, sweep_video, codec, file.suffix)
        if any(o in taken for o in outs):
            stem = stem.with_name(f"{stem.name}-{file.suffix.lower().lstrip('.')}")
            outs = output_paths(stem, out_dir, kind, fmt, sweep, sweep_video, codec, file.suffix)
        taken.update(outs)
        hit_input = next((o for o in outs if o in inputs_real), None)
        if hit_input is not None:
            raise InputError(f"{hit_input}: an output of {key} would overwrite this input; choose another --output-dir")
        hit = _lookup(table, key, rel, file)
        item_focus = focus
        if hit is not None:
            used.add(hit[0])
            item_focus = hit[1]
        jobs.append(BatchJob(key=key, path=str(file.resolve()), kind=kind, outputs=[str(o) for o in outs],
                        settings=settings, focus=item_focus, sweep=sweep if kind == "photo" else 0,
                        sweep_video=sweep_video, fps=fps, codec=codec, crf=crf,
                        depth=str(Path(depth).resolve()) if depth else None, depth_kind=depth_kind,
                        embedded_depth=embedded_depth, **(output or {}), model=model, model_path=model_path))
    for name in sorted(set(table) - used):
        log.warning("%s: focus file entry '%s' matches no input", focus_file, name)
    return jobs
