"""How far two partitions agree and how well each separates the data: K-Means against the
hierarchical reference (:func:`compare_labelings`), silhouettes of many partitions from one pass
of distances (:func:`mean_silhouettes`) and per segment (:func:`segment_silhouettes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from training.model.hierarchy import Hierarchy, two_stage_tree
from training.model.kmeans import (
    FloatArray,
    IntArray,
    as_matrix,
    limit_threads,
    map_in_threads,
    sample_rows,
)

_BLOCK_BYTES = 1 << 24
"""Size of one float32 block of the pairwise-distance matrix in the silhouette (16 MiB: measured
fastest; 128 MiB blocks ran 3x slower)."""

__all__ = [
    "REFERENCE_SEEDS",
    "compare_labelings",
    "further_seeds",
    "further_trees",
    "mean_silhouettes",
    "other_seed_aris",
    "reference_spread",
    "segment_silhouettes",
    "silhouette_fields",
    "silhouette_rows",
    "spread_of",
]

#: Seeds of the two-stage reference the agreement of the two methods is measured on: the
#: reference's micro-clusters depend on its seed, so one seed's ARI moved from 0.69 to 0.79
#: between two runs whose segments were the same; the median and range of a few seeds do not.
#: Each further seed costs one MiniBatchKMeans of the rows (0.9-1.6 s on 153,443 learners, one
#: thread); a run computes them beside the steps after the comparison, which mostly use one core.
REFERENCE_SEEDS = 3


def compare_labelings(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    X: npt.ArrayLike,
    *,
    seed: int = 0,
    sample: int = 20_000,
    n_threads: int | None = 1,
    workers: int = 1,
    silhouettes: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """How far two partitions of the same rows agree, and how well each separates the data.

    Parameters
    ----------
    a, b : array-like of shape (n_samples,)
        Integer labels (e.g. K-Means and two-stage Ward).
    X : array-like of shape (n_samples, n_features)
        The data both were fitted on (for the silhouettes).
    seed : int, default=0
        Seed of the silhouette sample.
    sample : int, default=20_000
        Rows of the silhouette sample (the same rows for a and b).
    n_threads : int or None, default=1
        Threads for the BLAS products of the silhouette (see :func:`fit_kmeans`).
    workers : int, default=1
        Threads the silhouette's blocks run in side by side (:func:`mean_silhouettes`).
    silhouettes : tuple of float, optional
        The mean silhouettes of a and b on this very sample (the seeded ``sample`` rows), when
        they were measured already: the k sweep's one pass measures the hierarchical reference
        beside every k (:meth:`training.model.sweep.SilhouetteSample.silhouettes`).

    Returns
    -------
    dict
        JSON-serialisable:

        * ``ari``, ``nmi``: adjusted Rand index and normalised mutual information;
        * ``labels_a``, ``labels_b``: the distinct labels, in the order of the contingency's rows
          and columns;
        * ``contingency``: list of lists, rows = a's labels, columns = b's labels (sums to n);
        * ``best_match_jaccard``: ``{str(a_label): {"match": b_label, "jaccard": float}}``, the
          b-cluster with the highest Jaccard index for each a-cluster (keys are strings so that
          every JSON encoder accepts them);
        * ``silhouette_a``, ``silhouette_b``: mean silhouettes on the same seeded sample (None
          when a partition has fewer than 2 or more than sample - 1 clusters there);
        * ``silhouette_sample``: rows of that sample.
    """
    la = np.asarray(a).ravel()
    lb = np.asarray(b).ravel()
    data = as_matrix(X)
    if not la.shape[0] == lb.shape[0] == data.shape[0]:
        raise ValueError(
            f"Labelings and X must have the same number of rows; got {la.shape[0]}, "
            f"{lb.shape[0]} and {data.shape[0]}."
        )
    labels_a, ia = np.unique(la, return_inverse=True)
    labels_b, ib = np.unique(lb, return_inverse=True)
    table = np.asarray(contingency_matrix(ia, ib), dtype=np.int64)
    union = table.sum(axis=1, keepdims=True) + table.sum(axis=0, keepdims=True) - table
    jaccard = table / union
    best = np.argmax(jaccard, axis=1)
    matches = {
        str(labels_a[i].item()): {
            "match": labels_b[best[i]].item(),
            "jaccard": float(jaccard[i, best[i]]),
        }
        for i in range(labels_a.size)
    }
    idx = sample_rows(np.random.default_rng(seed), data.shape[0], sample)
    if silhouettes is None:
        with limit_threads(n_threads):
            sil_a, sil_b = mean_silhouettes(data[idx], [ia[idx], ib[idx]], workers)
    else:
        sil_a, sil_b = silhouettes
    return {
        "ari": float(adjusted_rand_score(ia, ib)),
        "nmi": float(normalized_mutual_info_score(ia, ib)),
        "labels_a": labels_a.tolist(),
        "labels_b": labels_b.tolist(),
        "contingency": table.tolist(),
        "best_match_jaccard": matches,
        **silhouette_fields(sil_a, sil_b),
        "silhouette_sample": int(idx.size),
    }


def silhouette_fields(a: float, b: float) -> dict[str, float | None]:
    """The comparison's ``silhouette_a`` and ``silhouette_b`` (None for an undefined one)."""
    return {
        "silhouette_a": None if math.isnan(a) else float(a),
        "silhouette_b": None if math.isnan(b) else float(b),
    }


def mean_silhouettes(X: FloatArray, labelings: Sequence[IntArray], workers: int = 1) -> list[float]:
    """Mean silhouette of several labelings of the same rows, from one pass of distances.

    Same definition as ``sklearn.metrics.silhouette_score`` (Euclidean; a point alone in its
    cluster scores 0), but the distance matrix is computed once, block by block, and each block's
    per-cluster distance sums come from one matrix product with the stacked one-hot encodings of
    all labelings: for 11 partitions of 20,000 rows that is ~2 s instead of ~11 x 1.5 s. Blocks
    run in ``workers`` threads side by side (each row's figures come from its own block: the
    same result for any count).

    Returns NaN for a labeling with fewer than 2 or more than n - 1 distinct labels.
    """
    n = X.shape[0]
    return [
        float(np.mean(scores)) if 2 <= np.unique(labels).size <= n - 1 else math.nan
        for scores, labels in zip(silhouette_rows(X, labelings, workers), labelings, strict=True)
    ]


def silhouette_rows(
    X: FloatArray, labelings: Sequence[IntArray], workers: int = 1
) -> list[FloatArray]:
    """Each row's silhouette under each of several labelings of the same rows, from one pass of
    distances (see :func:`mean_silhouettes`; ``sklearn.metrics.silhouette_samples``' values to
    float32 rounding, ~1e-6)."""
    n = X.shape[0]
    codes: list[IntArray] = []
    counts: list[FloatArray] = []
    offsets = [0]
    for labels in labelings:
        _, code = np.unique(labels, return_inverse=True)
        codes.append(code.astype(np.intp))
        counts.append(np.bincount(code).astype(np.float64))
        offsets.append(offsets[-1] + counts[-1].size)
    onehot = np.zeros((n, offsets[-1]), dtype=np.float32)
    for code, offset in zip(codes, offsets, strict=False):
        onehot[np.arange(n), offset + code] = 1.0
    totals = [np.zeros(n) for _ in labelings]
    # float32 distances: 3x faster than float64 (K = n_features is tiny, so the products are
    # memory-bound); centring first keeps the |x|^2 + |y|^2 - 2xy expansion accurate
    points = (X - X.mean(axis=0)).astype(np.float32)
    sq_norms = np.einsum("ij,ij->i", points, points)
    block = max(1, _BLOCK_BYTES // (4 * n))

    def scores(start: int) -> None:
        stop = min(start + block, n)
        dist = points[start:stop] @ points.T
        dist *= -2.0
        dist += sq_norms[start:stop, None]
        dist += sq_norms[None, :]
        np.maximum(dist, 0.0, out=dist)
        np.sqrt(dist, out=dist)
        dist[np.arange(stop - start), np.arange(start, stop)] = 0.0
        sums = (dist @ onehot).astype(np.float64)
        rows = np.arange(stop - start)
        for j, (code, count) in enumerate(zip(codes, counts, strict=True)):
            part = sums[:, offsets[j] : offsets[j + 1]]
            own = code[start:stop]
            own_size = count[own]
            with np.errstate(divide="ignore", invalid="ignore"):
                intra = part[rows, own] / (own_size - 1.0)
                mean_other = part / count[None, :]
            mean_other[rows, own] = np.inf
            inter = mean_other.min(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                score = (inter - intra) / np.maximum(intra, inter)
            score[own_size <= 1] = 0.0
            totals[j][start:stop] = np.nan_to_num(score)

    map_in_threads(scores, range(0, n, block), workers)
    return totals


def segment_silhouettes(
    z: npt.NDArray[np.float64], labels: IntArray, seed: int, sample: int
) -> dict[int, float]:
    """Mean silhouette of each segment on a seeded sample of at most ``sample`` rows of z.

    Parameters
    ----------
    z : ndarray, shape (n, n_features)
        Scaled learners.
    labels : ndarray of int, shape (n,)
        Their segment ids.
    seed, sample : int
        The sample's seed and size.

    Returns
    -------
    dict of int to float
        Segment id -> mean silhouette; empty when the sample holds one segment.
    """
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(z), size=min(sample, len(z)), replace=False))
    if len(np.unique(labels[rows])) < 2:
        return {}
    # sklearn's silhouette_samples gives the same values (float32 rounding aside) in ~10x the time
    with limit_threads(1):
        (values,) = silhouette_rows(as_matrix(z[rows]), [np.asarray(labels[rows], np.intp)])
    return {int(s): float(values[labels[rows] == s].mean()) for s in np.unique(labels[rows])}


def reference_spread(
    a: npt.ArrayLike,
    X: npt.ArrayLike,
    k: int,
    first: float,
    *,
    seed: int = 0,
    seeds: int = REFERENCE_SEEDS,
    n_micro: int = 2000,
) -> dict[str, Any]:
    """The agreement of K-Means with the two-stage reference over several reference seeds.

    The reference's micro-clusters are seeded, so the ARI of one reference varies between runs
    even when the segments do not; each further seed costs one MiniBatchKMeans and one Ward on
    the micro-centres (0.9-1.6 s on 153,443 learners, one thread). The same as
    ``spread_of([first, *other_seed_aris(...)])``, the two halves a training run computes apart.

    Parameters
    ----------
    a : array-like of shape (n_samples,)
        The K-Means labels.
    X : array-like of shape (n_samples, n_features)
        The scaled inputs both were fitted on.
    k : int
        Clusters of the reference.
    first : float
        The ARI of the published reference (seed ``seed``), counted as one of the seeds.
    seed : int, default=0
        The published reference's seed; the others are ``seed + 1`` onwards.
    seeds : int, default=REFERENCE_SEEDS
        Seeds in all, the published one included.
    n_micro : int, default=2000

    Returns
    -------
    dict
        ``ari_by_seed`` (the published seed's first), ``ari_median``, ``ari_min``, ``ari_max``.
    """
    trees = further_trees(X, seed=seed, seeds=seeds, n_micro=n_micro)
    return spread_of([float(first), *other_seed_aris(a, trees, k)])


def further_seeds(seed: int = 0, seeds: int = REFERENCE_SEEDS) -> list[int]:
    """The seeds of the reference after the published one: ``seed + 1`` .. ``seed + seeds - 1``."""
    return [seed + extra for extra in range(1, max(seeds, 1))]


def further_trees(
    X: npt.ArrayLike, *, seed: int = 0, seeds: int = REFERENCE_SEEDS, n_micro: int = 2000
) -> list[Hierarchy]:
    """The two-stage reference's tree for each further seed (:func:`further_seeds`):
    micro-clusters and weighted Ward, which do not depend on k (a run fits each in a worker of
    its own; :func:`other_seed_aris` cuts them at k)."""
    data = as_matrix(X)
    others = further_seeds(seed, seeds)
    return [two_stage_tree(data, seed=other, n_micro=n_micro) for other in others]


def other_seed_aris(a: npt.ArrayLike, trees: Sequence[Hierarchy], k: int) -> list[float]:
    """The ARI of K-Means (``a``) against each further seed's reference cut at k
    (:func:`further_trees`); a seed with fewer micro-clusters than k is skipped."""
    labels = np.asarray(a).ravel()
    scores: list[float] = []
    for tree in trees:
        try:
            other = tree.cut(k)
        except ValueError:  # too few distinct rows for k clusters on this seed
            continue
        scores.append(float(adjusted_rand_score(labels, other)))
    return scores


def spread_of(scores: Sequence[float]) -> dict[str, Any]:
    """The comparison's spread fields from the ARIs of every seed, the published seed's first:
    ``ari_by_seed``, ``ari_median``, ``ari_min``, ``ari_max``."""
    values = [float(s) for s in scores]
    return {
        "ari_by_seed": values,
        "ari_median": float(np.median(values)),
        "ari_min": min(values),
        "ari_max": max(values),
    }
