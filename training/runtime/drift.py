"""Drift of placed learners against the training population: decile bins, PSI and a verdict.

Fixed at training (:func:`fit_reference`, both engines) and stored with the model as
``drift.json``: for each model feature, the inner edges of its deciles over the training
learners (repeated edges merged, so a discrete feature such as ``company_tier`` has fewer bins)
and the share of training learners in each bin; and the share of training learners in each
segment. Nothing about any one learner is stored.

Placed learners are counted into the same bins: bin ``i`` of a feature holds the values ``x``
with ``edges[i - 1] <= x < edges[i]`` (:meth:`DriftReference.bin_rows` for many learners,
:meth:`DriftReference.bin_one` for one; both give the same bin). :meth:`DriftReference.report`
turns counts into figures: per feature the population stability index against training,

    PSI = sum over bins of (o - e) * ln(o / e)

with ``e`` the training share and ``o`` the observed share of the bin, both floored at
:data:`SHARE_FLOOR` (an empty bin then weighs as a large but finite difference); per segment the
training and observed shares; and a verdict on the usual bands: below 0.1 ``stable``, 0.1 to
0.25 ``moderate``, 0.25 and up ``major`` (``no_data`` before anything is counted). The service
(``GET /model/drift``, ``/metrics``) and ``python -m training drift`` both compute their figures
here, so the same learners give the same numbers.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DECILES",
    "DRIFT_FORMAT",
    "MAJOR",
    "MAJOR_PSI",
    "MODERATE",
    "MODERATE_PSI",
    "NO_DATA",
    "SHARE_FLOOR",
    "STABLE",
    "DriftReference",
    "decile_edges",
    "fit_reference",
    "population_stability_index",
    "psi_verdict",
]

#: Format of ``drift.json``.
DRIFT_FORMAT = "learnseg.drift/1"
#: The quantiles whose values are the bin edges.
DECILES: tuple[float, ...] = tuple(i / 10 for i in range(1, 10))
#: Shares below this count as this in the PSI (an empty bin would make it infinite).
SHARE_FLOOR = 1e-4
#: PSI bands: below MODERATE_PSI stable, below MAJOR_PSI moderate, else major.
MODERATE_PSI, MAJOR_PSI = 0.1, 0.25
STABLE, MODERATE, MAJOR, NO_DATA = "stable", "moderate", "major", "no_data"
_RANK = {NO_DATA: -1, STABLE: 0, MODERATE: 1, MAJOR: 2}

IntArray = npt.NDArray[np.int64]


def decile_edges(values: npt.ArrayLike) -> list[float]:
    """The distinct deciles of `values` (numpy's linear interpolation), ascending.

    Parameters
    ----------
    values : array-like of shape (n,)
        One feature of the training learners (finite).

    Returns
    -------
    list of float
        At most 9 inner bin edges; fewer when deciles coincide (a discrete feature).
    """
    array = np.asarray(values, np.float64)
    if array.size == 0:
        return []
    return [float(e) for e in np.unique(np.quantile(array, DECILES))]


def population_stability_index(expected: npt.ArrayLike, observed: npt.ArrayLike) -> float:
    """PSI of observed bin shares against expected ones, both floored at :data:`SHARE_FLOOR`.

    Parameters
    ----------
    expected, observed : array-like of shape (n_bins,)
        Shares (each summing to 1) of the same bins.

    Returns
    -------
    float
        ``sum((o - e) * ln(o / e))``: 0 for identical shares, larger the more they differ.
    """
    e = np.maximum(np.asarray(expected, np.float64), SHARE_FLOOR)
    o = np.maximum(np.asarray(observed, np.float64), SHARE_FLOOR)
    return float(np.sum((o - e) * np.log(o / e)))


def psi_verdict(psi: float | None) -> str:
    """``stable`` below 0.1, ``moderate`` below 0.25, ``major`` from 0.25; ``no_data`` for None."""
    if psi is None:
        return NO_DATA
    if psi >= MAJOR_PSI:
        return MAJOR
    return MODERATE if psi >= MODERATE_PSI else STABLE


@dataclass(frozen=True)
class DriftReference:
    """The training population's bins and shares, and the counting of placed learners.

    Attributes
    ----------
    features : tuple of str
        The model's features, in its order.
    edges : tuple of tuple of float
        Inner bin edges of each feature (its distinct deciles); feature j has
        ``len(edges[j]) + 1`` bins.
    shares : tuple of tuple of float
        Share of the training learners in each bin of each feature.
    segment_ids : tuple of int
        The model's segment ids, ascending.
    segment_shares : tuple of float
        Share of the training learners in each segment of ``segment_ids``.
    learners : int
        Training learners the shares were computed on.
    """

    features: tuple[str, ...]
    edges: tuple[tuple[float, ...], ...]
    shares: tuple[tuple[float, ...], ...]
    segment_ids: tuple[int, ...]
    segment_shares: tuple[float, ...]
    learners: int
    # Where each feature's bins start in the flat bin index, and the segment id -> slot map.
    _offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _edge_arrays: tuple[npt.NDArray[np.float64], ...] = field(init=False, repr=False, compare=False)
    _slots: dict[int, int] = field(init=False, repr=False, compare=False)
    _slot_table: IntArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = len(self.features)
        if len(self.edges) != d or len(self.shares) != d:
            raise ValueError("drift.json needs bin edges and shares for every feature.")
        for name, edges, shares in zip(self.features, self.edges, self.shares, strict=True):
            if len(shares) != len(edges) + 1 or list(edges) != sorted(set(edges)):
                raise ValueError(f"The drift bins of {name} are not ascending edges with shares.")
        if len(self.segment_ids) != len(self.segment_shares) or not self.segment_ids:
            raise ValueError("drift.json needs one share per segment.")
        offsets = [0]
        for edges in self.edges:
            offsets.append(offsets[-1] + len(edges) + 1)
        object.__setattr__(self, "_offsets", tuple(offsets))
        object.__setattr__(self, "_starts", tuple(offsets[:-1]))
        object.__setattr__(
            self, "_edge_arrays", tuple(np.asarray(e, np.float64) for e in self.edges)
        )
        slots = {segment: i for i, segment in enumerate(self.segment_ids)}
        object.__setattr__(self, "_slots", slots)
        table = np.full(max(self.segment_ids) + 1, -1, np.int64)
        table[list(self.segment_ids)] = np.arange(len(self.segment_ids))
        object.__setattr__(self, "_slot_table", table)

    @property
    def total_bins(self) -> int:
        """Bins of all features together (the length of a flat count array)."""
        return self._offsets[-1]

    @property
    def k(self) -> int:
        return len(self.segment_ids)

    @property
    def starts(self) -> tuple[int, ...]:
        """Where each feature's bins start in the flat bin index."""
        return self._starts

    # ------------------------------------------------------------------------------ counting
    def bin_rows(self, X: npt.ArrayLike) -> IntArray:
        """Flat bin index of every learner's every feature.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
            The model's features, in its order.

        Returns
        -------
        ndarray of int64, shape (n, n_features)
            Column j holds feature j's bin plus the number of bins of the features before it,
            so ``np.bincount(out.ravel(), minlength=total_bins)`` counts every bin at once.
        """
        matrix = np.asarray(X, np.float64)
        out = np.empty(matrix.shape, np.int64)
        for j, edges in enumerate(self._edge_arrays):
            out[:, j] = np.searchsorted(edges, matrix[:, j], side="right") + self._offsets[j]
        return out

    def feature_counts(self, X: npt.ArrayLike) -> IntArray:
        """Learners per bin (flat, length ``total_bins``) of a (n, n_features) matrix."""
        flat = self.bin_rows(X).ravel()
        return np.bincount(flat, minlength=self.total_bins).astype(np.int64)

    def bin_one(self, values: Iterable[float]) -> list[int]:
        """:meth:`bin_rows` of one learner on Python floats (the single-learner path)."""
        return [
            bisect.bisect_right(edges, value) + offset
            for edges, value, offset in zip(self.edges, values, self._starts, strict=True)
        ]

    def slot(self, segment_id: int) -> int:
        """The position of a segment id in :attr:`segment_ids`."""
        return self._slots[segment_id]

    def segment_counts(self, segment_ids: npt.ArrayLike) -> IntArray:
        """Learners per segment (in :attr:`segment_ids` order) of an array of segment ids."""
        slots = self._slot_table[np.asarray(segment_ids, np.int64)]
        return np.bincount(slots, minlength=self.k).astype(np.int64)

    # ------------------------------------------------------------------------------- figures
    def report(
        self, feature_counts: npt.ArrayLike, segment_counts: npt.ArrayLike
    ) -> dict[str, Any]:
        """PSI and verdict per feature, training and observed share per segment, for counts.

        Parameters
        ----------
        feature_counts : array-like of shape (total_bins,)
            Learners per flat bin (:meth:`feature_counts`, summed over any number of learners).
        segment_counts : array-like of shape (k,)
            Learners per segment, in :attr:`segment_ids` order.

        Returns
        -------
        dict
            ``count`` (learners counted), ``verdict`` (the worst feature's, ``no_data`` when
            nothing was counted), ``features`` (``feature``, ``psi``, ``verdict`` each) and
            ``segments`` (``segment_id``, ``training_share``, ``served_share`` each); a PSI or
            a served share is None when nothing was counted.
        """
        counts = np.asarray(feature_counts, np.float64)
        segments = np.asarray(segment_counts, np.float64)
        total = float(segments.sum())
        features: list[dict[str, Any]] = []
        verdicts: list[str] = []
        for j, name in enumerate(self.features):
            lo, hi = self._offsets[j], self._offsets[j + 1]
            psi = (
                population_stability_index(self.shares[j], counts[lo:hi] / total)
                if total > 0
                else None
            )
            verdicts.append(psi_verdict(psi))
            features.append({"feature": name, "psi": psi, "verdict": verdicts[-1]})
        served = (segments / total).tolist() if total > 0 else [None] * self.k
        verdict = max(verdicts, key=_RANK.__getitem__, default=NO_DATA)
        return {
            "count": int(total),
            "verdict": verdict,
            "features": features,
            "segments": [
                {"segment_id": segment, "training_share": share, "served_share": observed}
                for segment, share, observed in zip(
                    self.segment_ids, self.segment_shares, served, strict=True
                )
            ],
        }

    # ------------------------------------------------------------------------------ document
    def to_dict(self) -> dict[str, Any]:
        """The ``drift.json`` document."""
        return {
            "format": DRIFT_FORMAT,
            "learners": self.learners,
            "quantiles": list(DECILES),
            "features": [
                {"feature": name, "edges": list(edges), "shares": list(shares)}
                for name, edges, shares in zip(self.features, self.edges, self.shares, strict=True)
            ],
            "segments": [
                {"segment_id": segment, "share": share}
                for segment, share in zip(self.segment_ids, self.segment_shares, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReference:
        """Read ``drift.json`` (refused by name when of another format)."""
        if data.get("format") != DRIFT_FORMAT:
            raise ValueError(
                f"drift.json has format {data.get('format')!r}; this learnseg reads "
                f"{DRIFT_FORMAT!r}."
            )
        features = data["features"]
        segments = data["segments"]
        return cls(
            features=tuple(str(f["feature"]) for f in features),
            edges=tuple(tuple(float(e) for e in f["edges"]) for f in features),
            shares=tuple(tuple(float(s) for s in f["shares"]) for f in features),
            segment_ids=tuple(int(s["segment_id"]) for s in segments),
            segment_shares=tuple(float(s["share"]) for s in segments),
            learners=int(data["learners"]),
        )

    @classmethod
    def from_counts(
        cls,
        features: Sequence[str],
        edges: Sequence[Sequence[float]],
        bin_counts: Sequence[Sequence[int]],
        segment_counts: Mapping[int, int],
    ) -> DriftReference:
        """A reference from edges and counts computed elsewhere (the Spark engine's figures).

        ``bin_counts[j]`` counts the training learners in each bin of feature j (one more than
        its edges); ``segment_counts`` the learners of each segment id.
        """
        n = sum(segment_counts.values())
        if n <= 0:
            raise ValueError("A drift reference needs at least one training learner.")
        ids = sorted(segment_counts)
        return cls(
            features=tuple(features),
            edges=tuple(tuple(float(e) for e in row) for row in edges),
            shares=tuple(tuple(c / n for c in row) for row in bin_counts),
            segment_ids=tuple(int(i) for i in ids),
            segment_shares=tuple(segment_counts[i] / n for i in ids),
            learners=int(n),
        )


def fit_reference(
    features: Sequence[str],
    X: npt.ArrayLike,
    segments: npt.ArrayLike,
    segment_ids: Sequence[int],
) -> DriftReference:
    """The drift reference of a training population.

    Parameters
    ----------
    features : sequence of str
        The model's features, in its order.
    X : array-like of shape (n, n_features)
        Every training learner's features (unclipped, unscaled).
    segments : array-like of shape (n,)
        Every training learner's segment id.
    segment_ids : sequence of int
        Every segment id of the model (a segment without learners gets share 0).

    Returns
    -------
    DriftReference
    """
    matrix = np.asarray(X, np.float64)
    edges = [decile_edges(matrix[:, j]) for j in range(matrix.shape[1])]
    bins = [
        np.bincount(np.searchsorted(e, matrix[:, j], side="right"), minlength=len(e) + 1)
        for j, e in enumerate(edges)
    ]
    labels = np.asarray(segments, np.int64)
    counts = {int(s): int(np.count_nonzero(labels == s)) for s in segment_ids}
    return DriftReference.from_counts(features, edges, [b.tolist() for b in bins], counts)
