"""Scale-out training on Apache Spark: ``python -m training train --engine spark``.

The same model as :func:`training.run.run`, computed with Spark so that the learner table
need not fit in one process's memory, and published through the same
:func:`training.store.publish.publish_model`: the same artifact layout, the same engine-free
``segmenter.json`` (the service loads it unchanged), a ``segmenter.joblib`` holding the
equivalent fitted scikit-learn pipeline, plots and report; the manifest records
``engine: "spark"`` and the Spark version.

Steps (:mod:`training.spark.data` and :mod:`training.spark.model` hold the Spark code):

1. load CSV or Parquet (a file, a folder or a glob) with the loader's schema and NA rules;
2. clean and compute features with the pandas path's own rules (fit with Spark aggregations,
   apply with ``mapInPandas``);
3. clip to the 1-99 % quantiles and standardise (Spark aggregations), assemble vectors;
4. elbow sweep with Spark ML ``KMeans`` (``trainingCost`` per k, the best of ``spark_sweep_n_init``
   seeds; Davies-Bouldin and Calinski-Harabasz from aggregations over all learners; silhouette
   with ``ClusteringEvaluator`` on the evaluation sample; bootstrap stability), the same knee
   and :func:`~training.model.choice.choose_k`;
5. final K-Means: ``n_init`` seeds, the lowest ``trainingCost`` kept (Spark has no ``n_init``);
6. the shared tail: ids, stability, the hierarchical reference (here ``BisectingKMeans``),
   the comparison on the evaluation sample, coarse groups and profiles (figures from Spark
   aggregations, then the shared profile, name and recommendation code), artifacts.

This module imports pyspark at import time: import it only after
:func:`training.spark.session.check_spark`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyspark
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf

from training.config import TrainingSettings
from training.insights.courses import CohortFigures, StageBounds
from training.model.choice import choose_k
from training.model.pipeline import fitted_pipeline
from training.progress import StepClock, StepProgress
from training.run import (
    KMeansFit,
    ProfileFigures,
    Reference,
    TrainingResult,
    check_learners,
    finish_run,
)
from training.runtime.drift import DriftReference
from training.runtime.kernel import Kernel
from training.runtime.schema import RAW_FIELDS
from training.spark.data import SparkLearnerData, build_learner_data, read_learners
from training.spark.model import (
    HIERARCHY_METHOD,
    SWEEP_SILHOUETTE,
    EvaluationSample,
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
from training.store.probes import PROBES, select_probes

__all__ = ["run", "train"]

IntArray = np.ndarray[Any, np.dtype[np.intp]]

#: What the manifest says of the Spark fingerprint (the scikit-learn engine hashes rows in order).
_FINGERPRINT = (
    "SHA-256 of the row count and the sum of xxhash64 row hashes (independent of row order; the "
    "scikit-learn engine hashes rows in order)"
)


def run(
    settings: TrainingSettings,
    *,
    spark: SparkSession | None = None,
    progress: StepProgress | None = None,
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
    training.data.load.DataError
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
    progress: StepProgress | None = None,
    keep: list[SparkModel] | None = None,
) -> TrainingResult:
    """The body of :func:`run` on a running session.

    ``keep``, when given, receives the fitted :class:`SparkModel` (its frames stay persisted);
    otherwise everything is unpersisted at the end.
    """
    clock = StepClock(progress=progress)
    created_at = datetime.now(UTC).replace(microsecond=0)
    features = list(settings.cluster_features)
    with clock.step("load", "Loading the learner table (Spark)"):
        raw = read_learners(spark, settings.data, settings)
    with clock.step("clean_features", "Cleaning and computing learner features (Spark)"):
        data = build_learner_data(raw, settings)
    try:
        check_learners(data.report.learners, settings)
    except ValueError:
        data.unpersist()
        raise
    steps = _SparkSteps(spark, data, settings)
    fit = steps.fit_kmeans(clock, features)
    result = finish_run(settings, fit, steps, clock, created_at)
    steps.sample.frame.unpersist()
    if keep is not None:
        keep.append(steps.fitted(features))
    else:
        data.unpersist()
    steps.scored.unpersist()
    return result


class _SparkSteps:
    """The Spark engine: its fit of K-Means, and the tail's engine steps (Spark aggregations)."""

    reference_label = "bisecting K-Means, Spark ML"

    def __init__(self, spark: SparkSession, data: SparkLearnerData, settings: TrainingSettings):
        self.spark, self.data, self.settings = spark, data, settings

    def fit_kmeans(self, clock: StepClock, features: list[str]) -> KMeansFit:
        """Scale, sweep k, choose it and fit K-Means (the best of ``n_init`` seeds)."""
        settings, d = self.settings, len(features)
        with clock.step("preprocess", "Preprocessing (clip + scale)"):
            self.scaling = fit_scaling(self.data.learners, features)
            # K-Means runs one job per iteration: a task per core, not one per shuffle partition.
            self.scored = (
                scale(self.data.learners, features, self.scaling)
                .coalesce(self.spark.sparkContext.defaultParallelism)
                .persist()
            )
            self.sample: EvaluationSample = evaluation_sample(
                self.scored, d, settings.silhouette_sample, settings.seed
            )
        label = f"Elbow sweep k = {settings.k_min}..{settings.k_max} (Spark ML)"
        with clock.step("sweep", label):
            sweep = sweep_k(self.scored, self.sample, d, settings)
            choice = choose_k(
                sweep,
                settings.k,
                min_stability=settings.min_stability,
                min_jaccard=settings.min_jaccard,
            )
        label = f"K-Means with k = {choice.k}, {settings.n_init} seeds (Spark ML)"
        with clock.step("kmeans", label):
            seeds = [settings.seed + i for i in range(settings.n_init)]
            self.kmeans, best_seed, costs = fit_best(self.scored, choice.k, seeds, settings)
            centers = np.array(self.kmeans.clusterCenters(), np.float64)
            labels = self.sample.labels(self.kmeans.transform(self.sample.frame))
        scaling, raw = self.scaling, self.data.raw
        return KMeansFit(
            engine=self._engine_fields(),
            features=features,
            sweep=sweep,
            choice=choice,
            pipeline=fitted_pipeline(
                lower=scaling.lower,
                upper=scaling.upper,
                mean=scaling.mean,
                var=scaling.var,
                n_samples=scaling.n,
                centers=centers,
                inertia=min(costs),
                n_iter=int(self.kmeans.summary.numIter),
                seed=best_seed,
                n_init=settings.n_init,
            ),
            sizes=np.array(self.kmeans.summary.clusterSizes, np.intp),
            z=self.sample.z,
            labels=labels,
            # the evaluation sample's clipped features, back in feature units
            x=self.sample.z * scaling.scale + scaling.mean,
            kmeans_metrics={
                "inertia": float(min(costs)),
                "seed": best_seed,
                "seed_costs": costs,
                "iterations": int(self.kmeans.summary.numIter),
            },
            rules=self.data.rules,
            tables=self.data.tables,
            cleaning=self.data.report,
            probes=_probes(self.data, settings.seed),
            source={
                "source": raw.source,
                "fingerprint": raw.fingerprint,
                "rows": raw.count,
                "learners": int(self.data.report.learners),
            },
        )

    def _engine_fields(self) -> dict[str, Any]:
        java = java_version()
        return {
            "engine": "spark",
            "spark": {
                "version": self.spark.version,
                "pyspark": pyspark.__version__,
                "master": self.spark.sparkContext.master,
                "java": java[1] if java else None,
                "fingerprint": _FINGERPRINT,
                "sweep_silhouette": SWEEP_SILHOUETTE,
            },
        }

    def fit_reference(self, k: int, segment_of: IntArray) -> Reference:
        self.segment_of = segment_of  # the public ids, for the model kept by ``keep``
        start = time.perf_counter()
        labels, linkage = fit_bisecting(self.scored, self.sample, k, self.settings.seed)
        return Reference(
            labels=labels,
            linkage=linkage,
            method=HIERARCHY_METHOD,
            metrics={
                "method": HIERARCHY_METHOD,
                "n_micro": None,
                "seconds": round(time.perf_counter() - start, 3),
                "two_stage_vs_exact_ari": None,
            },
        )

    def _predicted(self, segment_of: IntArray) -> DataFrame:
        ids = [int(i) for i in segment_of]
        return self.kmeans.transform(self.scored).withColumn(
            "segment", lookup_ids(ids, sf.col("prediction"))
        )

    def figures(self, segment_of: IntArray, coarse: list[int]) -> ProfileFigures:
        grouped = (
            self._predicted(segment_of)
            .withColumn("coarse", lookup_ids(coarse, sf.col("segment")))
            .persist()
        )
        try:
            return ProfileFigures(
                segments=group_figures(grouped, "segment"),
                coarse=group_figures(grouped, "coarse"),
                population=population_figures(grouped),
            )
        finally:
            grouped.unpersist()

    def drift_reference(self, segment_of: IntArray, public_sizes: IntArray) -> DriftReference:
        sizes = {int(i): int(n) for i, n in enumerate(public_sizes)}
        return drift_reference(self.data.learners, list(self.settings.cluster_features), sizes)

    # --- cohorts (segment x track): a group-by, exact medians, low-confidence counts ----------
    def cohort_figures(
        self, segment_of: IntArray, kernel: Kernel, bounds: StageBounds
    ) -> dict[tuple[int, str], CohortFigures]:
        """Learners, median CTC and low-confidence placements of every segment x track.

        Whether a learner's placement is low-confidence is the kernel's own verdict (its
        relative margin under its threshold), computed on the executors (``mapInArrow``) as the
        scikit-learn engine computes it. The learners are not counted by their own career stage
        (``bounds`` unused): the report then counts each cohort at its segment's stage.
        """
        names = list(kernel.features)
        flagged = (
            self._predicted(segment_of)
            .select("segment", "track", "ctc", *names)
            .mapInArrow(
                _low_confidence(kernel), "segment int, track string, ctc double, low boolean"
            )
        )
        rows = (
            flagged.groupBy("segment", "track")
            .agg(
                sf.count(sf.lit(1)).alias("learners"),
                sf.percentile("ctc", 0.5).alias("ctc"),
                sf.count_if("low").alias("low"),
            )
            .collect()
        )
        return {
            (int(r["segment"]), str(r["track"])): CohortFigures(
                int(r["learners"]), float(r["ctc"]), int(r["low"])
            )
            for r in rows
        }

    def learner_sample(self, size: int, seed: int) -> pd.DataFrame:
        """A seeded sample of about ``size`` cleaned learners, collected to the driver."""
        learners = self.data.learners
        fraction = min(1.0, 2.0 * size / max(int(self.data.report.learners), 1))
        columns = ("company", "job_title", "orgyear", "ctc", "ctc_updated_year")
        sample = learners.select(*columns).sample(fraction=fraction, seed=seed).limit(size)
        frame: pd.DataFrame = sample.toPandas()
        return frame

    def fitted(self, features: list[str]) -> SparkModel:
        """The fitted model, its frames kept persisted (``keep``)."""
        return SparkModel(
            data=self.data,
            features=features,
            scaling=self.scaling,
            kmeans=self.kmeans,
            segment_ids=self.segment_of,
            scored=self._predicted(self.segment_of).persist(),
        )


def _low_confidence(kernel: Kernel) -> Any:
    """The ``mapInArrow`` function of :meth:`_SparkSteps.cohort_figures`: each learner's
    segment, track and CTC, and whether the kernel places it with low confidence."""
    import pyarrow as pa

    names = list(kernel.features)

    def flag(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            x = np.column_stack(
                [batch.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in names]
            ).reshape(batch.num_rows, len(names))
            relative = kernel.nearest(x).relative_margin
            low = (
                np.zeros(batch.num_rows, bool)
                if relative is None
                else relative < kernel.confidence_threshold
            )
            yield pa.RecordBatch.from_arrays(
                [
                    batch.column("segment").cast(pa.int32()),
                    batch.column("track"),
                    batch.column("ctc"),
                    pa.array(low, pa.bool_()),
                ],
                names=["segment", "track", "ctc", "low"],
            )

    return flag


def _probes(data: SparkLearnerData, seed: int) -> dict[str, list[Any]]:
    """Probe learners for the model folder, from a seeded sample of the raw rows (driver side)."""
    wanted = 8 * PROBES
    fraction = min(1.0, 2.0 * wanted / max(data.raw.count, 1))
    sample = data.raw.rows.select(*RAW_FIELDS).sample(fraction=fraction, seed=seed).limit(wanted)
    return select_probes(sample.toPandas(), data.rules, seed=seed)
