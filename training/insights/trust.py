"""How far to trust each segment: its bootstrap stability, the second method, what to act on.

A segment's stability is read as Hennig's clusterboot reading of its mean bootstrap Jaccard
(:func:`stability_reading`; the bars are those of :mod:`training.config`). A segment is found
by both methods when its best-matching cluster of the hierarchical reference overlaps it by
at least :data:`FOUND_BY_BOTH`. :func:`segment_trust` combines them into what to use for each
segment; :func:`method_agreement` reads the agreement of the two methods as a whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from training.config import DISSOLVES_UNDER_JACCARD, HIGHLY_STABLE_JACCARD, MIN_JACCARD
from training.insights.actions import acted_through_coarse

__all__ = [
    "FOUND_BY_BOTH",
    "METHOD_AGREEMENT",
    "STABILITY_READINGS",
    "Agreement",
    "SegmentTrust",
    "Use",
    "method_agreement",
    "segment_trust",
    "stability_reading",
]

#: Hennig's reading of a segment's bootstrap Jaccard (clusterboot): (lower bound, reading).
STABILITY_READINGS: tuple[tuple[float, str], ...] = (
    (HIGHLY_STABLE_JACCARD, "highly stable"),
    (MIN_JACCARD, "stable"),
    (DISSOLVES_UNDER_JACCARD, "doubtful"),
    (0.0, "dissolves"),
)
#: A segment is "found by both methods" when its best-matching hierarchical cluster shares at
#: least this Jaccard with it.
FOUND_BY_BOTH = 0.5

#: What to use a segment for:
#:
#: * ``"unmeasured"``: its stability was not measured; act with care;
#: * ``"macro-segment"``: it may not come back on new data; act on its macro-segment instead
#:   (:func:`training.insights.actions.acted_through_coarse`);
#: * ``"with care"``: it may not come back, and it is alone in its macro-segment;
#: * ``"edge depends on method"``: stable, but the hierarchical reference draws it
#:   differently, so who sits near its edge depends on the method;
#: * ``"act"``: act on it.
Use = Literal["unmeasured", "macro-segment", "with care", "edge depends on method", "act"]

#: How far K-Means and the hierarchical reference agree, by their ARI.
Agreement = Literal["same", "strong", "moderate", "weak"]
#: The readings of the two methods' ARI: (lower bound, agreement).
METHOD_AGREEMENT: tuple[tuple[float, Agreement], ...] = (
    (0.9, "same"),
    (0.75, "strong"),
    (0.5, "moderate"),
)


@dataclass(frozen=True)
class SegmentTrust:
    """How far to trust one segment.

    Attributes
    ----------
    segment_id : int
    jaccard : float or None
        Its mean bootstrap Jaccard; None when not measured.
    reading : str
        :func:`stability_reading` of it; ``"not measured"`` without one.
    both : float
        The Jaccard of its best-matching hierarchical cluster (0 without one).
    found_by_both : bool
        Whether ``both`` is at least :data:`FOUND_BY_BOTH`.
    use : Use
        What to use it for.
    coarse_segment_id : int or None
        The macro-segment to act on instead, when ``use`` is ``"macro-segment"``.
    """

    segment_id: int
    jaccard: float | None
    reading: str
    both: float
    found_by_both: bool
    use: Use
    coarse_segment_id: int | None = None


def stability_reading(jaccard: float) -> str:
    """Hennig's reading of a segment's bootstrap Jaccard.

    Parameters
    ----------
    jaccard : float
        The segment's mean best-match Jaccard over the bootstrap resamples, in [0, 1].

    Returns
    -------
    str
        ``"dissolves"`` under ``DISSOLVES_UNDER_JACCARD`` (0.6), ``"doubtful"`` from it,
        ``"stable"`` from ``MIN_JACCARD`` (0.75), ``"highly stable"`` from
        ``HIGHLY_STABLE_JACCARD`` (0.85) (:data:`STABILITY_READINGS`).
    """
    for lower, reading in STABILITY_READINGS:
        if jaccard >= lower:
            return reading
    return STABILITY_READINGS[-1][1]


def method_agreement(ari: float) -> Agreement:
    """How far the two methods agree, read from the ARI of their groupings.

    Parameters
    ----------
    ari : float
        The adjusted Rand index of K-Means and the hierarchical reference.

    Returns
    -------
    Agreement
        ``"same"`` from 0.9 (nearly the same grouping), ``"strong"`` from 0.75,
        ``"moderate"`` from 0.5, ``"weak"`` under it (:data:`METHOD_AGREEMENT`).
    """
    for lower, agreement in METHOD_AGREEMENT:
        if ari >= lower:
            return agreement
    return "weak"


def _use(j: float | None, found_by_both: bool, through: bool) -> Use:
    if j is None:
        return "unmeasured"
    if through:
        return "macro-segment"
    if j < MIN_JACCARD:  # alone in its macro-segment: nothing coarser to act on
        return "with care"
    return "act" if found_by_both else "edge depends on method"


def segment_trust(
    segments: Sequence[Mapping[str, Any]],
    coarse: Sequence[Mapping[str, Any]],
    jaccard: Mapping[int, float],
) -> list[SegmentTrust]:
    """How far to trust each segment, and what to use it for.

    Parameters
    ----------
    segments : sequence of mapping
        Segment profiles (``id``, ``coarse_segment_id``, ``hierarchical_match``).
    coarse : sequence of mapping
        Macro-segment profiles (``id``, ``segments``).
    jaccard : mapping of int to float
        Each segment's bootstrap stability by id; empty when not measured.

    Returns
    -------
    list of SegmentTrust
        One per segment, in the order of ``segments``.
    """
    through = acted_through_coarse(segments, coarse, jaccard)
    out = []
    for segment in segments:
        sid = segment["id"]
        j = jaccard.get(sid)
        both = float((segment.get("hierarchical_match") or {}).get("jaccard", 0.0))
        found = both >= FOUND_BY_BOTH
        out.append(
            SegmentTrust(
                segment_id=sid,
                jaccard=j,
                reading="not measured" if j is None else stability_reading(j),
                both=both,
                found_by_both=found,
                use=_use(j, found, sid in through),
                coarse_segment_id=through.get(sid),
            )
        )
    return out
