"""The elbow sweep: K-Means for every k of a range, each partition measured.

:func:`sweep_k` gives the elbow curve (inertia), the silhouette, Davies-Bouldin,
Calinski-Harabasz and bootstrap stability per k (:mod:`training.model.stability`), and the knee
(:func:`find_knee`); :mod:`training.model.choice` picks k from it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from kneed import KneeLocator
from sklearn.cluster import KMeans

from training.model.compare import mean_silhouettes
from training.model.kmeans import (
    Distinct,
    IntArray,
    as_matrix,
    distinct_rows,
    limit_threads,
    sample_rows,
)
from training.model.stability import (
    StabilityScores,
    draw_resamples,
    resampled_labels,
    stability_scores,
)
from training.model.workers import FitWorkers
from training.progress import StepProgress

__all__ = [
    "FullFit",
    "KSweep",
    "ResampledFits",
    "SilhouetteSample",
    "find_knee",
    "fit_all_rows",
    "resampled_fits",
    "same_partition",
    "separation_scores",
    "sweep_k",
]


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
    resampled : ResampledFits or None
        The resampled fits' labels of the stability rows, per k, kept for the stability of the
        published partition (:meth:`ResampledFits.scores`); not part of the JSON.
    evaluated : SilhouetteSample or None
        The silhouette sample's partitions and the reference's silhouettes, kept so that the
        comparison need not measure them again (:meth:`SilhouetteSample.silhouettes`); not part
        of the JSON.
    fitted : dict of int to KMeans
        Each k's fit on all rows (``labels_`` every row's), kept so that a run whose final fit
        is the sweep's (the same k, seed and restarts) does not fit it again; not in the JSON.
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
    resampled: ResampledFits | None = field(default=None, repr=False, compare=False)
    evaluated: SilhouetteSample | None = field(default=None, repr=False, compare=False)
    fitted: dict[int, KMeans] = field(default_factory=dict, repr=False, compare=False)

    def is_stable(self, k: int, min_stability: float, min_jaccard: float) -> bool:
        """Whether ``k`` (one of ``ks``) passes both thresholds."""
        i = self.ks.index(k)
        return self.stability[i] >= min_stability and min(self.jaccard[i]) >= min_jaccard

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of the figures (not ``resampled``, ``evaluated`` or
        ``fitted``)."""
        out = asdict(replace(self, resampled=None, evaluated=None, fitted={}))
        del out["resampled"], out["evaluated"], out["fitted"]
        return out


@dataclass(frozen=True)
class ResampledFits:
    """What the sweep's bootstrap fitted: the rows it evaluated on and every resampled labelling.

    Attributes
    ----------
    n : int
        Rows of the matrix the sweep ran on (the stability rows index it).
    rows : ndarray of int, shape (n_stability,)
        The stability rows.
    labels : dict of int to list of ndarray of int, shape (n_stability,)
        Per k, each resampled fit's labels of the stability rows.
    """

    n: int
    rows: IntArray
    labels: dict[int, list[IntArray]]

    def scores(self, labels: npt.ArrayLike, k: int) -> StabilityScores | None:
        """Bootstrap stability of another k-segment partition of the same n rows (``labels`` of
        all n), against the same resampled fits; None when the sweep did not fit k."""
        every = np.asarray(labels, np.intp)
        if k not in self.labels or every.shape != (self.n,):
            return None
        return stability_scores(every[self.rows], self.labels[k], k)


@dataclass(frozen=True)
class SilhouetteSample:
    """The partitions the sweep's one pass of distances measured on its silhouette sample.

    Attributes
    ----------
    n : int
        Rows of the matrix the sweep ran on.
    rows : ndarray of int, shape (n_sample,)
        The silhouette sample (the comparison's too: the same seed and size draw the same rows).
    labels : dict of int to ndarray of int, shape (n_sample,)
        Per k, the sweep's fit's labels of the sample.
    reference : dict of int to tuple of (ndarray of int, float)
        Per k, the reference partition's labels of the sample and its mean silhouette (empty
        when the sweep was given no reference).
    silhouette : dict of int to float
        Per k, the mean silhouette of the sweep's fit.
    """

    n: int
    rows: IntArray
    labels: dict[int, IntArray]
    reference: dict[int, tuple[IntArray, float]]
    silhouette: dict[int, float]

    def silhouettes(self, a: npt.ArrayLike, b: npt.ArrayLike, k: int) -> tuple[float, float] | None:
        """The mean silhouettes of two k-cluster partitions of all n rows (``a``: K-Means',
        ``b``: the reference's) on this sample, when the pass measured those very partitions
        (the same groups of the sample, whatever their numbers); None otherwise."""
        first, second = np.asarray(a), np.asarray(b)
        if k not in self.labels or k not in self.reference:
            return None
        if first.shape != (self.n,) or second.shape != (self.n,):
            return None
        labels, (reference, reference_silhouette) = self.labels[k], self.reference[k]
        if not (
            same_partition(first[self.rows], labels)
            and same_partition(second[self.rows], reference)
        ):
            return None
        return self.silhouette[k], reference_silhouette


def same_partition(a: npt.ArrayLike, b: npt.ArrayLike) -> bool:
    """Whether two labelings of the same rows group them alike (label numbers aside)."""
    first, second = np.asarray(a).ravel(), np.asarray(b).ravel()
    if first.shape != second.shape:
        return False
    pairs = np.unique(np.column_stack([first, second]), axis=0)
    return len(pairs) == len(np.unique(first)) == len(np.unique(second))


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
    workers: int = 1,
    pool: FitWorkers | None = None,
    reference: Callable[[int], IntArray] | None = None,
    queued: Callable[[], None] | None = None,
    progress: StepProgress | None = None,
) -> KSweep:
    """Fit K-Means for every k in ``k_min..k_max`` and measure each partition.

    Inertia, Davies-Bouldin and Calinski-Harabasz are computed on all rows (they cost O(n)). The
    silhouette costs O(n^2), so it is computed on one seeded sample of ``silhouette_sample`` rows,
    the same rows for every k, with one pass of pairwise distances shared by all k. Stability
    (:func:`~training.model.stability.bootstrap_stability`) is measured on one seeded sample of
    ``stability_sample`` rows: ``stability_resamples`` bootstrap resamples of it, K-Means on each
    (its own seed, so initialisation noise counts too), each fit labelling the whole sample,
    compared with the fit on all rows.

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
    workers : int, default=1
        K-Means fits run side by side in this many worker processes
        (:class:`~training.model.workers.FitWorkers`: every k's fit on all rows and resampled
        fits, queued in order of k), and the silhouette's blocks in as many threads; results do
        not depend on it.
    pool : FitWorkers, optional
        Worker processes to use (a run shares its own); by default the sweep starts ``workers``.
    reference : callable, optional
        ``reference(k)``: another partition of all rows into k clusters (the hierarchical
        reference cut at k), called for every k once the fits are done; the same pass of
        distances measures its silhouettes (``evaluated``), which the comparison then reuses.
    queued : callable, optional
        Called once every k's fits are queued in ``pool``: work the caller queues then runs in
        the workers as the sweep's fits run out (a run's later work, which needs no k).
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
    eval_idx = sample_rows(rng, n, silhouette_sample)
    stability_idx = sample_rows(rng, n, stability_sample)
    ks = list(range(k_min, k_max + 1))
    distinct, sample = distinct_rows(data), distinct_rows(data[stability_idx])
    # Every k's fits are queued at once: a k's figures are measured while the next k's fits
    # already run, so no core waits at the end of each k for its slowest fit.
    with limit_threads(n_threads), _workers(pool, workers) as fitting:
        pending = [
            _submit(
                fitting, distinct, sample, k, seed, n_init, stability_resamples, stability_n_init
            )
            for k in ks
        ]
        if queued is not None:
            queued()
        fits = [
            _measure(k, eval_idx, stability_idx, jobs, progress)
            for k, jobs in zip(ks, pending, strict=True)
        ]
    evaluated = _evaluate(data, ks, fits, eval_idx, reference, n_threads, workers, progress)
    return _sweep_of(ks, fits, evaluated, stability_idx, stability_resamples)


def _evaluate(
    data: npt.NDArray[np.float64],
    ks: list[int],
    fits: list[_KFit],
    eval_idx: IntArray,
    reference: Callable[[int], IntArray] | None,
    n_threads: int | None,
    workers: int,
    progress: StepProgress | None,
) -> SilhouetteSample:
    """Every k's partition of the silhouette sample, and the reference's at every k, measured
    in one pass of distances."""
    labelings = [f.sample_labels for f in fits]
    others = [] if reference is None else [np.asarray(reference(k))[eval_idx] for k in ks]
    measured = _silhouettes(data[eval_idx], labelings + others, n_threads, workers, progress)
    return SilhouetteSample(
        n=data.shape[0],
        rows=eval_idx,
        labels=dict(zip(ks, labelings, strict=True)),
        reference={
            k: (other, float(value))
            for k, other, value in zip(ks, others, measured[len(ks) :], strict=False)
        },
        silhouette={k: float(value) for k, value in zip(ks, measured, strict=False)},
    )


def _sweep_of(
    ks: list[int],
    fits: list[_KFit],
    evaluated: SilhouetteSample,
    stability_idx: IntArray,
    stability_resamples: int,
) -> KSweep:
    """The sweep's figures from each k's fit and the silhouette sample's pass."""
    inertia = [f.inertia for f in fits]
    scores = [f.stability for f in fits]
    return KSweep(
        ks=ks,
        inertia=inertia,
        silhouette=[evaluated.silhouette[k] for k in ks],
        davies_bouldin=[f.davies_bouldin for f in fits],
        calinski_harabasz=[f.calinski_harabasz for f in fits],
        stability=[s.ari for s in scores],
        stability_p10=[s.ari_p10 for s in scores],
        jaccard=[s.jaccard for s in scores],
        knee=find_knee(ks, inertia),
        silhouette_sample=len(evaluated.rows),
        stability_resamples=stability_resamples,
        resampled=ResampledFits(
            n=evaluated.n,
            rows=stability_idx,
            labels={k: f.resampled for k, f in zip(ks, fits, strict=True)},
        ),
        evaluated=evaluated,
        fitted={k: f.model for k, f in zip(ks, fits, strict=True)},
    )


@dataclass(frozen=True)
class _KFit:
    """One k of the sweep: the fit's figures on all rows and its stability."""

    inertia: float
    davies_bouldin: float
    calinski_harabasz: float
    sample_labels: IntArray
    stability: StabilityScores
    resampled: list[IntArray]
    model: KMeans


def _silhouettes(
    sample: npt.NDArray[np.float64],
    labelings: list[IntArray],
    n_threads: int | None,
    workers: int,
    progress: StepProgress | None,
) -> list[float]:
    """Mean silhouette of every partition of the evaluation sample, from one pass."""
    start = time.perf_counter()
    with limit_threads(n_threads):
        silhouette = mean_silhouettes(sample, labelings, workers)
    if progress is not None:
        progress(
            f"silhouette of {len(labelings)} partitions on {len(sample):,} rows "
            f"({time.perf_counter() - start:.1f} s)"
        )
    return silhouette


def _workers(pool: FitWorkers | None, workers: int) -> AbstractContextManager[FitWorkers]:
    """The sweep's workers: its own (closed when it ends), or a run's, left running."""
    return FitWorkers(workers) if pool is None else nullcontext(pool)


#: Resampled fits per task sent to a worker (fewer round trips; still 4 tasks per k to share).
_DRAWS_PER_TASK = 5


@dataclass(frozen=True)
class FullFit:
    """K-Means with k segments fitted on every row (on the distinct rows with their counts).

    Attributes
    ----------
    model : KMeans
        The fitted estimator, ``labels_`` every row's (the final model when the sweep's k and
        restarts are the final fit's: the same fit, so the run does not fit it again).
    inertia, davies_bouldin, calinski_harabasz : float
        The figures of all rows.
    """

    model: KMeans
    inertia: float
    davies_bouldin: float
    calinski_harabasz: float


_Jobs = tuple["Future[FullFit]", list["Future[list[IntArray]]"]]


def fit_all_rows(distinct: Distinct, k: int, seed: int, n_init: int) -> FullFit:
    """K-Means with ``k`` segments on every row (fitted on the distinct rows with their counts:
    :class:`~training.model.kmeans.Distinct`), with the figures of all rows (run in a worker)."""
    model = distinct.fit_rows(k, seed, n_init)
    by_value = np.empty(len(distinct.values), np.intp)
    by_value[distinct.inverse] = model.labels_  # each distinct row's label
    scores = separation_scores(distinct.values, by_value, distinct.counts)
    return FullFit(model, float(model.inertia_), *scores)


def separation_scores(
    data: npt.NDArray[np.float64], labels: IntArray, weights: npt.ArrayLike | None = None
) -> tuple[float, float]:
    """Davies-Bouldin and Calinski-Harabasz index of a partition of the rows of ``data``, each
    row counted ``weights[i]`` times (once by default: distinct rows weighted by their counts
    give the indices of all rows).

    ``sklearn.metrics.davies_bouldin_score`` and ``calinski_harabasz_score`` (the same
    definitions; equal to rounding, a test checks), from one pass of per-cluster sums instead
    of one pass over the rows per cluster and per index (0.35 s of CPU per sweep).
    """
    _, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(-1)
    w = np.ones(len(codes)) if weights is None else np.asarray(weights, np.float64)
    k, n = int(codes.max()) + 1, float(w.sum())
    if not 1 < k < n:
        raise ValueError(f"Need 2 to n_samples - 1 clusters for the indices; got {k}.")
    sizes = np.bincount(codes, weights=w, minlength=k)
    sums = np.column_stack([np.bincount(codes, weights=col * w, minlength=k) for col in data.T])
    centroids = sums / sizes[:, None]
    offsets = data - centroids[codes]
    squared = np.einsum("ij,ij->i", offsets, offsets)
    intra = np.bincount(codes, weights=np.sqrt(squared) * w, minlength=k) / sizes
    between = np.sqrt(((centroids[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(intra, 0) or np.allclose(between, 0):
        davies_bouldin = 0.0
    else:
        between[between == 0] = np.inf
        davies_bouldin = float(np.mean(np.max((intra[:, None] + intra) / between, axis=1)))
    within = float((squared * w).sum())
    mean = (data * w[:, None]).sum(axis=0) / n
    spread = float((sizes * ((centroids - mean) ** 2).sum(axis=1)).sum())
    calinski = 1.0 if within == 0.0 else spread * (n - k) / (within * (k - 1.0))
    return davies_bouldin, calinski


def resampled_fits(
    sample: Distinct, k: int, draws: list[tuple[IntArray, int]], n_init: int
) -> list[IntArray]:
    """:func:`~training.model.stability.resampled_labels` of several draws, in order."""
    return [np.asarray(resampled_labels(sample, k, draw, n_init), np.int16) for draw in draws]


def _submit(
    pool: FitWorkers,
    data: Distinct,
    sample: Distinct,
    k: int,
    seed: int,
    n_init: int,
    stability_resamples: int,
    stability_n_init: int,
) -> _Jobs:
    """K-Means with ``k`` segments on all rows and the resampled fits of its bootstrap (the
    draws of :func:`~training.model.stability.bootstrap_stability`, seed ``seed + k``), queued
    in ``pool``; each is the same fit wherever it runs."""
    draws = draw_resamples(len(sample.inverse), stability_resamples, seed + k)
    full = pool.submit(fit_all_rows, data, k, seed, n_init)
    resampled = [
        pool.submit(resampled_fits, sample, k, draws[i : i + _DRAWS_PER_TASK], stability_n_init)
        for i in range(0, len(draws), _DRAWS_PER_TASK)
    ]
    return full, resampled


def _measure(
    k: int,
    eval_idx: IntArray,
    stability_idx: IntArray,
    jobs: _Jobs,
    progress: StepProgress | None,
) -> _KFit:
    """The figures of one k's fit on all rows and its bootstrap stability, once its fits are
    done."""
    start = time.perf_counter()
    full = jobs[0].result()
    labels = np.asarray(full.model.labels_, np.intp)
    figures = (full.inertia, full.davies_bouldin, full.calinski_harabasz)
    labelings = [labeling for job in jobs[1] for labeling in job.result()]
    stability = stability_scores(labels[stability_idx], labelings, k)
    if progress is not None:
        progress(
            f"k = {k}: inertia {figures[0]:.4g}, stability {stability.ari:.2f}, "
            f"lowest segment Jaccard {min(stability.jaccard):.2f} "
            f"({time.perf_counter() - start:.1f} s)"
        )
    return _KFit(*figures, labels[eval_idx], stability, labelings, full.model)


def find_knee(ks: list[int], inertia: list[float]) -> int | None:
    """Knee of an elbow curve (``kneed``, convex and decreasing); None without one."""
    if len(ks) < 3:
        return None
    with warnings.catch_warnings():
        # older kneed versions warn "No knee/elbow found"; None is the answer we handle
        warnings.filterwarnings("ignore", message="No knee", category=UserWarning)
        knee = KneeLocator(ks, inertia, curve="convex", direction="decreasing").knee
    return None if knee is None else int(knee)
