"""Clustering maths of a training run, on a scaled float matrix ``X`` (n_learners x n_features).

The steps, in the order the pipeline uses them:

* :func:`sweep_k` fits K-Means for every k of a range and measures each partition: inertia (the
  elbow curve), silhouette, Davies-Bouldin, Calinski-Harabasz and bootstrap stability;
  :func:`choose_k` turns the sweep into one k with a sentence saying why, plus warnings when the
  diagnostics disagree.
* :func:`fit_kmeans` fits the final model; :func:`relabel_by_size` puts its segments in a canonical
  order (0 = largest) and :func:`match_segments` keeps the ids of a previous model on a retrain.
* :func:`hierarchical_two_stage` is the hierarchical reference that scales (MiniBatchKMeans
  micro-clusters, then size-weighted Ward on their centres); :func:`hierarchical_exact` is exact
  Ward on every row (minutes on the full table, opt-in). :func:`compare_labelings` says how far two
  partitions agree.
* :func:`coarse_groups` groups the K-Means segments into 2-3 macro-segments.

Size-weighted Ward
------------------
Ward's merge cost between clusters A and B depends only on their centres and sizes,
``Delta SSE = n_A n_B / (n_A + n_B) * ||c_A - c_B||**2``, so Ward on micro-centres that carry
their micro-cluster sizes as initial cluster sizes is exactly Ward's Lance-Williams recurrence
started from the micro-partition instead of from single points. scipy and fastcluster run Ward on
points of size 1 and take no weights; without the sizes a micro-cluster of 3 outliers counts as
much as one of 500 learners, and outliers form a cluster of their own. :func:`_weighted_ward`
therefore runs the nearest-neighbour-chain algorithm (Murtagh 1983; what scipy and fastcluster
use for Ward) directly on (centre, size) pairs: each step computes the Ward distance from the top
of the chain to every active cluster from their centres and sizes, so it needs O(m d) memory and
O(m^2 d) time (0.1-0.3 s for m = 2,000). Heights follow scipy's convention, ``sqrt(2 Delta SSE)``,
so with unit sizes the tree equals ``scipy.cluster.hierarchy.ward`` (a test checks this, and that
integer sizes give the same tree as exact Ward on the points repeated that many times).

Determinism: every random step takes an int seed; equal data and seed give identical results (the
``seconds`` timings aside). Nothing here prints; long steps report through an optional
``progress(message)`` callback.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import fastcluster  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
from kneed import KneeLocator
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
)
from sklearn.metrics.cluster import contingency_matrix
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Progress = Callable[[str], None]

STABILITY_THRESHOLD = 0.8
"""Mean bootstrap ARI under which :func:`choose_k` warns that the partition is unstable."""

_BLOCK_BYTES = 1 << 24
"""Size of one float32 block of the pairwise-distance matrix in the silhouette (16 MiB: measured
fastest; 128 MiB blocks ran 3x slower)."""


# --------------------------------------------------------------------------- k sweep


@dataclass
class KSweep:
    """Diagnostics of K-Means over a range of k, one list entry per k (JSON via :meth:`to_dict`).

    Attributes
    ----------
    ks : list of int
        The k values, increasing.
    inertia : list of float
        Within-cluster sum of squares of the fit on all rows (the elbow curve).
    silhouette : list of float
        Mean silhouette on a seeded sample of ``silhouette_sample`` rows (higher is better).
    davies_bouldin : list of float
        Davies-Bouldin index on all rows (lower is better).
    calinski_harabasz : list of float
        Calinski-Harabasz index on all rows (higher is better).
    stability : list of float
        Mean adjusted Rand index between K-Means fits on ``stability_resamples`` bootstrap
        resamples, each pair compared on the same seeded evaluation sample (1 = the same
        partition whatever the resample).
    knee : int or None
        Knee of the inertia curve by ``kneed.KneeLocator(curve="convex", direction="decreasing")``,
        None when kneed finds none.
    silhouette_sample : int
        Rows the silhouette and the stability were evaluated on.
    stability_resamples : int
        Bootstrap resamples per k.
    """

    ks: list[int]
    inertia: list[float]
    silhouette: list[float]
    davies_bouldin: list[float]
    calinski_harabasz: list[float]
    stability: list[float]
    knee: int | None
    silhouette_sample: int
    stability_resamples: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return asdict(self)


def sweep_k(
    X: npt.ArrayLike,
    k_min: int = 2,
    k_max: int = 12,
    *,
    seed: int = 0,
    n_init: int = 3,
    silhouette_sample: int = 20_000,
    stability_resamples: int = 3,
    stability_sample: int = 20_000,
    n_threads: int | None = 1,
    progress: Progress | None = None,
) -> KSweep:
    """Fit K-Means for every k in ``k_min..k_max`` and measure each partition.

    Inertia, Davies-Bouldin and Calinski-Harabasz are computed on all rows (they cost O(n)). The
    silhouette costs O(n^2), so it is computed on one seeded sample of ``silhouette_sample`` rows,
    the same rows for every k, with one pass of pairwise distances shared by all k. Stability: for
    each k, K-Means is fitted on ``stability_resamples`` bootstrap resamples of
    ``stability_sample`` rows (each resample with its own seed, so initialisation noise counts
    too), every fit labels the same evaluation sample, and the stability is the mean ARI over all
    pairs of fits.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Scaled features.
    k_min, k_max : int, default=2, 12
        Range of k, both included; ``2 <= k_min <= k_max < n_samples``.
    seed : int, default=0
        Seed of every random step (K-Means initialisation, samples, resamples).
    n_init : int, default=3
        K-Means restarts per fit (Lloyd). Small is enough to draw the curves; the final model uses
        :func:`fit_kmeans` with more.
    silhouette_sample : int, default=20_000
        Rows for the silhouette and the stability evaluation (all rows when there are fewer).
    stability_resamples : int, default=3
        Bootstrap resamples per k (at least 2: stability compares pairs).
    stability_sample : int, default=20_000
        Size of each bootstrap resample.
    n_threads : int or None, default=1
        Threads for scikit-learn's OpenMP loops and BLAS (see :func:`fit_kmeans`).
    progress : callable, optional
        Called with one line per k.

    Returns
    -------
    KSweep
    """
    data = _as_matrix(X)
    n = data.shape[0]
    if not 2 <= k_min <= k_max < n:
        raise ValueError(f"Need 2 <= k_min <= k_max < n_samples; got {k_min}..{k_max}, n = {n}.")
    if stability_resamples < 2:
        raise ValueError(
            "stability_resamples must be at least 2: stability compares pairs of fits."
        )
    rng = np.random.default_rng(seed)
    eval_idx = _sample_rows(rng, n, silhouette_sample)
    boot_size = min(stability_sample, n)
    boots = [np.sort(rng.integers(0, n, size=boot_size)) for _ in range(stability_resamples)]
    boot_seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=stability_resamples)]
    ks = list(range(k_min, k_max + 1))
    inertia: list[float] = []
    davies: list[float] = []
    calinski: list[float] = []
    stability: list[float] = []
    sample_labels: list[IntArray] = []
    for k in ks:
        start = time.perf_counter()
        with _limit_threads(n_threads):
            model = _kmeans(k, seed, n_init).fit(data)
            labels = model.labels_
            inertia.append(float(model.inertia_))
            davies.append(float(davies_bouldin_score(data, labels)))
            calinski.append(float(calinski_harabasz_score(data, labels)))
            sample_labels.append(np.asarray(labels[eval_idx], dtype=np.intp))
            boot_labels = [
                _kmeans(k, boot_seed, n_init).fit(data[rows]).predict(data[eval_idx])
                for rows, boot_seed in zip(boots, boot_seeds, strict=True)
            ]
        stability.append(_mean_pairwise_ari(boot_labels))
        if progress is not None:
            progress(
                f"k = {k}: inertia {inertia[-1]:.4g}, stability {stability[-1]:.2f} "
                f"({time.perf_counter() - start:.1f} s)"
            )
    start = time.perf_counter()
    with _limit_threads(n_threads):
        silhouette = _silhouettes(data[eval_idx], sample_labels)
    if progress is not None:
        progress(
            f"silhouette of {len(ks)} partitions on {len(eval_idx):,} rows "
            f"({time.perf_counter() - start:.1f} s)"
        )
    return KSweep(
        ks=ks,
        inertia=inertia,
        silhouette=[float(s) for s in silhouette],
        davies_bouldin=davies,
        calinski_harabasz=calinski,
        stability=stability,
        knee=find_knee(ks, inertia),
        silhouette_sample=len(eval_idx),
        stability_resamples=stability_resamples,
    )


@dataclass
class KChoice:
    """The chosen k, where it came from, a sentence saying why, and any warnings.

    Attributes
    ----------
    k : int
    source : str
        ``"fixed"`` (given by the caller), ``"knee"`` (knee of the elbow curve) or ``"fallback"``
        (no knee: the k with the best silhouette).
    reason : str
        One sentence for the CLI, e.g. ``"k = 5: the knee of the elbow curve (kneed)."``.
    warnings : list of str
        Disagreements worth a look (silhouette peak elsewhere, low stability, ...).
    """

    k: int
    source: str
    reason: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return asdict(self)


def choose_k(sweep: KSweep, k: int | None = None) -> KChoice:
    """Choose k from a sweep: a fixed k overrides, else the knee, else the best silhouette.

    Parameters
    ----------
    sweep : KSweep
    k : int, optional
        Fixed k (e.g. from the settings). It may lie outside the sweep; then there is nothing to
        check it against, and a warning says so.

    Returns
    -------
    KChoice
        Warnings when the silhouette peaks at another k than the knee, when the stability at the
        chosen k is under ``STABILITY_THRESHOLD`` (0.8), when the knee sits at the end of the
        range, or when a fixed k differs from the knee. The fallback when kneed finds no knee is
        the k with the highest silhouette (the smallest such k on a tie), with a warning.
    """
    notes: list[str] = []
    best_sil = sweep.ks[int(np.argmax(sweep.silhouette))]
    if k is not None:
        if k < 1:
            raise ValueError(f"k must be at least 1; got {k}.")
        chosen, source = k, "fixed"
        reason = f"k = {k}: fixed by the settings."
        if k not in sweep.ks:
            notes.append(
                f"k = {k} is outside the sweep ({sweep.ks[0]}..{sweep.ks[-1]}); "
                "there are no diagnostics for it"
            )
        elif sweep.knee is not None and sweep.knee != k:
            notes.append(f"the knee of the elbow curve is at k = {sweep.knee}, not at k = {k}")
    elif sweep.knee is not None:
        chosen, source = sweep.knee, "knee"
        reason = f"k = {chosen}: the knee of the elbow curve (kneed)."
        if chosen == sweep.ks[-1]:
            notes.append(f"the knee is at the end of the range (k = {chosen}); widen k_max")
    else:
        chosen, source = best_sil, "fallback"
        reason = f"k = {chosen}: the elbow curve has no knee, so the k with the best silhouette."
        notes.append(
            f"no knee in the elbow curve over k = {sweep.ks[0]}..{sweep.ks[-1]}; "
            f"fell back to the best silhouette (k = {chosen})"
        )
    if chosen in sweep.ks:
        i = sweep.ks.index(chosen)
        if source != "fallback" and best_sil != chosen:
            notes.append(f"silhouette peaks at k = {best_sil}, not at the chosen k = {chosen}")
        if sweep.stability[i] < STABILITY_THRESHOLD:
            notes.append(
                f"stability at k = {chosen} is {sweep.stability[i]:.2f} (< {STABILITY_THRESHOLD})"
            )
    return KChoice(k=chosen, source=source, reason=reason, warnings=notes)


# --------------------------------------------------------------------------- final K-Means


def fit_kmeans(
    X: npt.ArrayLike, k: int, *, seed: int = 0, n_init: int = 10, n_threads: int | None = 1
) -> KMeans:
    """Fit the final K-Means (k-means++ initialisation, Lloyd, ``n_init`` seeded restarts).

    One restart is seed-unstable on the learner table (ARI 0.66 between seeds); 10 restarts make
    a second seed give the same partition and cost about a second on 150k rows.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    k : int
    seed : int, default=0
    n_init : int, default=10
    n_threads : int or None, default=1
        Threads for scikit-learn's OpenMP loops and BLAS while fitting; None leaves OpenMP at its
        default (all cores) and BLAS on one thread. One is the default: on this 2-core machine
        two spin-waiting OpenMP threads ran the k = 2..12 sweep in 5.6 s when the host was quiet
        but 15-37 s when it was not, while one thread took 7-8 s every time. The partitions do
        not depend on the thread count but the floats' last bits do, so a fixed count also keeps
        artifacts byte-identical across machines. The limits hold only inside the call.

    Returns
    -------
    sklearn.cluster.KMeans
        Fitted; its ids are K-Means' arbitrary ones: pass ``labels_`` and ``cluster_centers_``
        through :func:`relabel_by_size` (and :func:`match_segments` on a retrain).
    """
    data = _as_matrix(X)
    with _limit_threads(n_threads):
        return _kmeans(k, seed, n_init).fit(data)


def relabel_by_size(labels: npt.ArrayLike, centers: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
    """Renumber segments so that segment 0 is the largest, 1 the next, and so on.

    Ties in size are broken by the centres, compared coordinate by coordinate, so the order does
    not depend on the ids K-Means happened to give.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Ids in ``0..k-1``.
    centers : array-like of shape (k, n_features)

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        The new ids.
    centers : ndarray of shape (k, n_features)
        Row ``i`` is the centre of new segment ``i``.
    """
    lab = np.asarray(labels, dtype=np.intp)
    cen = np.asarray(centers, dtype=np.float64)
    sizes = np.bincount(lab, minlength=cen.shape[0])
    # lexsort: last key is the primary one; earlier coordinates break ties before later ones
    order = np.lexsort((*cen.T[::-1], -sizes))
    new_id = np.empty_like(order)
    new_id[order] = np.arange(order.size)
    return new_id[lab], cen[order].copy()


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


# --------------------------------------------------------------------------- hierarchical


@dataclass
class Hierarchy:
    """A Ward partition into k clusters and the tree it was cut from.

    Attributes
    ----------
    labels : ndarray of shape (n_samples,)
        Cluster ids in ``0..k-1``, 0 = largest cluster.
    method : str
        ``"two-stage"`` or ``"exact"``.
    linkage : ndarray of shape (n_leaves - 1, 4)
        scipy linkage matrix (for ``scipy.cluster.hierarchy.dendrogram``); its leaves are the
        micro-centres for two-stage, the rows of X for exact. Column 3 counts leaves.
    n_micro : int or None
        Micro-clusters actually used (empty ones dropped); None for exact.
    seconds : float
        Wall time of the call.
    leaf_sizes : ndarray of shape (n_leaves,) or None
        Learners in each leaf (micro-cluster) for two-stage; None for exact (one learner each).
    """

    labels: IntArray
    method: str
    linkage: FloatArray
    n_micro: int | None
    seconds: float
    leaf_sizes: IntArray | None = None


def hierarchical_two_stage(
    X: npt.ArrayLike,
    k: int,
    *,
    seed: int = 0,
    n_micro: int = 2000,
    n_threads: int | None = 1,
    progress: Progress | None = None,
) -> Hierarchy:
    """Ward's hierarchy that scales: micro-clusters first, then size-weighted Ward on them.

    1. ``MiniBatchKMeans(n_micro)`` cuts the rows into micro-clusters; each micro-cluster is
       summarised by the exact mean of its rows and its size (empty ones are dropped).
    2. Ward on the micro-centres, each carrying its size as initial cluster size (see the module
       docstring), builds the tree; cutting it into k clusters labels the micro-clusters.
    3. Every row takes its micro-cluster's label.

    With fewer rows than ``n_micro`` every row is its own micro-cluster (that is exact Ward).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    k : int
        Clusters wanted, ``1 <= k <= n_samples``.
    seed : int, default=0
        Seed of the MiniBatchKMeans.
    n_micro : int, default=2000
        Micro-clusters. 2,000 on 150k rows: ~2-3 s and ARI ~0.94 against exact Ward.
    n_threads : int or None, default=1
        Threads for the MiniBatchKMeans (see :func:`fit_kmeans`).
    progress : callable, optional

    Returns
    -------
    Hierarchy
    """
    start = time.perf_counter()
    data = _as_matrix(X)
    n = data.shape[0]
    _check_k(k, n)
    if n <= n_micro:
        micro_labels = np.arange(n, dtype=np.intp)
        centres, sizes = data, np.ones(n, dtype=np.intp)
    else:
        with _limit_threads(n_threads):
            micro = MiniBatchKMeans(
                n_clusters=n_micro,
                init_size=min(3 * n_micro, n),
                n_init=1,
                random_state=seed,
            ).fit(data)
        raw = np.asarray(micro.labels_, dtype=np.intp)
        counts = np.bincount(raw, minlength=n_micro)
        keep = np.flatnonzero(counts)
        remap = np.full(n_micro, -1, dtype=np.intp)
        remap[keep] = np.arange(keep.size)
        micro_labels = remap[raw]
        sizes = counts[keep]
        # exact means of the members, not MiniBatchKMeans' running estimates
        centres = np.zeros((keep.size, data.shape[1]))
        np.add.at(centres, micro_labels, data)
        centres /= sizes[:, None]
    if sizes.size < k:
        raise ValueError(f"Only {sizes.size} distinct micro-clusters for k = {k}.")
    if progress is not None:
        progress(f"{sizes.size:,} micro-clusters ({time.perf_counter() - start:.1f} s)")
    linkage = _weighted_ward(centres, sizes)
    leaf_labels = _cut_tree(linkage, k)
    labels = _order_by_size(leaf_labels[micro_labels], k)
    seconds = time.perf_counter() - start
    if progress is not None:
        progress(f"weighted Ward on {sizes.size:,} micro-centres, cut at k = {k} ({seconds:.1f} s)")
    return Hierarchy(
        labels=labels,
        method="two-stage",
        linkage=linkage,
        n_micro=int(sizes.size),
        seconds=seconds,
        leaf_sizes=np.asarray(sizes, dtype=np.intp),
    )


def hierarchical_exact(X: npt.ArrayLike, k: int, *, progress: Progress | None = None) -> Hierarchy:
    """Exact Ward on every row with fastcluster's memory-saving ``linkage_vector``.

    O(n) memory but O(n^2) time: ~320 s for 205k rows. Opt-in; the reference the two-stage
    version is checked against.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    k : int
        Clusters wanted, ``1 <= k <= n_samples``.
    progress : callable, optional

    Returns
    -------
    Hierarchy
        The tree is cut by replaying its first ``n - k`` merges, which gives exactly k clusters
        (``fcluster(criterion="maxclust")`` gives fewer when merge heights tie at the cut).
    """
    start = time.perf_counter()
    data = _as_matrix(X)
    _check_k(k, data.shape[0])
    if progress is not None:
        progress(f"exact Ward on {data.shape[0]:,} rows (fastcluster, memory-saving)")
    linkage = np.asarray(fastcluster.linkage_vector(data, method="ward"), dtype=np.float64)
    labels = _order_by_size(_cut_tree(linkage, k), k)
    seconds = time.perf_counter() - start
    if progress is not None:
        progress(f"exact Ward done ({seconds:.1f} s)")
    return Hierarchy(labels=labels, method="exact", linkage=linkage, n_micro=None, seconds=seconds)


def weighted_ward_linkage(centers: npt.ArrayLike, sizes: npt.ArrayLike) -> FloatArray:
    """scipy linkage matrix of size-weighted Ward over cluster centres (see the module docstring).

    Parameters
    ----------
    centers : array-like of shape (m, n_features)
    sizes : array-like of shape (m,)
        Rows each centre stands for.
    """
    return _weighted_ward(np.atleast_2d(np.asarray(centers, dtype=np.float64)), sizes)


def coarse_groups(
    centers: npt.ArrayLike, sizes: npt.ArrayLike, n_coarse: int | None = None
) -> list[int]:
    """Group segments into 2-3 macro-segments by size-weighted Ward on their centres.

    Parameters
    ----------
    centers : array-like of shape (k, n_features)
        Segment centres (K-Means ``cluster_centers_``).
    sizes : array-like of shape (k,)
        Learners per segment: a small segment moves towards a big one, not the other way round.
    n_coarse : int, optional
        Macro-segments wanted (capped at k). None chooses 2 or 3 from the tree's merge heights
        ``h1 >= h2 >= h3`` (the last three merges): 3 when the gap above the 3-group cut is
        larger than the gap above the 2-group cut (``h2 - h3 > h1 - h2``), else 2. With k <= 3
        segments it is 2 (3 groups of one segment each would group nothing).

    Returns
    -------
    list of int, length k
        Macro id of each segment; ids are numbered in order of first appearance (segment 0 is in
        group 0, the first segment outside it starts group 1, ...).
    """
    cen = np.atleast_2d(np.asarray(centers, dtype=np.float64))
    weights = np.asarray(sizes, dtype=np.float64)
    k = cen.shape[0]
    if weights.shape != (k,):
        raise ValueError(f"Need one size per centre; got {weights.shape[0]} for {k} centres.")
    if np.any(weights <= 0):
        raise ValueError("Segment sizes must be positive.")
    if k == 1:
        return [0]
    linkage = _weighted_ward(cen, weights)
    if n_coarse is None:
        n_groups = 2
        if k >= 4:
            h1, h2, h3 = linkage[-1, 2], linkage[-2, 2], linkage[-3, 2]
            n_groups = 3 if h2 - h3 > h1 - h2 else 2
    else:
        if n_coarse < 1:
            raise ValueError(f"n_coarse must be at least 1; got {n_coarse}.")
        n_groups = min(n_coarse, k)
    labels = _cut_tree(linkage, n_groups)
    first_seen: dict[int, int] = {}
    for label in labels.tolist():
        first_seen.setdefault(label, len(first_seen))
    return [first_seen[label] for label in labels.tolist()]


def compare_labelings(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    X: npt.ArrayLike,
    *,
    seed: int = 0,
    sample: int = 20_000,
    n_threads: int | None = 1,
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
    data = _as_matrix(X)
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
    idx = _sample_rows(np.random.default_rng(seed), data.shape[0], sample)
    with _limit_threads(n_threads):
        sil_a, sil_b = _silhouettes(data[idx], [ia[idx], ib[idx]])
    return {
        "ari": float(adjusted_rand_score(ia, ib)),
        "nmi": float(normalized_mutual_info_score(ia, ib)),
        "labels_a": labels_a.tolist(),
        "labels_b": labels_b.tolist(),
        "contingency": table.tolist(),
        "best_match_jaccard": matches,
        "silhouette_a": None if math.isnan(sil_a) else sil_a,
        "silhouette_b": None if math.isnan(sil_b) else sil_b,
        "silhouette_sample": int(idx.size),
    }


# --------------------------------------------------------------------------- helpers


def _as_matrix(X: npt.ArrayLike) -> FloatArray:
    data = np.asarray(X, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D matrix; got shape {data.shape}.")
    if not np.all(np.isfinite(data)):
        raise ValueError("X contains NaN or infinite values.")
    return data


def _check_k(k: int, n: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of rows ({n}); got {k}.")


def _limit_threads(n_threads: int | None) -> Any:
    """Context limiting OpenMP and BLAS threads to ``n_threads`` (None: BLAS to one only).

    BLAS stays on one thread even for None: K-Means alternates BLAS calls (k-means++ init,
    predict) with OpenMP loops (Lloyd), and an idle OpenBLAS worker spin-waits, taking a core
    from the OpenMP threads (k = 2..12 sweep on 2 cores: 6.5 s with 2 BLAS threads, 3.0 s with
    1, same partitions). Local to the ``with`` block; nothing global is changed.
    """
    if n_threads is None:
        return threadpool_limits(limits=1, user_api="blas")
    return threadpool_limits(limits=n_threads)


def _kmeans(k: int, seed: int, n_init: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed, algorithm="lloyd")


def _sample_rows(rng: np.random.Generator, n: int, size: int) -> IntArray:
    """Sorted seeded sample of ``size`` distinct row indices (all rows when n <= size)."""
    if n <= size:
        return np.arange(n, dtype=np.intp)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.intp)


def _mean_pairwise_ari(labelings: Sequence[npt.ArrayLike]) -> float:
    scores = [
        adjusted_rand_score(labelings[i], labelings[j])
        for i in range(len(labelings))
        for j in range(i + 1, len(labelings))
    ]
    return float(np.mean(scores))


def find_knee(ks: list[int], inertia: list[float]) -> int | None:
    """Knee of an elbow curve (``kneed``, convex and decreasing); None without one."""
    if len(ks) < 3:
        return None
    with warnings.catch_warnings():
        # older kneed versions warn "No knee/elbow found"; None is the answer we handle
        warnings.filterwarnings("ignore", message="No knee", category=UserWarning)
        knee = KneeLocator(ks, inertia, curve="convex", direction="decreasing").knee
    return None if knee is None else int(knee)


def _silhouettes(X: FloatArray, labelings: Sequence[IntArray]) -> list[float]:
    """Mean silhouette of several labelings of the same rows, from one pass of distances.

    Same definition as ``sklearn.metrics.silhouette_score`` (Euclidean; a point alone in its
    cluster scores 0), but the distance matrix is computed once, block by block, and each block's
    per-cluster distance sums come from one matrix product with the stacked one-hot encodings of
    all labelings: for 11 partitions of 20,000 rows that is ~2 s instead of ~11 x 1.5 s.

    Returns NaN for a labeling with fewer than 2 or more than n - 1 distinct labels.
    """
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
    for start in range(0, n, block):
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
    return [
        float(np.mean(total)) if 2 <= count.size <= n - 1 else math.nan
        for total, count in zip(totals, counts, strict=True)
    ]


def _weighted_ward(points: FloatArray, weights: npt.ArrayLike) -> FloatArray:
    """Ward's tree over points that each stand for ``weights[i]`` observations at that point.

    Nearest-neighbour chain on (centre, size) pairs; merge heights are ``sqrt(2 Delta SSE)``
    (scipy's scale). Returns a scipy linkage matrix whose column 3 counts leaves.
    """
    pts = np.asarray(points, dtype=np.float64)
    m = pts.shape[0]
    if m == 1:
        return np.zeros((0, 4))
    centre = pts.copy()
    size = np.asarray(weights, dtype=np.float64).copy()
    active = np.ones(m, dtype=bool)
    # height of the last merge into each slot: keeps heights monotone against float rounding
    slot_height = np.zeros(m)
    merges: list[tuple[int, int, float]] = []
    chain: list[int] = []
    for _ in range(m - 1):
        if not chain:
            chain.append(int(np.flatnonzero(active)[0]))
        while True:
            a = chain[-1]
            diff = centre - centre[a]
            d2 = np.einsum("ij,ij->i", diff, diff)
            d2 *= 2.0 * size[a] * size / (size[a] + size)
            d2[~active] = np.inf
            d2[a] = np.inf
            b = int(np.argmin(d2))
            # prefer the previous element on ties, so the chain ends in reciprocal neighbours
            if len(chain) > 1 and d2[chain[-2]] <= d2[b]:
                b = chain[-2]
                break
            chain.append(b)
        chain.pop()
        chain.pop()
        lo, hi = min(a, b), max(a, b)
        height = max(math.sqrt(d2[b]), slot_height[lo], slot_height[hi])
        merges.append((lo, hi, height))
        total = size[lo] + size[hi]
        centre[lo] = (size[lo] * centre[lo] + size[hi] * centre[hi]) / total
        size[lo] = total
        slot_height[lo] = height
        active[hi] = False
    return _to_linkage(merges, m)


def _find_root(parent: IntArray, x: int) -> int:
    """Union-find: the root of ``x``, compressing the path on the way."""
    root = x
    while parent[root] != root:
        root = int(parent[root])
    while parent[x] != root:
        parent[x], x = root, int(parent[x])
    return root


def _to_linkage(merges: list[tuple[int, int, float]], m: int) -> FloatArray:
    """scipy linkage matrix from merges of slots (slot i always holds leaf i), sorted by height."""
    order = sorted(range(len(merges)), key=lambda i: merges[i][2])  # stable: children first
    parent = np.arange(2 * m - 1)
    leaves = np.ones(2 * m - 1)

    def find(x: int) -> int:
        return _find_root(parent, x)

    linkage = np.zeros((m - 1, 4))
    for row, i in enumerate(order):
        slot_a, slot_b, height = merges[i]
        ra, rb = find(slot_a), find(slot_b)
        new = m + row
        parent[ra] = parent[rb] = new
        leaves[new] = leaves[ra] + leaves[rb]
        linkage[row] = (min(ra, rb), max(ra, rb), height, leaves[new])
    return linkage


def _cut_tree(linkage: FloatArray, k: int) -> IntArray:
    """Leaf labels of exactly k clusters: replay the first n_leaves - k merges of the tree."""
    m = linkage.shape[0] + 1
    parent = np.arange(m)
    # union-find over leaves; cluster id m + row stands for the leaf it was first reached from
    rep = np.arange(2 * m - 1)

    def find(x: int) -> int:
        return _find_root(parent, x)

    for row in range(m - k):
        a, b = int(linkage[row, 0]), int(linkage[row, 1])
        ra, rb = find(int(rep[a])), find(int(rep[b]))
        parent[max(ra, rb)] = min(ra, rb)
        rep[m + row] = min(ra, rb)
    roots = np.array([find(i) for i in range(m)], dtype=np.intp)
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.intp)


def _order_by_size(labels: IntArray, k: int) -> IntArray:
    """Renumber 0..k-1 by decreasing size; ties by the first row of each cluster."""
    sizes = np.bincount(labels, minlength=k)
    first = np.full(k, labels.size)
    np.minimum.at(first, labels, np.arange(labels.size))
    order = np.lexsort((first, -sizes))
    new_id = np.empty(k, dtype=np.intp)
    new_id[order] = np.arange(k)
    return new_id[labels]
