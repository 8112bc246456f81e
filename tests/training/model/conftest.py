"""Fixtures of the model tests: planted blobs and their sweep."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.datasets import make_blobs

from training.model.sweep import KSweep, sweep_k

FloatArray = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def five_blobs() -> tuple[FloatArray, npt.NDArray[np.intp]]:
    X, y = make_blobs(n_samples=3_000, n_features=6, centers=5, cluster_std=1.0, random_state=3)
    return X, y


@pytest.fixture(scope="module")
def four_blobs_sweep() -> KSweep:
    """4 well-separated blobs: the elbow is unambiguous at k = 4."""
    X, _ = make_blobs(
        n_samples=4_000,
        n_features=5,
        centers=4,
        cluster_std=1.0,
        center_box=(-20, 20),
        random_state=7,
    )
    return sweep_k(
        X, 2, 10, seed=0, silhouette_sample=2_000, stability_sample=2_000, stability_resamples=5
    )
