"""Segment ids: numbered once by size, or matched to a previous model's so that they survive a
retrain.

* :func:`number_by_size` is the one numbering rule (0 = the largest; ties by the centres,
  coordinate by coordinate, so the order never depends on the ids an algorithm happened to
  give). K-Means (both engines) and the hierarchical references number their clusters with it.
* :func:`match_segments` keeps a previous model's ids (Hungarian matching on the centres).
* :func:`id_reference` says which model's ids a run keeps (``--previous``, ``LATEST`` or none),
  :func:`public_ids` gives each K-Means centre its public id, and :func:`ids_report` writes the
  manifest's ``ids``: the version matched, and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from training.config import TrainingSettings
from training.runtime.artifacts import KERNEL_JSON, ArtifactError, read_latest_name
from training.runtime.kernel import KERNEL_FORMAT

__all__ = [
    "IdReference",
    "id_reference",
    "ids_report",
    "match_segments",
    "number_by_size",
    "previous_centers",
    "public_ids",
]

IntArray = npt.NDArray[np.intp]


def number_by_size(sizes: npt.ArrayLike, centers: npt.ArrayLike) -> IntArray:
    """The id of each cluster: 0 = the largest, 1 the next, and so on.

    Ties in size are broken by the centres, compared coordinate by coordinate (the smaller
    first), so the numbering does not depend on the order the clusters came in.

    Parameters
    ----------
    sizes : array-like of int, shape (k,)
        Learners in each cluster, in the clusters' own order.
    centers : array-like of float, shape (k, n_features)
        Each cluster's centre, same order (any fixed scale: the tie-break only compares them).

    Returns
    -------
    ndarray of int, shape (k,)
        Entry ``i`` is the id of cluster ``i``; relabel with ``ids[labels]``.
    """
    size = np.asarray(sizes, dtype=np.int64)
    cen = np.asarray(centers, dtype=np.float64).reshape(size.size, -1)
    # lexsort: the last key is the primary one; earlier coordinates break ties before later ones
    order = np.lexsort((*cen.T[::-1], -size))
    ids = np.empty(size.size, dtype=np.intp)
    ids[order] = np.arange(size.size)
    return ids


def match_segments(old_centers: npt.ArrayLike, new_centers: npt.ArrayLike) -> list[int]:
    """Ids a retrained model's segments should take so that they keep the previous model's ids.

    Hungarian matching (``scipy.optimize.linear_sum_assignment``) on the Euclidean distances
    between new and old centres, minimising the total distance.

    Parameters
    ----------
    old_centers : array-like of shape (k_old, n_features)
    new_centers : array-like of shape (k_new, n_features)

    Returns
    -------
    list of int, length k_new
        Entry ``j`` is the id new segment ``j`` takes. When ``k_new > k_old`` the unmatched new
        segments get fresh ids ``k_old, k_old + 1, ...`` in their order; when ``k_new < k_old`` the
        ids of the old segments left unmatched are not used (the ids then have gaps).
    """
    old = np.atleast_2d(np.asarray(old_centers, dtype=np.float64))
    new = np.atleast_2d(np.asarray(new_centers, dtype=np.float64))
    if old.shape[1] != new.shape[1]:
        raise ValueError(
            f"Old and new centres have different numbers of features ({old.shape[1]} vs "
            f"{new.shape[1]})."
        )
    rows, cols = linear_sum_assignment(cdist(new, old))
    ids = [-1] * new.shape[0]
    for j, i in zip(rows, cols, strict=True):
        ids[int(j)] = int(i)
    fresh = old.shape[0]
    for j, value in enumerate(ids):
        if value < 0:
            ids[j] = fresh
            fresh += 1
    return ids


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


def ids_report(reference: IdReference) -> dict[str, Any]:
    """The manifest's ``ids``: which version the ids were matched to, and why.

    How many learners the new model moves is the manifest's ``churn`` (``training.run``),
    measured with each model end to end, not here.
    """
    return {
        "matched_to": reference.folder.name if reference.folder else None,
        "reason": reference.reason,
    }


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
    mean, sd = scale
    scaled = (centers_orig - mean) / sd
    if previous is None:
        return number_by_size(sizes, scaled)
    return np.asarray(match_segments((previous - mean) / sd, scaled), np.intp)
