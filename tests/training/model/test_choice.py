"""The choice of k (training.model.choice): the knee when stable, else the nearest stable k, fixed
k, warnings."""

from __future__ import annotations

from training.model.choice import choose_k
from training.model.sweep import KSweep


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


def test_fixed_k_overrides_the_knee(four_blobs_sweep: KSweep) -> None:
    choice = choose_k(four_blobs_sweep, k=6)
    assert (choice.k, choice.source) == (6, "fixed")
    assert choice.reason.startswith("fixed by the settings at k = 6; it is ")
    assert "the knee of the sweep is at k = 4, not at k = 6" in choice.warnings
    outside = choose_k(four_blobs_sweep, k=15)
    assert outside.k == 15
    assert any("outside the sweep" in w for w in outside.warnings)


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
