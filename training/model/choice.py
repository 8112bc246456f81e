"""The choice of k: the knee of the elbow curve when it is stable, else the nearest stable k,
with a sentence saying why and warnings where the diagnostics disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from training.config import MIN_JACCARD, MIN_STABILITY
from training.model.sweep import KSweep

__all__ = ["KChoice", "choose_k"]


@dataclass
class KChoice:
    """The chosen k, where it came from, a sentence saying why, and any warnings.

    Attributes
    ----------
    k : int
    source : str
        ``"fixed"`` (given by the caller), ``"knee"`` (the knee of the elbow curve, stable),
        ``"nearest-stable"`` (the stable k nearest the knee), ``"most-stable"`` (no k in range is
        stable: the one with the highest stability), or, when the elbow curve has no knee, the
        same with the best silhouette as the first signal (``"silhouette"``).
    reason : str
        One sentence for the CLI and the report, e.g. ``"the knee, k = 6, is unstable (0.63,
        lowest segment Jaccard 0.52); k = 5 is the nearest stable k (0.91, lowest segment
        Jaccard 0.86)."``.
    knee : int or None
        The knee of the elbow curve, always named.
    warnings : list of str
        Disagreements worth a look (no knee, silhouette peak elsewhere, nothing stable, ...).
    """

    k: int
    source: str
    reason: str
    knee: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return asdict(self)


def choose_k(
    sweep: KSweep,
    k: int | None = None,
    *,
    min_stability: float = MIN_STABILITY,
    min_jaccard: float = MIN_JACCARD,
) -> KChoice:
    """Choose k: the knee of the elbow curve when it is stable, else the nearest stable k.

    A k is *stable* when its overall stability (mean bootstrap ARI against the fit on all rows)
    is at least ``min_stability`` and every one of its segments has a bootstrap Jaccard of at
    least ``min_jaccard``. The first signal is the knee (kneed); without one, the k with the
    best silhouette. That k is published when it is stable; otherwise the stable k nearest to it
    (a tie goes to fewer segments), and the reason says so; when no k in the sweep is stable,
    the most stable one (highest overall stability), with a warning. A fixed ``k`` overrides all
    of this, and its stability is still reported.

    Parameters
    ----------
    sweep : KSweep
    k : int, optional
        Fixed k (e.g. ``--k``). It may lie outside the sweep; then there is nothing to check it
        against, and a warning says so.
    min_stability, min_jaccard : float
        The thresholds of a stable k.

    Returns
    -------
    KChoice
    """
    notes: list[str] = []
    ks = sweep.ks
    best_sil = ks[int(np.argmax(sweep.silhouette))]
    signal = sweep.knee if sweep.knee is not None else best_sil
    what = "the knee" if sweep.knee is not None else "the best silhouette"
    if sweep.knee is None:
        notes.append(
            f"no knee in the elbow curve over k = {ks[0]}..{ks[-1]}; the best silhouette "
            f"(k = {best_sil}) took its place"
        )
    elif sweep.knee == ks[-1]:
        notes.append(f"the knee is at the end of the range (k = {sweep.knee}); widen k_max")

    def stable(c: int) -> bool:
        return sweep.is_stable(c, min_stability, min_jaccard)

    def figures(c: int) -> str:
        i = ks.index(c)
        return f"{sweep.stability[i]:.2f}, lowest segment Jaccard {min(sweep.jaccard[i]):.2f}"

    if k is not None:
        if k < 1:
            raise ValueError(f"k must be at least 1; got {k}.")
        chosen, source = k, "fixed"
        if k in ks:
            state = "stable" if stable(k) else "unstable"
            reason = f"fixed by the settings at k = {k}; it is {state} ({figures(k)})."
            if not stable(k):
                notes.append(f"the fixed k = {k} is unstable ({figures(k)})")
        else:
            reason = f"fixed by the settings at k = {k}."
            notes.append(
                f"k = {k} is outside the sweep ({ks[0]}..{ks[-1]}); there are no diagnostics for it"
            )
        if signal != k:
            notes.append(f"{what} of the sweep is at k = {signal}, not at k = {k}")
    elif stable(signal):
        chosen, source = signal, "knee" if sweep.knee is not None else "silhouette"
        reason = f"{what} of the elbow curve, k = {chosen}, is stable ({figures(chosen)})."
    else:
        candidates = [c for c in ks if stable(c)]
        if candidates:
            chosen = min(candidates, key=lambda c: (abs(c - signal), c))
            source = "nearest-stable"
            reason = (
                f"{what}, k = {signal}, is unstable ({figures(signal)}); k = {chosen} is the "
                f"nearest stable k ({figures(chosen)})."
            )
        else:
            chosen = ks[int(np.argmax(sweep.stability))]
            source = "most-stable"
            reason = (
                f"{what}, k = {signal}, is unstable ({figures(signal)}) and no k in "
                f"{ks[0]}..{ks[-1]} is stable; k = {chosen} is the most stable ({figures(chosen)})."
            )
            notes.append(
                f"no k in {ks[0]}..{ks[-1]} reaches stability {min_stability} with every "
                f"segment's Jaccard >= {min_jaccard}: the segments may not survive new data"
            )
    if chosen in ks and best_sil != chosen and sweep.knee is not None:
        notes.append(f"silhouette peaks at k = {best_sil}, not at the chosen k = {chosen}")
    return KChoice(k=chosen, source=source, reason=reason, knee=sweep.knee, warnings=notes)
