"""Benchmark of training/model/kmeans.py and hierarchy.py on synthetic learner data; prints a table.

Usage: ``python bench/clustering.py [--rows 153000] [--features 12] [--seed 0]
[--exact-rows 20000] [--all-cores]``

The data: ``make_blobs`` with 6 centres of unequal spread, Student-t (df = 3) noise on every
feature, 0.5 % far outliers, then standardised, like the scaled learner features. Peak RSS is the
process high-water mark after each step (``resource.getrusage``), so it only ever grows.
scikit-learn's OpenMP threads spin-wait: run this on an otherwise idle machine, and expect the
``--all-cores`` rows to swing with the load on the host.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.model.choice import choose_k
from training.model.compare import compare_labelings
from training.model.hierarchy import coarse_groups, hierarchical_exact, hierarchical_two_stage
from training.model.ids import number_by_size
from training.model.kmeans import fit_kmeans
from training.model.sweep import sweep_k

Row = tuple[str, float | None, float, str]


def make_data(rows: int, features: int, seed: int) -> npt.NDArray[np.float64]:
    """Seeded blobs with heavy-tailed noise and a few far outliers, standardised."""
    rng = np.random.default_rng(seed)
    X, _ = make_blobs(
        n_samples=rows,
        n_features=features,
        centers=6,
        cluster_std=[1.0, 1.5, 2.0, 1.0, 2.5, 1.2],
        center_box=(-10.0, 10.0),
        random_state=seed,
    )
    X += rng.standard_t(3, size=X.shape) * 0.8
    outliers = rng.choice(rows, size=rows // 200, replace=False)
    X[outliers] += rng.normal(scale=25.0, size=(outliers.size, features))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return np.asarray(X, dtype=np.float64)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Table:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def run(
        self, name: str, fn: Callable[[], Any], note: Callable[[Any], str] | None = None
    ) -> Any:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        self.rows.append((name, seconds, peak_rss_mb(), note(result) if note else ""))
        return result

    def note(self, name: str, note: str) -> None:
        self.rows.append((name, None, peak_rss_mb(), note))

    def print(self) -> None:
        print(f"{'step':<46} {'seconds':>8} {'peak RSS MB':>12}  note")
        for name, seconds, rss, note in self.rows:
            shown = f"{seconds:8.2f}" if seconds is not None else f"{'':>8}"
            print(f"{name:<46} {shown} {rss:12.0f}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Benchmark training/model/kmeans.py and training/model/hierarchy.py."
    )
    parser.add_argument("--rows", type=int, default=153_000)
    parser.add_argument("--features", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exact-rows", type=int, default=20_000, help="0 skips exact Ward")
    parser.add_argument(
        "--all-cores", action="store_true", help="also time the sweep with n_threads=None"
    )
    args = parser.parse_args()
    seed = args.seed
    table = Table()

    X = table.run(
        f"make data {args.rows:,} x {args.features}",
        lambda: make_data(args.rows, args.features, seed),
    )
    sweep = table.run(
        "sweep_k k=2..12 (n_init 3, 1 thread)",
        lambda: sweep_k(X, 2, 12, seed=seed),
        lambda s: f"knee {s.knee}; best silhouette k = {s.ks[int(np.argmax(s.silhouette))]}",
    )
    if args.all_cores:
        other = table.run(
            "sweep_k k=2..12 (n_init 3, n_threads=None)",
            lambda: sweep_k(X, 2, 12, seed=seed, n_threads=None),
        )
        table.note("  same sweep as 1 thread", str(other.to_dict() == sweep.to_dict()))
    choice = choose_k(sweep)
    k = choice.k
    fits = {}
    for n_init in (3, 10):
        for s in (seed, seed + 1):
            fits[n_init, s] = table.run(
                f"fit_kmeans k={k} n_init={n_init} seed={s}",
                partial(fit_kmeans, X, k, seed=s, n_init=n_init),
            )
        ari = adjusted_rand_score(fits[n_init, seed].labels_, fits[n_init, seed + 1].labels_)
        table.note(f"  seed {seed} vs {seed + 1} (n_init={n_init})", f"ARI {ari:.4f}")
    final = fits[10, seed]
    ids = number_by_size(np.bincount(final.labels_, minlength=k), final.cluster_centers_)
    labels = ids[final.labels_]
    centers = np.empty_like(final.cluster_centers_)
    centers[ids] = final.cluster_centers_
    two = table.run(
        "hierarchical_two_stage n_micro=2000",
        lambda: hierarchical_two_stage(X, k, seed=seed, n_micro=2000),
    )
    table.run(
        "compare_labelings (20k silhouette)",
        lambda: compare_labelings(labels, two.labels, X, seed=seed),
        lambda c: (
            f"ARI K-Means vs two-stage {c['ari']:.3f}; silhouettes "
            f"{c['silhouette_a']:.3f} / {c['silhouette_b']:.3f}"
        ),
    )
    sizes = np.bincount(labels, minlength=k)
    table.run("coarse_groups", lambda: coarse_groups(centers, sizes), lambda g: f"groups {g}")
    if args.exact_rows:
        rows = np.sort(
            np.random.default_rng(seed).choice(args.rows, args.exact_rows, replace=False)
        )
        sub = X[rows]
        exact = table.run(
            f"hierarchical_exact {args.exact_rows:,} rows", lambda: hierarchical_exact(sub, k)
        )
        table.run(
            f"hierarchical_two_stage {args.exact_rows:,} rows",
            lambda: hierarchical_two_stage(sub, k, seed=seed, n_micro=2000),
            lambda h: f"ARI vs exact {adjusted_rand_score(exact.labels, h.labels):.3f}",
        )
        ari = adjusted_rand_score(exact.labels, two.labels[rows])
        table.note("  two-stage on all rows vs exact (on the subset)", f"ARI {ari:.3f}")

    print(f"choose_k: {choice.reason} Warnings: {'; '.join(choice.warnings) or 'none'}")
    table.print()


if __name__ == "__main__":
    main()
