"""Model downloads into the user cache, with sha256 checks.

Files live in ``<cache>/models/<model name>/<filename>`` where ``<cache>`` is
``$DEOCUSED_CACHE_DIR`` or ``platformdirs.user_cache_dir("deocused")``. A
download streams into a hidden temporary file in that folder, is checked
(complete length, sha256) and only then renamed into place, so a half-written
file is never used. When the manifest pins no sha256, the hash of the first
download is recorded in ``<filename>.sha256`` next to it and checked on every
later use. No TensorFlow here.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import InputError
from .registry import ModelSpec, get_model, spec_for_file

log = logging.getLogger("deocused")

CHUNK = 1 << 20
TIMEOUT_S = 30.0


def cache_dir() -> Path:
    """Folder holding downloaded models."""
    env = os.environ.get("DEOCUSED_CACHE_DIR")
    if env:
        base = Path(env)
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("deocused"))
    return base / "models"


def cached_path(spec: ModelSpec) -> Path:
    """Where ``spec``'s file is (or will be) stored in the cache."""
    return cache_dir() / spec.name / spec.filename


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():  # SavedModel folder: hash names and contents in sorted order
        for f in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(f.relative_to(path)).encode())
            h.update(bytes.fromhex(_hash_file(f)))
        return h.hexdigest()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _fix_hint(spec: ModelSpec, path: Path) -> str:
    if spec.urls:
        return f"delete it and run 'refocus models fetch {spec.name}'"
    return "replace it with a good copy"


def verify(spec: ModelSpec, path: Path, record: bool = False) -> str:
    """Check ``path`` against the pinned or recorded sha256; returns the hash.

    With ``record`` and no pinned/recorded hash yet, the hash is written to
    ``<file>.sha256``. A mismatch raises :class:`InputError` (the file is refused).
    """
    if not path.exists():
        raise InputError(f"{path}: no such model file")
    try:
        digest = _hash_file(path)
    except OSError as e:
        raise InputError(f"{path}: cannot read model file ({e.strerror or e})") from None
    rec = _record_path(path)
    expected, source = spec.sha256, "the manifest"
    if expected is None and rec.is_file():
        expected, source = rec.read_text().split()[0].strip().lower(), str(rec)
    if expected is not None:
        if digest != expected:
            raise InputError(f"{path}: sha256 {digest[:12]}... does not match {expected[:12]}... from {source} "
                             f"(corrupt or different file); {_fix_hint(spec, path)}")
    elif record:
        rec.write_text(f"{digest}  {path.name}\n")
        log.info("%s: recorded sha256 %s", path, digest)
    return digest


def _offline_message(spec: ModelSpec, url: str, reason: str) -> str:
    return (f"cannot download model '{spec.name}' from {url} ({reason}); download that file by hand and "
            f"pass it with --model-path FILE, or put it at {cached_path(spec)}")


def fetch(spec: ModelSpec, force: bool = False, progress: bool = True) -> Path:
    """Return the verified cached file for ``spec``, downloading it if needed."""
    dest = cached_path(spec)
    if dest.exists() and not force:
        verify(spec, dest, record=True)
        return dest
    if not spec.urls:
        raise InputError(f"model '{spec.name}' has no download URL; pass the file with --model-path FILE")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{dest.parent}: cannot create the model cache folder ({e.strerror or e})") from None
    last = None
    for n, url in enumerate(spec.urls, 1):
        try:
            _download(spec, url, dest, progress)
            return dest
        except _Offline as e:
            last = e
            if n < len(spec.urls):  # the last failure is the error itself
                log.warning("%s; trying the next mirror", e)
    raise InputError(str(last))


class _Offline(Exception):
    pass


def _download(spec: ModelSpec, url: str, dest: Path, progress: bool) -> None:
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "deocused"}),
                                      timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        raise _Offline(_offline_message(spec, url, f"HTTP {e.code} {e.reason}")) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise _Offline(_offline_message(spec, url, f"offline or unreachable: {reason}")) from None
    length = resp.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    got = 0
    try:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                       desc=f"{spec.name}", leave=False)
        try:
            with os.fdopen(fd, "wb") as out, resp:
                while True:
                    try:
                        chunk = resp.read(CHUNK)
                    except http.client.IncompleteRead as e:
                        got += len(e.partial)
                        raise InputError(f"download of {url} was cut off after {got} of {total} bytes; "
                                         "try again") from None
                    except (TimeoutError, OSError) as e:
                        raise InputError(f"download of {url} failed after {got} bytes ({e}); try again") from None
                    if not chunk:
                        break
                    out.write(chunk)
                    h.update(chunk)
                    got += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
        finally:
            if bar is not None:
                bar.close()
        if total is not None and got != total:
            raise InputError(f"download of {url} was cut off after {got} of {total} bytes; try again")
        digest = h.hexdigest()
        if spec.sha256 is not None and digest != spec.sha256:
            raise InputError(f"download of {url} has sha256 {digest[:12]}... but the manifest pins "
                             f"{spec.sha256[:12]}...; the file was refused")
        rec = _record_path(dest)
        if spec.sha256 is None:
            rec.write_text(f"{digest}  {dest.name}\n")
        else:
            rec.unlink(missing_ok=True)
        os.replace(tmp, dest)
        log.info("downloaded %s to %s (%d bytes, sha256 %s)", url, dest, got, digest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def resolve(model: str | None = None, model_path: str | os.PathLike | None = None,
            download: bool = True, progress: bool = True) -> tuple[ModelSpec, Path]:
    """Pick the model and its verified file from ``--model``/``--model-path``.

    ``model_path`` alone: see :func:`registry.spec_for_file`. Both: the manifest
    ``model`` describes the file at ``model_path``. Neither: the default model.
    """
    from .registry import DEFAULT_MODEL

    if model_path is not None:
        p = Path(model_path).expanduser()
        if not p.exists():
            raise InputError(f"{p}: no such model file")
        spec = get_model(model) if model else spec_for_file(p)
        if spec.sha256 is not None:
            verify(spec, p)
        return spec, p
    spec = get_model(model or DEFAULT_MODEL)
    dest = cached_path(spec)
    if not dest.exists() and not download:
        raise InputError(f"model '{spec.name}' is not downloaded; run 'refocus models fetch {spec.name}'")
    return spec, fetch(spec, progress=progress)
