"""The hierarchical reference (training.model.hierarchy): size-weighted Ward equals scipy's Ward,
the two-stage Ward agrees with exact Ward and keeps outliers with their blob, and coarse groups."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy.cluster.hierarchy import is_valid_linkage, ward
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from training.model import hierarchy
from training.model.hierarchy import (
    coarse_groups,
    hierarchical_exact,
    hierarchical_two_stage,
    micro_clusters,
)

FloatArray = npt.NDArray[np.float64]


def _outlier_blobs(n_out: int = 80) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """3 blobs of 2,000 points 10 apart, and a diffuse tail of outliers 30 away from blob 0.

    Exact Ward keeps the tail with blob 0 (the 3 clusters are the 3 blobs); Ward on unweighted
    micro-centres counts the tail's micro-clusters like a blob's and splits it off instead.
    """
    rng = np.random.default_rng(0)
    centres = np.zeros((3, 4))
    centres[1, 0] = centres[2, 1] = 10.0
    truth = np.repeat(np.arange(3), 2_000)
    X = centres[truth] + rng.normal(size=(truth.size, 4))
    tail = np.array([-30.0, 0.0, 0.0, 0.0]) + rng.normal(scale=10.0, size=(n_out, 4))
    return np.vstack([X, tail]), truth


# --------------------------------------------------------------------------- Ward


def test_weighted_ward_equals_scipy_ward_with_unit_and_integer_sizes() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(120, 3))
    linkage = hierarchy._weighted_ward(points, np.ones(120))
    assert is_valid_linkage(linkage)
    np.testing.assert_allclose(linkage, ward(points), atol=1e-10)
    sizes = rng.integers(1, 5, size=120)
    weighted = hierarchy._weighted_ward(points, sizes)
    repeated = ward(np.repeat(points, sizes, axis=0))
    # the repeated copies merge first at height 0; the rest is the weighted tree
    np.testing.assert_allclose(weighted[:, 2], repeated[-119:, 2], atol=1e-10)
    for k in (2, 4, 7):
        a = np.repeat(hierarchy._cut_tree(weighted, k), sizes)
        assert adjusted_rand_score(a, hierarchy._cut_tree(repeated, k)) == 1.0


def test_two_stage_agrees_with_exact_ward() -> None:
    X, y = make_blobs(n_samples=6_000, n_features=5, centers=4, cluster_std=1.5, random_state=2)
    exact = hierarchical_exact(X, 4)
    two = hierarchical_two_stage(X, 4, seed=0, n_micro=300)
    assert adjusted_rand_score(exact.labels, two.labels) >= 0.9
    assert adjusted_rand_score(y, two.labels) >= 0.9
    assert two.method == "two-stage" and exact.method == "exact"
    assert two.n_micro is not None and two.n_micro <= 300
    assert two.linkage.shape == (two.n_micro - 1, 4) and is_valid_linkage(two.linkage)
    assert two.leaf_sizes is not None and int(two.leaf_sizes.sum()) == X.shape[0]
    assert exact.linkage.shape == (X.shape[0] - 1, 4) and exact.n_micro is None
    for h in (two, exact):
        assert sorted(np.unique(h.labels).tolist()) == [0, 1, 2, 3]
        assert np.all(np.diff(np.bincount(h.labels)) <= 0)  # 0 = largest


def test_two_stage_is_deterministic_for_a_seed() -> None:
    X, _ = make_blobs(n_samples=3_000, n_features=4, centers=3, random_state=0)
    a = hierarchical_two_stage(X, 3, seed=4, n_micro=200)
    b = hierarchical_two_stage(X, 3, seed=4, n_micro=200)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.linkage, b.linkage)


def test_size_weights_keep_outliers_with_their_blob(monkeypatch: pytest.MonkeyPatch) -> None:
    X, truth = _outlier_blobs()
    exact = hierarchical_exact(X, 3)
    weighted = hierarchical_two_stage(X, 3, seed=0, n_micro=300)
    assert adjusted_rand_score(truth, exact.labels[: truth.size]) == 1.0
    assert adjusted_rand_score(exact.labels, weighted.labels) >= 0.95
    assert np.bincount(weighted.labels).min() > 1_900  # no cluster of outliers

    # the same two stages with every micro-centre counted once: the outliers split off
    unweighted_ward = hierarchy._weighted_ward
    monkeypatch.setattr(
        hierarchy, "_weighted_ward", lambda p, w: unweighted_ward(p, np.ones(len(p)))
    )
    unweighted = hierarchical_two_stage(X, 3, seed=0, n_micro=300)
    assert np.bincount(unweighted.labels).min() < 100
    assert adjusted_rand_score(exact.labels, unweighted.labels) < 0.7


def test_two_stage_with_fewer_rows_than_micro_clusters_is_exact_ward() -> None:
    X, _ = make_blobs(n_samples=150, n_features=3, centers=3, random_state=0)
    two = hierarchical_two_stage(X, 3, n_micro=2_000)
    assert two.n_micro == 150
    assert adjusted_rand_score(two.labels, hierarchical_exact(X, 3).labels) == 1.0


# --------------------------------------------------------------------------- coarse groups


def test_coarse_groups_put_nearby_segments_together() -> None:
    centers = np.array([[0.0, 0.0], [10.0, 10.0], [0.5, 0.0], [0.0, 0.5], [10.5, 10.0]])
    sizes = np.array([100, 80, 60, 40, 20])
    assert coarse_groups(centers, sizes) == [0, 1, 0, 0, 1]


def test_coarse_groups_choose_three_when_the_tree_has_three_branches() -> None:
    centers = np.array([[0.0, 0.0], [0.0, 0.4], [10.0, 0.0], [10.0, 0.4], [5.0, 9.0], [5.4, 9.0]])
    sizes = np.full(6, 50)
    groups = coarse_groups(centers, sizes)
    assert groups == [0, 0, 1, 1, 2, 2]
    assert len(set(coarse_groups(centers, sizes, n_coarse=2))) == 2


def test_coarse_groups_return_two_or_three_groups_on_any_layout() -> None:
    rng = np.random.default_rng(0)
    for k in range(1, 10):
        groups = coarse_groups(rng.normal(size=(k, 4)), rng.integers(10, 1_000, size=k))
        n_groups = len(set(groups))
        assert len(groups) == k
        assert n_groups == 1 if k == 1 else n_groups == 2 if k <= 3 else n_groups in (2, 3)
        # ids 0, 1, ... in order of first appearance
        firsts = [groups.index(g) for g in range(n_groups)]
        assert firsts == sorted(firsts) and firsts[0] == 0


def test_micro_clusters_computed_ahead_give_the_same_hierarchy() -> None:
    X, _ = make_blobs(n_samples=3_000, n_features=3, centers=4, random_state=5)
    ahead = micro_clusters(X, seed=2, n_micro=200)
    assert ahead.sizes.sum() == 3_000 and ahead.centres.shape == (ahead.sizes.size, 3)
    fresh = hierarchical_two_stage(X, 4, seed=2, n_micro=200)
    reused = hierarchical_two_stage(X, 4, seed=2, n_micro=200, micro=ahead)
    np.testing.assert_array_equal(fresh.labels, reused.labels)
    np.testing.assert_array_equal(fresh.linkage, reused.linkage)
    with pytest.raises(ValueError, match="another matrix"):
        hierarchical_two_stage(X[:100], 4, micro=ahead)
