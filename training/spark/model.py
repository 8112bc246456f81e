"""The model on Apache Spark: scaling, elbow sweep, K-Means, bisecting reference, profile figures.

:mod:`training.spark.run` calls these in the order of :func:`training.run.run`. Everything
that grows with the number of learners runs in Spark; the driver sees only what is small by
construction: per-cluster aggregates, the evaluation sample (``silhouette_sample`` learners, as in
the scikit-learn engine) and the per-group figures of the profiles.

Scaled features are computed in Spark SQL with exactly the operations of the engine-free
assignment (``(min(max(x, lower), upper) - mean) / scale``), so the labels Spark predicts and
the labels ``segmenter.json`` gives with numpy are computed from the same doubles.

This module imports pyspark at import time: import it only after
:func:`training.spark.session.check_spark`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from pyspark.ml.clustering import BisectingKMeans, KMeans, KMeansModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as sf
from sklearn.cluster import BisectingKMeans as SkBisectingKMeans

from training.config import TrainingSettings
from training.estimators import QuantileClipper
from training.insights.figures import (
    ABOVE_EXPERIENCE,
    BELOW_EXPERIENCE,
    EXPERIENCE_BANDS,
    FLAG_FEATURES,
    TOP_COMPANIES,
    GroupFigures,
    PopulationFigures,
)
from training.model.hierarchy import BISECTING, weighted_ward_linkage
from training.model.ids import number_by_size
from training.model.kmeans import limit_threads, make_kmeans, map_in_threads
from training.model.pipeline import standard_scale
from training.model.stability import StabilityScores, stability_scores
from training.model.sweep import KSweep, find_knee
from training.progress import StepProgress
from training.runtime.drift import DECILES, DriftReference
from training.runtime.features import FEATURE_COLUMNS
from training.spark.data import SparkLearnerData

__all__ = [
    "HIERARCHY_METHOD",
    "SWEEP_SILHOUETTE",
    "EvaluationSample",
    "Scaling",
    "SparkModel",
    "cluster_scores",
    "drift_reference",
    "evaluation_sample",
    "fit_best",
    "fit_bisecting",
    "fit_scaling",
    "group_figures",
    "lookup_ids",
    "population_figures",
    "scale",
    "sweep_k",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

SWEEP_SILHOUETTE = (
    "Spark ClusteringEvaluator silhouette (squared Euclidean distances) on the evaluation "
    "sample; segment and comparison silhouettes are Euclidean, as in the scikit-learn engine"
)
#: The hierarchical reference this engine fits (the report names it so).
HIERARCHY_METHOD = BISECTING


# --------------------------------------------------------------------------------------------
# Scaling
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scaling:
    """Clip bounds and standardisation of the cluster features (each of shape (n_features,))."""

    lower: FloatArray
    upper: FloatArray
    mean: FloatArray
    var: FloatArray
    scale: FloatArray
    n: int


def fit_scaling(learners: DataFrame, features: list[str]) -> Scaling:
    """Quantile clip bounds (exact, numpy's linear interpolation), then mean and variance.

    The quantiles are :class:`~training.estimators.QuantileClipper`'s; the scale follows
    ``StandardScaler`` (population variance; 1 for a constant feature).
    """
    clipper = QuantileClipper()
    qs = [clipper.lower_quantile, clipper.upper_quantile]
    bounds = learners.agg(
        *(sf.percentile(name, qs).alias(name) for name in features),
        sf.count(sf.lit(1)).alias("n"),
    ).first()
    assert bounds is not None
    lower = np.array([bounds[name][0] for name in features], np.float64)
    upper = np.array([bounds[name][1] for name in features], np.float64)
    clipped = [
        _clip(sf.col(name), lo, hi) for name, lo, hi in zip(features, lower, upper, strict=True)
    ]
    moments = learners.agg(
        *(sf.avg(c).alias(f"mean{j}") for j, c in enumerate(clipped)),
        *(sf.var_pop(c).alias(f"var{j}") for j, c in enumerate(clipped)),
    ).first()
    assert moments is not None
    mean = np.array([moments[f"mean{j}"] for j in range(len(features))], np.float64)
    var = np.array([moments[f"var{j}"] for j in range(len(features))], np.float64)
    n = int(bounds["n"])
    return Scaling(lower, upper, mean, var, standard_scale(mean, var, n), n)


def drift_reference(
    learners: DataFrame, features: list[str], segment_sizes: dict[int, int]
) -> DriftReference:
    """The drift reference over every learner: :func:`training.runtime.drift.fit_reference`'s.

    The deciles are exact (numpy's linear interpolation), their distinct values the edges; a
    second pass counts the learners of every bin of every feature (bin = edges <= the value).

    Parameters
    ----------
    learners : DataFrame
        One row per learner with the feature columns.
    features : list of str
        The model's features, in its order.
    segment_sizes : dict of int to int
        Learners per public segment id.
    """
    row = learners.agg(*(sf.percentile(name, list(DECILES)).alias(name) for name in features))
    deciles = row.first()
    assert deciles is not None
    edges = [sorted({float(v) for v in deciles[name]}) for name in features]
    counts = []
    for name, cuts in zip(features, edges, strict=True):
        bin_of = sum(((sf.col(name) >= sf.lit(e)).cast("int") for e in cuts), sf.lit(0))
        counts += [sf.count_if(bin_of == b) for b in range(len(cuts) + 1)]
    figures = learners.agg(*(c.alias(f"c{i}") for i, c in enumerate(counts))).first()
    assert figures is not None
    flat = [int(figures[f"c{i}"]) for i in range(len(counts))]
    bins, start = [], 0
    for cuts in edges:
        bins.append(flat[start : start + len(cuts) + 1])
        start += len(cuts) + 1
    return DriftReference.from_counts(features, edges, bins, segment_sizes)


def _clip(col: Column, lower: float, upper: float) -> Column:
    return sf.least(sf.greatest(col, sf.lit(float(lower))), sf.lit(float(upper)))


def scale(learners: DataFrame, features: list[str], scaling: Scaling) -> DataFrame:
    """Add the scaled columns ``z0..z{d-1}`` and their vector ``z`` (numpy's operations)."""
    scaled = learners.select(
        "*",
        *(
            ((_clip(sf.col(name), lo, hi) - sf.lit(float(mu))) / sf.lit(float(sd))).alias(f"z{j}")
            for j, (name, lo, hi, mu, sd) in enumerate(
                zip(
                    features, scaling.lower, scaling.upper, scaling.mean, scaling.scale, strict=True
                )
            )
        ),
    )
    return VectorAssembler(inputCols=_z_names(len(features)), outputCol="z").transform(scaled)


def _z_names(d: int) -> list[str]:
    return [f"z{j}" for j in range(d)]


@dataclass
class EvaluationSample:
    """A seeded sample of learners, collected: the rows every sample-based metric is read on.

    ``frame`` is the same rows in Spark (with ``_i``, the row of ``z``), for predictions.
    """

    learner_id: list[str]
    z: FloatArray
    frame: DataFrame

    def labels(self, predicted: DataFrame, column: str = "prediction") -> IntArray:
        """The ``column`` of ``predicted`` (a transform of ``frame``), in sample row order."""
        rows = predicted.select("_i", column).collect()
        out = np.empty(len(self.learner_id), dtype=np.intp)
        for row in rows:
            out[int(row["_i"])] = int(row[column])
        return out


def evaluation_sample(scored: DataFrame, d: int, size: int, seed: int) -> EvaluationSample:
    """``size`` learners chosen by a seeded hash of their id (independent of partitioning)."""
    spark = scored.sparkSession
    rows = (
        scored.select("learner_id", *_z_names(d))
        .orderBy(sf.xxhash64(sf.col("learner_id"), sf.lit(seed)), "learner_id")
        .limit(size)
        .collect()
    )
    ids = [str(r["learner_id"]) for r in rows]
    z = np.array([[r[f"z{j}"] for j in range(d)] for r in rows], np.float64).reshape(len(rows), d)
    local = [(i, *map(float, z[i])) for i in range(len(rows))]
    schema = "_i int, " + ", ".join(f"z{j} double" for j in range(d))
    frame = VectorAssembler(inputCols=_z_names(d), outputCol="z").transform(
        spark.createDataFrame(local, schema)
    )
    return EvaluationSample(learner_id=ids, z=z, frame=frame.persist())


# --------------------------------------------------------------------------------------------
# K-Means
# --------------------------------------------------------------------------------------------
def _kmeans(k: int, seed: int, settings: TrainingSettings) -> KMeans:
    return KMeans(
        k=k,
        seed=seed,
        maxIter=settings.spark_max_iter,
        tol=math.sqrt(settings.spark_tol / k),
        featuresCol="z",
        predictionCol="prediction",
    )


def fit_best(
    scored: DataFrame, k: int, seeds: list[int], settings: TrainingSettings
) -> tuple[KMeansModel, int, list[float]]:
    """K-Means with each seed; the model with the lowest ``trainingCost``, its seed, all costs."""
    best: tuple[KMeansModel, int] | None = None
    costs: list[float] = []
    for seed in seeds:
        model = _kmeans(k, seed, settings).fit(scored)
        costs.append(float(model.summary.trainingCost))
        if best is None or costs[-1] < min(costs[:-1]):
            best = (model, seed)
    assert best is not None
    return best[0], best[1], costs


def cluster_scores(predicted: DataFrame, d: int) -> tuple[float, float]:
    """Davies-Bouldin and Calinski-Harabasz over every learner, as scikit-learn defines them.

    Two aggregations: cluster sizes and means, then each learner's distance to its cluster mean.
    """
    z = [sf.col(name) for name in _z_names(d)]
    stats = sorted(
        predicted.groupBy("prediction")
        .agg(sf.count(sf.lit(1)).alias("n"), *(sf.avg(c).alias(f"m{j}") for j, c in enumerate(z)))
        .collect(),
        key=lambda r: int(r["prediction"]),
    )
    labels = [int(r["prediction"]) for r in stats]
    sizes = np.array([r["n"] for r in stats], np.float64)
    means = np.array([[r[f"m{j}"] for j in range(d)] for r in stats], np.float64)
    k, n = len(labels), float(sizes.sum())
    if k < 2:
        return math.nan, math.nan
    slot = sf.col("prediction") + 1
    table = np.zeros((max(labels) + 1, d))
    table[labels] = means
    centre = [
        sf.element_at(sf.array(*(sf.lit(float(v)) for v in table[:, j])), slot) for j in range(d)
    ]
    dist2 = sum(((c - m) * (c - m) for c, m in zip(z, centre, strict=True)), sf.lit(0.0))
    spread = {
        int(r["prediction"]): (float(r["ss"]), float(r["mean_dist"]))
        for r in predicted.groupBy("prediction")
        .agg(sf.sum(dist2).alias("ss"), sf.avg(sf.sqrt(dist2)).alias("mean_dist"))
        .collect()
    }
    within = sum(spread[label][0] for label in labels)
    centre_all = (sizes[:, None] * means).sum(axis=0) / n
    between = float((sizes * ((means - centre_all) ** 2).sum(axis=1)).sum())
    calinski = 1.0 if within == 0.0 else between * (n - k) / (within * (k - 1.0))
    intra = np.array([spread[label][1] for label in labels])
    gaps = np.sqrt(((means[:, None, :] - means[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(intra, 0) or np.allclose(gaps, 0):
        return 0.0, calinski
    gaps[gaps == 0] = np.inf
    davies = float(np.mean(np.max((intra[:, None] + intra[None, :]) / gaps, axis=1)))
    return davies, calinski


def sweep_k(
    scored: DataFrame,
    sample: EvaluationSample,
    d: int,
    settings: TrainingSettings,
    progress: StepProgress | None = None,
) -> KSweep:
    """:func:`training.model.sweep.sweep_k` with Spark ML K-Means.

    Per k: the best of ``spark_sweep_n_init`` seeds by ``trainingCost`` (the elbow curve), Davies-
    Bouldin and Calinski-Harabasz over every learner, and the silhouette of Spark's
    ``ClusteringEvaluator`` on the evaluation sample. Stability is measured as in the
    scikit-learn engine, on samples that are small by construction: ``stability_resamples``
    bootstrap resamples of about ``silhouette_sample`` learners are drawn once with Spark and
    collected, K-Means (scikit-learn, ``spark_sweep_n_init`` restarts) is fitted on each for
    every k, each fit labels the evaluation sample, and is compared with the Spark fit's labels of
    that sample (:func:`training.model.stability.stability_scores`: mean ARI, its 10th percentile,
    each segment's best-match Jaccard). Fitting Spark ML on a few thousand rows would cost a Spark
    job per iteration for nothing.
    """
    n = int(scored.count())
    ks = list(range(settings.k_min, settings.k_max + 1))
    if not 2 <= settings.k_min <= settings.k_max < n:
        raise ValueError(f"Need 2 <= k_min <= k_max < n_samples; got {ks[0]}..{ks[-1]}, n = {n}.")
    rng = np.random.default_rng(settings.seed)
    boot_seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=settings.stability_resamples)]
    fraction = min(1.0, settings.silhouette_sample / n)
    resamples = [
        np.array(
            scored.sample(withReplacement=True, fraction=fraction, seed=boot_seed)
            .select(*_z_names(d))
            .collect(),
            np.float64,
        ).reshape(-1, d)
        for boot_seed in boot_seeds
    ]
    evaluator = ClusteringEvaluator(
        featuresCol="z", predictionCol="prediction", metricName="silhouette"
    )
    seeds = [settings.seed + i for i in range(settings.spark_sweep_n_init)]
    inertia: list[float] = []
    davies: list[float] = []
    calinski: list[float] = []
    silhouette: list[float] = []
    scores: list[StabilityScores] = []
    for k in ks:
        model, _, costs = fit_best(scored, k, seeds, settings)
        inertia.append(min(costs))
        db, ch = cluster_scores(model.transform(scored), d)
        davies.append(db)
        calinski.append(ch)
        on_sample = model.transform(sample.frame)
        distinct = np.unique(sample.labels(on_sample)).size
        silhouette.append(float(evaluator.evaluate(on_sample)) if distinct > 1 else math.nan)
        with limit_threads(1):
            boots = map_in_threads(
                partial(_resampled_labels, k, settings.spark_sweep_n_init, sample.z),
                list(zip(resamples, boot_seeds, strict=True)),
                settings.fit_workers,
            )
        scores.append(stability_scores(sample.labels(on_sample), boots, k))
        if progress is not None:
            progress(f"k = {k}: cost {inertia[-1]:.4g}, stability {scores[-1].ari:.2f}")
    return KSweep(
        ks=ks,
        inertia=inertia,
        silhouette=silhouette,
        davies_bouldin=davies,
        calinski_harabasz=calinski,
        stability=[s.ari for s in scores],
        stability_p10=[s.ari_p10 for s in scores],
        jaccard=[s.jaccard for s in scores],
        knee=find_knee(ks, inertia),
        silhouette_sample=len(sample.learner_id),
        stability_resamples=settings.stability_resamples,
    )


def _resampled_labels(
    k: int, n_init: int, z: FloatArray, resample: tuple[FloatArray, int]
) -> IntArray:
    """K-Means fitted on one collected resample (with its seed), labelling the sample ``z``."""
    rows, seed = resample
    labels: IntArray = make_kmeans(k, seed, n_init).fit(rows).predict(z)
    return labels


def lookup_ids(values: list[int], index: Column) -> Column:
    """``values[index]`` as a Spark column (index 0-based): e.g. K-Means' id to the public id."""
    return sf.element_at(sf.array(*(sf.lit(int(v)) for v in values)), index + 1)


# --------------------------------------------------------------------------------------------
# Bisecting K-Means, the hierarchical reference
# --------------------------------------------------------------------------------------------
def fit_bisecting(
    scored: DataFrame, sample: EvaluationSample, k: int, seed: int
) -> tuple[IntArray, FloatArray]:
    """Bisecting K-Means on every learner, read on the evaluation sample.

    Parameters
    ----------
    scored : DataFrame
        Learners with the scaled vector ``z`` (see :func:`scale`).
    sample : EvaluationSample
    k : int
    seed : int

    Returns
    -------
    labels : ndarray of shape (n_sample,)
        Cluster of each sample row, 0 = largest cluster (ties by Spark's id).
    linkage : ndarray of shape (k - 1, 4)
        Size-weighted Ward over the cluster centres (scipy linkage), for the dendrogram.
    """
    # Spark's default of 20 iterations per split: a reference, not the model.
    bisecting = BisectingKMeans(k=k, seed=seed, featuresCol="z", predictionCol="prediction").fit(
        scored
    )
    sizes = [int(s) for s in bisecting.summary.clusterSizes]
    if min(sizes) > 0:
        raw = sample.labels(bisecting.transform(sample.frame))
        found = np.array(bisecting.clusterCenters(), np.float64)
    else:
        # Spark's bisecting K-Means can stop splitting and leave clusters empty (seen on
        # experience, pay vs experience and company tier: all learners in one cluster). The
        # reference is then scikit-learn's bisecting K-Means on the evaluation sample.
        log.warning(
            "Spark's BisectingKMeans left %d of %d clusters empty; the hierarchical reference is "
            "fitted on the evaluation sample (%d learners) with scikit-learn instead.",
            sizes.count(0),
            k,
            len(sample.z),
        )
        local = SkBisectingKMeans(n_clusters=k, random_state=seed).fit(sample.z)
        raw = np.asarray(local.labels_, np.intp)
        sizes = np.bincount(raw, minlength=k).tolist()
        found = np.asarray(local.cluster_centers_, np.float64)
    ids = number_by_size(sizes, found)
    centers = np.empty((len(sizes), sample.z.shape[1]))
    centers[ids] = found
    return ids[raw], weighted_ward_linkage(centers, np.sort(np.array(sizes))[::-1])


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------
def _incomplete() -> Column:
    return (sf.col("job_title").isNull() | sf.col("company").isNull()).cast("int")


def _experience_band() -> Column:
    """:func:`training.insights.figures.experience_band` (numpy.searchsorted, side='right')."""
    years = sf.col("years_experience")
    return sum(((years >= sf.lit(float(e))).cast("int") for e in EXPERIENCE_BANDS), sf.lit(0))


def _bands(rows: list[Any], key: str) -> dict[int, dict[int, tuple[int, int]]]:
    out: dict[int, dict[int, tuple[int, int]]] = {}
    for row in rows:
        out.setdefault(int(row[key]), {})[int(row["band"])] = (int(row["n"]), int(row["missing"]))
    return {g: dict(sorted(bands.items())) for g, bands in out.items()}


def _experience_bands(frame: DataFrame, key: str) -> dict[int, dict[int, tuple[int, int]]]:
    rows = (
        frame.groupBy(key, _experience_band().alias("band"))
        .agg(
            sf.count(sf.lit(1)).alias("n"),
            sf.count_if(sf.col("job_title").isNull()).alias("missing"),
        )
        .collect()
    )
    return _bands(rows, key)


def _imputed() -> tuple[Column, Column, Column]:
    """Learners with an imputed CTC, with an unknown company, and with no company name."""
    return (
        sf.count_if(sf.col("ctc_imputed")).alias("ctc_imputed"),
        sf.count_if(sf.col("company_known") != 1).alias("company_imputed"),
        sf.count_if(sf.col("company").isNull()).alias("company_unnamed"),
    )


def _experience_sides() -> tuple[Column, Column]:
    """Learners paid >= 20 % under, and >= 25 % over, the median at their experience."""
    pay = sf.col("pay_vs_experience")
    return (
        sf.count_if(pay <= sf.lit(BELOW_EXPERIENCE)).alias("below"),
        sf.count_if(pay >= sf.lit(ABOVE_EXPERIENCE)).alias("above"),
    )


def _flag_columns() -> list[Column]:
    """Learners above (1), at (2) and below (3) their peers, for each peer flag."""
    return [
        sf.count_if(sf.col(column) == sf.lit(float(value))).alias(f"{name}_{value}")
        for name, column in FLAG_FEATURES.items()
        for value in (1, 2, 3)
    ]


def _flags(row: Any) -> dict[str, tuple[int, int, int]]:
    return {
        name: (int(row[f"{name}_1"]), int(row[f"{name}_2"]), int(row[f"{name}_3"]))
        for name in FLAG_FEATURES
    }


def _years(frame: DataFrame, key: str) -> dict[int, dict[int, int]]:
    rows = (
        frame.groupBy(key, sf.col("ctc_updated_year").cast("long").alias("year"))
        .agg(sf.count(sf.lit(1)).alias("n"))
        .collect()
    )
    out: dict[int, dict[int, int]] = {}
    for row in rows:
        out.setdefault(int(row[key]), {})[int(row["year"])] = int(row["n"])
    return {g: dict(sorted(years.items())) for g, years in out.items()}


def _top_companies(frame: DataFrame, key: str) -> dict[int, list[tuple[str, int, int]]]:
    """Each group's commonest known companies (by learners, then name), with population counts."""
    known = frame.where(sf.col("company").isNotNull())
    totals = known.groupBy("company").agg(sf.count(sf.lit(1)).alias("total"))
    ranked = (
        known.groupBy(key, "company")
        .agg(sf.count(sf.lit(1)).alias("n"))
        .withColumn(
            "rank",
            sf.row_number().over(
                Window.partitionBy(key).orderBy(sf.col("n").desc(), sf.col("company"))
            ),
        )
        .where(sf.col("rank") <= TOP_COMPANIES)
        .join(totals, "company")
        .collect()
    )
    out: dict[int, list[tuple[int, str, int, int]]] = {}
    for row in ranked:
        out.setdefault(int(row[key]), []).append(
            (int(row["rank"]), str(row["company"]), int(row["n"]), int(row["total"]))
        )
    return {g: [(c, n, t) for _, c, n, t in sorted(rows)] for g, rows in out.items()}


def _tier() -> Column:
    return sf.concat(sf.lit("tier "), sf.col("company_tier").cast("int").cast("string"))


def _known_tiers(frame: DataFrame) -> DataFrame:
    """Only the learners whose company is known: every tier figure counts them alone
    (:class:`~training.insights.figures.GroupFigures`)."""
    tier = sf.col("company_tier")
    return frame.where((sf.col("company_known") == 1) & tier.isNotNull() & ~sf.isnan(tier))


_DECILES = [0.1, 0.5, 0.9]


def _counts(rows: list[Any], key: str, value: str) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for row in sorted(rows, key=lambda r: (-int(r["n"]), str(r[value]))):
        out.setdefault(int(row[key]), {})[str(row[value])] = int(row["n"])
    return out


def group_figures(frame: DataFrame, key: str) -> dict[int, GroupFigures]:
    """:class:`~training.insights.figures.GroupFigures` of each value of ``key`` (Spark
    aggregations)."""
    quartiles = frame.agg(sf.percentile("ctc", [0.25, 0.75]).alias("q")).first()
    assert quartiles is not None
    low, high = (float(x) for x in quartiles["q"])
    main = (
        frame.groupBy(key)
        .agg(
            sf.count_if(sf.col("ctc") <= sf.lit(low)).alias("low_pay"),
            sf.count_if(sf.col("ctc") >= sf.lit(high)).alias("top_pay"),
            *_experience_sides(),
            *_flag_columns(),
            sf.count(sf.lit(1)).alias("n"),
            sf.percentile("years_experience", _DECILES).alias("years"),
            sf.percentile("ctc", _DECILES).alias("ctc"),
            sf.percentile("pay_vs_peers", 0.5).alias("peers"),
            sf.sum(_incomplete()).alias("incomplete"),
            *_imputed(),
            *(sf.avg(name).alias(name) for name in FEATURE_COLUMNS),
        )
        .collect()
    )
    bands = _experience_bands(frame, key)
    years_by_group = _years(frame, key)
    companies = _top_companies(frame, key)
    families = _counts(
        frame.groupBy(key, "track").agg(sf.count(sf.lit(1)).alias("n")).collect(),
        key,
        "track",
    )
    tiers = _counts(
        _known_tiers(frame)
        .groupBy(key, _tier().alias("tier"))
        .agg(sf.count(sf.lit(1)).alias("n"))
        .collect(),
        key,
        "tier",
    )
    medians = {int(r[key]): float(r["ctc"][1]) for r in main}
    ranks = frame.agg(
        *(sf.count_if(sf.col("ctc") <= sf.lit(m)).alias(f"r{g}") for g, m in medians.items())
    ).first()
    assert ranks is not None
    out = {}
    for r in main:
        g = int(r[key])
        years = tuple(float(x) for x in r["years"])
        ctc = tuple(float(x) for x in r["ctc"])
        out[g] = GroupFigures(
            size=int(r["n"]),
            years_median=years[1],
            ctc_median=ctc[1],
            years_percentiles=(years[0], years[1], years[2]),
            ctc_percentiles=(ctc[0], ctc[1], ctc[2]),
            ctc_rank=int(ranks[f"r{g}"]),
            feature_mean={name: float(r[name]) for name in FEATURE_COLUMNS},
            pay_vs_peers_median=float(r["peers"]),
            incomplete=int(r["incomplete"]),
            tracks=families.get(g, {}),
            company_tiers=tiers.get(g, {}),
            experience_bands=bands.get(g, {}),
            ctc_imputed=int(r["ctc_imputed"]),
            company_imputed=int(r["company_imputed"]),
            pay_quartiles=(int(r["low_pay"]), int(r["top_pay"])),
            flags=_flags(r),
            ctc_years=years_by_group.get(g, {}),
            below_experience=int(r["below"]),
            above_experience=int(r["above"]),
            company_unnamed=int(r["company_unnamed"]),
            top_companies=companies.get(g, []),
        )
    return out


def population_figures(frame: DataFrame) -> PopulationFigures:
    """:class:`~training.insights.figures.PopulationFigures` of all learners (Spark
    aggregations)."""
    everyone = frame.withColumn("_all", sf.lit(0))
    head = everyone.agg(
        sf.count(sf.lit(1)).alias("n"),
        sf.sum(_incomplete()).alias("incomplete"),
        *_imputed(),
        sf.percentile("years_experience", [0.25, 0.5, 0.75]).alias("years_q"),
        sf.percentile("ctc", [0.25, 0.5, 0.75]).alias("ctc_q"),
        *_experience_sides(),
        *_flag_columns(),
        *(sf.avg(name).alias(f"mean_{name}") for name in FEATURE_COLUMNS),
        *(sf.stddev_pop(name).alias(f"std_{name}") for name in FEATURE_COLUMNS),
    ).first()
    assert head is not None
    families = _counts(
        everyone.groupBy("_all", "track").agg(sf.count(sf.lit(1)).alias("n")).collect(),
        "_all",
        "track",
    )
    tiers = _counts(
        _known_tiers(everyone)
        .groupBy("_all", _tier().alias("tier"))
        .agg(sf.count(sf.lit(1)).alias("n"))
        .collect(),
        "_all",
        "tier",
    )
    return PopulationFigures(
        size=int(head["n"]),
        feature_mean={name: float(head[f"mean_{name}"]) for name in FEATURE_COLUMNS},
        feature_std={name: float(head[f"std_{name}"]) for name in FEATURE_COLUMNS},
        incomplete=int(head["incomplete"]),
        tracks=families.get(0, {}),
        company_tiers=tiers.get(0, {}),
        experience_bands=_experience_bands(everyone, "_all").get(0, {}),
        ctc_imputed=int(head["ctc_imputed"]),
        company_imputed=int(head["company_imputed"]),
        years_quartiles=_three(head["years_q"]),
        ctc_quartiles=_three(head["ctc_q"]),
        flags=_flags(head),
        ctc_years=_years(everyone, "_all").get(0, {}),
        below_experience=int(head["below"]),
        above_experience=int(head["above"]),
        company_unnamed=int(head["company_unnamed"]),
    )


def _three(values: Any) -> tuple[float, float, float]:
    first, second, third = (float(x) for x in values)
    return first, second, third


# --------------------------------------------------------------------------------------------
# The fitted model
# --------------------------------------------------------------------------------------------
@dataclass
class SparkModel:
    """What :func:`training.spark.run.train` fitted, kept for callers that score more data (tests).

    ``scored`` (persisted) has the learner columns, features, ``z``, ``prediction`` (K-Means'
    own id) and ``segment`` (the public id).
    """

    data: SparkLearnerData
    features: list[str]
    scaling: Scaling
    kmeans: KMeansModel
    segment_ids: IntArray
    scored: DataFrame

    def predict(self, frame: DataFrame) -> DataFrame:
        """``frame`` (with the feature columns) plus ``segment``, the public id, by Spark."""
        scored = scale(frame, self.features, self.scaling)
        return self.kmeans.transform(scored).withColumn(
            "segment", lookup_ids([int(i) for i in self.segment_ids], sf.col("prediction"))
        )
