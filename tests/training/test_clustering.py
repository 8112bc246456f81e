"""K-Means and the choice of k (training.clustering): planted structure is found, the sweep and
its diagnostics, stable ids, labelings compared. The Ward reference is tested in
tests/training/test_hierarchy.py."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, silhouette_score

from training import clustering
from training.clustering import (
    KSweep,
    choose_k,
    compare_labelings,
    fit_kmeans,
    match_segments,
    relabel_by_size,
    sweep_k,
)

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
    return sweep_k(X, 2, 10, seed=0, silhouette_sample=2_000, stability_sample=2_000)


# --------------------------------------------------------------------------- sweep and choice


def test_sweep_lists_are_complete_finite_and_json_ready(four_blobs_sweep: KSweep) -> None:
    sweep = four_blobs_sweep
    assert sweep.ks == list(range(2, 11))
    for name in ("inertia", "silhouette", "davies_bouldin", "calinski_harabasz", "stability"):
        values = getattr(sweep, name)
        assert len(values) == len(sweep.ks), name
        assert np.all(np.isfinite(values)), name
    assert np.all(np.diff(sweep.inertia) < 0)
    assert all(-1 <= s <= 1 for s in sweep.silhouette)
    assert sweep.silhouette_sample == 2_000
    assert sweep.stability_resamples == 3
    assert json.loads(json.dumps(sweep.to_dict())) == sweep.to_dict()


def test_knee_is_found_at_the_planted_k(four_blobs_sweep: KSweep) -> None:
    assert four_blobs_sweep.knee == 4
    choice = choose_k(four_blobs_sweep)
    assert (choice.k, choice.source) == (4, "knee")
    assert choice.reason == "k = 4: the knee of the elbow curve (kneed)."
    assert choice.warnings == []
    # the planted partition is the best and a stable one
    i = four_blobs_sweep.ks.index(4)
    assert int(np.argmax(four_blobs_sweep.silhouette)) == i
    assert four_blobs_sweep.stability[i] > 0.99


def test_sweep_is_deterministic_for_a_seed() -> None:
    X, _ = make_blobs(n_samples=1_500, n_features=4, centers=3, random_state=0)
    messages: list[str] = []
    first, second = (
        sweep_k(
            X,
            2,
            5,
            seed=5,
            silhouette_sample=1_000,
            stability_sample=1_000,
            progress=messages.append,
        )
        for _ in range(2)
    )
    assert first.to_dict() == second.to_dict()
    assert len(messages) == 2 * (4 + 1)  # one line per k, one for the silhouettes
    assert messages[0].startswith("k = 2: inertia ")


def test_fixed_k_overrides_the_knee(four_blobs_sweep: KSweep) -> None:
    choice = choose_k(four_blobs_sweep, k=6)
    assert (choice.k, choice.source) == (6, "fixed")
    assert choice.reason == "k = 6: fixed by the settings."
    assert "the knee of the elbow curve is at k = 4, not at k = 6" in choice.warnings
    outside = choose_k(four_blobs_sweep, k=15)
    assert outside.k == 15
    assert any("outside the sweep" in w for w in outside.warnings)


def _sweep(knee: int | None, silhouette: list[float], stability: list[float]) -> KSweep:
    ks = list(range(2, 2 + len(silhouette)))
    return KSweep(
        ks=ks,
        inertia=[100.0 / k for k in ks],
        silhouette=silhouette,
        davies_bouldin=[1.0] * len(ks),
        calinski_harabasz=[1.0] * len(ks),
        stability=stability,
        knee=knee,
        silhouette_sample=100,
        stability_resamples=3,
    )


def test_no_knee_falls_back_to_the_best_silhouette_with_a_warning() -> None:
    choice = choose_k(_sweep(None, [0.3, 0.5, 0.4, 0.2], [1.0, 0.95, 0.9, 0.9]))
    assert (choice.k, choice.source) == (3, "fallback")
    assert choice.reason.startswith("k = 3:")
    assert choice.warnings == [
        "no knee in the elbow curve over k = 2..5; fell back to the best silhouette (k = 3)"
    ]


def test_disagreeing_diagnostics_give_warnings() -> None:
    choice = choose_k(_sweep(5, [0.3, 0.5, 0.4, 0.2], [1.0, 0.95, 0.9, 0.71]))
    assert (choice.k, choice.source) == (5, "knee")
    assert "silhouette peaks at k = 3, not at the chosen k = 5" in choice.warnings
    assert "stability at k = 5 is 0.71 (< 0.8)" in choice.warnings


def test_silhouette_matches_scikit_learn() -> None:
    X, y = make_blobs(n_samples=800, n_features=3, centers=4, random_state=1)
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 3, size=y.size)
    singleton = y.copy()
    singleton[0] = 9  # a cluster of one scores 0, as in scikit-learn
    ours = clustering._silhouettes(X, [y, noisy, singleton])
    theirs = [silhouette_score(X, labels) for labels in (y, noisy, singleton)]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


# --------------------------------------------------------------------------- K-Means


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


def test_relabel_by_size_orders_by_size_and_ignores_the_input_ids() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 3))
    labels = np.repeat(np.arange(5), [30, 50, 10, 50, 20])  # segments 1 and 3 tie
    new_labels, new_centers = relabel_by_size(labels, centers)
    assert np.bincount(new_labels).tolist() == [50, 50, 30, 20, 10]
    np.testing.assert_array_equal(new_centers[new_labels], centers[labels])
    perm = rng.permutation(5)  # the same partition under other ids
    shuffled_centers = np.empty_like(centers)
    shuffled_centers[perm] = centers
    again_labels, again_centers = relabel_by_size(perm[labels], shuffled_centers)
    np.testing.assert_array_equal(again_labels, new_labels)
    np.testing.assert_array_equal(again_centers, new_centers)


def test_match_segments_recovers_a_shuffle() -> None:
    rng = np.random.default_rng(0)
    old = rng.normal(size=(6, 4)) * 3
    perm = rng.permutation(6)
    new = old[perm] + rng.normal(scale=0.05, size=old.shape)
    assert match_segments(old, new) == perm.tolist()


def test_match_segments_gives_fresh_ids_to_extra_segments() -> None:
    old = np.array([[0.0, 0.0], [10.0, 0.0]])
    new = np.array([[50.0, 50.0], [10.1, 0.0], [0.1, 0.0]])
    # the far-away new segment loses the matching and takes the first fresh id
    assert match_segments(old, new) == [2, 1, 0]
    assert match_segments(new, old) == [2, 1]


# --------------------------------------------------------------------------- comparison


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
