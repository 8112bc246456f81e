"""Segment ids (training.model.ids): numbered by size with one tie-break, matched to a previous
model."""

from __future__ import annotations

import numpy as np

from training.model.ids import match_segments, number_by_size


def _relabel(labels: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = number_by_size(np.bincount(labels, minlength=len(centers)), centers)
    ordered = np.empty_like(centers)
    ordered[ids] = centers
    return ids[labels], ordered


def test_number_by_size_orders_by_size_and_ignores_the_input_ids() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 3))
    labels = np.repeat(np.arange(5), [30, 50, 10, 50, 20])  # segments 1 and 3 tie
    new_labels, new_centers = _relabel(labels, centers)
    assert np.bincount(new_labels).tolist() == [50, 50, 30, 20, 10]
    np.testing.assert_array_equal(new_centers[new_labels], centers[labels])
    perm = rng.permutation(5)  # the same partition under other ids
    shuffled_centers = np.empty_like(centers)
    shuffled_centers[perm] = centers
    again_labels, again_centers = _relabel(perm[labels], shuffled_centers)
    np.testing.assert_array_equal(again_labels, new_labels)
    np.testing.assert_array_equal(again_centers, new_centers)


def test_ties_in_size_go_to_the_smaller_centre_first() -> None:
    ids = number_by_size([10, 20, 10], [[2.0, 0.0], [5.0, 5.0], [1.0, 9.0]])
    assert ids.tolist() == [2, 0, 1]


def test_every_engine_numbers_clusters_with_the_one_rule() -> None:
    """K-Means (both engines) and the hierarchical references call number_by_size; no other
    function in training/ orders clusters by size."""
    from tests.helpers import REPO

    callers = sorted(
        str(path.relative_to(REPO))
        for path in (REPO / "training").rglob("*.py")
        if "number_by_size(" in path.read_text(encoding="utf-8") and path.name != "ids.py"
    )
    assert callers == ["training/model/hierarchy.py", "training/spark/model.py"]


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
