"""Benchmark of the data layer on the default size: synth, load, clean + features.

Prints one table: seconds and the process's peak RSS after each step, and the loader's time as a
ratio of a plain ``pandas.read_csv`` of the same file measured in the same run (the baseline).

    .venv/bin/python bench/data.py [--rows 205843] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd

from training.config import TrainingSettings
from training.data.load import load_learners, read_learners_frame
from training.data.synth import generate_learners, write_learners
from training.prep.features import build_learner_data

T = TypeVar("T")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Best wall time of ``repeat`` calls, and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=205_843)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, float, float, str]] = []

    t, frame = _best(lambda: generate_learners(rows=args.rows, seed=0), args.repeat)
    rows.append(("synth (generate in memory)", t, _peak_mb(), "target <= 10 s"))
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "learners.csv"
        parquet = Path(tmp) / "learners.parquet"
        t, _ = _best(lambda: write_learners(frame, csv), 1)
        rows.append(("synth: write CSV", t, _peak_mb(), ""))
        write_learners(frame, parquet)
        base, _ = _best(lambda: pd.read_csv(csv), args.repeat)
        rows.append(("baseline: pandas.read_csv", base, _peak_mb(), "1.00x"))
        t, raw = _best(lambda: load_learners(csv, progress=False), args.repeat)
        rows.append(("load_learners (CSV)", t, _peak_mb(), f"{t / base:.2f}x baseline"))
        t, _ = _best(lambda: load_learners(parquet, progress=False), args.repeat)
        rows.append(("load_learners (Parquet)", t, _peak_mb(), f"{t / base:.2f}x baseline"))
    t_clean, data = _best(lambda: build_learner_data(raw, TrainingSettings()), args.repeat)
    rows.append(("clean + features", t_clean, _peak_mb(), f"{len(data.learners):,} learners"))
    t, _ = _best(lambda: read_learners_frame(frame), args.repeat)
    rows.append(("schema check of the in-memory default", t, _peak_mb(), ""))

    print(f"rows: {args.rows:,}; best of {args.repeat}; peak RSS is the process peak so far")
    print(f"{'step':<40} {'seconds':>8} {'peak RSS MB':>12}  note")
    for name, seconds, peak, note in rows:
        print(f"{name:<40} {seconds:>8.2f} {peak:>12.0f}  {note}")
    load_clean = rows[3][1] + t_clean
    print(f"{'load (CSV) + clean + features':<40} {load_clean:>8.2f} {'':>12}  target <= 15 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
