"""How long work reports its progress, without printing: callbacks the CLI renders.

Two kinds, named apart:

* :data:`StepProgress` - a training run's steps (and the k sweep's lines): called with a short
  label as each one starts; :class:`StepClock` times them.
* :data:`RowProgress` - a table placed chunk by chunk (``assign``, ``drift``): called with what is
  being done, the rows done since the last call and the table's rows when known.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["RowProgress", "StepClock", "StepProgress"]

StepProgress = Callable[[str], None]
"""Called with a short label (``"K-Means with k = 5"``) as a step starts."""

RowProgress = Callable[[str, int, int | None], None]
"""Called with what is being done (``"placing"``, ...), the input rows done since the previous
call, and the table's rows when known."""


@dataclass
class StepClock:
    """Times named steps (seconds, 3 decimals) and reports each one's label as it starts."""

    timings: dict[str, float] = field(default_factory=dict)
    progress: StepProgress | None = None

    @contextmanager
    def step(self, name: str, label: str) -> Iterator[None]:
        """Report ``label``, run the block, record its duration under ``name``."""
        if self.progress:
            self.progress(label)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)
