"""Ward's method in a training run, on a scaled float matrix ``X`` (n_learners x n_features).

* :func:`hierarchical_two_stage` is the hierarchical reference that scales (MiniBatchKMeans
  micro-clusters, then size-weighted Ward on their centres); :func:`hierarchical_exact` is exact
  Ward on every row (minutes on the full table, opt-in). The pipeline compares either with K-Means
  through :func:`training.model.compare.compare_labelings`.
* :func:`coarse_groups` groups the K-Means segments into 2-3 macro-segments.
* :func:`weighted_ward_linkage` is the tree over any centres and sizes (the Spark engine draws its
  dendrogram over the bisecting K-Means centres with it).

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
from dataclasses import dataclass, replace

import fastcluster  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
from sklearn.cluster import MiniBatchKMeans

from training.model.ids import number_by_size
from training.model.kmeans import FloatArray, IntArray, as_matrix, limit_threads
from training.progress import StepProgress

__all__ = [
    "BISECTING",
    "Hierarchy",
    "MicroClusters",
    "coarse_groups",
    "hierarchical_exact",
    "hierarchical_two_stage",
    "micro_clusters",
    "two_stage_tree",
    "weighted_ward_linkage",
]

#: The method name of a bisecting K-Means reference (the Spark engine's), beside "two-stage"
#: and "exact" (Ward).
BISECTING = "bisecting-kmeans"

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
    leaf_of : ndarray of shape (n_samples,) or None
        The leaf each row is in (its micro-cluster) for two-stage; None for exact (row i is
        leaf i).
    """

    labels: IntArray
    method: str
    linkage: FloatArray
    n_micro: int | None
    seconds: float
    leaf_sizes: IntArray | None = None
    leaf_of: IntArray | None = None

    def leaf_counts(self, labels: IntArray, k: int) -> IntArray:
        """Rows of each label (another clustering of the same rows) in each leaf of the tree.

        Parameters
        ----------
        labels : ndarray of shape (n_samples,)
            Ids in ``0..k-1``, e.g. the K-Means segments (the dendrogram's colours).
        k : int

        Returns
        -------
        ndarray of shape (n_leaves, k)
        """
        leaf = self.leaf_of if self.leaf_of is not None else np.arange(labels.size)
        leaves = self.linkage.shape[0] + 1
        counts = np.bincount(leaf * k + labels, minlength=leaves * k)
        return counts.reshape(leaves, k).astype(np.intp)

    def cut(self, k: int) -> IntArray:
        """Every row's cluster when this tree is cut into k clusters (the cut's own numbers).

        Raises
        ------
        ValueError
            If the tree has fewer than k leaves.
        """
        leaves = self.linkage.shape[0] + 1
        if not 1 <= k <= leaves:
            raise ValueError(f"Only {leaves} distinct micro-clusters for k = {k}.")
        leaf_labels = _cut_tree(self.linkage, k)
        return leaf_labels if self.leaf_of is None else leaf_labels[self.leaf_of]

    def at(self, k: int, X: npt.ArrayLike) -> Hierarchy:
        """The same tree cut into k clusters of the rows of ``X`` (the matrix it was built on),
        numbered by size as :func:`hierarchical_two_stage` numbers them."""
        return replace(self, labels=_by_size(self.cut(k), as_matrix(X), k))


@dataclass(frozen=True)
class MicroClusters:
    """The first stage of :func:`hierarchical_two_stage`, which does not depend on k.

    Attributes
    ----------
    labels : ndarray of shape (n_samples,)
        Each row's micro-cluster (empty ones dropped, ids consecutive).
    centres : ndarray of shape (n_micro, n_features)
        The exact mean of each micro-cluster's rows.
    sizes : ndarray of shape (n_micro,)
        Rows in each micro-cluster.
    seconds : float
        Wall time of the stage.
    """

    labels: IntArray
    centres: FloatArray
    sizes: IntArray
    seconds: float


def micro_clusters(
    X: npt.ArrayLike, *, seed: int = 0, n_micro: int = 2000, n_threads: int | None = 1
) -> MicroClusters:
    """``MiniBatchKMeans(n_micro)`` micro-clusters of the rows of X, each summarised by the exact
    mean of its rows and its size; every row its own micro-cluster when there are no more rows
    than ``n_micro``. It does not depend on k: a run may compute it while the k sweep runs.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    seed : int, default=0
        Seed of the MiniBatchKMeans.
    n_micro : int, default=2000
    n_threads : int or None, default=1
        Threads for the MiniBatchKMeans (see :func:`training.model.kmeans.fit_kmeans`).
    """
    start = time.perf_counter()
    data = as_matrix(X)
    n = data.shape[0]
    if n <= n_micro:
        rows = np.arange(n, dtype=np.intp)
        return MicroClusters(rows, data, np.ones(n, dtype=np.intp), time.perf_counter() - start)
    with limit_threads(n_threads):
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
    labels = remap[raw]
    sizes = counts[keep]
    # exact means of the members, not MiniBatchKMeans' running estimates
    centres = np.zeros((keep.size, data.shape[1]))
    np.add.at(centres, labels, data)
    centres /= sizes[:, None]
    return MicroClusters(labels, centres, sizes, time.perf_counter() - start)


def hierarchical_two_stage(
    X: npt.ArrayLike,
    k: int,
    *,
    seed: int = 0,
    n_micro: int = 2000,
    n_threads: int | None = 1,
    progress: StepProgress | None = None,
    micro: MicroClusters | None = None,
) -> Hierarchy:
    """Ward's hierarchy that scales: micro-clusters first, then size-weighted Ward on them.

    1. ``MiniBatchKMeans(n_micro)`` cuts the rows into micro-clusters; each micro-cluster is
       summarised by the exact mean of its rows and its size (empty ones are dropped):
       :func:`micro_clusters`.
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
        Threads for the MiniBatchKMeans (see :func:`training.model.kmeans.fit_kmeans`).
    progress : callable, optional
    micro : MicroClusters, optional
        Stage 1 already computed (:func:`micro_clusters` of the same X, seed and n_micro); its
        time counts in ``seconds``.

    Returns
    -------
    Hierarchy
    """
    data = as_matrix(X)
    _check_k(k, data.shape[0])
    if micro is None:
        micro = micro_clusters(data, seed=seed, n_micro=n_micro, n_threads=n_threads)
    start = time.perf_counter()
    if micro.labels.shape[0] != data.shape[0]:
        raise ValueError("The micro-clusters are of another matrix.")
    micro_labels, centres, sizes = micro.labels, micro.centres, micro.sizes
    if sizes.size < k:
        raise ValueError(f"Only {sizes.size} distinct micro-clusters for k = {k}.")
    if progress is not None:
        progress(f"{sizes.size:,} micro-clusters ({micro.seconds:.1f} s)")
    linkage = _weighted_ward(centres, sizes)
    leaf_labels = _cut_tree(linkage, k)
    labels = _by_size(leaf_labels[micro_labels], data, k)
    seconds = micro.seconds + time.perf_counter() - start
    if progress is not None:
        progress(f"weighted Ward on {sizes.size:,} micro-centres, cut at k = {k} ({seconds:.1f} s)")
    return Hierarchy(
        labels=labels,
        method="two-stage",
        linkage=linkage,
        n_micro=int(sizes.size),
        seconds=seconds,
        leaf_sizes=np.asarray(sizes, dtype=np.intp),
        leaf_of=micro_labels,
    )


def two_stage_tree(
    X: npt.ArrayLike, *, seed: int = 0, n_micro: int = 2000, n_threads: int | None = 1
) -> Hierarchy:
    """The two-stage tree of the rows of X (micro-clusters, then weighted Ward), not yet cut:
    it does not depend on k, so a run fits it beside the k sweep and cuts it later
    (:meth:`Hierarchy.cut`, :meth:`Hierarchy.at`)."""
    return hierarchical_two_stage(X, 1, seed=seed, n_micro=n_micro, n_threads=n_threads)


def hierarchical_exact(
    X: npt.ArrayLike, k: int, *, progress: StepProgress | None = None
) -> Hierarchy:
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
    data = as_matrix(X)
    _check_k(k, data.shape[0])
    if progress is not None:
        progress(f"exact Ward on {data.shape[0]:,} rows (fastcluster, memory-saving)")
    linkage = np.asarray(fastcluster.linkage_vector(data, method="ward"), dtype=np.float64)
    labels = _by_size(_cut_tree(linkage, k), data, k)
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


# --------------------------------------------------------------------------- helpers


def _check_k(k: int, n: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of rows ({n}); got {k}.")


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
            # Ward's factor 2 n_a n_b / (n_a + n_b); 0 between two empty clusters (Spark's
            # bisecting K-Means can leave a leaf empty), which then merge at no cost.
            total = size[a] + size
            d2 *= np.divide(2.0 * size[a] * size, total, out=np.zeros_like(total), where=total > 0)
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


def _by_size(labels: IntArray, data: FloatArray, k: int) -> IntArray:
    """The clusters renumbered by :func:`~training.model.ids.number_by_size` (their means break
    ties in size)."""
    sizes = np.bincount(labels, minlength=k)
    sums = np.column_stack([np.bincount(labels, weights=column, minlength=k) for column in data.T])
    centres = sums / np.maximum(sizes, 1)[:, None]
    return number_by_size(sizes, centres)[labels]
