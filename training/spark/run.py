"""Scale-out training on Apache Spark: ``python -m training train --engine spark``.

The same model as :func:`training.pipeline.run`, computed with Spark so that the learner table
need not fit in one process's memory, and published through the same
:func:`training.publish.publish_model`: the same artifact layout, the same engine-free
``segmenter.json`` (the service loads it unchanged), a ``segmenter.joblib`` holding the
equivalent fitted scikit-learn pipeline, plots and report; the manifest records
``engine: "spark"`` and the Spark version.

Steps (:mod:`training.spark.data` and :mod:`training.spark.model` hold the Spark code):

1. load CSV or Parquet (a file, a folder or a glob) with the loader's schema and NA rules;
2. clean and compute features with the pandas path's own rules (fit with Spark aggregations,
   apply with ``mapInPandas``);
3. clip to the 1-99 % quantiles and standardise (Spark aggregations), assemble vectors;
4. elbow sweep with Spark ML ``KMeans`` (``trainingCost`` per k, the best of ``sweep_n_init``
   seeds; Davies-Bouldin and Calinski-Harabasz from aggregations over all learners; silhouette
   with ``ClusteringEvaluator`` on the evaluation sample; bootstrap stability), the same knee
   and :func:`~training.clustering.choose_k`;
5. final K-Means: ``n_init`` seeds, the lowest ``trainingCost`` kept (Spark has no ``n_init``);
6. hierarchical reference: ``BisectingKMeans``, compared with K-Means by ARI/NMI on the sample;
7. coarse groups and profiles from Spark aggregations, then the shared profile, name and
   recommendation code; artifacts.

This module imports pyspark at import time: import it only after
:func:`training.spark.session.check_spark`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyspark
from pyspark.sql import SparkSession
from pyspark.sql import functions as sf

from training.config import TrainingSettings
from training.insights.profiles import (
    coarse_profiles_from_figures,
    profiles_document,
    profiles_from_figures,
)
from training.model.hierarchy import coarse_groups
from training.model.kmeans import Progress, bootstrap_stability, choose_k, compare_labelings
from training.model.pipeline import fitted_pipeline
from training.run import StepClock, TrainingResult, segment_silhouettes
from training.runtime.cleaning import RAW_FIELDS
from training.spark.data import SparkLearnerData, build_learner_data, read_learners
from training.spark.model import (
    HIERARCHY_METHOD,
    SWEEP_SILHOUETTE,
    SparkModel,
    drift_reference,
    evaluation_sample,
    fit_best,
    fit_bisecting,
    fit_scaling,
    group_figures,
    lookup_ids,
    population_figures,
    scale,
    sweep_k,
)
from training.spark.session import check_spark, java_version, quiet_pandas_warning, start_session
from training.store.publish import (
    PROBES,
    ModelParts,
    id_reference,
    ids_report,
    manifest_fields,
    previous_centers,
    public_ids,
    publish_model,
    select_probes,
)

_MAP_SAMPLE = 5_000


def run(
    settings: TrainingSettings,
    *,
    spark: SparkSession | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Train on Spark and publish the model under ``settings.model_dir``.

    Parameters
    ----------
    settings : TrainingSettings
        Every knob; ``settings.data`` names the table (file, folder, glob, URL; None = the
        embedded default), ``settings.spark_master`` the cluster.
    spark : SparkSession, optional
        A session to use and leave running. By default the active session of this process is
        used the same way, or else one is started for the run (``spark_*`` settings) and
        stopped at its end.
    progress : callable, optional
        Called with a short label as each step starts.

    Raises
    ------
    SparkUnavailable
        No Java 17+ runtime. (Without pyspark this module does not import; the CLI calls
        :func:`~training.spark.session.check_spark` first, which says so in one sentence.)
    training.data.DataError
        The table cannot be read or is not a learner table.
    """
    check_spark()
    with quiet_pandas_warning():
        running = spark if spark is not None else SparkSession.getActiveSession()
        session = running if running is not None else start_session(settings)
        try:
            return train(session, settings, progress=progress)
        finally:
            if running is None:
                session.stop()


def train(
    spark: SparkSession,
    settings: TrainingSettings,
    *,
    progress: Progress | None = None,
    keep: list[SparkModel] | None = None,
) -> TrainingResult:
    """The body of :func:`run` on a running session.

    ``keep``, when given, receives the fitted :class:`SparkModel` (its frames stay persisted);
    otherwise everything is unpersisted at the end.
    """
    clock = StepClock(progress=progress)
    created_at = datetime.now(UTC).replace(microsecond=0)
    features = list(settings.cluster_features)
    d = len(features)
    with clock.step("load", "Loading the learner table (Spark)"):
        raw = read_learners(spark, settings.data, settings)
    with clock.step("clean_features", "Cleaning and computing learner features (Spark)"):
        data = build_learner_data(raw, settings)
    n = data.report.learners
    if n < max(settings.k_max, 10) * 5:
        data.unpersist()
        raise ValueError(
            f"Only {n} learners remain after cleaning: too few to segment into up to "
            f"{settings.k_max} segments."
        )
    with clock.step("preprocess", "Preprocessing (clip + scale)"):
        scaling = fit_scaling(data.learners, features)
        # K-Means runs one job per iteration: a task per core, not one per shuffle partition.
        scored = (
            scale(data.learners, features, scaling)
            .coalesce(spark.sparkContext.defaultParallelism)
            .persist()
        )
        sample = evaluation_sample(scored, d, settings.silhouette_sample, settings.seed)
    with clock.step("sweep", f"Elbow sweep k = {settings.k_min}..{settings.k_max} (Spark ML)"):
        sweep = sweep_k(scored, sample, d, settings)
        choice = choose_k(
            sweep,
            settings.k,
            min_stability=settings.min_stability,
            min_jaccard=settings.min_jaccard,
        )
    k = choice.k
    with clock.step("kmeans", f"K-Means with k = {k}, {settings.n_init} seeds (Spark ML)"):
        seeds = [settings.seed + i for i in range(settings.n_init)]
        kmeans, best_seed, costs = fit_best(scored, k, seeds, settings)
        raw_centers = np.array(kmeans.clusterCenters(), np.float64)
        k_fit = raw_centers.shape[0]
        sizes = np.array(kmeans.summary.clusterSizes, np.intp)
        centers_orig = raw_centers * scaling.scale + scaling.mean
        reference = id_reference(settings, features, k_fit)
        previous = previous_centers(reference.folder, features) if reference.folder else None
        ids = public_ids(sizes, centers_orig, (scaling.mean, scaling.scale), previous)
        centers = np.empty_like(raw_centers)
        centers[ids] = raw_centers
        id_list = [int(i) for i in ids]
        predicted = kmeans.transform(scored).withColumn(
            "segment", lookup_ids(id_list, sf.col("prediction"))
        )
        fitted_labels = sample.labels(kmeans.transform(sample.frame))
        sample_labels = ids[fitted_labels]
        # How many learners the reference model places elsewhere, on the evaluation sample
        # (its clipped features, back in original units).
        ids_doc = ids_report(reference, sample.z * scaling.scale + scaling.mean, sample_labels)
    with clock.step("stability", f"Bootstrap stability of the {k_fit} segments (sample)"):
        stability = bootstrap_stability(
            sample.z,
            fitted_labels,
            k_fit,
            resamples=settings.stability_resamples,
            seed=settings.seed,
            n_init=settings.stability_n_init,
        ).by_id(ids)
    with clock.step("hierarchical", "Hierarchical reference (bisecting K-Means, Spark ML)"):
        bisect_labels, linkage = fit_bisecting(scored, sample, k, settings.seed)
    with clock.step("compare", "Comparing K-Means with the hierarchical reference (sample)"):
        comparison = compare_labelings(
            sample_labels,
            bisect_labels,
            sample.z,
            seed=settings.seed,
            sample=settings.silhouette_sample,
        )
        silhouettes = segment_silhouettes(
            sample.z, sample_labels, settings.seed, min(settings.silhouette_sample, _MAP_SAMPLE)
        )
    with clock.step("profiles", "Profiling segments (Spark aggregations)"):
        public_sizes = np.empty(k_fit, np.intp)
        public_sizes[ids] = sizes
        coarse = coarse_groups(centers, public_sizes)
        grouped = predicted.withColumn("coarse", lookup_ids(coarse, sf.col("segment"))).persist()
        population = population_figures(grouped)
        best_match = {int(a): m for a, m in comparison["best_match_jaccard"].items()}
        segments = profiles_from_figures(
            group_figures(grouped, "segment"),
            population,
            centers=centers,
            silhouette=silhouettes,
            best_match=best_match,
            coarse=dict(enumerate(coarse)),
            thresholds=settings.recommendation_thresholds,
        )
        members: dict[int, list[int]] = {}
        for seg, group in enumerate(coarse):
            members.setdefault(group, []).append(seg)
        macro = coarse_profiles_from_figures(
            group_figures(grouped, "coarse"),
            population,
            members,
            settings.recommendation_thresholds,
        )
        profiles_doc = profiles_document(
            k_fit,
            segments,
            macro,
            population,
            jaccard={int(i): float(j) for i, j in stability["jaccard"].items()},
        )
        grouped.unpersist()
    with clock.step("drift", "Drift reference: decile bins and segment shares (Spark)"):
        drift = drift_reference(
            data.learners, features, {int(i): int(n) for i, n in enumerate(public_sizes)}
        )

    metrics: dict[str, Any] = {
        "sweep": sweep.to_dict(),
        "stability": stability,
        "kmeans": {
            "inertia": float(min(costs)),
            "n_init": settings.n_init,
            "silhouette": comparison["silhouette_a"],
            "seed": best_seed,
            "seed_costs": costs,
            "iterations": int(kmeans.summary.numIter),
        },
        "hierarchical": {
            "method": HIERARCHY_METHOD,
            "n_micro": None,
            "seconds": clock.timings.get("hierarchical", 0.0),
            "two_stage_vs_exact_ari": None,
        },
        "comparison": comparison,
    }
    pipeline = fitted_pipeline(
        lower=scaling.lower,
        upper=scaling.upper,
        mean=scaling.mean,
        var=scaling.var,
        n_samples=scaling.n,
        centers=raw_centers,
        inertia=min(costs),
        n_iter=int(kmeans.summary.numIter),
        seed=best_seed,
        n_init=settings.n_init,
    )
    rng = np.random.default_rng(settings.seed)
    rows = np.sort(
        rng.choice(len(sample_labels), size=min(len(sample_labels), _MAP_SAMPLE), replace=False)
    )
    parts = ModelParts(
        pipeline=pipeline,
        features=features,
        segment_ids=ids,
        coarse=coarse,
        rules=data.rules,
        tables=data.tables,
        probes=_probes(data, settings.seed),
        profiles=profiles_doc,
        linkage=linkage,
        hierarchy_method=HIERARCHY_METHOD,
        map_z=sample.z[rows],
        map_labels=sample_labels[rows],
        low_confidence_quantile=settings.low_confidence_quantile,
        centers=centers,
        drift=drift,
    )
    java = java_version()
    with clock.step("write", "Writing artifacts, plots and report"):
        fields = manifest_fields(
            {
                "engine": "spark",
                "spark": {
                    "version": spark.version,
                    "pyspark": pyspark.__version__,
                    "master": spark.sparkContext.master,
                    "java": java[1] if java else None,
                    "fingerprint": "SHA-256 of the row count and the sum of xxhash64 row hashes "
                    "(independent of row order; the scikit-learn engine hashes rows in order)",
                    "sweep_silhouette": SWEEP_SILHOUETTE,
                },
            },
            k=k_fit,
            choice=choice,
            rules=data.rules,
            cleaning=data.report,
            features=features,
            source={
                "source": raw.source,
                "fingerprint": raw.fingerprint,
                "rows": raw.count,
                "learners": int(n),
            },
            settings=settings,
            metrics=metrics,
            timings=clock.timings,
            ids=ids_doc,
        )
        version = publish_model(settings.model_dir, created_at, parts, fields)
    sample.frame.unpersist()
    if keep is not None:
        keep.append(
            SparkModel(
                data=data,
                features=features,
                scaling=scaling,
                kmeans=kmeans,
                segment_ids=ids,
                scored=predicted.persist(),
            )
        )
    else:
        data.unpersist()
    scored.unpersist()
    return TrainingResult(
        version=version,
        folder=settings.model_dir / version,
        k=k_fit,
        k_choice=choice,
        rows=raw.count,
        learners=n,
        metrics=metrics,
        timings=clock.timings,
    )


def _probes(data: SparkLearnerData, seed: int) -> dict[str, list[Any]]:
    """Probe learners for the model folder, from a seeded sample of the raw rows (driver side)."""
    wanted = 8 * PROBES
    fraction = min(1.0, 2.0 * wanted / max(data.raw.count, 1))
    sample = data.raw.rows.select(*RAW_FIELDS).sample(fraction=fraction, seed=seed).limit(wanted)
    return select_probes(sample.toPandas(), data.rules, seed=seed)
