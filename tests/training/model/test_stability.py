"""Bootstrap stability (training.model.stability): Hennig's clusterboot on planted and random
splits, scores by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from training.model.stability import adjusted_rand, bootstrap_stability, stability_scores


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


def test_adjusted_rand_is_scikit_learn_s_to_the_bit() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        a, b = rng.integers(0, 5, 3_000), rng.integers(0, 7, 3_000)
        agree = rng.random(3_000) < rng.random()  # from unrelated to nearly the same partition
        b[agree] = a[agree]
        table = np.zeros((5, 7), np.int64)
        np.add.at(table, (a, b), 1)
        assert adjusted_rand(table) == adjusted_rand_score(a, b)
    same = np.array([[3, 0], [0, 4]])
    assert adjusted_rand(same) == 1.0 == adjusted_rand_score([0] * 3 + [1] * 4, [1] * 3 + [0] * 4)


def test_resampled_fits_side_by_side_give_the_same_scores() -> None:
    x, labels = _three_blobs(5)
    alone = bootstrap_stability(x, labels, 3, resamples=6, seed=7, n_init=2, workers=1)
    side_by_side = bootstrap_stability(x, labels, 3, resamples=6, seed=7, n_init=2, workers=2)
    assert alone == side_by_side
