"""Benchmark of one training run on the embedded default: time per step, peak memory, and the
segment targets (stability, missing titles, imputed CTC) of the published model.

Baseline (same run, same machine): one plain scikit-learn ``KMeans(n_clusters=k, n_init=10)`` fit
on the same scaled matrix; every step is also shown as a ratio of it. Peak RSS is the process's
(the first run's when several seeds are given).

Per segment it prints the bootstrap Jaccard, the share of learners without a job title against
the share their experience explains (targets: ratio 0.5-2), and the shares whose CTC or company
pay level was imputed (target: CTC at most 5 % of any segment).

    .venv/bin/python bench/train.py [--hierarchical two-stage|exact] [--rows 205843] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import joblib
from sklearn.cluster import KMeans

from training.config import TrainingSettings
from training.model.pipeline import preprocess
from training.prep.features import build_learner_data
from training.run import load_raw, run


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hierarchical", choices=["two-stage", "exact"], default="two-stage")
    parser.add_argument("--rows", type=int, default=205_843)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    for seed in args.seeds:
        _bench_seed(args.hierarchical, args.rows, seed)
    return 0


def _bench_seed(hierarchical: str, rows: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = TrainingSettings(
            model_dir=Path(tmp), hierarchical=hierarchical, synth_rows=rows, synth_seed=seed
        )
        start = time.perf_counter()
        result = run(settings)
        total = time.perf_counter() - start
        peak = _peak_mb()
        bundle = joblib.load(result.folder / "segmenter.joblib")
        manifest = json.loads((result.folder / "manifest.json").read_text())
        profiles = json.loads((result.folder / "profiles.json").read_text())["segments"]
    raw, _ = load_raw(settings)
    x = build_learner_data(raw, settings).features[bundle["features"]].to_numpy()
    z = preprocess(bundle["pipeline"], x)
    t0 = time.perf_counter()
    KMeans(n_clusters=result.k, n_init=10, random_state=0).fit(z)
    base = time.perf_counter() - t0

    print(
        f"\n## generator seed {seed}: rows {result.rows:,}, learners {result.learners:,}, "
        f"k = {result.k}, hierarchical {hierarchical}"
    )
    print(f"{'step':<16} {'seconds':>8} {'x baseline':>11}")
    for step, seconds in result.timings.items():
        print(f"{step:<16} {seconds:>8.2f} {seconds / base:>11.1f}")
    print(f"{'total':<16} {total:>8.2f} {total / base:>11.1f}")
    print(f"baseline: one KMeans(k={result.k}, n_init=10) fit on the same matrix: {base:.2f} s")
    print(f"peak RSS of the process so far: {peak:,.0f} MB")

    stability = manifest["metrics"]["stability"]
    print(
        f"stability: mean ARI {stability['ari']:.3f} (p10 {stability['ari_p10']:.3f}), "
        f"{stability['resamples']} resamples; k choice: {manifest['k_choice']['reason']}"
    )
    print(
        f"{'id':>3} {'share':>6} {'jaccard':>8} {'no title':>9} {'expected':>9} {'ratio':>6} "
        f"{'ctc imp.':>9} {'co. imp.':>9}  name"
    )
    for profile in profiles:
        quality = profile["data_quality"]
        print(
            f"{profile['id']:>3} {profile['share']:>6.1%} "
            f"{stability['jaccard'][str(profile['id'])]:>8.3f} "
            f"{quality['no_title_share']:>9.1%} {quality['no_title_expected_share']:>9.1%} "
            f"{quality['no_title_ratio']:>6.2f} {quality['ctc_imputed_share']:>9.2%} "
            f"{quality['company_imputed_share']:>9.1%}  {profile['name']}"
        )


if __name__ == "__main__":
    sys.exit(main())
