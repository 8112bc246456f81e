"""A model version written all-or-nothing, then published with ``LATEST``.

Writing goes through :func:`staged_model`: the caller fills a hidden staging folder, then the
folder is renamed into place in one step and ``LATEST`` is replaced atomically, so a reader
(the service) sees either the previous complete model or the new complete one, never half of
one, even when the writer is killed or the disk fills up. :func:`finalize_manifest` hashes the
files and seals the manifest (:func:`seal_manifest`); :func:`write_json` writes every JSON
artifact the same way. The layout, the file names and the read side are in
:mod:`training.runtime.artifacts` and :mod:`training.runtime.loader`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from training.runtime.artifacts import (
    LATEST_FILE,
    MANIFEST_DIGEST_KEY,
    MANIFEST_FILE,
    ArtifactError,
    check_version_name,
    library_versions,
    manifest_digest,
    read_latest_name,
    read_manifest,
    sha256_file,
    walk_files,
)

__all__ = [
    "STAGING_PREFIX",
    "STALE_AFTER_SECONDS",
    "finalize_manifest",
    "new_version",
    "seal_manifest",
    "staged_model",
    "write_json",
]

logger = logging.getLogger(__name__)

#: Prefix of the hidden staging folders (``.staging-<version>-<pid>``).
STAGING_PREFIX = ".staging-"

#: A staging folder untouched for this long is stale even when its pid is alive (pid reuse).
STALE_AFTER_SECONDS = 3600.0

_LATEST_TMP_PREFIX = f"{LATEST_FILE}.tmp-"

# Staging folders this process is writing now (absolute paths), so that cleaning never removes
# one of ours even when the pid of a killed run was reused by us (containers restart at pid 1).
_ACTIVE_STAGING: set[Path] = set()


def new_version(created_at: datetime, model_dir: Path | None = None) -> str:
    """Name a new model version after its creation time.

    Parameters
    ----------
    created_at : datetime
        Timezone-aware creation time; it is converted to UTC.
    model_dir : Path or None, default=None
        When given, the name is made unique within this folder: ``-2``, ``-3``, ... is appended
        while a version folder (or a staging folder) of that name exists.

    Returns
    -------
    str
        ``YYYYMMDD-HHMMSS`` in UTC (for example ``"20261128-175500"``), sortable as text;
        :func:`list_versions` also sorts the numeric suffixes in order.

    Raises
    ------
    ValueError
        If `created_at` is naive: a local time would silently give the wrong name.
    """
    if created_at.tzinfo is None or created_at.utcoffset() is None:
        raise ValueError("created_at must be timezone-aware, e.g. datetime.now(UTC).")
    base = created_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    if model_dir is None:
        return base
    candidate, n = base, 1
    while _version_taken(model_dir, candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as JSON: UTF-8, indent 2, keys in the given order, trailing newline.

    The same object always gives the same bytes. Besides the JSON types, NumPy scalars and
    arrays, ``datetime``/``date`` (ISO 8601) and paths (POSIX text) are written.

    NaN and infinities are refused rather than turned into ``null``: a metric that silently
    becomes ``null`` in the manifest hides a bug. Store ``None`` yourself for a missing number.

    Parameters
    ----------
    path : Path
        File to write (its folder must exist).
    obj : Any
        The object to write.

    Raises
    ------
    ArtifactError
        If `obj` holds NaN, an infinity or a value JSON cannot hold; the message names the
        file and the key (for example ``metrics.silhouette``).
    OSError
        If the file cannot be written.
    """
    path.write_bytes(_dumps(_to_json(obj, path, "")))


def finalize_manifest(folder: Path, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Hash every file of `folder` and write its manifest.

    Parameters
    ----------
    folder : Path
        The folder to describe (normally the staging folder of :func:`staged_model`).
    fields : Mapping
        What the manifest says besides the file hashes (``created_at``, ``settings``,
        ``metrics``, ...), kept in this order. ``versions`` defaults to
        :func:`library_versions`; ``files`` is always computed here, any given value is replaced.

    Returns
    -------
    dict
        The manifest as written (plain JSON values), ``files`` then ``manifest_sha256`` last.

    Raises
    ------
    ArtifactError
        If the folder holds a symbolic link or something that is not a regular file, or a field
        cannot be written as JSON.
    """
    manifest_path = folder / MANIFEST_FILE
    files: dict[str, str] = {}
    for rel, path in walk_files(folder, purpose=f"Cannot write {manifest_path}"):
        if rel != MANIFEST_FILE:
            files[rel] = sha256_file(path)
    manifest: dict[str, Any] = {
        key: value for key, value in fields.items() if key not in ("files", MANIFEST_DIGEST_KEY)
    }
    manifest.setdefault("versions", library_versions())
    manifest["files"] = dict(sorted(files.items()))
    plain: dict[str, Any] = seal_manifest(_to_json(manifest, manifest_path, ""))
    write_json(manifest_path, plain)
    return plain


def seal_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Return `manifest` with its own checksum as the last key, ``manifest_sha256``.

    The checksum is the SHA-256 of the manifest's canonical JSON without that key (keys
    sorted, no spaces, UTF-8), so it does not depend on how the file is indented.
    :func:`verify_model` refuses a manifest whose checksum is missing or does not match.

    Parameters
    ----------
    manifest : Mapping
        Plain JSON values (an existing ``manifest_sha256`` is replaced).

    Returns
    -------
    dict
        A new dict: the manifest's keys in order, then ``manifest_sha256``.
    """
    body = {key: value for key, value in manifest.items() if key != MANIFEST_DIGEST_KEY}
    return {**body, MANIFEST_DIGEST_KEY: manifest_digest(body)}


@contextmanager
def staged_model(
    model_dir: Path,
    version: str,
    *,
    fields: Mapping[str, Any] | None = None,
    stale_after: float = STALE_AFTER_SECONDS,
) -> Iterator[Path]:
    """Write a model version all-or-nothing.

    Yields a hidden staging folder ``model_dir/.staging-<version>-<pid>`` for the caller to
    fill. On normal exit the manifest is (re)written last: it keeps the fields of a
    ``manifest.json`` the caller already wrote with :func:`finalize_manifest`, adds `fields`,
    sets ``version`` and hashes every file present *now*, so it always lists every file. Then
    all files are fsynced, the folder is renamed to ``model_dir/<version>`` and ``LATEST`` is
    replaced atomically (``LATEST.tmp-<pid>``, fsync, ``os.replace``, fsync of the folder).

    On any exception (``KeyboardInterrupt`` included) the staging folder, and a version folder
    already renamed but not yet named by ``LATEST``, are removed and ``LATEST`` is left as it
    was. An ``OSError`` (for example ``ENOSPC``) becomes an :class:`ArtifactError` chained from
    it; other exceptions propagate unchanged. A process killed outright (SIGKILL) leaves its
    staging folder behind: the next call removes staging folders whose pid is dead, or that
    nothing touched for `stale_after` seconds.

    Parameters
    ----------
    model_dir : Path
        The model folder (created with its parents if missing).
    version : str
        The new version's name (see :func:`new_version`); it must not exist yet.
    fields : Mapping or None, default=None
        Manifest fields to add (they win over those of a manifest the caller wrote).
    stale_after : float, default=3600.0
        Age in seconds after which another run's staging folder counts as abandoned.

    Yields
    ------
    Path
        The staging folder.

    Raises
    ------
    ArtifactError
        If `version` is not a plain folder name or already exists, or writing fails
        ("Could not write the model to models/20261128-175500: No space left on device.").
    """
    check_version_name(version)
    target = model_dir / version
    staging = model_dir / f"{STAGING_PREFIX}{version}-{os.getpid()}"
    key = Path(os.path.abspath(staging))
    if key in _ACTIVE_STAGING:
        raise ArtifactError(f"{target} is already being written by this process.")
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(model_dir, stale_after)
        _refuse_existing(target)
        staging.mkdir()
    except OSError as exc:
        raise _write_error(target, exc) from exc
    _ACTIVE_STAGING.add(key)
    renamed = False
    try:
        yield staging
        _write_final_manifest(staging, version, fields)
        _fsync_tree(staging)
        _refuse_existing(target)
        os.rename(staging, target)
        renamed = True
        _fsync_dir(model_dir)
        _write_latest(model_dir, version)
    except BaseException as exc:
        _discard(staging)
        if renamed and read_latest_name(model_dir) != version:
            _discard(target)
        if isinstance(exc, OSError):
            raise _write_error(target, exc) from exc
        raise
    finally:
        _ACTIVE_STAGING.discard(key)
    logger.info("Wrote model %s to %s and pointed %s at it.", version, target, LATEST_FILE)


def _dumps(plain: Any) -> bytes:
    text = json.dumps(plain, indent=2, ensure_ascii=False, allow_nan=False, sort_keys=False)
    return (text + "\n").encode("utf-8")


def _to_json(obj: Any, path: Path, where: str) -> Any:
    """Return `obj` as plain JSON values; refuse non-finite numbers and unknown types."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        if not math.isfinite(value):
            kind = "NaN" if math.isnan(value) else ("infinity" if value > 0 else "-infinity")
            raise ArtifactError(
                f"Cannot write {path}: the value at {where or 'the top level'} is {kind}, which "
                "JSON cannot hold; store None for a missing number."
            )
        return value
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if isinstance(key, str):
                name = key
            elif isinstance(key, int | np.integer) and not isinstance(key, bool | np.bool_):
                name = str(int(key))
            else:
                raise ArtifactError(
                    f"Cannot write {path}: the key {key!r} at {where or 'the top level'} is not "
                    "a string."
                )
            out[name] = _to_json(value, path, f"{where}.{name}" if where else name)
        return out
    if isinstance(obj, np.ndarray):
        return _to_json(obj.tolist(), path, where)
    if isinstance(obj, list | tuple):
        return [_to_json(item, path, f"{where}[{i}]") for i, item in enumerate(obj)]
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, PurePath):
        return obj.as_posix()
    raise ArtifactError(
        f"Cannot write {path}: the value at {where or 'the top level'} is a "
        f"{type(obj).__name__}, which JSON cannot hold."
    )


def _version_taken(model_dir: Path, name: str) -> bool:
    target = model_dir / name
    if target.exists() or target.is_symlink():
        return True
    return model_dir.is_dir() and any(model_dir.glob(f"{STAGING_PREFIX}{name}-*"))


def _refuse_existing(target: Path) -> None:
    # os.rename would silently replace an *empty* existing folder; never overwrite a version.
    if target.exists() or target.is_symlink():
        raise ArtifactError(
            f"{target} already exists: a model version is never overwritten; name a new one "
            "with new_version()."
        )


def _write_final_manifest(staging: Path, version: str, fields: Mapping[str, Any] | None) -> None:
    merged: dict[str, Any] = {"version": version}
    if (staging / MANIFEST_FILE).exists():
        merged.update(read_manifest(staging))
    merged.update(fields or {})
    merged["version"] = version
    finalize_manifest(staging, merged)


def _write_error(target: Path, exc: OSError) -> ArtifactError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return ArtifactError(f"Could not write the model to {target}: {reason.rstrip('.')}.")


def _fsync_tree(folder: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(folder, followlinks=False):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(Path(dirpath))


def _fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in `folder` durable (POSIX; best effort)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        logger.debug("Could not open %s to fsync it: %s", folder, exc)
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot fsync a folder
        logger.debug("Could not fsync %s: %s", folder, exc)
    finally:
        os.close(fd)


def _write_latest(model_dir: Path, version: str) -> None:
    tmp = model_dir / f"{_LATEST_TMP_PREFIX}{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(f"{version}\n".encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, model_dir / LATEST_FILE)
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(model_dir)


def _discard(path: Path) -> None:
    """Remove a file or folder if it is there; log instead of raising."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("Could not remove %s: %s", path, exc)


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            for name in [*dirnames, *filenames]:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
    return newest


def _remove_stale_staging(model_dir: Path, stale_after: float) -> None:
    """Remove staging folders and ``LATEST`` temp files left by killed runs."""
    now = time.time()
    for entry in model_dir.iterdir():
        if entry.name.startswith(STAGING_PREFIX):
            suffix = entry.name[len(STAGING_PREFIX) :].rpartition("-")[2]
        elif entry.name.startswith(_LATEST_TMP_PREFIX):
            suffix = entry.name[len(_LATEST_TMP_PREFIX) :]
        else:
            continue
        if Path(os.path.abspath(entry)) in _ACTIVE_STAGING:
            continue
        pid = int(suffix) if suffix.isdigit() else 0
        try:
            if pid > 0 and (pid == os.getpid() or not _pid_alive(pid)):
                # Dead writer; or our own pid but not active here: an earlier life of this pid.
                stale = True
            else:  # a live pid may be a reused one: an untouched folder is abandoned anyway
                stale = now - _newest_mtime(entry) > stale_after
        except FileNotFoundError:  # another run removed it meanwhile
            continue
        if stale:
            logger.warning("Removing %s, left behind by an interrupted training run.", entry)
            _discard(entry)
