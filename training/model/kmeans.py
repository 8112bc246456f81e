"""K-Means maths of a training run, on a scaled float matrix ``X`` (n_learners x n_features).

The steps, in the order the pipeline uses them:

* :func:`sweep_k` fits K-Means for every k of a range and measures each partition: inertia (the
  elbow curve), silhouette, Davies-Bouldin, Calinski-Harabasz and bootstrap stability
  (:func:`bootstrap_stability`: Hennig's clusterboot, overall ARI and each segment's Jaccard);
  :func:`choose_k` publishes the knee when it is stable, else the nearest stable k, with a
  sentence saying why, plus warnings when the diagnostics disagree.
* :func:`fit_kmeans` fits the final model; :func:`relabel_by_size` puts its segments in a canonical
  order (0 = largest) and :func:`match_segments` keeps the ids of a previous model on a retrain.
* :func:`compare_labelings` says how far two partitions agree (K-Means against the hierarchical
  reference of :mod:`training.model.hierarchy`).

:func:`as_matrix` (the input check) and :func:`limit_threads` (OpenMP and BLAS threads) serve
:mod:`training.model.hierarchy` too, and :func:`stability_scores` the Spark engine.

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

import numpy as np
import numpy.typing as npt
from kneed import KneeLocator
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
)
from sklearn.metrics.cluster import contingency_matrix
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from training.config import MIN_JACCARD, MIN_STABILITY

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Progress = Callable[[str], None]


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
        Overall stability: mean adjusted Rand index between the fit on all rows and K-Means fits
        on ``stability_resamples`` bootstrap resamples of the evaluation sample, every fit
        labelling that whole sample (1 = the same partition whatever the resample).
    stability_p10 : list of float
        10th percentile of those ARIs (how bad a bad resample gets).
    jaccard : list of list of float
        Per k, per segment of the fit on all rows (its label order): the mean over resamples of
        the best-matching resampled cluster's Jaccard index (Hennig's clusterboot).
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
    stability_p10: list[float]
    jaccard: list[list[float]]
    knee: int | None
    silhouette_sample: int
    stability_resamples: int

    def is_stable(self, k: int, min_stability: float, min_jaccard: float) -> bool:
        """Whether ``k`` (one of ``ks``) passes both thresholds."""
        i = self.ks.index(k)
        return self.stability[i] >= min_stability and min(self.jaccard[i]) >= min_jaccard

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
    stability_resamples: int = 20,
    stability_sample: int = 20_000,
    stability_n_init: int = 1,
    n_threads: int | None = 1,
    progress: Progress | None = None,
) -> KSweep:
    """Fit K-Means for every k in ``k_min..k_max`` and measure each partition.

    Inertia, Davies-Bouldin and Calinski-Harabasz are computed on all rows (they cost O(n)). The
    silhouette costs O(n^2), so it is computed on one seeded sample of ``silhouette_sample`` rows,
    the same rows for every k, with one pass of pairwise distances shared by all k. Stability
    (:func:`bootstrap_stability`) is measured on one seeded sample of ``stability_sample`` rows:
    ``stability_resamples`` bootstrap resamples of it, K-Means on each (its own seed, so
    initialisation noise counts too), each fit labelling the whole sample, compared with the fit
    on all rows.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Scaled features.
    k_min, k_max : int, default=2, 12
        Range of k, both included; ``2 <= k_min <= k_max < n_samples``.
    seed : int, default=0
        Seed of every random step (K-Means initialisation, samples, resamples).
    n_init : int, default=3
        K-Means restarts of the fit on all rows (Lloyd). Small is enough to draw the curves; the
        final model uses :func:`fit_kmeans` with more.
    silhouette_sample : int, default=20_000
        Rows for the silhouette (all rows when there are fewer).
    stability_resamples : int, default=20
        Bootstrap resamples per k (at least 2).
    stability_sample : int, default=20_000
        Size of the sample the resamples are drawn from and evaluated on.
    stability_n_init : int, default=1
        K-Means restarts of each resampled fit.
    n_threads : int or None, default=1
        Threads for scikit-learn's OpenMP loops and BLAS (see :func:`fit_kmeans`).
    progress : callable, optional
        Called with one line per k.

    Returns
    -------
    KSweep
    """
    data = as_matrix(X)
    n = data.shape[0]
    if not 2 <= k_min <= k_max < n:
        raise ValueError(f"Need 2 <= k_min <= k_max < n_samples; got {k_min}..{k_max}, n = {n}.")
    rng = np.random.default_rng(seed)
    eval_idx = _sample_rows(rng, n, silhouette_sample)
    stability_idx = _sample_rows(rng, n, stability_sample)
    ks = list(range(k_min, k_max + 1))
    inertia: list[float] = []
    davies: list[float] = []
    calinski: list[float] = []
    scores: list[StabilityScores] = []
    sample_labels: list[IntArray] = []
    for k in ks:
        start = time.perf_counter()
        with limit_threads(n_threads):
            model = _kmeans(k, seed, n_init).fit(data)
            labels = model.labels_
            inertia.append(float(model.inertia_))
            davies.append(float(davies_bouldin_score(data, labels)))
            calinski.append(float(calinski_harabasz_score(data, labels)))
            sample_labels.append(np.asarray(labels[eval_idx], dtype=np.intp))
        scores.append(
            bootstrap_stability(
                data[stability_idx],
                np.asarray(labels[stability_idx], np.intp),
                k,
                resamples=stability_resamples,
                seed=seed + k,
                n_init=stability_n_init,
                n_threads=n_threads,
            )
        )
        if progress is not None:
            progress(
                f"k = {k}: inertia {inertia[-1]:.4g}, stability {scores[-1].ari:.2f}, "
                f"lowest segment Jaccard {min(scores[-1].jaccard):.2f} "
                f"({time.perf_counter() - start:.1f} s)"
            )
    start = time.perf_counter()
    with limit_threads(n_threads):
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
        stability=[s.ari for s in scores],
        stability_p10=[s.ari_p10 for s in scores],
        jaccard=[s.jaccard for s in scores],
        knee=find_knee(ks, inertia),
        silhouette_sample=len(eval_idx),
        stability_resamples=stability_resamples,
    )


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
        table = np.bincount(ref * m + other, minlength=k * m).reshape(k, m).astype(np.float64)
        union = table.sum(axis=1, keepdims=True) + table.sum(axis=0, keepdims=True) - table
        with np.errstate(invalid="ignore", divide="ignore"):
            jaccard[b] = np.nan_to_num(table / union).max(axis=1)
        aris.append(float(adjusted_rand_score(ref, other)))
    return StabilityScores(
        ari=float(np.mean(aris)),
        ari_p10=float(np.percentile(aris, 10)),
        jaccard=[float(x) for x in jaccard.mean(axis=0)],
        resamples=len(resampled),
    )


def bootstrap_stability(
    X: npt.ArrayLike,
    reference: npt.ArrayLike,
    k: int,
    *,
    resamples: int = 20,
    seed: int = 0,
    n_init: int = 1,
    n_threads: int | None = 1,
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

    Returns
    -------
    StabilityScores
    """
    if resamples < 2:
        raise ValueError("stability_resamples must be at least 2.")
    data = as_matrix(X)
    rng = np.random.default_rng(seed)
    labelings = []
    with limit_threads(n_threads):
        for _ in range(resamples):
            rows = rng.integers(0, data.shape[0], size=data.shape[0])
            boot_seed = int(rng.integers(0, 2**31 - 1))
            labelings.append(_kmeans(k, boot_seed, n_init).fit(data[rows]).predict(data))
    return stability_scores(reference, labelings, k)


@dataclass
class KChoice:
    """The chosen k, where it came from, a sentence saying why, and any warnings.

    Attributes
    ----------
    k : int
    source : str
        ``"fixed"`` (given by the caller), ``"knee"`` (the knee of the elbow curve, stable),
        ``"nearest-stable"`` (the stable k nearest the knee), ``"most-stable"`` (no k in range is
        stable: the one with the highest stability), or, when the elbow curve has no knee, the
        same with the best silhouette as the first signal (``"silhouette"``).
    reason : str
        One sentence for the CLI and the report, e.g. ``"the knee, k = 6, is unstable (0.63,
        lowest segment Jaccard 0.52); k = 5 is the nearest stable k (0.91, lowest segment
        Jaccard 0.86)."``.
    knee : int or None
        The knee of the elbow curve, always named.
    warnings : list of str
        Disagreements worth a look (no knee, silhouette peak elsewhere, nothing stable, ...).
    """

    k: int
    source: str
    reason: str
    knee: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return asdict(self)


def choose_k(
    sweep: KSweep,
    k: int | None = None,
    *,
    min_stability: float = MIN_STABILITY,
    min_jaccard: float = MIN_JACCARD,
) -> KChoice:
    """Choose k: the knee of the elbow curve when it is stable, else the nearest stable k.

    A k is *stable* when its overall stability (mean bootstrap ARI against the fit on all rows)
    is at least ``min_stability`` and every one of its segments has a bootstrap Jaccard of at
    least ``min_jaccard``. The first signal is the knee (kneed); without one, the k with the
    best silhouette. That k is published when it is stable; otherwise the stable k nearest to it
    (a tie goes to fewer segments), and the reason says so; when no k in the sweep is stable,
    the most stable one (highest overall stability), with a warning. A fixed ``k`` overrides all
    of this, and its stability is still reported.

    Parameters
    ----------
    sweep : KSweep
    k : int, optional
        Fixed k (e.g. ``--k``). It may lie outside the sweep; then there is nothing to check it
        against, and a warning says so.
    min_stability, min_jaccard : float
        The thresholds of a stable k.

    Returns
    -------
    KChoice
    """
    notes: list[str] = []
    ks = sweep.ks
    best_sil = ks[int(np.argmax(sweep.silhouette))]
    signal = sweep.knee if sweep.knee is not None else best_sil
    what = "the knee" if sweep.knee is not None else "the best silhouette"
    if sweep.knee is None:
        notes.append(
            f"no knee in the elbow curve over k = {ks[0]}..{ks[-1]}; the best silhouette "
            f"(k = {best_sil}) took its place"
        )
    elif sweep.knee == ks[-1]:
        notes.append(f"the knee is at the end of the range (k = {sweep.knee}); widen k_max")

    def stable(c: int) -> bool:
        return sweep.is_stable(c, min_stability, min_jaccard)

    def figures(c: int) -> str:
        i = ks.index(c)
        return f"{sweep.stability[i]:.2f}, lowest segment Jaccard {min(sweep.jaccard[i]):.2f}"

    if k is not None:
        if k < 1:
            raise ValueError(f"k must be at least 1; got {k}.")
        chosen, source = k, "fixed"
        if k in ks:
            state = "stable" if stable(k) else "unstable"
            reason = f"fixed by the settings at k = {k}; it is {state} ({figures(k)})."
            if not stable(k):
                notes.append(f"the fixed k = {k} is unstable ({figures(k)})")
        else:
            reason = f"fixed by the settings at k = {k}."
            notes.append(
                f"k = {k} is outside the sweep ({ks[0]}..{ks[-1]}); there are no diagnostics for it"
            )
        if signal != k:
            notes.append(f"{what} of the sweep is at k = {signal}, not at k = {k}")
    elif stable(signal):
        chosen, source = signal, "knee" if sweep.knee is not None else "silhouette"
        reason = f"{what} of the elbow curve, k = {chosen}, is stable ({figures(chosen)})."
    else:
        candidates = [c for c in ks if stable(c)]
        if candidates:
            chosen = min(candidates, key=lambda c: (abs(c - signal), c))
            source = "nearest-stable"
            reason = (
                f"{what}, k = {signal}, is unstable ({figures(signal)}); k = {chosen} is the "
                f"nearest stable k ({figures(chosen)})."
            )
        else:
            chosen = ks[int(np.argmax(sweep.stability))]
            source = "most-stable"
            reason = (
                f"{what}, k = {signal}, is unstable ({figures(signal)}) and no k in "
                f"{ks[0]}..{ks[-1]} is stable; k = {chosen} is the most stable ({figures(chosen)})."
            )
            notes.append(
                f"no k in {ks[0]}..{ks[-1]} reaches stability {min_stability} with every "
                f"segment's Jaccard >= {min_jaccard}: the segments may not survive new data"
            )
    if chosen in ks and best_sil != chosen and sweep.knee is not None:
        notes.append(f"silhouette peaks at k = {best_sil}, not at the chosen k = {chosen}")
    return KChoice(k=chosen, source=source, reason=reason, knee=sweep.knee, warnings=notes)


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
    data = as_matrix(X)
    with limit_threads(n_threads):
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


# --------------------------------------------------------------------------- comparison


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
    idx = _sample_rows(np.random.default_rng(seed), data.shape[0], sample)
    with limit_threads(n_threads):
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


def as_matrix(X: npt.ArrayLike) -> FloatArray:
    """``X`` as a float64 matrix, refusing an empty, non-2-D or non-finite one.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples, n_features)

    Raises
    ------
    ValueError
        ``X`` is not 2-D, has no rows, or holds NaN or infinite values.
    """
    data = np.asarray(X, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D matrix; got shape {data.shape}.")
    if not np.all(np.isfinite(data)):
        raise ValueError("X contains NaN or infinite values.")
    return data


def limit_threads(n_threads: int | None) -> Any:
    """Context limiting OpenMP and BLAS threads to ``n_threads`` (None: BLAS to one only).

    BLAS stays on one thread even for None: K-Means alternates BLAS calls (k-means++ init,
    predict) with OpenMP loops (Lloyd), and an idle OpenBLAS worker spin-waits, taking a core
    from the OpenMP threads (k = 2..12 sweep on 2 cores: 6.5 s with 2 BLAS threads, 3.0 s with
    1, same partitions). Local to the ``with`` block; nothing global is changed.

    Parameters
    ----------
    n_threads : int or None
        Threads for scikit-learn's OpenMP loops and BLAS (see :func:`fit_kmeans`).

    Returns
    -------
    threadpoolctl.threadpool_limits
        A context manager.
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
