"""Drift of the learners this service places, counted over a bounded window and since start.

The bins and shares are the model's own (``drift.json``, read into a
:class:`~training.runtime.drift.DriftReference`); the figures are computed by
:meth:`DriftReference.report`, the code ``python -m training drift`` runs too.

A :class:`DriftMonitor` (one per loaded model, created at load and replaced at a reload) counts
every placement, single and batch, into the reference's bins: one count per feature bin, per
segment and per track (the learner's job profile), nothing else. The training share of each
track is the model's own: the learners of every cohort in ``profiles.json``
(:func:`training_track_shares`), so a rise of ``unknown`` (learners sent without a usable job
title) shows against what training saw. No feature value, id or time of any learner is kept,
and memory does not grow with the traffic: the counts of the window live in :data:`BLOCKS`
blocks of ``window / BLOCKS`` placements; when a block is full it is closed, and the oldest
closed block is dropped, so the window always covers between ``window - window / BLOCKS`` and
``window`` of the latest placements. The counts since start are kept in one more array.

Placements happen on the event loop (``/segment`` and ``/segment/batch`` both run there), one
at a time, so the counts need no lock.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from training.runtime.drift import MAJOR_PSI, MODERATE_PSI, DriftReference
from training.runtime.placement import Placement

__all__ = ["BLOCKS", "DriftMonitor", "training_track_shares"]

#: Blocks the window is counted in (the window forgets one block at a time).
BLOCKS = 10


class DriftMonitor:
    """Placement counts of one model, per feature bin and per segment, windowed and total.

    Parameters
    ----------
    reference : DriftReference
        The model's training bins and shares.
    centre_ids : sequence of int
        The public segment id of each K-Means centre (``Kernel.segment_ids``), so
        a batch placement's centre indexes count into the right segment.
    window : int
        Placements the window covers (at most; at least ``window - window / BLOCKS`` once
        that many were counted).
    tracks : sequence of str, optional
        The model's track ids (``rules.tracks.ids``, the order of a placement's track codes).
    track_shares : mapping of str to float, optional
        Each track's share of the training learners (:func:`training_track_shares`); a track
        missing here has no training share.
    """

    def __init__(
        self,
        reference: DriftReference,
        centre_ids: Iterable[int],
        window: int,
        *,
        tracks: Sequence[str] = (),
        track_shares: Mapping[str, float] | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("The drift window must hold at least one placement.")
        self.reference = reference
        self.window = window
        self.block = max(1, -(-window // BLOCKS))
        self._bins = reference.total_bins
        self.tracks = tuple(tracks)
        self.track_shares = dict(track_shares or {})
        self._track_base = self._bins + reference.k
        self._track_slots = {t: self._track_base + j for j, t in enumerate(self.tracks)}
        # Where a placement's track codes count, per tuple of track ids it was coded with.
        self._track_codes: dict[tuple[str, ...], npt.NDArray[np.int64]] = {}
        size = self._track_base + len(self.tracks)
        self._size = size
        # Where a centre's placement counts: the segment's slot after the feature bins.
        self._centre_slots = np.array(
            [self._bins + reference.slot(int(i)) for i in centre_ids], np.int64
        )
        self._edge_starts = list(zip(reference.edges, reference.starts, strict=True))
        self._segment_slots = {
            segment: self._bins + reference.slot(segment) for segment in reference.segment_ids
        }
        self._closed: deque[npt.NDArray[np.int64]] = deque(maxlen=BLOCKS - 1)
        self._closed_total = np.zeros(size, np.int64)  # every block ever closed
        self._current = [0] * size  # a Python list: +1 on it is cheaper than on numpy
        self._filled = 0

    def observe_one(
        self, features: Iterable[float], segment_id: int, track: str | None = None
    ) -> None:
        """Count one learner placed on the single path (its model features, in order, and its
        track).

        :meth:`DriftReference.bin_one`'s bins, inlined: this runs on every ``/segment``.
        """
        current = self._current
        for (edges, start), value in zip(self._edge_starts, features, strict=True):
            current[bisect_right(edges, value) + start] += 1
        current[self._segment_slots[segment_id]] += 1
        slot = self._track_slots.get(track) if track is not None else None
        if slot is not None:
            current[slot] += 1
        self._filled += 1
        if self._filled >= self.block:
            self._close()

    def observe_placement(self, placed: Placement) -> None:
        """Count learners placed at once (a batch chunk), block by block."""
        bins = self.reference.bin_rows(placed.features)
        slots = self._centre_slots[placed.nearest]
        tracks = self._track_slots_of(placed)
        start, n = 0, len(slots)
        while start < n:
            take = min(n - start, self.block - self._filled)
            stop = start + take
            chunk = tracks[start:stop]
            flat = np.concatenate([bins[start:stop].ravel(), slots[start:stop], chunk[chunk >= 0]])
            added = np.bincount(flat, minlength=self._size).tolist()
            self._current = [a + b for a, b in zip(self._current, added, strict=True)]
            self._filled += take
            start = stop
            if self._filled >= self.block:
                self._close()

    def _track_slots_of(self, placed: Placement) -> npt.NDArray[np.int64]:
        """Where each learner of ``placed`` counts by track (-1: a track this monitor does not
        know, not counted)."""
        codes = self._track_codes.get(placed.tracks)
        if codes is None:
            codes = np.array([self._track_slots.get(t, -1) for t in placed.tracks], np.int64)
            self._track_codes[placed.tracks] = codes
        if not len(codes):
            return np.full(len(placed.track), -1, np.int64)
        return codes[placed.track]

    def _close(self) -> None:
        block = np.array(self._current, np.int64)
        self._closed.append(block)
        self._closed_total += block
        self._current = [0] * self._size
        self._filled = 0

    def counts(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The (window, since start) counts: feature bins, then segments, then tracks."""
        current = np.array(self._current, np.int64)
        window = current + sum(self._closed, np.zeros(self._size, np.int64))
        return window, self._closed_total + current

    def report(self, version: str) -> dict[str, Any]:
        """The answer of ``GET /model/drift``: the window's figures and those since start."""
        window, total = self.counts()
        return {
            "model_version": version,
            "window_size": self.window,
            "bands": {"moderate": MODERATE_PSI, "major": MAJOR_PSI},
            "window": self._figures(window),
            "since_start": self._figures(total),
        }

    def _figures(self, counts: npt.NDArray[np.int64]) -> dict[str, Any]:
        split, base = self._bins, self._track_base
        figures = self.reference.report(counts[:split], counts[split:base])
        tracks = counts[base:]
        total = int(tracks.sum())
        figures["tracks"] = [
            {
                "track": track,
                "training_share": self.track_shares.get(track),
                "served_share": int(n) / total if total else None,
            }
            for track, n in zip(self.tracks, tracks.tolist(), strict=True)
        ]
        return figures


def training_track_shares(profiles: Mapping[str, Any]) -> dict[str, float]:
    """Each track's share of the training learners, from a model's ``profiles.json`` (the
    learners of every cohort, summed over segments); empty for a model without cohorts."""
    learners: dict[str, int] = {}
    for segment in profiles.get("segments", []):
        for cohort in segment.get("cohorts") or []:
            track = str(cohort["track"])
            learners[track] = learners.get(track, 0) + int(cohort["learners"])
    total = sum(learners.values())
    if not total:
        return {}
    return {track: n / total for track, n in learners.items()}
