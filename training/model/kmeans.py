"""K-Means itself: the final fit and the helpers every K-Means step shares.

:func:`fit_kmeans` fits the final model (its ids are K-Means' own: :mod:`training.model.ids`
numbers them). :func:`make_kmeans` is the one estimator configuration of the sweep, the
bootstrap and the final fit; :func:`as_matrix` checks an input matrix; :func:`limit_threads`
bounds OpenMP and BLAS threads; :func:`sample_rows` draws a seeded sample of rows.

Determinism: every random step takes an int seed; equal data and seed give identical results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

__all__ = [
    "Distinct",
    "FloatArray",
    "IntArray",
    "as_matrix",
    "distinct_rows",
    "fit_kmeans",
    "limit_threads",
    "make_kmeans",
    "map_in_threads",
    "sample_rows",
]


def fit_kmeans(
    X: npt.ArrayLike, k: int, *, seed: int = 0, n_init: int = 10, n_threads: int | None = 1
) -> KMeans:
    """Fit the final K-Means (k-means++ initialisation, Lloyd, ``n_init`` seeded restarts) on the
    distinct rows of X weighted by their counts (:class:`Distinct`: the rows' K-Means, at a
    fifth of the cost on the learner table); ``labels_`` are every row's labels.

    Its first restarts are the k sweep's fit at the same k and seed (the same rows, the same
    random stream), so the final fit is at least as good as the sweep's and usually the same
    partition: the sweep's figures at the published k are then the published partition's.

    One restart is seed-unstable on the learner table (ARI 0.66 between seeds); 10 restarts make
    a second seed give the same partition (0.1-0.3 s on the default table's distinct rows).

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
    with limit_threads(n_threads):
        return distinct_rows(X).fit_rows(k, seed, n_init)


@dataclass(frozen=True)
class Distinct:
    """The distinct rows of a matrix, each with how many rows hold it.

    K-Means on the distinct rows weighted by their counts is K-Means on the rows: the same
    objective, the same Lloyd steps and the same k-means++ odds (the random stream picks other,
    equally likely, starting centres). The learners' inputs repeat a lot (153,443 learners of
    the default table hold 30,535 distinct rows of years, pay against peers and company tier),
    so a fit on the distinct rows costs about a fifth.

    Attributes
    ----------
    values : ndarray of shape (n_distinct, n_features)
        The distinct rows (sorted).
    inverse : ndarray of int, shape (n_rows,)
        Each row's index in ``values``.
    counts : ndarray of float, shape (n_distinct,)
        Rows holding each distinct row.
    """

    values: FloatArray
    inverse: IntArray
    counts: FloatArray

    def fit(self, k: int, seed: int, n_init: int, weights: FloatArray | None = None) -> KMeans:
        """K-Means of the rows (:func:`make_kmeans`) fitted on the distinct rows, each weighted
        by its count (or by ``weights``, one per distinct row: a resample's draws)."""
        counts = self.counts if weights is None else weights
        used = np.flatnonzero(counts)
        values, weight = self.values[used], counts[used]
        model = make_kmeans(k, seed, n_init)
        # Lloyd stops when the centres move less than tol x the data's mean variance: the rows'
        # variance, not the distinct rows' (rare values weigh more among those), so that it
        # stops where the fit on the rows would.
        mean = np.average(values, axis=0, weights=weight)
        rows_var = float(np.average((values - mean) ** 2, axis=0, weights=weight).mean())
        values_var = float(values.var(axis=0).mean())
        if rows_var > 0 and values_var > 0:
            model.set_params(tol=model.tol * rows_var / values_var)
        return model.fit(values, sample_weight=weight)

    def fit_rows(self, k: int, seed: int, n_init: int) -> KMeans:
        """:meth:`fit` with every row's count, its ``labels_`` every row's (scikit-learn's would
        be the distinct rows'), as a fit on the rows leaves them."""
        model = self.fit(k, seed, n_init)
        model.labels_ = self.labels(model).astype(np.int32)
        return model

    def labels(self, model: KMeans) -> IntArray:
        """Every row's segment under ``model``: each distinct row placed once."""
        placed: IntArray = np.asarray(model.predict(self.values), np.intp)
        return placed[self.inverse]


def distinct_rows(X: npt.ArrayLike) -> Distinct:
    """The :class:`Distinct` rows of ``X``."""
    data = as_matrix(X)
    values, inverse, counts = np.unique(data, axis=0, return_inverse=True, return_counts=True)
    return Distinct(values, np.asarray(inverse, np.intp).reshape(-1), counts.astype(np.float64))


def make_kmeans(k: int, seed: int, n_init: int) -> KMeans:
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed, algorithm="lloyd")


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


def sample_rows(rng: np.random.Generator, n: int, size: int) -> IntArray:
    """Sorted seeded sample of ``size`` distinct row indices (all rows when n <= size)."""
    if n <= size:
        return np.arange(n, dtype=np.intp)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.intp)


def map_in_threads(
    fn: Callable[[_Item], _Result], items: Iterable[_Item], workers: int
) -> list[_Result]:
    """``[fn(item) for item in items]``, run in ``workers`` threads side by side, in order.

    For K-Means fits of one thread each (inside :func:`limit_threads`): scikit-learn's Lloyd
    loop releases the GIL, so two fits run on two cores. Each fit is the same whatever runs
    beside it, so results do not depend on ``workers`` (measured on 2 cores: 40 resampled fits
    in 0.82-0.86 s with 2 threads, 1.17-1.24 s with 1, same labels).
    """
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))
