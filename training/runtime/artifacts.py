"""The model store, read side: where a model's files are, and whether they can be trusted.

Layout of the model folder (``models/`` by default; every file name is defined here once)::

    models/
        LATEST                      one line: the version name of the newest complete model
        20261128-175500/            one folder per trained model
            manifest.json           written last; SHA-256 of every other file + library versions
            segmenter.joblib        the fitted scikit-learn pipeline (joblib)
            segmenter.json          the same model, engine-free (JSON), with rules and tables
            probes.json             raw learners and the centre the pipeline gave each
            profiles.json           segment profiles
            drift.json              decile bins and segment shares of the training population
            plots/*.png
            report.html
        .staging-<version>-<pid>/   hidden, only while a run writes (see training.store.publish)

Reading goes through :func:`resolve_model` (which folder), :func:`verify_model` (every file
matches its SHA-256 in the manifest, nothing unlisted, same numpy and scikit-learn
major.minor) and :func:`read_verified` (the bytes of one listed file, checked once more as they
are read). Every failure is an :class:`ArtifactError` whose message is one sentence for a
person. Writing lives in :mod:`training.store.publish`.

The manifest is a JSON object::

    {
      "version": "20261128-175500",
      ...                           the writer's fields, in its order
      "versions": {"python": "3.11.9", "numpy": "2.4.6", "scipy": "1.17.1",
                   "scikit-learn": "1.9.1", "pandas": "3.1.1", "joblib": "1.6.0"},
      "files": {"plots/elbow.png": "<sha256 hex>", "profiles.json": "<sha256 hex>", ...},
      "manifest_sha256": "<sha256 hex>"
    }

``files`` lists every file of the folder except ``manifest.json`` itself, recursively, by
POSIX relative path, sorted. ``manifest_sha256`` seals the manifest itself: the SHA-256 of its
canonical JSON (keys sorted, no spaces, UTF-8) without that key (:func:`manifest_digest`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from collections.abc import Collection, Iterator, Mapping
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

__all__ = [
    "DRIFT_JSON",
    "KERNEL_JSON",
    "LATEST_FILE",
    "MANIFEST_DIGEST_KEY",
    "MANIFEST_FILE",
    "PIPELINE_JOBLIB",
    "PLOTS",
    "PLOTS_DIR",
    "PROBES_JSON",
    "PROFILES_JSON",
    "REPORT_HTML",
    "REPORT_PDF",
    "ArtifactError",
    "check_version_name",
    "library_versions",
    "list_versions",
    "manifest_digest",
    "natural_key",
    "plot_file",
    "read_latest_name",
    "read_manifest",
    "read_verified",
    "resolve_model",
    "sha256_file",
    "verify_model",
    "walk_files",
]

#: The fitted scikit-learn pipeline, with the features and the public id of each centre.
PIPELINE_JOBLIB = "segmenter.joblib"
#: The engine-free model (see :mod:`training.runtime.kernel`).
KERNEL_JSON = "segmenter.json"
#: Raw learners stored at training time, and the centre the fitted pipeline gave each.
PROBES_JSON = "probes.json"
#: Segment and macro-segment profiles.
PROFILES_JSON = "profiles.json"
#: The training population's decile bins per feature and segment shares, the reference drift is
#: measured against (see :mod:`training.runtime.drift`). Models written before it have none.
DRIFT_JSON = "drift.json"
#: The HTML report.
REPORT_HTML = "report.html"
#: The folder of the report's plots.
PLOTS_DIR = "plots"


def plot_file(name: str) -> str:
    """The relative path of a named plot (``"elbow"`` -> ``"plots/elbow.png"``)."""
    return f"{PLOTS_DIR}/{name}.png"


#: The report's plots: the name the report and the service use -> relative path.
PLOTS: dict[str, str] = {
    "elbow": plot_file("elbow"),
    "dendrogram": plot_file("dendrogram"),
    "segment_map": plot_file("segment_map"),
    "heatmap": plot_file("profile_heatmap"),
    "ranges": plot_file("ctc_experience"),
}
#: The HTML report printed to PDF (``python -m training report --pdf``).
REPORT_PDF = "report.pdf"


#: Name of the file in the model folder that holds the newest complete version's name.
LATEST_FILE = "LATEST"

#: Name of the manifest inside each version folder.
MANIFEST_FILE = "manifest.json"

#: Key of the manifest's own checksum (see :func:`manifest_digest`).
MANIFEST_DIGEST_KEY = "manifest_sha256"

# A plain folder name: no separators, no "." / ".." and nothing hidden.
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

_SHA256_RE = re.compile(r"[0-9a-f]{64}")

_MAJOR_MINOR_RE = re.compile(r"(\d+)\.(\d+)")

_CHUNK_BYTES = 1 << 20

_MAX_LISTED = 5

# Libraries whose major.minor must match between writing and loading (pickles depend on them).
_CHECKED_LIBRARIES = ("scikit-learn", "numpy")


class ArtifactError(Exception):
    """Artifacts that cannot be written, found or trusted.

    The message is one clear sentence for a person: the CLI prints it and the service shows it
    on ``/health/ready``.
    """


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
    return sorted(names, key=natural_key)


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
        check_version_name(version)
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
    name = read_latest_name(model_dir)
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
    manifest = read_manifest(folder)
    _check_manifest_digest(manifest, folder)
    listed = _manifest_files(manifest, folder)
    present = dict(walk_files(folder, purpose=f"{folder} cannot be trusted"))
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


def read_verified(folder: Path, name: str, manifest: Mapping[str, Any], model_dir: Path) -> bytes:
    """The bytes of one file of a verified model, read once and checked.

    The file is read only if it is listed in `manifest`, lies inside `model_dir` once symbolic
    links are resolved, and its bytes match the manifest's SHA-256. The caller parses (or
    unpickles) these very bytes, so the file cannot change between the check and the use.

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
    bytes
        The file's content.

    Raises
    ------
    ArtifactError
        If the file is not listed, missing, outside `model_dir`, or does not match its SHA-256.
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
    return data


def check_version_name(version: str) -> None:
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise ArtifactError(
            f"Model version {version!r} is not a plain folder name: path traversal is refused."
        )


def natural_key(name: str) -> list[str | int]:
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


def walk_files(folder: Path, *, purpose: str) -> Iterator[tuple[str, Path]]:
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


def read_manifest(folder: Path) -> dict[str, Any]:
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


def manifest_digest(body: Mapping[str, Any]) -> str:
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
        actual = manifest_digest(body)
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


def read_latest_name(model_dir: Path) -> str | None:
    try:
        return (model_dir / LATEST_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
