"""Which clustering inputs give segments that survive resampling and a retrain.

For each generator seed and each candidate set of clustering inputs, the embedded default table
is cleaned and featurised once, the set's matrix clipped and scaled as the model does, and swept
over k = 2..12 with the training sweep (20 bootstrap resamples of a fixed sample per k, as
training runs it). It prints, per set and k, the overall stability (mean ARI against the full
fit) and the least stable segment's Jaccard, marks the stable k (both thresholds met), and the
k the training run would publish. The sets:

* the case study's features (experience, pay, pay against company / title / experience peers,
  company tier, job class);
* the treatments of an unknown company (missing, unseen or fewer than ``min_group_size``
  learners) in the company tier: at the population's pay level (the default), from its
  learners' own pay decile (before), every company's median shrunk toward the population's,
  left out of the distance (K-Means fitted on learners with a known company, the others placed
  by the distance over their known inputs), or a level of its own;
* the job profile in the segmentation: the track's pay level or the track one-hot as inputs
  (``--within-tracks`` adds clustering within each track).

``--churn`` measures, per set, what a retrain on a random 90 % of the learners moves: both
models fitted end to end (cleaning rules, peer tables, scaling, k chosen by the sweep, K-Means
with ``n_init``), each placing every raw row of the whole table with its own rules and tables;
churn is the share of rows whose segment differs once the two models' segments are matched one
to one (most rows in common). Results go to docs/segmentation.md.

    .venv/bin/python bench/segmentation.py [--seeds 0 1 2] [--sets NAME ...] [--churn]
        [--within-tracks] [--resamples 20]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before numpy and scikit-learn load OpenMP

import argparse
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from training.config import TrainingSettings
from training.model.choice import KChoice, choose_k
from training.model.kmeans import (
    distinct_rows,
    limit_threads,
    make_kmeans,
    map_in_threads,
    sample_rows,
)
from training.model.pipeline import build_pipeline
from training.model.stability import StabilityScores, draw_resamples, stability_scores
from training.model.sweep import KSweep, find_knee, sweep_k
from training.prep.features import LearnerData, band_medians, build_learner_data
from training.run import load_raw
from training.runtime.cleaning import apply_rules
from training.runtime.features import clean_columns, compute_features
from training.runtime.schema import NUMERIC_COLUMNS, RAW_FIELDS, TEXT_COLUMNS

FloatMatrix = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
#: Feature columns of some learners, with ``track``, ``company`` and ``log_ctc``.
Columns = Mapping[str, Any]
#: An input set: the matrix K-Means sees, from learners' columns and the fitted model's data.
InputSet = Callable[[Columns, LearnerData], FloatMatrix]

DEFAULT = ("years_experience", "pay_vs_experience", "company_tier")


def _features(*names: str) -> InputSet:
    def matrix(columns: Columns, fitted: LearnerData) -> FloatMatrix:
        return np.column_stack([np.asarray(columns[n], np.float64) for n in names])

    return matrix


def _tier(median: FloatMatrix, fitted: LearnerData) -> FloatMatrix:
    edges = np.asarray(fitted.tables.tier_edges, np.float64)
    band = len(edges) + 1 - np.searchsorted(edges, median, side="right")
    return np.asarray(band, np.float64)


def _known(columns: Columns) -> npt.NDArray[np.bool_]:
    known: npt.NDArray[np.bool_] = np.asarray(columns["company_known"], np.float64) == 1.0
    return known


def _own_pay_decile(columns: Columns, fitted: LearnerData) -> FloatMatrix:
    """The tier before: an unknown company's median from its learners' own CTC decile band."""
    tables, learners = fitted.tables, fitted.learners
    edges = np.asarray(tables.pay_band_edges, np.float64)
    own = np.log(learners["ctc"].to_numpy(np.float64)).astype(np.float64)
    medians = np.asarray(learners["company"].map(tables.company_median), np.float64)
    by_band = band_medians(
        medians,
        np.searchsorted(edges, own, side="right"),
        len(edges) + 1,
        tables.population_median,
    )
    band = np.searchsorted(edges, columns["log_ctc"], side="right")
    known = pd.Series(columns["company"]).map(tables.company_median).to_numpy(np.float64)
    return _tier(np.where(np.isfinite(known), known, np.take(by_band, band)), fitted)


def _shrunk(prior: float) -> Callable[[Columns, LearnerData], FloatMatrix]:
    """Every company's median shrunk toward the population's: (n m + prior mu) / (n + prior)."""

    def tier(columns: Columns, fitted: LearnerData) -> FloatMatrix:
        learners, mu = fitted.learners, fitted.tables.population_median
        stats = (
            pd.DataFrame({"company": learners["company"], "log_ctc": np.log(learners["ctc"])})
            .dropna()
            .groupby("company")["log_ctc"]
            .agg(["size", "median"])
        )
        shrunk = (stats["size"] * stats["median"] + prior * mu) / (stats["size"] + prior)
        median = pd.Series(columns["company"]).map(shrunk).to_numpy(np.float64)
        return _tier(np.where(np.isfinite(median), median, mu), fitted)

    return tier


def _company(tier: Callable[[Columns, LearnerData], FloatMatrix]) -> InputSet:
    def matrix(columns: Columns, fitted: LearnerData) -> FloatMatrix:
        return np.column_stack(
            [columns["years_experience"], columns["pay_vs_experience"], tier(columns, fitted)]
        )

    return matrix


def _track_pay(columns: Columns, fitted: LearnerData) -> FloatMatrix:
    tables = fitted.tables
    level = pd.Series(columns["track"]).map(tables.track_median).to_numpy(np.float64)
    level = np.where(np.isfinite(level), level, tables.population_median)
    return np.column_stack([_features(*DEFAULT)(columns, fitted), level - tables.population_median])


def _track_one_hot(columns: Columns, fitted: LearnerData) -> FloatMatrix:
    tracks = sorted(set(fitted.learners["track"]))
    track = np.asarray(columns["track"], dtype=object)
    return np.column_stack(
        [_features(*DEFAULT)(columns, fitted), *((track == t) * 1.0 for t in tracks)]
    )


INPUT_SETS: dict[str, InputSet] = {
    "earlier five (pay within company, job class)": _features(
        "years_experience", "log_ctc", "pay_vs_company", "company_tier", "job_class"
    ),
    "experience, pay": _features("years_experience", "log_ctc"),
    "experience, pay, company flag": _features("years_experience", "log_ctc", "tier_flag"),
    "experience, pay, pay vs company": _features("years_experience", "log_ctc", "pay_vs_company"),
    "experience, pay, company tier": _features("years_experience", "log_ctc", "company_tier"),
    "experience, pay, designation flag": _features(
        "years_experience", "log_ctc", "designation_flag"
    ),
    "experience, pay, company tier, designation flag": _features(
        "years_experience", "log_ctc", "company_tier", "designation_flag"
    ),
    "experience, pay vs experience, company tier (default)": _features(*DEFAULT),
    "unknown company from its learners' own pay decile (before)": _company(_own_pay_decile),
    "company medians shrunk toward the population's (prior 5 learners)": _company(_shrunk(5.0)),
    "company medians shrunk toward the population's (prior 20 learners)": _company(_shrunk(20.0)),
    "unknown company left out of the distance": _company(
        lambda columns, fitted: np.where(_known(columns), columns["company_tier"], np.nan)
    ),
    "unknown company as a tier of its own": _company(
        lambda columns, fitted: np.where(
            _known(columns), columns["company_tier"], len(fitted.tables.tier_edges) + 2.0
        )
    ),
    "default + track pay level": _track_pay,
    "default + track one-hot": _track_one_hot,
}


# --------------------------------------------------------------------------------------------
# Scaling and the sweep (training's, or the same with missing inputs left out of the distance)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Scaling:
    lower: FloatMatrix
    upper: FloatMatrix
    mean: FloatMatrix
    scale: FloatMatrix

    def __call__(self, x: FloatMatrix) -> FloatMatrix:
        out: FloatMatrix = (np.clip(x, self.lower, self.upper) - self.mean) / self.scale
        return out


def _fit_scaling(x: FloatMatrix) -> _Scaling:
    """The pipeline's clip and scale; NaN-aware for a set that leaves inputs out."""
    if np.isfinite(x).all():
        clip, scaler = build_pipeline(2, seed=0, n_init=1)[:-1].fit(x).steps
        return _Scaling(clip[1].lower_, clip[1].upper_, scaler[1].mean_, scaler[1].scale_)
    lower, upper = np.nanquantile(x, 0.01, axis=0), np.nanquantile(x, 0.99, axis=0)
    clipped = np.clip(x, lower, upper)
    sd = np.nanstd(clipped, axis=0)
    return _Scaling(lower, upper, np.nanmean(clipped, axis=0), np.where(sd > 0, sd, 1.0))


def _nearest(centres: FloatMatrix, z: FloatMatrix) -> IntArray:
    """Nearest centre over each row's known inputs (all of them when none is missing)."""
    known = np.isfinite(z)
    filled = np.where(known, z, 0.0)
    gaps = (filled[:, None, :] - centres[None, :, :]) ** 2 * known[:, None, :]
    out: IntArray = gaps.sum(axis=2).argmin(axis=1)
    return out


def _fit_centres(z: FloatMatrix, k: int, seed: int, n_init: int) -> tuple[FloatMatrix, float]:
    """K-Means on the rows with every input known (on their distinct rows weighted by their
    counts, as training fits): its centres and inertia."""
    model = distinct_rows(z[np.isfinite(z).all(axis=1)]).fit(k, seed, n_init)
    return np.asarray(model.cluster_centers_, np.float64), float(model.inertia_)


def _masked_sweep(z: FloatMatrix, settings: TrainingSettings, resamples: int) -> KSweep:
    """:func:`training.model.sweep.sweep_k`'s stability with missing inputs left out of the
    distance: the same samples and resample draws; each fit on the rows with every input known;
    every row placed by the distance over its known inputs."""
    rng = np.random.default_rng(settings.seed)
    sample_rows(rng, len(z), settings.silhouette_sample)  # drawn first, as sweep_k does
    rows = sample_rows(rng, len(z), settings.stability_sample)
    sample = z[rows]
    ks = list(range(settings.k_min, settings.k_max + 1))
    inertia, scores = [], []

    def resampled(k: int, draw: tuple[IntArray, int]) -> IntArray:
        centres, _ = _fit_centres(sample[draw[0]], k, draw[1], settings.stability_n_init)
        return _nearest(centres, sample)

    with limit_threads(1):
        for k in ks:
            centres, cost = _fit_centres(z, k, settings.seed, settings.sweep_n_init)
            inertia.append(cost)
            draws = draw_resamples(len(rows), resamples, settings.seed + k)
            labels = map_in_threads(partial(resampled, k), draws, settings.fit_workers)
            scores.append(stability_scores(_nearest(centres, sample), labels, k))
    return _sweep_of(ks, inertia, scores, resamples)


def _sweep_of(
    ks: list[int], inertia: list[float], scores: list[StabilityScores], resamples: int
) -> KSweep:
    nan = [float("nan")] * len(ks)
    return KSweep(
        ks=ks,
        inertia=inertia,
        silhouette=nan,
        davies_bouldin=nan,
        calinski_harabasz=nan,
        stability=[s.ari for s in scores],
        stability_p10=[s.ari_p10 for s in scores],
        jaccard=[s.jaccard for s in scores],
        knee=find_knee(ks, inertia),
        silhouette_sample=0,
        stability_resamples=resamples,
    )


def _sweep(z: FloatMatrix, settings: TrainingSettings, resamples: int) -> KSweep:
    if not np.isfinite(z).all():
        return _masked_sweep(z, settings, resamples)
    return sweep_k(
        z,
        settings.k_min,
        settings.k_max,
        seed=settings.seed,
        n_init=settings.sweep_n_init,
        silhouette_sample=2_000,  # the silhouette is not read here
        stability_resamples=resamples,
        stability_sample=settings.stability_sample,
        stability_n_init=settings.stability_n_init,
        workers=settings.fit_workers,
    )


def _cells(sweep: KSweep, settings: TrainingSettings) -> str:
    stable = [sweep.is_stable(k, settings.min_stability, settings.min_jaccard) for k in sweep.ks]
    return "  ".join(
        f"{k}:{ari:.2f}/{min(jaccard):.2f}{'*' if ok else ' '}"
        for k, ari, jaccard, ok in zip(
            sweep.ks, sweep.stability, sweep.jaccard, stable, strict=True
        )
    )


def _choose(sweep: KSweep, settings: TrainingSettings) -> KChoice:
    return choose_k(sweep, min_stability=settings.min_stability, min_jaccard=settings.min_jaccard)


# --------------------------------------------------------------------------------------------
# A model end to end, and the churn of a retrain
# --------------------------------------------------------------------------------------------
def learner_columns(fitted: LearnerData) -> dict[str, Any]:
    """The training learners' feature columns, with ``track``, ``company`` and ``log_ctc``."""
    learners = fitted.learners
    return {name: fitted.features[name].to_numpy() for name in fitted.features.columns} | {
        "track": learners["track"].to_numpy(dtype=object),
        "company": learners["company"].to_numpy(dtype=object),
        "log_ctc": np.log(learners["ctc"].to_numpy(np.float64)),
    }


@dataclass
class _Model:
    """A model fitted end to end: its data, input set and, per group of learners, its scaling
    and centres (one group, or one per track)."""

    fitted: LearnerData
    inputs: InputSet
    by_track: bool
    parts: dict[str, tuple[_Scaling, FloatMatrix]]

    @property
    def k(self) -> int:
        return sum(centres.shape[0] for _, centres in self.parts.values())

    def place(self, raw: pd.DataFrame) -> tuple[npt.NDArray[np.bool_], IntArray]:
        """Every raw row cleaned, featurised and placed with this model's own rules and tables:
        whether it could be placed, and its segment (track-prefixed when by track)."""
        columns = {c: raw[c].to_numpy() for c in RAW_FIELDS if c in TEXT_COLUMNS} | {
            c: raw[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in NUMERIC_COLUMNS
        }
        clean = apply_rules(columns, self.fitted.rules)
        values = compute_features(clean_columns(clean), self.fitted.tables)
        track = np.asarray(clean.track, dtype=object)
        x = self.inputs(
            values | {"track": track, "company": clean.company, "log_ctc": np.log(clean.ctc)},
            self.fitted,
        )
        labels = np.full(len(raw), -1, np.intp)
        groups = sorted(self.parts)
        for g, name in enumerate(groups):
            rows = track == name if self.by_track else np.ones(len(raw), bool)
            scaling, centres = self.parts[name]
            labels[rows] = g * 100 + _nearest(centres, scaling(x[rows]))
        return np.asarray(clean.valid, bool) & (labels >= 0), labels


def fit_model(
    raw: pd.DataFrame, inputs: InputSet, settings: TrainingSettings, *, by_track: bool = False
) -> _Model:
    """Clean, featurise, scale, sweep and choose k, fit K-Means (``n_init``), as training does."""
    fitted = build_learner_data(raw, settings)
    x = inputs(learner_columns(fitted), fitted)
    track = fitted.learners["track"].to_numpy(dtype=object)
    groups = sorted(set(track)) if by_track else ["all"]
    parts = {}
    for name in groups:
        rows = track == name if by_track else np.ones(len(x), bool)
        scaling = _fit_scaling(x[rows])
        z = scaling(x[rows])
        narrow = (
            settings.model_copy(update={"k_max": min(settings.k_max, 8)}) if by_track else settings
        )
        k = _choose(_sweep(z, narrow, settings.stability_resamples), narrow).k
        with limit_threads(1):
            centres, _ = _fit_centres(z, k, settings.seed, settings.n_init)
        parts[name] = (scaling, centres)
    return _Model(fitted, inputs, by_track, parts)


def moved_share(a: IntArray, b: IntArray) -> float:
    """Share of rows whose segment differs once b's segments are matched one to one to a's."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), np.int64)
    np.add.at(table, (ia, ib), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return 1.0 - float(table[rows, cols].sum()) / len(a)


def churn(
    raw: pd.DataFrame, inputs: InputSet, settings: TrainingSettings, *, by_track: bool = False
) -> tuple[int, int, float]:
    """k of the model on the whole table, k of a retrain on a random 90 % of its learners, and
    the share of rows the retrain moves (each model placing every row end to end)."""
    email = raw["email_hash"].astype(object)
    learners = np.asarray(pd.unique(email.dropna()), dtype=object)
    rng = np.random.default_rng(settings.synth_seed + 1_000)
    kept = set(rng.choice(learners, size=int(0.9 * len(learners)), replace=False).tolist())
    keep = email.map(lambda e: e in kept if isinstance(e, str) else False).to_numpy(bool)
    keep = keep | (email.isna().to_numpy() & (rng.random(len(raw)) < 0.9))
    whole = fit_model(raw, inputs, settings, by_track=by_track)
    part = fit_model(raw[keep].reset_index(drop=True), inputs, settings, by_track=by_track)
    valid_a, a = whole.place(raw)
    valid_b, b = part.place(raw)
    both = valid_a & valid_b
    return whole.k, part.k, moved_share(a[both], b[both])


# --------------------------------------------------------------------------------------------
# Clustering within tracks
# --------------------------------------------------------------------------------------------
def within_tracks(fitted: LearnerData, settings: TrainingSettings, resamples: int) -> None:
    """Per track: the default inputs swept over k = 2..8 within the track, the k it would
    publish, and how far that partition differs from the whole-table default model's segments
    inside the track (ARI)."""
    columns = learner_columns(fitted)
    x = _features(*DEFAULT)(columns, fitted)
    whole_z = _fit_scaling(x)(x)
    k = _choose(_sweep(whole_z, settings, resamples), settings).k
    with limit_threads(1):
        whole = make_kmeans(k, settings.seed, settings.n_init).fit(whole_z).labels_
    narrow = settings.model_copy(update={"k_max": min(settings.k_max, 8)})
    track = columns["track"]
    for name in pd.Series(track).value_counts().index:
        rows = track == name
        z = _fit_scaling(x[rows])(x[rows])
        sweep = _sweep(z, narrow, resamples)
        choice = _choose(sweep, narrow)
        with limit_threads(1):
            own = make_kmeans(choice.k, settings.seed, settings.n_init).fit(z).labels_
        agreement = adjusted_rand_score(whole[rows], own)
        print(
            f"  within {name:<11} {rows.sum():>6,} learners: knee {sweep.knee} -> k = "
            f"{choice.k} ({choice.source}); ARI with the whole-table segments {agreement:.2f}"
        )
        print("      " + _cells(sweep, narrow))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--resamples", type=int, default=20)
    parser.add_argument("--sets", nargs="+", default=list(INPUT_SETS), choices=list(INPUT_SETS))
    parser.add_argument("--churn", action="store_true", help="Also the churn of a 90 % retrain.")
    parser.add_argument("--within-tracks", action="store_true", help="Also within each track.")
    args = parser.parse_args()
    base = TrainingSettings()
    print(
        f"stable = mean ARI >= {base.min_stability} and every segment's Jaccard >= "
        f"{base.min_jaccard}; B = {args.resamples}, sample {base.stability_sample:,}, "
        f"{base.stability_n_init} K-Means restart(s) per resample"
    )
    for seed in args.seeds:
        settings = base.model_copy(update={"synth_seed": seed})
        raw, _ = load_raw(settings)
        fitted = build_learner_data(raw, settings)
        unknown = 1 - fitted.features["company_known"].mean()
        print(
            f"\n## generator seed {seed}: {len(fitted.features):,} learners, {unknown:.0%} "
            "with an unknown company"
        )
        columns = learner_columns(fitted)
        for name in args.sets:
            x = INPUT_SETS[name](columns, fitted)
            start = time.perf_counter()
            sweep = _sweep(_fit_scaling(x)(x), settings, args.resamples)
            choice = _choose(sweep, settings)
            print(
                f"{name:66s} knee {sweep.knee} -> k = {choice.k:2d} ({choice.source}); "
                f"{time.perf_counter() - start:4.1f} s"
            )
            print("    " + _cells(sweep, settings))
            if args.churn:
                k_whole, k_part, moved = churn(raw, INPUT_SETS[name], settings)
                print(f"    retrain on 90 %: k {k_whole} -> {k_part}, {moved:.1%} of rows move")
        if args.within_tracks:
            within_tracks(fitted, settings, args.resamples)
            if args.churn:
                k_whole, k_part, moved = churn(raw, _features(*DEFAULT), settings, by_track=True)
                print(
                    f"  within tracks, retrain on 90 %: {k_whole} -> {k_part} segments, "
                    f"{moved:.1%} of rows move"
                )


if __name__ == "__main__":
    main()
