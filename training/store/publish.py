"""The model store, write side: a version folder written all-or-nothing, then published.

Writing goes through :func:`staged_model`: the caller fills a hidden staging folder, then the
folder is renamed into place in one step and ``LATEST`` is replaced atomically, so a reader
(the service) sees either the previous complete model or the new complete one, never half of
one, even when the writer is killed or the disk fills up. :func:`finalize_manifest` hashes the
files and seals the manifest (:func:`seal_manifest`). The layout, the file names and the read
side are in :mod:`training.runtime.artifacts`.
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
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np

from training import report
from training.config import TrainingSettings
from training.model.kmeans import KChoice, match_segments
from training.prep.cleaning import CleaningReport
from training.runtime.artifacts import (
    DRIFT_JSON,
    KERNEL_JSON,
    LATEST_FILE,
    MANIFEST_DIGEST_KEY,
    MANIFEST_FILE,
    PIPELINE_JOBLIB,
    PROBES_JSON,
    PROFILES_JSON,
    ArtifactError,
    check_version_name,
    library_versions,
    manifest_digest,
    read_latest_name,
    read_manifest,
    sha256_file,
    walk_files,
)
from training.runtime.cleaning import RAW_FIELDS, WARNING_RULES, CleaningRules, apply_rules
from training.runtime.drift import DriftReference
from training.runtime.features import FEATURE_COLUMNS, FeatureTables
from training.runtime.kernel import KERNEL_FORMAT, Kernel

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

#: Probe learners stored with a model (the service checks kernel and pipeline on them).
PROBES = 1_000

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


# --------------------------------------------------------------------------------------------
# Publishing a trained model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IdReference:
    """The model whose segment ids a run keeps (None: ids by size), and why."""

    folder: Path | None
    reason: str


def id_reference(settings: TrainingSettings, features: list[str], k: int) -> IdReference:
    """Which model's ids this run keeps: ``previous`` when given, else ``LATEST`` of the model
    folder when it uses the same features (unless ``fresh``), else none (ids by size).

    A model with more segments than ``k`` cannot lend its ids: its unmatched ids would leave
    gaps, and ids are always 0..k-1. Then the ids are numbered by size, and the reason says so.
    """
    reference = _id_source(settings, features)
    if reference.folder is None:
        return reference
    doc = json.loads((reference.folder / KERNEL_JSON).read_text(encoding="utf-8"))
    k_before = len(doc["kmeans"]["segment_ids"])
    if k_before > k:
        return IdReference(
            None,
            f"numbered by size ({reference.folder.name} has {k_before} segments, this run {k}: "
            "its ids cannot all be kept)",
        )
    return reference


def _id_source(settings: TrainingSettings, features: list[str]) -> IdReference:
    if settings.previous is not None:
        return IdReference(settings.previous, f"matched to {settings.previous.name} (--previous)")
    if settings.fresh:
        return IdReference(None, "numbered by size (--fresh)")
    latest = read_latest_name(settings.model_dir)
    folder = settings.model_dir / latest if latest else None
    if folder is None or not (folder / KERNEL_JSON).is_file():
        return IdReference(None, "numbered by size (no earlier model to keep ids from)")
    try:
        doc = json.loads((folder / KERNEL_JSON).read_text(encoding="utf-8"))
        same = doc.get("format") == KERNEL_FORMAT and doc.get("features") == features
    except (OSError, ValueError):
        same = False
    if not same:
        return IdReference(
            None, f"numbered by size (the latest model, {latest}, uses other features or format)"
        )
    return IdReference(folder, f"matched to the latest model, {latest}")


def ids_report(
    reference: IdReference, x: np.ndarray[Any, Any], labels: np.ndarray[Any, Any]
) -> dict[str, Any]:
    """The manifest's ``ids``: which version the ids were matched to, and how many of the
    learners ``x`` (this run's features, original units) the reference model placed elsewhere.

    Parameters
    ----------
    x : ndarray, shape (n, n_features)
    labels : ndarray of int, shape (n,)
        This run's public ids of those learners.
    """
    out: dict[str, Any] = {
        "matched_to": reference.folder.name if reference.folder else None,
        "reason": reference.reason,
    }
    if reference.folder is not None:
        doc = json.loads((reference.folder / KERNEL_JSON).read_text(encoding="utf-8"))
        before = Kernel.from_dict(doc)
        previous_ids = before.segment_ids[before.assign(np.asarray(x, np.float64))]
        out["learners_compared"] = len(labels)
        out["learners_changed_segment"] = int((previous_ids != labels).sum())
    return out


def previous_centers(previous: Path, features: list[str]) -> np.ndarray[Any, Any]:
    """The previous model's centres in original feature units, rows in public-id order."""
    doc = json.loads((previous / KERNEL_JSON).read_text(encoding="utf-8"))
    if doc["features"] != features:
        raise ArtifactError(
            f"The previous model {previous} uses the features {', '.join(doc['features'])}; "
            "this run uses different ones, so its segment ids cannot be carried over."
        )
    pre = doc["preprocessing"]
    centers = np.asarray(doc["kmeans"]["centers"]) * pre["scale"] + pre["mean"]
    order = np.argsort(doc["kmeans"]["segment_ids"])
    out: np.ndarray[Any, Any] = centers[order]
    return out


def public_ids(
    sizes: np.ndarray[Any, Any],
    centers_orig: np.ndarray[Any, Any],
    scale: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
    previous: np.ndarray[Any, Any] | None,
) -> np.ndarray[Any, Any]:
    """Public id of each K-Means centre: by size (0 = largest), or matched to a previous model.

    ``sizes`` counts the learners of each centre, in K-Means' order.
    """
    k = centers_orig.shape[0]
    if previous is None:
        order = sorted(range(k), key=lambda i: (-sizes[i], i))
        ids = np.empty(k, dtype=np.intp)
        ids[order] = np.arange(k)
        return ids
    mean, sd = scale
    return np.asarray(match_segments((previous - mean) / sd, (centers_orig - mean) / sd), np.intp)


@dataclass
class ModelParts:
    """Everything a trained model is made of, whatever engine computed it.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted ``clip`` -> ``scale`` -> ``kmeans`` (K-Means' own centre order).
    features : list of str
        The cluster features, in matrix column order.
    segment_ids : ndarray of int, shape (k,)
        Public id of each K-Means centre.
    coarse : list of int, length k
        Coarse (macro) segment of each public id.
    rules, tables
        The frozen cleaning rules and peer tables.
    probes : dict of str to list
        Raw learners (``RAW_FIELDS`` columns, junk included) stored with the model: the service
        checks its numpy kernel against the pipeline on them (see :func:`select_probes`).
    profiles : dict
        The ``profiles.json`` document.
    linkage : ndarray of shape (m - 1, 4)
        The hierarchical reference's tree, for the dendrogram.
    hierarchy_method : str
    map_z : ndarray of shape (n_sample, n_features)
        Scaled learners of the segment map (a seeded sample of the training learners), with their
        public ids ``map_labels``.
    low_confidence_quantile : float
        The quantile of those learners' relative margins under which a placement is "low"
        confidence (see :func:`confidence_threshold`).
    centers : ndarray of shape (k, n_features)
        Centres in the scaled space, row i = public id i.
    drift : DriftReference
        The training population's decile bins per feature and segment shares (``drift.json``).
    leaf_segments : ndarray of shape (m, k) or None
        Learners of each public id in each leaf of ``linkage``, to colour the dendrogram by
        segment; None where the engine does not give them (a bisecting reference's leaves are
        then read from the comparison's contingency table).
    """

    pipeline: Pipeline
    features: list[str]
    segment_ids: np.ndarray[Any, Any]
    coarse: list[int]
    rules: CleaningRules
    tables: FeatureTables
    probes: dict[str, list[Any]]
    profiles: dict[str, Any]
    linkage: np.ndarray[Any, Any]
    hierarchy_method: str
    map_z: np.ndarray[Any, Any]
    map_labels: np.ndarray[Any, Any]
    low_confidence_quantile: float
    centers: np.ndarray[Any, Any]
    drift: DriftReference
    leaf_segments: np.ndarray[Any, Any] | None = None


def publish_model(
    model_dir: Path, created_at: datetime, parts: ModelParts, manifest_fields: dict[str, Any]
) -> str:
    """Write a model's artifacts, plots and report, then publish it (``models/LATEST``).

    Both engines end here, so a model has one layout and one ``segmenter.json`` format whatever
    trained it. ``manifest_fields`` are the manifest's fields after ``version`` and
    ``created_at``, in order. Returns the new version.
    """
    ids = parts.segment_ids
    kernel, low_share = confidence_threshold(
        Kernel.from_pipeline(
            parts.pipeline,
            parts.features,
            segment_ids=[int(i) for i in ids],
            coarse=[parts.coarse[int(i)] for i in ids],
            rules=parts.rules,
            tables=parts.tables,
        ),
        parts,
    )
    segmenter_doc = kernel.to_dict()
    probes = probe_document(parts.pipeline, kernel, parts.probes)
    profiles = {
        **parts.profiles,
        "segments": [
            {**segment, "low_confidence_share": low_share.get(int(segment["id"]), 0.0)}
            for segment in parts.profiles["segments"]
        ],
    }
    version = new_version(created_at, model_dir)
    with staged_model(model_dir, version) as folder:
        joblib.dump(
            {"pipeline": parts.pipeline, "features": parts.features, "segment_ids": ids.tolist()},
            folder / PIPELINE_JOBLIB,
        )
        write_json(folder / KERNEL_JSON, segmenter_doc)
        write_json(folder / PROBES_JSON, probes)
        write_json(folder / PROFILES_JSON, profiles)
        write_json(folder / DRIFT_JSON, parts.drift.to_dict())
        names = {s["id"]: s["name"] for s in profiles["segments"]}
        report.plot_dendrogram(
            folder / report.PLOTS["dendrogram"],
            parts.linkage,
            len(ids),
            method=parts.hierarchy_method,
            leaf_segments=_leaf_segments(parts, manifest_fields),
            names=names,
        )
        report.plot_segment_map(
            folder / report.PLOTS["segment_map"],
            parts.map_z,
            parts.map_labels,
            parts.centers,
            names,
            parts.features,
        )
        manifest = {"version": version, "created_at": created_at.isoformat(), **manifest_fields}
        write_json(folder / MANIFEST_FILE, manifest)
        report.plot_from_json(folder, manifest, profiles)
        report.render_report(folder)
        finalize_manifest(folder, manifest)
    return version


def _leaf_segments(parts: ModelParts, fields: Mapping[str, Any]) -> np.ndarray[Any, Any] | None:
    """Learners of each segment in each leaf of the hierarchical tree (see ``ModelParts``).

    The bisecting reference's tree has one leaf per bisecting cluster, in id order, so its
    counts are the columns of the comparison's contingency table (on the evaluation sample).
    """
    if parts.leaf_segments is not None:
        return parts.leaf_segments
    comparison = fields.get("metrics", {}).get("comparison", {})
    if parts.hierarchy_method != report.BISECTING or "contingency" not in comparison:
        return None
    k = len(parts.segment_ids)
    counts = np.zeros((parts.linkage.shape[0] + 1, k), dtype=np.intp)
    table = comparison["contingency"]
    for row, segment in zip(table, comparison["labels_a"], strict=True):
        for count, leaf in zip(row, comparison["labels_b"], strict=True):
            counts[int(leaf), int(segment)] = count
    return counts


def manifest_fields(
    engine: dict[str, Any],
    *,
    k: int,
    choice: KChoice,
    rules: CleaningRules,
    cleaning: CleaningReport,
    features: list[str],
    source: dict[str, Any],
    settings: TrainingSettings,
    metrics: dict[str, Any],
    timings: dict[str, float],
    ids: dict[str, Any],
) -> dict[str, Any]:
    """What the manifest says of a training run, after ``engine`` (the engine's own fields),
    the same for both engines: k and its choice, how the ids were kept (:func:`ids_report`),
    features, data, cleaning, settings, metrics."""
    return {
        **engine,
        "k": k,
        "k_choice": choice.to_dict(),
        "ids": ids,
        "reference_year": rules.reference_year,
        "features": features,
        "feature_columns": list(FEATURE_COLUMNS),
        "data": source,
        "cleaning": cleaning.to_dict(),
        "settings": json.loads(settings.model_dump_json()),
        "metrics": metrics,
        "timings": timings,
    }


def select_probes(
    raw: pd.DataFrame, rules: CleaningRules, *, n: int = PROBES, seed: int = 0
) -> dict[str, list[Any]]:
    """Raw learners to store with a model: about half touched by a cleaning rule (junk).

    A seeded sample of placeable rows (positive CTC) of the raw table; where the table has
    them, half of the chosen rows are ones a warning rule repaired (implausible years, CTC
    outside its bounds, placeholder titles, ...). Values are JSON-ready (None for missing).

    Returns
    -------
    dict of str to list
        ``RAW_FIELDS`` columns of at most ``n`` learners.
    """
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(raw), size=min(len(raw), 8 * n), replace=False))
    sample = raw.iloc[rows]
    columns = {name: _json_values(sample[name]) for name in RAW_FIELDS}
    clean = apply_rules(columns, rules)
    touched = np.zeros(len(rows), bool)
    for name in WARNING_RULES:
        touched |= np.asarray(clean.touched[name], bool)
    valid = np.asarray(clean.valid, bool)
    junk = np.flatnonzero(valid & touched)[: n // 2]
    plain = np.flatnonzero(valid & ~touched)[: n - len(junk)]
    chosen = np.sort(np.concatenate([junk, plain]))
    return {name: [values[i] for i in chosen] for name, values in columns.items()}


def probe_document(
    pipeline: Pipeline, kernel: Kernel, probes: Mapping[str, list[Any]]
) -> dict[str, Any]:
    """The ``probes.json`` document: the learners and the centre the fitted pipeline gave each.

    Refuses to publish a model whose numpy kernel and pipeline already disagree here.
    """
    _, values = kernel.featurize(probes)
    x = kernel.matrix(values)
    expected = pipeline.predict(x) if len(x) else np.empty(0, np.intp)
    if not np.array_equal(kernel.assign(x), expected):
        raise ArtifactError(
            "The engine-free model and the fitted pipeline place the probe learners differently; "
            "the model is not published."
        )
    return {"learners": dict(probes), "centers": [int(c) for c in expected]}


def _json_values(column: pd.Series) -> list[Any]:
    """A raw column as JSON values: numbers as float, text as str, anything missing as None."""
    return [
        None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value
        for value in column.astype(object).tolist()
    ]


def confidence_threshold(kernel: Kernel, parts: ModelParts) -> tuple[Kernel, dict[int, float]]:
    """The kernel with its low-confidence threshold, and each segment's low-confidence share.

    The threshold is the ``low_confidence_quantile`` of the relative margins of the segment map's
    learners (a seeded sample of the training learners, whatever the engine); a learner under it
    is about as near another segment as its own.
    """
    scale, mean = kernel.scale, kernel.mean
    found = kernel.nearest(np.asarray(parts.map_z) * scale + mean)  # back to feature units
    relative = found.relative_margin
    if relative is None:  # one segment: every placement is as confident as it gets
        return kernel, {}
    threshold = float(np.quantile(relative, parts.low_confidence_quantile))
    low = relative < threshold
    labels = np.asarray(parts.map_labels)
    shares = {int(s): float(low[labels == s].mean()) for s in np.unique(labels)}
    return kernel.with_confidence_threshold(threshold), shares
