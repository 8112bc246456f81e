"""The elbow sweep (training.model.sweep): complete diagnostics, the knee at the planted k,
determinism."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from training.model.choice import choose_k
from training.model.kmeans import distinct_rows, fit_kmeans
from training.model.sweep import KSweep, fit_all_rows, separation_scores, sweep_k

FloatArray = npt.NDArray[np.float64]


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


def test_planted_blobs_are_stable_at_the_knee(four_blobs_sweep: KSweep) -> None:
    i = four_blobs_sweep.ks.index(4)
    assert four_blobs_sweep.stability[i] > 0.99
    assert min(four_blobs_sweep.jaccard[i]) > 0.95
    assert choose_k(four_blobs_sweep).k == 4


def test_fits_side_by_side_give_the_same_sweep() -> None:
    X, _ = make_blobs(n_samples=1_500, n_features=3, centers=4, random_state=2)
    alone, side_by_side = (
        sweep_k(X, 2, 6, seed=3, silhouette_sample=800, stability_sample=800, workers=workers)
        for workers in (1, 2)
    )
    assert alone.to_dict() == side_by_side.to_dict()


def test_the_published_partition_is_scored_against_the_sweep_s_resamples() -> None:
    X, _ = make_blobs(n_samples=1_500, n_features=3, centers=4, random_state=2)
    sweep = sweep_k(X, 2, 6, seed=3, silhouette_sample=800, stability_sample=800)
    assert sweep.resampled is not None and "resampled" not in sweep.to_dict()
    final = KMeans(n_clusters=4, n_init=10, random_state=0).fit(X).labels_
    scores = sweep.resampled.scores(final, 4)
    assert scores is not None
    i = sweep.ks.index(4)
    # the same partition (other label ids) against the same resamples: the sweep's figures
    assert scores.ari == sweep.stability[i]
    assert sorted(scores.jaccard) == sorted(sweep.jaccard[i])
    assert sweep.resampled.scores(final, 9) is None  # k outside the sweep: fitted anew
    assert sweep.resampled.scores(final[:10], 4) is None  # other rows


def test_separation_scores_are_scikit_learns() -> None:
    """Davies-Bouldin and Calinski-Harabasz from one pass of sums: scikit-learn's figures."""
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    X, y = make_blobs(n_samples=2_000, n_features=3, centers=5, random_state=4)
    for labels in (y, np.where(y < 2, 9, y), np.random.default_rng(0).integers(0, 7, y.size)):
        db, ch = separation_scores(X, labels)
        assert db == pytest.approx(davies_bouldin_score(X, labels), rel=1e-9)
        assert ch == pytest.approx(calinski_harabasz_score(X, labels), rel=1e-9)
    with pytest.raises(ValueError, match="clusters"):
        separation_scores(X, np.zeros(y.size, np.intp))


def test_distinct_rows_with_their_counts_give_every_rows_figures() -> None:
    """K-Means on the distinct rows weighted by their counts: the rows' objective (inertia) and
    their Davies-Bouldin and Calinski-Harabasz indices, every row labelled."""
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    X, _ = make_blobs(n_samples=3_000, n_features=3, centers=4, random_state=5)
    X = X.round(0)  # repeated rows, as the learners' inputs repeat
    distinct = distinct_rows(X)
    assert len(distinct.values) < len(X) / 3 and distinct.counts.sum() == len(X)
    full = fit_all_rows(distinct, 4, 0, 3)
    labels, inertia = full.model.labels_, full.inertia
    assert len(labels) == len(X)  # every row labelled
    db, ch = full.davies_bouldin, full.calinski_harabasz
    centres = np.array([X[labels == c].mean(axis=0) for c in range(4)])
    # the rows' inertia (sklearn's is taken at its last centres, within its tolerance)
    assert inertia == pytest.approx(float(((X - centres[labels]) ** 2).sum()), rel=1e-4)
    assert db == pytest.approx(davies_bouldin_score(X, labels), rel=1e-9)
    assert ch == pytest.approx(calinski_harabasz_score(X, labels), rel=1e-9)
    # the same partition as K-Means on every row, whatever its numbers
    full = KMeans(4, n_init=3, random_state=0).fit(X).labels_
    assert adjusted_rand_score(full, labels) > 0.99


def test_the_sweep_keeps_each_ks_fit_and_it_is_the_final_fit() -> None:
    """With the final fit's restarts, the sweep's fit at k is fit_kmeans' (the run reuses it)."""
    X, _ = make_blobs(n_samples=2_000, n_features=3, centers=4, random_state=6)
    sweep = sweep_k(X.round(1), 2, 5, seed=2, n_init=4, silhouette_sample=500, stability_sample=500)
    assert set(sweep.fitted) == {2, 3, 4, 5}
    for k in sweep.ks:
        final = fit_kmeans(X.round(1), k, seed=2, n_init=4)
        kept = sweep.fitted[k]
        assert np.array_equal(kept.cluster_centers_, final.cluster_centers_)
        assert np.array_equal(kept.labels_, final.labels_) and len(kept.labels_) == len(X)
    assert "fitted" not in sweep.to_dict()
