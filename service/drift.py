"""Drift of the learners this service places, counted over a bounded window and since start.

The bins and shares are the model's own (``drift.json``, read into a
:class:`~training.runtime.drift.DriftReference`); the figures are computed by
:meth:`DriftReference.report`, the code ``python -m training drift`` runs too.

A :class:`DriftMonitor` (one per loaded model, created at load and replaced at a reload) counts
every placement, single and batch, into the reference's bins: one count per feature bin and
per segment, nothing else. No feature value, id or time of any learner is kept, and memory does
not grow with the traffic: the counts of the window live in :data:`BLOCKS` blocks of
``window / BLOCKS`` placements; when a block is full it is closed, and the oldest closed block
is dropped, so the window always covers between ``window - window / BLOCKS`` and ``window``
of the latest placements. The counts since start are kept in one more array.

Placements happen on the event loop (``/segment`` and ``/segment/batch`` both run there), one
at a time, so the counts need no lock.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from training.runtime.drift import MAJOR_PSI, MODERATE_PSI, DriftReference
from training.runtime.placement import Placement

__all__ = ["BLOCKS", "DriftMonitor"]

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
    """

    def __init__(self, reference: DriftReference, centre_ids: Iterable[int], window: int) -> None:
        if window < 1:
            raise ValueError("The drift window must hold at least one placement.")
        self.reference = reference
        self.window = window
        self.block = max(1, -(-window // BLOCKS))
        self._bins = reference.total_bins
        size = self._bins + reference.k
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

    def observe_one(self, features: Iterable[float], segment_id: int) -> None:
        """Count one learner placed on the single path (its model features, in order).

        :meth:`DriftReference.bin_one`'s bins, inlined: this runs on every ``/segment``.
        """
        current = self._current
        for (edges, start), value in zip(self._edge_starts, features, strict=True):
            current[bisect_right(edges, value) + start] += 1
        current[self._segment_slots[segment_id]] += 1
        self._filled += 1
        if self._filled >= self.block:
            self._close()

    def observe_placement(self, placed: Placement) -> None:
        """Count learners placed at once (a batch chunk), block by block."""
        bins = self.reference.bin_rows(placed.features)
        slots = self._centre_slots[placed.nearest]
        start, n = 0, len(slots)
        while start < n:
            take = min(n - start, self.block - self._filled)
            stop = start + take
            flat = np.concatenate([bins[start:stop].ravel(), slots[start:stop]])
            added = np.bincount(flat, minlength=self._size).tolist()
            self._current = [a + b for a, b in zip(self._current, added, strict=True)]
            self._filled += take
            start = stop
            if self._filled >= self.block:
                self._close()

    def _close(self) -> None:
        block = np.array(self._current, np.int64)
        self._closed.append(block)
        self._closed_total += block
        self._current = [0] * self._size
        self._filled = 0

    def counts(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The (window, since start) counts: feature bins, then segments."""
        current = np.array(self._current, np.int64)
        window = current + sum(self._closed, np.zeros(self._size, np.int64))
        return window, self._closed_total + current

    def report(self, version: str) -> dict[str, Any]:
        """The answer of ``GET /model/drift``: the window's figures and those since start."""
        window, total = self.counts()
        split = self._bins
        return {
            "model_version": version,
            "window_size": self.window,
            "bands": {"moderate": MODERATE_PSI, "major": MAJOR_PSI},
            "window": self.reference.report(window[:split], window[split:]),
            "since_start": self.reference.report(total[:split], total[split:]),
        }
