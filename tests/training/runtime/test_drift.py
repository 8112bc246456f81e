"""The drift reference and the PSI (training.runtime.drift): hand-computed figures on small
cases, the bands, one bin for one learner and for many, and the document form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.runtime.drift import (
    MAJOR,
    MODERATE,
    NO_DATA,
    STABLE,
    DriftReference,
    decile_edges,
    fit_reference,
    population_stability_index,
    psi_verdict,
)


def _reference() -> DriftReference:
    return DriftReference(
        features=("a", "b"),
        edges=((1.0,), (0.0, 10.0)),
        shares=((0.5, 0.5), (0.25, 0.35, 0.4)),
        segment_ids=(0, 1),
        segment_shares=(0.6, 0.4),
        learners=10,
    )


def test_psi_equals_the_hand_computed_psi() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5
    # = 0.25 ln 3
    assert population_stability_index([0.5, 0.5], [0.25, 0.75]) == pytest.approx(
        0.25 * math.log(3), rel=1e-12
    )
    # An empty bin counts as a share of 1e-4.
    by_hand = (1e-4 - 0.2) * math.log(1e-4 / 0.2) + 0.0 + (0.7 - 0.5) * math.log(0.7 / 0.5)
    assert population_stability_index([0.2, 0.3, 0.5], [0.0, 0.3, 0.7]) == pytest.approx(
        by_hand, rel=1e-12
    )
    assert population_stability_index([0.1, 0.9], [0.1, 0.9]) == 0.0


@pytest.mark.parametrize(
    ("psi", "verdict"),
    [
        (None, NO_DATA),
        (0.0, STABLE),
        (0.0999, STABLE),
        (0.1, MODERATE),
        (0.2499, MODERATE),
        (0.25, MAJOR),
        (3.0, MAJOR),
    ],
)
def test_verdicts_follow_the_usual_bands(psi: float | None, verdict: str) -> None:
    assert psi_verdict(psi) == verdict


def test_report_on_a_small_case() -> None:
    """Four learners: a in its bins 1, 3 times (PSI 0.25 ln 3: major), b 1, 2, 1 (moderate)."""
    reference = _reference()
    x = np.array([[0.0, -5.0], [2.0, 0.0], [2.0, 5.0], [2.0, 10.0]])
    counts = reference.feature_counts(x)
    # a: 0 -> bin 0, 2 -> bin 1; b: -5 -> bin 0, 0 and 5 -> bin 1 (edges[0] <= x < edges[1]),
    # 10 -> bin 2.
    assert counts.tolist() == [1, 3, 1, 2, 1]
    report = reference.report(counts, reference.segment_counts([1, 1, 0, 1]))
    b_by_hand = 0.0 + (0.5 - 0.35) * math.log(0.5 / 0.35) + (0.25 - 0.4) * math.log(0.25 / 0.4)
    assert report["count"] == 4
    a, b = report["features"]
    assert a["feature"] == "a" and a["psi"] == pytest.approx(0.25 * math.log(3), rel=1e-12)
    assert a["verdict"] == MAJOR
    assert b["psi"] == pytest.approx(b_by_hand, rel=1e-12) and b["verdict"] == MODERATE
    assert report["verdict"] == MAJOR  # the worst feature's
    assert report["segments"] == [
        {"segment_id": 0, "training_share": 0.6, "served_share": 0.25},
        {"segment_id": 1, "training_share": 0.4, "served_share": 0.75},
    ]


def test_nothing_counted_is_no_data() -> None:
    reference = _reference()
    report = reference.report(np.zeros(reference.total_bins), np.zeros(reference.k))
    assert report["count"] == 0 and report["verdict"] == NO_DATA
    assert all(f["psi"] is None and f["verdict"] == NO_DATA for f in report["features"])
    assert all(s["served_share"] is None for s in report["segments"])


def test_one_learner_falls_in_the_same_bin_as_in_a_batch() -> None:
    reference = _reference()
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(1, 2, 500), rng.normal(5, 8, 500)])
    x[:3] = [[1.0, 0.0], [1.0, 10.0], [np.nan, np.nan]]  # exactly on edges, and missing
    many = reference.bin_rows(x)
    one = np.array([reference.bin_one(row) for row in x.tolist()])
    np.testing.assert_array_equal(many, one)
    assert many[0].tolist() == [1, 2 + 1] and many[1].tolist() == [1, 2 + 2]


def test_fit_reference_learns_deciles_and_shares() -> None:
    x = np.column_stack([np.arange(100, dtype=float), np.repeat([1.0, 2.0, 3.0], [50, 30, 20])])
    labels = np.repeat([2, 0, 1, 0], 25)
    reference = fit_reference(("even", "tiers"), x, labels, [0, 1, 2, 3])
    assert reference.edges[0] == tuple(np.quantile(np.arange(100.0), np.arange(1, 10) / 10))
    assert reference.shares[0] == (0.1,) * 10
    # A discrete feature: the deciles 1, 1, 1, 1, 1.5, 2, 2, 2.1, 3 merge into 5 edges.
    assert reference.edges[1] == tuple(decile_edges(x[:, 1]))
    assert sum(reference.shares[1]) == pytest.approx(1.0)
    assert reference.shares[1][0] == 0.0  # nothing below the lowest value
    assert reference.segment_ids == (0, 1, 2, 3)
    assert reference.segment_shares == (0.5, 0.25, 0.25, 0.0)
    # The training population itself is not drifted at all.
    report = reference.report(reference.feature_counts(x), reference.segment_counts(labels))
    assert [f["psi"] for f in report["features"]] == [0.0, 0.0]


def test_the_document_round_trips_and_is_refused_in_another_format() -> None:
    reference = _reference()
    doc = reference.to_dict()
    assert DriftReference.from_dict(doc) == reference
    with pytest.raises(ValueError, match=r"drift\.json has format 'other'"):
        DriftReference.from_dict({**doc, "format": "other"})
