"""How far to trust each segment: its bootstrap stability, the second method, what to act on.

A segment's stability is read as Hennig's clusterboot reading of its mean bootstrap Jaccard
(:func:`stability_reading`; the bars are those of :mod:`training.config`). A segment is found
by both methods when its best-matching cluster of the hierarchical reference overlaps it by
at least :data:`FOUND_BY_BOTH`. :func:`segment_trust` combines them into what to use for each
segment; :func:`method_agreement` reads the agreement of the two methods as a whole.

A segment the second method does not find (best-match Jaccard under :data:`FOUND_BY_BOTH`) is
never simply "act on it": its use says that the second method splits it
(:func:`method_split` tells where its learners go there), and each of its actions carries the
same warning (:func:`method_caveat`).
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
    "MethodSplit",
    "SegmentTrust",
    "Use",
    "method_agreement",
    "method_caveat",
    "method_split",
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
#: * ``"split by second method"``: stable, but the hierarchical reference does not find it
#:   (best-match Jaccard under :data:`FOUND_BY_BOTH`): act on it only knowing that the second
#:   method splits it, so who belongs to it depends on the method;
#: * ``"act"``: act on it.
Use = Literal["unmeasured", "macro-segment", "with care", "split by second method", "act"]

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
    split : MethodSplit or None
        Where the second method puts its learners, when it does not find the segment and the
        comparison's contingency table is known.
    """

    segment_id: int
    jaccard: float | None
    reading: str
    both: float
    found_by_both: bool
    use: Use
    coarse_segment_id: int | None = None
    split: MethodSplit | None = None


@dataclass(frozen=True)
class MethodSplit:
    """Where the hierarchical reference puts one segment's learners.

    Attributes
    ----------
    segment_id : int
    jaccard : float
        The segment's best-match Jaccard with the reference.
    parts : tuple of (int, float)
        Each hierarchical cluster's K-Means majority (the segment holding most of its
        learners) and the share of this segment's learners in clusters with that majority,
        largest first; the segment's own id where it is the majority itself.
    """

    segment_id: int
    jaccard: float
    parts: tuple[tuple[int, float], ...]

    def elsewhere(self) -> list[tuple[int, float]]:
        """The parts with another segment's majority, largest first."""
        return [(s, share) for s, share in self.parts if s != self.segment_id]


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


def method_split(segment_id: int, comparison: Mapping[str, Any]) -> MethodSplit | None:
    """Where the hierarchical reference puts a segment's learners.

    Parameters
    ----------
    segment_id : int
    comparison : mapping
        The manifest's ``metrics.comparison``: ``labels_a`` (segment ids, the contingency's
        rows), ``labels_b`` (its columns), ``contingency`` and ``best_match_jaccard``.

    Returns
    -------
    MethodSplit or None
        None when the comparison does not hold the segment.
    """
    table = comparison.get("contingency")
    rows = [int(a) for a in comparison.get("labels_a", range(len(table or [])))]
    if not table or segment_id not in rows:
        return None
    counts = [[int(v) for v in row] for row in table]
    row = counts[rows.index(segment_id)]
    total = sum(row)
    if total <= 0:
        return None
    shares: dict[int, float] = {}
    for c, inside in enumerate(row):
        if inside:
            column = [r[c] for r in counts]
            majority = rows[max(range(len(column)), key=lambda i: (column[i], -i))]
            shares[majority] = shares.get(majority, 0.0) + inside / total
    match = comparison.get("best_match_jaccard", {}).get(str(segment_id), {})
    return MethodSplit(
        segment_id=segment_id,
        jaccard=float(match.get("jaccard", 0.0)),
        parts=tuple(sorted(shares.items(), key=lambda item: (-item[1], item[0]))),
    )


def method_caveat(jaccard: float | None) -> str | None:
    """The warning an action of a segment the second method does not find carries.

    Parameters
    ----------
    jaccard : float or None
        The segment's best-match Jaccard with the hierarchical reference (None: unknown).

    Returns
    -------
    str or None
        A sentence when ``jaccard`` is under :data:`FOUND_BY_BOTH`; None otherwise.
    """
    if jaccard is None or jaccard >= FOUND_BY_BOTH:
        return None
    return (
        f"The second method splits this segment (best-match Jaccard {jaccard:.2f}, under "
        f"{FOUND_BY_BOTH:g}): who belongs to it depends on the method; check a learner's "
        "placement before acting near its edge."
    )


def _use(j: float | None, found_by_both: bool, through: bool) -> Use:
    if j is None:
        return "unmeasured"
    if through:
        return "macro-segment"
    if j < MIN_JACCARD:  # alone in its macro-segment: nothing coarser to act on
        return "with care"
    return "act" if found_by_both else "split by second method"


def segment_trust(
    segments: Sequence[Mapping[str, Any]],
    coarse: Sequence[Mapping[str, Any]],
    jaccard: Mapping[int, float],
    comparison: Mapping[str, Any] | None = None,
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
    comparison : mapping, optional
        The manifest's ``metrics.comparison``, to say where the second method puts the
        learners of a segment it does not find (:func:`method_split`).

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
                split=None if found or comparison is None else method_split(sid, comparison),
            )
        )
    return out
