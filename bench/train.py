"""Benchmark of one training run on the embedded default: time per step and peak memory.

Baseline (same run, same machine): one plain scikit-learn ``KMeans(n_clusters=k, n_init=10)`` fit
on the same scaled matrix; every step is also shown as a ratio of it.

    .venv/bin/python bench/train.py [--hierarchical two-stage|exact] [--rows 205843]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import joblib
from sklearn.cluster import KMeans

from training.config import TrainingSettings
from training.features import build_learner_data
from training.model import preprocess
from training.pipeline import load_raw, run


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hierarchical", choices=["two-stage", "exact"], default="two-stage")
    parser.add_argument("--rows", type=int, default=205_843)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = TrainingSettings(
            model_dir=Path(tmp), hierarchical=args.hierarchical, synth_rows=args.rows
        )
        start = time.perf_counter()
        result = run(settings)
        total = time.perf_counter() - start
        peak = _peak_mb()
        bundle = joblib.load(result.folder / "segmenter.joblib")
    raw, _ = load_raw(settings)
    x = build_learner_data(raw, settings).features[bundle["features"]].to_numpy()
    z = preprocess(bundle["pipeline"], x)
    t0 = time.perf_counter()
    KMeans(n_clusters=result.k, n_init=10, random_state=0).fit(z)
    base = time.perf_counter() - t0

    print(
        f"rows {result.rows:,}, learners {result.learners:,}, k = {result.k}, "
        f"hierarchical {args.hierarchical}"
    )
    print(f"{'step':<16} {'seconds':>8} {'x baseline':>11}")
    for step, seconds in result.timings.items():
        print(f"{step:<16} {seconds:>8.2f} {seconds / base:>11.1f}")
    print(f"{'total':<16} {total:>8.2f} {total / base:>11.1f}")
    print(f"baseline: one KMeans(k={result.k}, n_init=10) fit on the same matrix: {base:.2f} s")
    print(f"peak RSS of the run: {peak:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
