"""Model registry: one JSON manifest per depth model in ``models/``.

A manifest describes the file (URL, format, sha256) and how to feed it:
input size (H, W) in pixels, layout (``NHWC``/``NCHW``), colour order, the
value range the image is scaled to, optional per-channel mean/std applied by
the caller, and the output kind (``inverse_depth`` = relative disparity, or
``depth``). No TensorFlow here: the main process imports this module.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..errors import InputError
from ..io.resources import data_dir

FORMATS = ("pb", "savedmodel", "tflite", "keras")
LAYOUTS = ("NHWC", "NCHW")
OUTPUTS = ("inverse_depth", "depth")
DEFAULT_MODEL = "midas-v21-small-tflite"
"""Default model: the TFLite file runs on any CPU (and is fast enough on one)."""
FALLBACK_INPUT_SIZE = (256, 256)
"""Input size (H, W) for a file without manifest whose input size is not fixed."""


def models_dir() -> Path:
    """Folder with the manifests: ``$DEOCUSED_MODELS_DIR`` or the project's ``models/``."""
    env = os.environ.get("DEOCUSED_MODELS_DIR")
    return Path(env) if env else data_dir("models")


@dataclass(frozen=True)
class ModelSpec:
    """How to obtain and run one depth model (see module docstring)."""

    name: str
    format: str
    filename: str = ""
    description: str = ""
    license: str = ""
    homepage: str = ""
    urls: tuple[str, ...] = ()
    device: str = "any"  # where the file runs: "gpu", "cpu" or "any"
    input_name: str | None = None
    output_name: str | None = None
    input_size: tuple[int, int] | None = None  # (H, W); None = take it from the model
    layout: str = "NHWC"
    colour_order: str = "RGB"
    input_range: tuple[float, float] = (0.0, 1.0)
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    output: str = "inverse_depth"
    sha256: str | None = None
    notes: str = ""
    manifest: str | None = field(default=None, compare=False)  # path of the JSON, None for ad-hoc files

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "<manifest>") -> ModelSpec:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise InputError(f"{source}: unknown manifest keys {sorted(unknown)}")
        d = dict(d)
        try:
            for k in ("urls",):
                d[k] = tuple(d.get(k) or ())
            for k in ("input_size", "input_range", "mean", "std"):
                if d.get(k) is not None:
                    d[k] = tuple(float(v) if k != "input_size" else int(v) for v in d[k])
            spec = cls(**d)
        except (TypeError, ValueError) as e:
            raise InputError(f"{source}: malformed manifest ({e})") from None
        spec.validate(source)
        return spec

    def validate(self, source: str) -> None:
        if self.format not in FORMATS:
            raise InputError(f"{source}: format '{self.format}' is not one of {', '.join(FORMATS)}")
        if self.layout not in LAYOUTS:
            raise InputError(f"{source}: layout '{self.layout}' is not one of {', '.join(LAYOUTS)}")
        if self.output not in OUTPUTS:
            raise InputError(f"{source}: output '{self.output}' is not one of {', '.join(OUTPUTS)}")
        if self.colour_order not in ("RGB", "BGR"):
            raise InputError(f"{source}: colour_order must be RGB or BGR")
        if self.input_size is not None and (len(self.input_size) != 2 or min(self.input_size) < 1):
            raise InputError(f"{source}: input_size must be [height, width]")
        for k in ("mean", "std"):
            v = getattr(self, k)
            if v is not None and len(v) != 3:
                raise InputError(f"{source}: {k} must have 3 values")
        if self.sha256 is not None and (len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256)):
            raise InputError(f"{source}: sha256 must be 64 lowercase hex digits or null")


def load_manifest(path: str | os.PathLike) -> ModelSpec:
    """Read one manifest file."""
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{p}: cannot read manifest ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: manifest is not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise InputError(f"{p}: manifest must be a JSON object")
    d.setdefault("name", p.stem)
    d["manifest"] = str(p)
    return ModelSpec.from_dict(d, str(p))


def list_models() -> list[ModelSpec]:
    """All manifests in :func:`models_dir`, sorted by name."""
    d = models_dir()
    if not d.is_dir():
        return []
    return sorted((load_manifest(p) for p in d.glob("*.json")), key=lambda s: s.name)


def get_model(name: str) -> ModelSpec:
    """The manifest called ``name``; :class:`InputError` listing the known names otherwise."""
    specs = {s.name: s for s in list_models()}
    if name not in specs:
        known = ", ".join(specs) or "none"
        raise InputError(f"unknown model '{name}' (known: {known}; see 'refocus models list')")
    return specs[name]


def format_of(path: str | os.PathLike) -> str:
    """Model format from a file name: ``.pb`` / ``.tflite`` / ``.keras`` / SavedModel folder."""
    p = Path(path)
    if p.is_dir():
        if (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise InputError(f"{p}: is a folder but not a SavedModel (no saved_model.pb inside)")
    suf = p.suffix.lower()
    if suf == ".pb":
        return "pb"
    if suf == ".tflite":
        return "tflite"
    if suf == ".keras":
        return "keras"
    raise InputError(f"{p}: unknown model format '{suf or p.name}' "
                     "(expected .pb, .tflite, .keras or a SavedModel folder)")


def spec_for_file(path: str | os.PathLike) -> ModelSpec:
    """Spec for ``--model-path FILE``.

    A file whose name matches a manifest's ``filename`` (e.g. a hand-downloaded
    ``model-small.pb``) uses that manifest. Any other file is taken as: NHWC
    float RGB in [0, 1], input size from the model when fixed (else 256x256),
    output relative inverse depth.
    """
    p = Path(path)
    fmt = format_of(p)
    for s in list_models():
        if s.filename and s.filename == p.name and s.format == fmt:
            return s
    return ModelSpec(name=p.name, format=fmt, filename=p.name, description=f"user model {p}")


def with_overrides(spec: ModelSpec, **kw) -> ModelSpec:
    """A copy of ``spec`` with fields replaced."""
    return replace(spec, **kw)
