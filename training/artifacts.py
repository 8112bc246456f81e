"""Versioned model artifacts: write them atomically, verify them, load them safely.

Layout of the model folder (``models/`` by default)::

    models/
        LATEST                      one line: the version name of the newest complete model
        20261128-175500/            one folder per trained model, named by new_version()
            manifest.json           written last; SHA-256 of every other file + library versions
            segmenter.joblib        fitted estimators only (joblib)
            segmenter.json          everything a person or another language reads (JSON)
            profiles.json
            plots/*.png
            report.html
        .staging-<version>-<pid>/   hidden, only while a run writes (removed when stale)

Writing goes through :func:`staged_model`: the caller fills a hidden staging folder, then the
folder is renamed into place in one step and ``LATEST`` is replaced atomically, so a reader
(the service) sees either the previous complete model or the new complete one, never half of
one, even when the writer is killed or the disk fills up.

Reading goes through :func:`resolve_model` (which folder), :func:`verify_model` (every file
matches its SHA-256 in the manifest, nothing unlisted, same numpy and scikit-learn
major.minor) and :func:`load_joblib` (unpickles only a file inside the model folder whose bytes
match the manifest). Every failure is an :class:`ArtifactError` whose message is one sentence
for a person.

The manifest is a JSON object::

    {
      "version": "20261128-175500",
      ...                           the caller's fields, in the caller's order
                                    (created_at, settings, metrics, ...)
      "versions": {"python": "3.11.9", "numpy": "2.4.6", "scipy": "1.17.1",
                   "scikit-learn": "1.9.1", "pandas": "3.1.1", "joblib": "1.6.0"},
      "files": {"plots/elbow.png": "<sha256 hex>", "profiles.json": "<sha256 hex>", ...},
      "manifest_sha256": "<sha256 hex>"
    }

``files`` lists every file of the folder except ``manifest.json`` itself, recursively, by
POSIX relative path, sorted. ``manifest_sha256`` seals the manifest itself: the SHA-256 of its
canonical JSON (keys sorted, no spaces, UTF-8) without that key, so a flipped byte anywhere in
``manifest.json`` (a metric, a library version, a hash) is caught too (:func:`seal_manifest`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import platform
import re
import shutil
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

import numpy as np

__all__ = [
    "LATEST_FILE",
    "MANIFEST_FILE",
    "STAGING_PREFIX",
    "STALE_AFTER_SECONDS",
    "ArtifactError",
    "finalize_manifest",
    "library_versions",
    "list_versions",
    "load_joblib",
    "new_version",
    "resolve_model",
    "seal_manifest",
    "sha256_file",
    "staged_model",
    "verify_model",
    "write_json",
]

logger = logging.getLogger(__name__)

#: Name of the file in the model folder that holds the newest complete version's name.
LATEST_FILE = "LATEST"
#: Name of the manifest inside each version folder.
MANIFEST_FILE = "manifest.json"
#: Key of the manifest's own checksum (see :func:`seal_manifest`).
MANIFEST_DIGEST_KEY = "manifest_sha256"
#: Prefix of the hidden staging folders (``.staging-<version>-<pid>``).
STAGING_PREFIX = ".staging-"
#: A staging folder untouched for this long is stale even when its pid is alive (pid reuse).
STALE_AFTER_SECONDS = 3600.0

# A plain folder name: no separators, no "." / ".." and nothing hidden.
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_MAJOR_MINOR_RE = re.compile(r"(\d+)\.(\d+)")
_LATEST_TMP_PREFIX = f"{LATEST_FILE}.tmp-"
_CHUNK_BYTES = 1 << 20
_MAX_LISTED = 5
# Libraries whose major.minor must match between writing and loading (pickles depend on them).
_CHECKED_LIBRARIES = ("scikit-learn", "numpy")
# Staging folders this process is writing now (absolute paths), so that cleaning never removes
# one of ours even when the pid of a killed run was reused by us (containers restart at pid 1).
_ACTIVE_STAGING: set[Path] = set()


class ArtifactError(Exception):
    """Artifacts that cannot be written, found or trusted.

    The message is one clear sentence for a person: the CLI prints it and the service shows it
    on ``/health/ready``.
    """


# --------------------------------------------------------------------------------------------
# public API: small pieces
# --------------------------------------------------------------------------------------------


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


def sha256_file(path: Path) -> str:
    """Return the SHA-256 of a file's bytes as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Return the versions of Python and of the libraries a model depends on.

    Returns
    -------
    dict of str to str
        Keys ``python``, ``numpy``, ``scipy``, ``scikit-learn``, ``pandas``, ``joblib`` in this
        order; a library that is not installed (pandas, scipy) is left out. scipy and pandas
        are looked up in the installed metadata, not imported (pandas is slow to import and
        the service does not need it); so are scikit-learn and joblib, which the service never
        imports.
    """
    versions = {"python": platform.python_version(), "numpy": str(np.__version__)}
    versions.update(_installed_version("scipy"))
    versions.update(_installed_version("scikit-learn"))
    versions.update(_installed_version("pandas"))
    versions.update(_installed_version("joblib"))
    return versions


def list_versions(model_dir: Path) -> list[str]:
    """Return the complete model versions in `model_dir`, oldest first.

    A complete version is a plain (not symlinked) folder with a valid version name that holds a
    manifest; staging folders and anything else are ignored. ``20261128-175500-10`` sorts after
    ``20261128-175500-9``. A missing `model_dir` gives an empty list.
    """
    if not model_dir.is_dir():
        return []
    names = [
        entry.name
        for entry in model_dir.iterdir()
        if _VERSION_RE.fullmatch(entry.name)
        and entry.is_dir()
        and not entry.is_symlink()
        and (entry / MANIFEST_FILE).is_file()
    ]
    return sorted(names, key=_natural_key)


# --------------------------------------------------------------------------------------------
# public API: writing
# --------------------------------------------------------------------------------------------


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
    for rel, path in _walk_files(folder, purpose=f"Cannot write {manifest_path}"):
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
    return {**body, MANIFEST_DIGEST_KEY: _manifest_digest(body)}


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
    _check_version_name(version)
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
        if renamed and _read_latest_name(model_dir) != version:
            _discard(target)
        if isinstance(exc, OSError):
            raise _write_error(target, exc) from exc
        raise
    finally:
        _ACTIVE_STAGING.discard(key)
    logger.info("Wrote model %s to %s and pointed %s at it.", version, target, LATEST_FILE)


# --------------------------------------------------------------------------------------------
# public API: reading
# --------------------------------------------------------------------------------------------


def resolve_model(model_dir: Path, version: str | None = None) -> Path:
    """Find the folder of a model version.

    Parameters
    ----------
    model_dir : Path
        The model folder.
    version : str or None, default=None
        A version name (a plain folder name: ``"../x"`` or an absolute path is refused);
        None reads ``model_dir/LATEST``.

    Returns
    -------
    Path
        ``model_dir / version``. It exists; it is not verified (see :func:`verify_model`).

    Raises
    ------
    ArtifactError
        With one sentence: no trained model, unknown version, ``LATEST`` naming a missing
        folder, a version that is not a plain folder name, or a folder resolving outside
        `model_dir`.
    """
    no_model = (
        f"No trained model in {model_dir}/: run `make train` (or `python -m training train`) first."
    )
    if version is not None:
        _check_version_name(version)
        if not model_dir.is_dir():
            raise ArtifactError(no_model)
        folder = model_dir / version
        if not folder.is_dir():
            available = list_versions(model_dir)
            if not available:
                raise ArtifactError(
                    f"Model version {version} is not in {model_dir}/, which holds no trained "
                    "model: run `make train` (or `python -m training train`) first."
                )
            raise ArtifactError(
                f"Model version {version} is not in {model_dir}/: the versions there are "
                f"{_enumerate(available)}."
            )
        _check_inside(folder, model_dir)
        return folder

    latest = model_dir / LATEST_FILE
    if not latest.is_file():
        available = list_versions(model_dir)
        if available:
            raise ArtifactError(
                f"{latest} is missing, though {model_dir}/ holds the versions "
                f"{_enumerate(available)}: run `make train` again or write one of them into "
                f"{latest}."
            )
        raise ArtifactError(no_model)
    name = _read_latest_name(model_dir)
    if name is None or not _VERSION_RE.fullmatch(name):
        raise ArtifactError(
            f"{latest} does not hold a valid version name: run `make train` again or write an "
            f"existing version into {latest}."
        )
    folder = model_dir / name
    if not folder.is_dir():
        raise ArtifactError(
            f"{latest} names version {name}, but {folder} does not exist: run `make train` "
            f"again or write an existing version into {latest}."
        )
    _check_inside(folder, model_dir)
    return folder


def verify_model(
    folder: Path, *, check_versions: bool = True, rebuildable: Collection[str] = ()
) -> dict[str, Any]:
    """Check a model folder against its manifest.

    The manifest must match its own checksum (``manifest_sha256``); every file it lists must
    exist and match its SHA-256; a file present but not listed, a symbolic link or a listed
    path that leaves the folder is refused too. With
    `check_versions`, the numpy and scikit-learn major.minor the model was written with must
    equal the running ones (pickled estimators are not portable across them).

    Parameters
    ----------
    folder : Path
        A version folder (see :func:`resolve_model`).
    check_versions : bool, default=True
        Also compare the library versions.
    rebuildable : collection of str
        Relative paths that may be missing or differ because the caller is about to rebuild
        them (the report and the plots drawn from JSON).

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    ArtifactError
        With one sentence naming the file or the two versions, for example "segmenter.json does
        not match its SHA-256 in the manifest: the artifact is corrupted or was modified." or
        "This model was written with scikit-learn 1.4 but 1.9 is running; retrain it or install
        scikit-learn 1.4."
    """
    manifest = _read_manifest(folder)
    _check_manifest_digest(manifest, folder)
    listed = _manifest_files(manifest, folder)
    present = dict(_walk_files(folder, purpose=f"{folder} cannot be trusted"))
    for rel, expected in listed.items():
        if rel in rebuildable:
            continue
        path = present.get(rel)
        if path is None:
            raise ArtifactError(
                f"{rel} is listed in the manifest but missing from {folder}: the artifact is "
                "incomplete."
            )
        if sha256_file(path) != expected:
            raise _mismatch(rel)
    unlisted = sorted(set(present) - set(listed) - {MANIFEST_FILE} - set(rebuildable))
    if unlisted:
        raise ArtifactError(
            f"{_enumerate(unlisted)} {'is' if len(unlisted) == 1 else 'are'} in {folder} but not "
            "listed in its manifest: the folder was modified after the model was written."
        )
    if check_versions:
        _check_library_versions(manifest, folder)
    return manifest


def load_joblib(folder: Path, name: str, manifest: Mapping[str, Any], model_dir: Path) -> Any:
    """Unpickle one joblib file of a verified model, safely.

    Unpickling runs code, so the file is loaded only if it is listed in `manifest`, lies inside
    `model_dir` once symbolic links are resolved, and its bytes match the manifest's SHA-256.
    The bytes are read once, checked, then loaded from memory, so the file cannot change
    between the check and the load.

    Parameters
    ----------
    folder : Path
        The version folder.
    name : str
        The file's POSIX path relative to `folder`, as in the manifest (``"segmenter.joblib"``).
    manifest : Mapping
        The manifest returned by :func:`verify_model`.
    model_dir : Path
        The model folder; nothing outside it is loaded.

    Returns
    -------
    Any
        The unpickled object.

    Raises
    ------
    ArtifactError
        If the file is not listed, missing, outside `model_dir`, does not match its SHA-256, or
        cannot be unpickled.
    """
    listed = _manifest_files(manifest, folder)
    expected = listed.get(name)
    if expected is None:
        raise ArtifactError(
            f"{name} is not listed in the manifest of {folder}, so it will not be loaded."
        )
    path = folder / name
    try:
        real = path.resolve(strict=True)
    except OSError as exc:
        raise ArtifactError(
            f"{name} is listed in the manifest but missing from {folder}: the artifact is "
            "incomplete."
        ) from exc
    root = model_dir.resolve()
    if not real.is_relative_to(root):
        raise ArtifactError(
            f"Refusing to load {path}: it resolves to {real}, outside the model folder {model_dir}."
        )
    data = real.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise _mismatch(name)
    try:
        import joblib  # only here: the numpy path of the service never unpickles anything

        return joblib.load(io.BytesIO(data))
    except Exception as exc:
        raise ArtifactError(
            f"Could not load {name} from {folder} ({type(exc).__name__}: {exc}); retrain the "
            "model with the installed libraries."
        ) from exc


# --------------------------------------------------------------------------------------------
# helpers: JSON
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# helpers: names and folders
# --------------------------------------------------------------------------------------------


def _check_version_name(version: str) -> None:
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise ArtifactError(
            f"Model version {version!r} is not a plain folder name: path traversal is refused."
        )


def _version_taken(model_dir: Path, name: str) -> bool:
    target = model_dir / name
    if target.exists() or target.is_symlink():
        return True
    return model_dir.is_dir() and any(model_dir.glob(f"{STAGING_PREFIX}{name}-*"))


def _natural_key(name: str) -> list[str | int]:
    # re.split with one group alternates text and digits, so the keys always compare.
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


def _enumerate(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _installed_version(dist: str) -> dict[str, str]:
    try:
        return {dist: metadata.version(dist)}
    except metadata.PackageNotFoundError:
        return {}


def _check_inside(folder: Path, model_dir: Path) -> None:
    real = folder.resolve()
    if not real.is_relative_to(model_dir.resolve()):
        raise ArtifactError(
            f"Model folder {folder} resolves to {real}, outside {model_dir}/: it is refused."
        )


def _refuse_existing(target: Path) -> None:
    # os.rename would silently replace an *empty* existing folder; never overwrite a version.
    if target.exists() or target.is_symlink():
        raise ArtifactError(
            f"{target} already exists: a model version is never overwritten; name a new one "
            "with new_version()."
        )


def _walk_files(folder: Path, *, purpose: str) -> Iterator[tuple[str, Path]]:
    """Yield (POSIX relative path, path) of every regular file under `folder`, sorted.

    Symbolic links and special files are refused: a link could point anywhere and change later.
    """
    if not folder.is_dir():
        raise ArtifactError(f"{purpose}: the folder does not exist.")
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name, is_file in [(d, False) for d in dirnames] + [(f, True) for f in filenames]:
            path = Path(dirpath, name)
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raise ArtifactError(
                    f"{purpose}: {rel} is a symbolic link, and a model folder holds regular "
                    "files only."
                )
            if is_file and not path.is_file():
                raise ArtifactError(f"{purpose}: {rel} is not a regular file.")
            if is_file:
                found.append((rel, path))
    yield from sorted(found)


def _read_manifest(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise ArtifactError(f"Model folder {folder} does not exist.")
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ArtifactError(
            f"{folder} has no {MANIFEST_FILE}: the model was not written completely; retrain it."
        )
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(
            f"{path} is not valid JSON: the artifact is corrupted or was modified."
        ) from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path} is not a JSON object: the artifact is corrupted.")
    return manifest


def _manifest_files(manifest: Mapping[str, Any], folder: Path) -> dict[str, str]:
    """Return the manifest's ``files`` table after checking every path and hash in it."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ArtifactError(
            f"The manifest of {folder} has no table of files: the artifact is corrupted."
        )
    for rel, digest in files.items():
        pure = PurePosixPath(rel)
        if (
            not rel
            or pure.as_posix() != rel
            or pure.is_absolute()
            or any(part in {".", ".."} for part in pure.parts)
            or "\\" in rel
            or rel == MANIFEST_FILE
        ):
            raise ArtifactError(
                f"The manifest of {folder} lists the unsafe path {rel!r}: path traversal is "
                "refused."
            )
        if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
            raise ArtifactError(
                f"The manifest of {folder} has no valid SHA-256 for {rel}: the artifact is "
                "corrupted."
            )
    return files


def _manifest_digest(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_manifest_digest(manifest: Mapping[str, Any], folder: Path) -> None:
    recorded = manifest.get(MANIFEST_DIGEST_KEY)
    if not isinstance(recorded, str):
        raise ArtifactError(
            f"The manifest of {folder} has no {MANIFEST_DIGEST_KEY} checksum: it was written by "
            "an older learnseg or edited by hand; retrain the model."
        )
    body = {key: value for key, value in manifest.items() if key != MANIFEST_DIGEST_KEY}
    try:
        actual = _manifest_digest(body)
    except ValueError:  # NaN or infinity: not written by finalize_manifest
        actual = ""
    if actual != recorded:
        raise ArtifactError(
            f"{MANIFEST_FILE} of {folder} does not match its own checksum: the artifact is "
            "corrupted or was modified."
        )


def _mismatch(rel: str) -> ArtifactError:
    return ArtifactError(
        f"{rel} does not match its SHA-256 in the manifest: the artifact is corrupted or was "
        "modified."
    )


def _major_minor(version: str) -> str:
    match = _MAJOR_MINOR_RE.match(version)
    return f"{match[1]}.{match[2]}" if match else version


def _check_library_versions(manifest: Mapping[str, Any], folder: Path) -> None:
    recorded = manifest.get("versions")
    running = library_versions()
    for dist in _CHECKED_LIBRARIES:
        written = recorded.get(dist) if isinstance(recorded, dict) else None
        if not isinstance(written, str):
            raise ArtifactError(
                f"The manifest of {folder} does not record the {dist} version the model was "
                "written with; retrain it."
            )
        then, now = _major_minor(written), _major_minor(running[dist])
        if then != now:
            raise ArtifactError(
                f"This model was written with {dist} {then} but {now} is running; retrain it "
                f"or install {dist} {then}."
            )


# --------------------------------------------------------------------------------------------
# helpers: writing safely
# --------------------------------------------------------------------------------------------


def _write_final_manifest(staging: Path, version: str, fields: Mapping[str, Any] | None) -> None:
    merged: dict[str, Any] = {"version": version}
    if (staging / MANIFEST_FILE).exists():
        merged.update(_read_manifest(staging))
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


def _read_latest_name(model_dir: Path) -> str | None:
    try:
        return (model_dir / LATEST_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


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
