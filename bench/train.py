"""Benchmark of one training run on the embedded default against the common notebook recipe:
time per step, peak memory, and the segment targets of the published model.

The baseline is the recipe most analyses of the case-study table run, timed in the same run on
the same machine: the published cleaning (duplicates and rows without company, title or start
year dropped, CTC clipped to its 1-99 % quantiles, experience = 2022 - start year), peer flags
from mean CTC (designation: company x title x experience, class: company x title, tier: company;
1 above the mean, 2 at it, 3 below), ``StandardScaler``, the elbow k = 2..10 with
``KMeans(n_init=10)``, the silhouette of the knee's partition on 20,000 learners, and Ward on a
5,000-learner sample, after generating the same embedded default (as the run's ``load`` step
does). It runs in a child process (its memory is not the run's) twice, before and after the
training run, and the ratio is against the mean of the two, since the machine may be shared.
Both sides run with ``OMP_WAIT_POLICY=PASSIVE`` unless it is set: spin-waiting OpenMP threads
slow whichever side shares its cores the most.

Per segment it prints the bootstrap Jaccard, the share of learners without a job title against
the share their experience explains (targets: ratio 0.5-2), and the shares whose CTC was imputed
(target: at most 5 % of any segment) or whose company is unknown.

    .venv/bin/python bench/train.py [--hierarchical two-stage|exact] [--rows 205843] [--seeds 0 1 2]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before numpy and scikit-learn load OpenMP

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from training.config import TrainingSettings
from training.data.synth import generate_learners
from training.run import run


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process so far (user + system, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy so far (``/proc/stat``; NaN elsewhere): the
    run's fit workers are children of a forkserver, outside this process's own counts, so a
    run's CPU is read machine-wide (only meaningful on an otherwise quiet machine)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return math.nan
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def notebook_recipe(raw: pd.DataFrame, seed: int = 0) -> dict[str, float]:
    """The common notebook recipe on a raw table; seconds per step (``total`` too)."""
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    from training.model.sweep import find_knee

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    table = raw.drop(columns=["Unnamed: 0"]).drop_duplicates()
    table = table.dropna(subset=["company_hash", "job_position", "orgyear"])
    table = table[table["orgyear"].between(1990, 2022)].copy()
    table["years"] = 2022 - table["orgyear"]
    low, high = table["ctc"].quantile([0.01, 0.99])
    table["ctc"] = table["ctc"].clip(low, high)
    for flag, keys in (
        ("designation", ["company_hash", "job_position", "years"]),
        ("class", ["company_hash", "job_position"]),
        ("tier", ["company_hash"]),
    ):
        mean = table.groupby(keys)["ctc"].transform("mean")
        table[flag] = np.where(table["ctc"] > mean, 1, np.where(table["ctc"] < mean, 3, 2))
    x = StandardScaler().fit_transform(table[["ctc", "years", "designation", "class", "tier"]])
    seconds["prepare"] = time.perf_counter() - start

    start = time.perf_counter()
    ks, inertia, labels = list(range(2, 11)), [], {}
    for k in ks:
        fitted = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
        inertia.append(float(fitted.inertia_))
        labels[k] = fitted.labels_
    k = find_knee(ks, inertia) or 5
    seconds["elbow k = 2..10"] = time.perf_counter() - start

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    rows = rng.choice(len(x), size=min(20_000, len(x)), replace=False)
    silhouette_score(x[rows], labels[k][rows])
    seconds["silhouette (20,000)"] = time.perf_counter() - start
    start = time.perf_counter()
    rows = rng.choice(len(x), size=min(5_000, len(x)), replace=False)
    AgglomerativeClustering(n_clusters=k, linkage="ward").fit(x[rows])
    seconds["Ward (5,000)"] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    return seconds


def _recipe_in_child(rows: int, seed: int) -> dict[str, float]:
    """:func:`notebook_recipe` on the embedded default, in a fresh process."""
    out = subprocess.run(
        [sys.executable, __file__, "--recipe", "--rows", str(rows), "--seeds", str(seed)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
    )
    recipe: dict[str, float] = json.loads(out.stdout.splitlines()[-1])
    return recipe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hierarchical", choices=["two-stage", "exact"], default="two-stage")
    parser.add_argument("--rows", type=int, default=205_843)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--recipe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.recipe:  # the child process of _recipe_in_child
        import sklearn.cluster  # noqa: F401  (imported before the clocks start, as in the run)

        start, cpu = time.perf_counter(), _cpu_seconds()
        raw = generate_learners(args.rows, args.seeds[0])
        load = time.perf_counter() - start
        seconds = notebook_recipe(raw)
        seconds["total"] += load
        print(json.dumps({"load": load, **seconds, "cpu": _cpu_seconds() - cpu}))
        return 0
    for seed in args.seeds:
        _bench_seed(args.hierarchical, args.rows, seed)
    return 0


def _bench_seed(hierarchical: str, rows: int, seed: int) -> None:
    before = _recipe_in_child(rows, seed)
    with tempfile.TemporaryDirectory() as tmp:
        settings = TrainingSettings(
            model_dir=Path(tmp), hierarchical=hierarchical, synth_rows=rows, synth_seed=seed
        )
        start, cpu, machine = time.perf_counter(), _cpu_seconds(), _machine_cpu_seconds()
        result = run(settings)
        total, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        machine = _machine_cpu_seconds() - machine
        peak = _peak_mb()
        manifest = json.loads((result.folder / "manifest.json").read_text())
        profiles = json.loads((result.folder / "profiles.json").read_text())["segments"]
    after = _recipe_in_child(rows, seed)
    recipe = (before["total"] + after["total"]) / 2

    print(
        f"\n## generator seed {seed}: rows {result.rows:,}, learners {result.learners:,}, "
        f"k = {result.k}, hierarchical {hierarchical}"
    )
    print(f"{'step':<16} {'seconds':>8} {'x recipe':>9}")
    for step, seconds in result.timings.items():
        print(f"{step:<16} {seconds:>8.2f} {seconds / recipe:>9.2f}")
    print(f"{'total':<16} {total:>8.2f} {total / recipe:>9.2f}")
    steps = ", ".join(
        f"{name} {before[name]:.1f}/{after[name]:.1f}" for name in before if name != "cpu"
    )
    print(f"notebook recipe, before/after the run (s): {steps}")
    print(f"training / recipe: {total / recipe:.2f}x (recipe {recipe:.2f} s, mean of the two)")
    recipe_cpu = (before["cpu"] + after["cpu"]) / 2
    print(
        f"CPU seconds (all threads, imports left out): training process {cpu:.1f} (the whole "
        f"machine during the run, its fit workers included: {machine:.1f}), recipe "
        f"{recipe_cpu:.1f}"
    )
    print(f"peak RSS of the process so far: {peak:,.0f} MB")

    comparison = manifest["metrics"]["comparison"]
    if "ari_by_seed" in comparison:
        seeds = " ".join(f"{ari:.3f}" for ari in comparison["ari_by_seed"])
        print(
            f"K-Means vs reference ARI: median {comparison['ari_median']:.3f} over seeds "
            f"({seeds}); silhouette {comparison['silhouette_a']:.4f}"
        )
    stability = manifest["metrics"]["stability"]
    print(
        f"stability: mean ARI {stability['ari']:.3f} (p10 {stability['ari_p10']:.3f}), "
        f"{stability['resamples']} resamples; k choice: {manifest['k_choice']['reason']}"
    )
    print(
        f"{'id':>3} {'share':>6} {'jaccard':>8} {'no title':>9} {'expected':>9} {'ratio':>6} "
        f"{'ctc imp.':>9} {'co. unkn.':>9}  name"
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
