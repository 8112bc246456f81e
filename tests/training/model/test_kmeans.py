"""The final K-Means (training.model.kmeans): planted clusters are found, the partition does not
depend on the seed."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.metrics import adjusted_rand_score

from training.model.kmeans import fit_kmeans

FloatArray = npt.NDArray[np.float64]


def test_kmeans_recovers_planted_clusters(five_blobs: tuple[FloatArray, npt.NDArray[np.intp]]):
    X, y = five_blobs
    model = fit_kmeans(X, 5, seed=0)
    assert adjusted_rand_score(y, model.labels_) >= 0.9


def test_kmeans_partition_does_not_depend_on_the_seed(
    five_blobs: tuple[FloatArray, npt.NDArray[np.intp]],
) -> None:
    X, _ = five_blobs
    a, b = fit_kmeans(X, 5, seed=0), fit_kmeans(X, 5, seed=1)
    assert adjusted_rand_score(a.labels_, b.labels_) >= 0.95
