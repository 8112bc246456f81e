"""K-Means and the choice of k (training.model.kmeans): planted structure is found, the sweep and
its diagnostics, stable ids, labelings compared. The Ward reference is tested in
tests/training/model/test_hierarchy.py."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, silhouette_score

from training.model import kmeans as clustering
from training.model.kmeans import (
    KSweep,
    bootstrap_stability,
    choose_k,
    compare_labelings,
    fit_kmeans,
    match_segments,
    relabel_by_size,
    stability_scores,
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
    return sweep_k(
        X, 2, 10, seed=0, silhouette_sample=2_000, stability_sample=2_000, stability_resamples=5
    )


# --------------------------------------------------------------------------- sweep and choice


def test_sweep_lists_are_complete_finite_and_json_ready(four_blobs_sweep: KSweep) -> None:
    sweep = four_blobs_sweep
    assert sweep.ks == list(range(2, 11))
    for name in (
        "inertia",
        "silhouette",
        "davies_bouldin",
        "calinski_harabasz",
        "stability",
        "stability_p10",
    ):
        values = getattr(sweep, name)
        assert len(values) == len(sweep.ks), name
        assert np.all(np.isfinite(values)), name
    assert [len(j) for j in sweep.jaccard] == sweep.ks  # one Jaccard per segment of each k
    assert all(p <= s for p, s in zip(sweep.stability_p10, sweep.stability, strict=True))
    assert np.all(np.diff(sweep.inertia) < 0)
    assert all(-1 <= s <= 1 for s in sweep.silhouette)
    assert sweep.silhouette_sample == 2_000
    assert sweep.stability_resamples == 5
    assert json.loads(json.dumps(sweep.to_dict())) == sweep.to_dict()


def test_knee_is_found_at_the_planted_k(four_blobs_sweep: KSweep) -> None:
    assert four_blobs_sweep.knee == 4
    choice = choose_k(four_blobs_sweep)
    assert (choice.k, choice.source, choice.knee) == (4, "knee", 4)
    assert choice.reason == (
        "the knee of the elbow curve, k = 4, is stable (1.00, lowest segment Jaccard 1.00)."
    )
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
    assert choice.reason.startswith("fixed by the settings at k = 6; it is ")
    assert "the knee of the sweep is at k = 4, not at k = 6" in choice.warnings
    outside = choose_k(four_blobs_sweep, k=15)
    assert outside.k == 15
    assert any("outside the sweep" in w for w in outside.warnings)


def _sweep(knee: int | None, silhouette: list[float], stability: list[float]) -> KSweep:
    """A hand-made sweep; every segment's Jaccard equals the k's overall stability."""
    ks = list(range(2, 2 + len(silhouette)))
    return KSweep(
        ks=ks,
        inertia=[100.0 / k for k in ks],
        silhouette=silhouette,
        davies_bouldin=[1.0] * len(ks),
        calinski_harabasz=[1.0] * len(ks),
        stability=stability,
        stability_p10=stability,
        jaccard=[[s] * k for s, k in zip(stability, ks, strict=True)],
        knee=knee,
        silhouette_sample=100,
        stability_resamples=20,
    )


def test_no_knee_falls_back_to_the_best_silhouette_with_a_warning() -> None:
    choice = choose_k(_sweep(None, [0.3, 0.5, 0.4, 0.2], [1.0, 0.95, 0.9, 0.9]))
    assert (choice.k, choice.source, choice.knee) == (3, "silhouette", None)
    assert choice.reason == (
        "the best silhouette of the elbow curve, k = 3, is stable (0.95, lowest segment "
        "Jaccard 0.95)."
    )
    assert choice.warnings == [
        "no knee in the elbow curve over k = 2..5; the best silhouette (k = 3) took its place"
    ]


def test_disagreeing_diagnostics_give_warnings() -> None:
    choice = choose_k(_sweep(5, [0.3, 0.5, 0.4, 0.2], [1.0, 0.95, 0.9, 0.71]))
    assert (choice.k, choice.source) == (4, "nearest-stable")
    assert choice.reason.startswith("the knee, k = 5, is unstable (0.71,")
    assert "silhouette peaks at k = 3, not at the chosen k = 4" in choice.warnings


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


# ------------------------------------------------------------------ stability and the choice of k
def _stability_sweep(
    knee: int | None, stability: list[float], lowest_jaccard: list[float]
) -> KSweep:
    ks = list(range(2, 2 + len(stability)))
    return KSweep(
        ks=ks,
        inertia=[100.0 / k for k in ks],
        silhouette=[0.3] * len(ks),
        davies_bouldin=[1.0] * len(ks),
        calinski_harabasz=[1.0] * len(ks),
        stability=stability,
        stability_p10=[s - 0.05 for s in stability],
        jaccard=[[j, min(1.0, j + 0.1)] for j in lowest_jaccard],
        knee=knee,
        silhouette_sample=1_000,
        stability_resamples=20,
    )


def test_an_unstable_knee_gives_way_to_the_nearest_stable_k() -> None:
    #            k = 2     3     4     5     6     7     8
    stability = [0.99, 0.95, 0.70, 0.90, 0.63, 0.91, 0.60]
    jaccard = [0.99, 0.93, 0.55, 0.86, 0.52, 0.88, 0.40]
    choice = choose_k(_stability_sweep(6, stability, jaccard))
    assert (choice.k, choice.source, choice.knee) == (5, "nearest-stable", 6)  # 5 and 7 tie: fewer
    assert choice.reason == (
        "the knee, k = 6, is unstable (0.63, lowest segment Jaccard 0.52); k = 5 is the nearest "
        "stable k (0.90, lowest segment Jaccard 0.86)."
    )


def test_a_stable_knee_is_kept_and_a_segment_under_the_jaccard_bar_is_unstable() -> None:
    stability = [0.99, 0.95, 0.92, 0.90, 0.95]
    choice = choose_k(_stability_sweep(4, stability, [0.99, 0.93, 0.88, 0.70, 0.74]))
    assert (choice.k, choice.source) == (4, "knee")
    assert choice.reason == (
        "the knee of the elbow curve, k = 4, is stable (0.92, lowest segment Jaccard 0.88)."
    )
    # k = 6 has a high overall stability, but one segment under 0.75: not stable
    assert not _stability_sweep(4, stability, [0.99, 0.93, 0.88, 0.70, 0.74]).is_stable(
        6, 0.85, 0.75
    )


def test_nothing_stable_gives_the_most_stable_k_with_a_warning() -> None:
    choice = choose_k(_stability_sweep(4, [0.80, 0.84, 0.60, 0.70], [0.9, 0.9, 0.5, 0.6]))
    assert (choice.k, choice.source) == (3, "most-stable")
    assert any("no k in 2..5 reaches stability 0.85" in w for w in choice.warnings)


def test_a_fixed_k_is_honoured_and_its_stability_reported() -> None:
    sweep = _stability_sweep(4, [0.99, 0.95, 0.92, 0.60], [0.99, 0.93, 0.88, 0.50])
    choice = choose_k(sweep, 5)
    assert (choice.k, choice.source) == (5, "fixed")
    assert choice.reason == (
        "fixed by the settings at k = 5; it is unstable (0.60, lowest segment Jaccard 0.50)."
    )
    assert "the fixed k = 5 is unstable (0.60, lowest segment Jaccard 0.50)" in choice.warnings
    assert choose_k(sweep, 3).reason.endswith("it is stable (0.95, lowest segment Jaccard 0.93).")


def test_planted_blobs_are_stable_at_the_knee(four_blobs_sweep: KSweep) -> None:
    i = four_blobs_sweep.ks.index(4)
    assert four_blobs_sweep.stability[i] > 0.99
    assert min(four_blobs_sweep.jaccard[i]) > 0.95
    assert choose_k(four_blobs_sweep).k == 4


def _three_blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])
    labels = np.repeat(np.arange(3), 600)
    return centres[labels] + rng.normal(size=(labels.size, 2)), labels


def test_well_separated_segments_have_a_high_bootstrap_jaccard() -> None:
    x, labels = _three_blobs()
    scores = bootstrap_stability(x, labels, 3, resamples=20, seed=1)
    assert min(scores.jaccard) >= 0.9 and scores.ari >= 0.9
    assert scores.resamples == 20 and len(scores.jaccard) == 3


def test_a_segment_split_at_random_dissolves() -> None:
    x, labels = _three_blobs()
    rng = np.random.default_rng(2)
    split = labels.copy()
    third = np.flatnonzero(labels == 2)
    split[third[rng.random(third.size) < 0.5]] = 3  # blob 2 cut in two halves at random
    scores = bootstrap_stability(x, split, 4, resamples=20, seed=3)
    assert scores.jaccard[2] < 0.6 and scores.jaccard[3] < 0.6
    assert scores.ari < 0.85


def test_stability_scores_by_hand() -> None:
    reference = np.array([0, 0, 0, 1, 1, 1])
    same = np.array([5, 5, 5, 7, 7, 7])  # any label values
    moved = np.array([0, 0, 1, 1, 1, 1])
    scores = stability_scores(reference, [same, moved], 2)
    # segment 0: Jaccard 1 then 2/3; segment 1: 1 then 3/4
    assert scores.jaccard == pytest.approx([(1 + 2 / 3) / 2, (1 + 3 / 4) / 2])
    assert scores.by_id([4, 9])["jaccard"] == {"4": scores.jaccard[0], "9": scores.jaccard[1]}
