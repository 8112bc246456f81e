"""How far to trust each segment: its bootstrap stability, the second method, what to act on.

A segment's stability is read as Hennig's clusterboot reading of its mean bootstrap Jaccard
(:func:`stability_reading`; the bars are those of :mod:`training.config`). A segment is found
by both methods when its best-matching cluster of the hierarchical reference overlaps it by
at least :data:`FOUND_BY_BOTH`. :func:`segment_trust` combines them into what to use for each
segment; :func:`method_agreement` reads the agreement of the two methods as a whole.

A segment the second method does not find (best-match Jaccard under :data:`FOUND_BY_BOTH`) is
never simply "act on it": one sentence (:func:`method_caveat`) says what the second method
does with it and what that means for acting on it, in the trust table, the segment list and
beside each of its actions. :func:`method_split` tells where its learners go there:

* **merged**: at least :data:`KEPT_TOGETHER` of its learners stay in one group of the second
  method, which also takes learners of other segments: the segment's core is found by both
  methods, only its edge is not, so act on it and check a learner near its edge
  (a low-confidence placement) before acting on them alone;
* **split**: its learners spread over several groups of the second method: act on it only with
  what suits all of it, or act on its macro-segment.

The bar is read on the printed figure (two decimals, :func:`is_found_by_both`), so a printed
0.50 always reads "found by both". A segment found by both whose learners still go, for at
least :data:`SHARED_AWAY` of them, with another segment's majority in the second method gets a
caveat saying so (its core is found, a large edge is not).

Every figure is written with :func:`training.insights.wording.score_text` from the one source
(the manifest's comparison), so the same figure reads the same wherever it is quoted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from training.config import DISSOLVES_UNDER_JACCARD, HIGHLY_STABLE_JACCARD, MIN_JACCARD
from training.insights.actions import acted_through_coarse
from training.insights.wording import pct_text, score_text

__all__ = [
    "FOUND_BY_BOTH",
    "KEPT_TOGETHER",
    "METHOD_AGREEMENT",
    "SHARED_AWAY",
    "STABILITY_READINGS",
    "Agreement",
    "MethodSplit",
    "SegmentTrust",
    "Use",
    "agreement_figure",
    "is_found_by_both",
    "method_agreement",
    "method_caveat",
    "method_short",
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
#: A segment the second method finds (Jaccard at least :data:`FOUND_BY_BOTH`) still gets a
#: caveat when at least this share of its learners go with another segment there.
SHARED_AWAY = 0.25
#: A segment the second method does not find is "merged" (not "split") when at least this share
#: of its learners stay together in one group of the second method.
KEPT_TOGETHER = 0.75

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
        Where the second method puts its learners, when the comparison's contingency table is
        known.
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
    kept : float
        The share of its learners in the one group of the reference holding most of them.
    joined : tuple of (int, int)
        The learners of other segments in that group, by segment, most first.
    size : int
        The segment's learners in the comparison.
    """

    segment_id: int
    jaccard: float
    parts: tuple[tuple[int, float], ...]
    kept: float = 0.0
    joined: tuple[tuple[int, int], ...] = ()
    size: int = 0

    @property
    def merged(self) -> bool:
        """Whether the reference keeps the segment together (at least :data:`KEPT_TOGETHER`)
        and only adds other segments' learners to it."""
        return self.kept >= KEPT_TOGETHER and bool(self.joined)

    def elsewhere(self) -> list[tuple[int, float]]:
        """The parts with another segment's majority, largest first."""
        return [(s, share) for s, share in self.parts if s != self.segment_id]


def is_found_by_both(jaccard: float) -> bool:
    """Whether the second method finds a segment, read on the printed (two-decimal) figure, so
    the same printed Jaccard always gets the same reading (0.499 prints and reads as 0.50)."""
    return float(score_text(jaccard)) >= FOUND_BY_BOTH


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


def agreement_figure(comparison: Mapping[str, Any]) -> tuple[str, Agreement, Agreement]:
    """The agreement of the two methods as quoted everywhere, and its readings at both ends.

    The two-stage reference depends on its seed, so its ARI is measured on several seeds
    (:func:`training.model.compare.reference_spread`); the figure is their median with the
    range, and the verdict is read at both ends of the range, so a run whose reference moves
    within the range keeps its verdict.

    Parameters
    ----------
    comparison : mapping
        The manifest's ``metrics.comparison`` (``ari``; ``ari_median``, ``ari_min``,
        ``ari_max`` and ``ari_by_seed`` when measured on several seeds).

    Returns
    -------
    (str, Agreement, Agreement)
        "ARI 0.74 (median of 5 seeds of the reference, range 0.69-0.79)" (or "ARI 0.74" from one
        reference), and :func:`method_agreement` of the range's lower and upper ends.
    """
    seeds = comparison.get("ari_by_seed") or []
    if len(seeds) < 2:
        ari = float(comparison["ari"])
        return f"ARI {score_text(ari)}", method_agreement(ari), method_agreement(ari)
    low, high = float(comparison["ari_min"]), float(comparison["ari_max"])
    text = (
        f"ARI {score_text(float(comparison['ari_median']))} (median of {len(seeds)} seeds of "
        f"the reference, range {score_text(low)}-{score_text(high)})"
    )
    return text, method_agreement(low), method_agreement(high)


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
    home = max(range(len(row)), key=lambda c: (row[c], -c))
    joined = [(rows[i], r[home]) for i, r in enumerate(counts) if rows[i] != segment_id and r[home]]
    return MethodSplit(
        segment_id=segment_id,
        jaccard=float(match.get("jaccard", 0.0)),
        parts=tuple(sorted(shares.items(), key=lambda item: (-item[1], item[0]))),
        kept=row[home] / total,
        joined=tuple(sorted(joined, key=lambda item: (-item[1], item[0]))),
        size=total,
    )


def _ids_text(ids: Sequence[int]) -> str:
    words = [str(i) for i in ids]
    if len(words) == 1:
        return f"segment {words[0]}"
    return f"segments {', '.join(words[:-1])} and {words[-1]}"


def _parts_text(split: MethodSplit) -> str:
    parts = []
    for segment_id, share in split.parts:
        if share < 0.05:
            continue
        if segment_id == split.segment_id:
            parts.append(f"{pct_text(share)} in a group of its own")
        else:
            parts.append(f"{pct_text(share)} with most of segment {segment_id}")
    return ", ".join(parts)


def method_short(split: MethodSplit | None) -> str:
    """A few words for lists: what the second method does with a segment it does not find."""
    if split is not None and split.merged:
        added = sum(n for _, n in split.joined)
        ids = [s for s, n in split.joined if n >= 0.05 * added]
        return f"the second method merges its edge with part of {_ids_text(ids)}"
    return "the second method splits it"


def method_caveat(jaccard: float | None, split: MethodSplit | None = None) -> str | None:
    """What the second method does with a segment it does not find, and what that means for
    acting on it: one sentence, the same in every section that quotes it.

    Parameters
    ----------
    jaccard : float or None
        The segment's best-match Jaccard with the hierarchical reference (None: unknown).
    split : MethodSplit, optional
        Where the reference puts its learners (:func:`method_split`); without it the sentence
        cannot say whether the segment is merged or split.

    Returns
    -------
    str or None
        A sentence when ``jaccard`` is under :data:`FOUND_BY_BOTH`; None otherwise.
    """
    if jaccard is None:
        return None
    if is_found_by_both(jaccard):
        return _shared_caveat(jaccard, split)
    figure = f"best-match Jaccard {score_text(jaccard)}, under {FOUND_BY_BOTH:g}"
    if split is not None and split.merged:
        added = sum(n for _, n in split.joined)
        ids = [s for s, n in split.joined if n >= 0.05 * added]
        return (
            f"The second method keeps {pct_text(split.kept)} of this segment together but adds "
            f"{added:,} learners of other segments (most from {_ids_text(ids)}) to its group "
            f"({figure}): the core of the "
            "segment is found by both methods, only its edge is not, so act on it, and check a "
            "learner placed with low confidence before acting on them alone."
        )
    where = "" if split is None else _parts_text(split)
    return (
        f"The second method splits this segment ({figure}"
        + (f"; {where}" if where else "")
        + "): who belongs to it depends on the method, so act on it only with what suits all "
        "of it, or act on its macro-segment."
    )


def _shared_caveat(jaccard: float, split: MethodSplit | None) -> str | None:
    """The caveat on a segment found by both methods whose large edge goes with another."""
    if split is None:
        return None
    away = split.elsewhere()
    share = sum(part for _, part in away)
    if share < SHARED_AWAY:
        return None
    ids = [s for s, part in away if part >= 0.05]
    count = f" ({round(share * split.size):,} of {split.size:,})" if split.size else ""
    return (
        f"The second method finds this segment (best-match Jaccard {score_text(jaccard)}) but "
        f"puts {pct_text(share)} of its learners{count} with most of {_ids_text(ids)}: its "
        "core is found by both methods, its edge is not, so check a learner placed with low "
        "confidence before acting on them alone."
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
        found = is_found_by_both(both)
        out.append(
            SegmentTrust(
                segment_id=sid,
                jaccard=j,
                reading="not measured" if j is None else stability_reading(j),
                both=both,
                found_by_both=found,
                use=_use(j, found, sid in through),
                coarse_segment_id=through.get(sid),
                split=None if comparison is None else method_split(sid, comparison),
            )
        )
    return out
