"""Which clustering inputs give segments that survive resampling: stability by k per input set.

For each generator seed and each candidate set of clustering inputs (all from the case study:
experience, pay, pay against company / title / experience peers, company tier, job class), the
embedded default table is cleaned and featurised once, clipped and scaled as the model does, and
swept over k with the training sweep (B bootstrap resamples of a fixed-size sample per k). It
prints, per set and k, the overall stability (mean ARI against the full fit) and the least stable
segment's Jaccard, marks the stable k (both thresholds met), and the k the training run would
publish. Results go to docs/segmentation.md.

    .venv/bin/python bench/segmentation.py [--seeds 0 1 2] [--resamples 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from training.config import TrainingSettings
from training.model.choice import choose_k
from training.model.pipeline import build_pipeline
from training.model.sweep import sweep_k
from training.prep.features import build_learner_data
from training.run import load_raw

INPUT_SETS: dict[str, tuple[str, ...]] = {
    "earlier five (pay within company, job class)": (
        "years_experience",
        "log_ctc",
        "pay_vs_company",
        "company_tier",
        "job_class",
    ),
    "experience, pay": ("years_experience", "log_ctc"),
    "experience, pay, company flag": ("years_experience", "log_ctc", "tier_flag"),
    "experience, pay, pay vs company": ("years_experience", "log_ctc", "pay_vs_company"),
    "experience, pay, company tier": ("years_experience", "log_ctc", "company_tier"),
    "experience, pay, company flag, tier": (
        "years_experience",
        "log_ctc",
        "tier_flag",
        "company_tier",
    ),
    "experience, pay, designation flag": ("years_experience", "log_ctc", "designation_flag"),
    "experience, pay, company tier, designation flag": (
        "years_experience",
        "log_ctc",
        "company_tier",
        "designation_flag",
    ),
    "experience, pay vs experience, company tier (default)": (
        "years_experience",
        "pay_vs_experience",
        "company_tier",
    ),
    "experience, pay, company tier, pay vs company": (
        "years_experience",
        "log_ctc",
        "company_tier",
        "pay_vs_company",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--resamples", type=int, default=20)
    parser.add_argument("--sets", nargs="+", default=list(INPUT_SETS))
    parser.add_argument("--n-init", type=int, default=TrainingSettings().stability_n_init)
    parser.add_argument("--default-only", action="store_true", help="Only the default inputs.")
    args = parser.parse_args()
    base = TrainingSettings()
    print(
        f"stable = mean ARI >= {base.min_stability} and every segment's Jaccard >= "
        f"{base.min_jaccard}; B = {args.resamples}, sample {base.stability_sample:,}, "
        f"{args.n_init} K-Means restart(s) per resample"
    )
    for seed in args.seeds:
        settings = base.model_copy(update={"synth_seed": seed})
        raw, _ = load_raw(settings)
        data = build_learner_data(raw, settings)
        print(f"\n## generator seed {seed}: {len(data.features):,} learners")
        sets = {"default": base.cluster_features} if args.default_only else INPUT_SETS
        for name in args.sets if not args.default_only else ["default"]:
            features = list(sets[name])
            x = data.features[features].to_numpy(np.float64)
            z = build_pipeline(2, seed=0, n_init=1)[:-1].fit_transform(x)
            start = time.perf_counter()
            sweep = sweep_k(
                z,
                settings.k_min,
                settings.k_max,
                seed=settings.seed,
                n_init=settings.sweep_n_init,
                silhouette_sample=5_000,
                stability_resamples=args.resamples,
                stability_sample=settings.stability_sample,
                stability_n_init=args.n_init,
            )
            choice = choose_k(sweep, min_stability=base.min_stability, min_jaccard=base.min_jaccard)
            cells = []
            for i, k in enumerate(sweep.ks):
                mark = "*" if sweep.is_stable(k, base.min_stability, base.min_jaccard) else " "
                cells.append(f"{k}:{sweep.stability[i]:.2f}/{min(sweep.jaccard[i]):.2f}{mark}")
            print(
                f"{name:55s} knee {sweep.knee} -> k = {choice.k:2d} ({choice.source}); "
                f"{time.perf_counter() - start:4.1f} s"
            )
            print("    " + "  ".join(cells))


if __name__ == "__main__":
    main()
