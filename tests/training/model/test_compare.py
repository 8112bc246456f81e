"""Comparing partitions (training.model.compare): silhouettes as scikit-learn computes them,
identical and different labelings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_samples, silhouette_score

from training.model.compare import (
    compare_labelings,
    mean_silhouettes,
    reference_spread,
    segment_silhouettes,
    silhouette_rows,
)
from training.model.hierarchy import hierarchical_two_stage


def test_silhouette_matches_scikit_learn() -> None:
    X, y = make_blobs(n_samples=800, n_features=3, centers=4, random_state=1)
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 3, size=y.size)
    singleton = y.copy()
    singleton[0] = 9  # a cluster of one scores 0, as in scikit-learn
    ours = mean_silhouettes(X, [y, noisy, singleton])
    theirs = [silhouette_score(X, labels) for labels in (y, noisy, singleton)]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_row_and_segment_silhouettes_match_scikit_learn() -> None:
    X, y = make_blobs(n_samples=1_500, n_features=3, centers=4, random_state=3)
    noisy = np.random.default_rng(2).integers(0, 3, size=y.size)
    for ours, labels in zip(silhouette_rows(X, [y, noisy]), (y, noisy), strict=True):
        np.testing.assert_allclose(ours, silhouette_samples(X, labels), atol=1e-5)
    rows = np.sort(np.random.default_rng(4).choice(y.size, size=600, replace=False))
    values = silhouette_samples(X[rows], y[rows])
    expected = {s: float(values[y[rows] == s].mean()) for s in range(4)}
    by_segment = segment_silhouettes(X, y, seed=4, sample=600)
    assert by_segment.keys() == expected.keys()
    for segment, value in expected.items():
        assert by_segment[segment] == pytest.approx(value, abs=1e-5)


def test_silhouette_blocks_side_by_side_give_the_same_figures() -> None:
    X, y = make_blobs(n_samples=3_000, n_features=3, centers=4, random_state=2)  # 3 blocks
    noisy = np.random.default_rng(1).integers(0, 5, size=y.size)
    alone = mean_silhouettes(X, [y, noisy])
    assert mean_silhouettes(X, [y, noisy], workers=2) == alone


def test_compare_identical_and_permuted_labelings() -> None:
    X, y = make_blobs(n_samples=1_000, n_features=3, centers=4, random_state=0)
    same = compare_labelings(y, y, X)
    assert same["ari"] == pytest.approx(1.0) and same["nmi"] == pytest.approx(1.0)
    assert same["silhouette_a"] == same["silhouette_b"]
    perm = np.array([2, 3, 0, 1])
    permuted = compare_labelings(y, perm[y], X)
    assert permuted["ari"] == pytest.approx(1.0)
    assert permuted["best_match_jaccard"] == {
        str(a): {"match": int(perm[a]), "jaccard": 1.0} for a in range(4)
    }
    assert np.asarray(permuted["contingency"]).sum() == y.size
    assert json.loads(json.dumps(permuted)) == permuted


def test_compare_different_labelings() -> None:
    X, y = make_blobs(n_samples=1_000, n_features=3, centers=4, random_state=0)
    coarse = np.where(y < 2, 7, 8)  # other ids, fewer clusters
    result = compare_labelings(y, coarse, X, sample=500)
    assert 0 < result["ari"] < 1
    assert result["labels_b"] == [7, 8]
    table = np.asarray(result["contingency"])
    assert table.shape == (4, 2) and table.sum() == y.size
    assert result["silhouette_sample"] == 500
    for a, match in result["best_match_jaccard"].items():
        assert match["match"] == (7 if int(a) < 2 else 8)
        assert 0 < match["jaccard"] < 1


def test_the_reference_s_agreement_is_measured_over_several_seeds() -> None:
    X, truth = make_blobs(n_samples=3_000, centers=4, cluster_std=2.5, random_state=3)
    first = hierarchical_two_stage(X, 4, seed=0, n_micro=200)
    from sklearn.metrics import adjusted_rand_score

    ari = float(adjusted_rand_score(truth, first.labels))
    spread = reference_spread(truth, X, 4, ari, seed=0, seeds=4, n_micro=200)
    assert len(spread["ari_by_seed"]) == 4 and spread["ari_by_seed"][0] == ari
    # the other seeds are other references: their own ARIs, recomputed here
    second = hierarchical_two_stage(X, 4, seed=1, n_micro=200)
    assert spread["ari_by_seed"][1] == pytest.approx(adjusted_rand_score(truth, second.labels))
    assert spread["ari_min"] <= spread["ari_median"] <= spread["ari_max"]
    assert spread["ari_median"] == pytest.approx(float(np.median(spread["ari_by_seed"])))
    json.dumps(spread)
