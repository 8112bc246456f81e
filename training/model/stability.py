"""Bootstrap stability of a partition (Hennig's clusterboot): overall ARI and each segment's
Jaccard over resampled K-Means fits. The bars a stable k needs are settings
(:mod:`training.config`: ``MIN_STABILITY``, ``MIN_JACCARD``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from training.model.kmeans import (
    Distinct,
    IntArray,
    distinct_rows,
    limit_threads,
    map_in_threads,
)

__all__ = [
    "StabilityScores",
    "adjusted_rand",
    "bootstrap_stability",
    "draw_resamples",
    "resampled_labels",
    "stability_scores",
]


@dataclass(frozen=True)
class StabilityScores:
    """How a partition survives resampling (JSON via :meth:`to_dict`).

    Attributes
    ----------
    ari : float
        Mean adjusted Rand index of the resampled fits against the reference partition.
    ari_p10 : float
        10th percentile of those ARIs.
    jaccard : list of float
        Per reference segment (label 0..k-1): mean over resamples of the best-matching
        resampled cluster's Jaccard index (clusterboot; 1 = found again exactly every time).
    resamples : int
    """

    ari: float
    ari_p10: float
    jaccard: list[float]
    resamples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def by_id(self, ids: npt.ArrayLike) -> dict[str, Any]:
        """The manifest's form: each segment's Jaccard under its public id (``ids[label]``)."""
        public = np.asarray(ids).tolist()
        return {
            "ari": self.ari,
            "ari_p10": self.ari_p10,
            "resamples": self.resamples,
            "jaccard": {str(public[i]): value for i, value in enumerate(self.jaccard)},
        }


def adjusted_rand(table: npt.NDArray[np.int64]) -> float:
    """Adjusted Rand index from a contingency table (rows: one partition, columns: the other).

    Scikit-learn's ``adjusted_rand_score`` (the same pair counts, in exact integers, so the same
    float), without recounting the labels: :func:`stability_scores` has the table already.
    """
    counts = np.asarray(table, np.int64)
    n = int(counts.sum())
    same = int((counts * counts).sum())
    rows = int((counts.sum(axis=1) ** 2).sum())
    cols = int((counts.sum(axis=0) ** 2).sum())
    tp, fp, fn = same - n, cols - same, rows - same
    tn = n * n - fp - fn - same
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def stability_scores(
    reference: npt.ArrayLike, resampled: Sequence[npt.ArrayLike], k: int
) -> StabilityScores:
    """Compare resampled partitions of the same rows with a reference partition.

    Parameters
    ----------
    reference : array-like of int, shape (n,)
        Labels 0..k-1 of the reference (the fit on all rows, restricted to these n rows).
    resampled : sequence of array-like of int, shape (n,)
        Each resampled fit's labels of the same n rows (any label values).
    k : int
        Segments of the reference.

    Returns
    -------
    StabilityScores
    """
    ref = np.asarray(reference, np.intp)
    aris: list[float] = []
    jaccard = np.zeros((len(resampled), k))
    for b, labels in enumerate(resampled):
        _, other = np.unique(np.asarray(labels), return_inverse=True)
        m = int(other.max()) + 1 if other.size else 1
        counts = np.bincount(ref * m + other, minlength=k * m).reshape(k, m)
        table = counts.astype(np.float64)
        union = table.sum(axis=1, keepdims=True) + table.sum(axis=0, keepdims=True) - table
        with np.errstate(invalid="ignore", divide="ignore"):
            jaccard[b] = np.nan_to_num(table / union).max(axis=1)
        aris.append(adjusted_rand(counts))
    return StabilityScores(
        ari=float(np.mean(aris)),
        ari_p10=float(np.percentile(aris, 10)),
        jaccard=[float(x) for x in jaccard.mean(axis=0)],
        resamples=len(resampled),
    )


def draw_resamples(n: int, resamples: int, seed: int) -> list[tuple[IntArray, int]]:
    """``resamples`` bootstrap draws of ``n`` rows (with replacement), each with a fit seed.

    Drawn in order from one seeded generator, before any fit: the fits may then run side by
    side and still be the same fits.
    """
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        rows = rng.integers(0, n, size=n)
        draws.append((np.asarray(rows, np.intp), int(rng.integers(0, 2**31 - 1))))
    return draws


def resampled_labels(
    distinct: Distinct, k: int, draw: tuple[IntArray, int], n_init: int
) -> IntArray:
    """K-Means (k segments, the draw's seed) fitted on the draw's rows, labelling all rows.

    ``distinct`` holds the rows (:func:`~training.model.kmeans.distinct_rows`): the draw's rows
    become counts of distinct rows, and the fit runs on those with their counts as weights (the
    same K-Means problem as the drawn rows with their repeats: :class:`Distinct`), on about
    45 % as many rows as the draw holds.
    """
    rows, seed = draw
    weights = np.bincount(distinct.inverse[rows], minlength=len(distinct.values))
    model = distinct.fit(k, seed, n_init, weights.astype(np.float64))
    return distinct.labels(model)


def bootstrap_stability(
    X: npt.ArrayLike,
    reference: npt.ArrayLike,
    k: int,
    *,
    resamples: int = 20,
    seed: int = 0,
    n_init: int = 1,
    n_threads: int | None = 1,
    workers: int = 1,
) -> StabilityScores:
    """Bootstrap stability of a k-segment partition of the rows of X (Hennig's clusterboot).

    ``resamples`` times: draw len(X) rows of X with replacement, fit K-Means (k, its own seed,
    ``n_init`` restarts) on them, and label every row of X with it; then compare each labelling
    with ``reference`` (:func:`stability_scores`).

    Parameters
    ----------
    X : array-like of shape (n, n_features)
        The evaluation sample (scaled features).
    reference : array-like of int, shape (n,)
        Labels 0..k-1 of the partition being judged (the fit on all rows) on these rows.
    k : int
    resamples : int, default=20
        At least 2.
    seed : int, default=0
    n_init : int, default=1
    n_threads : int or None, default=1
    workers : int, default=1
        Resampled fits run side by side in this many threads (each fit on ``n_threads``); the
        draws come first, from the one seed, so any count gives the same scores.

    Returns
    -------
    StabilityScores
    """
    if resamples < 2:
        raise ValueError("stability_resamples must be at least 2.")
    distinct = distinct_rows(X)
    draws = draw_resamples(len(distinct.inverse), resamples, seed)
    with limit_threads(n_threads):
        labelings = map_in_threads(
            lambda draw: resampled_labels(distinct, k, draw, n_init), draws, workers
        )
    return stability_scores(reference, labelings, k)
