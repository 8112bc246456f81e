"""One training run: the engine's fit, then one tail both engines share.

``run(settings)`` is the scikit-learn engine: load -> clean + features -> preprocess -> elbow
sweep + k choice -> K-Means. ``training.spark.run`` fits the same steps on Spark. Both then hand
a :class:`KMeansFit` and their engine-specific steps (:class:`EngineSteps`) to
:func:`finish_run`, the one tail: segment ids (numbered by size or matched to the previous
model), bootstrap stability, the hierarchical reference, the comparison, coarse segments and
profiles, metrics, the manifest's fields and publishing (:mod:`training.store.publish`).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.batch.explain import WhatIfs
from training.config import TrainingSettings
from training.data.load import load_learners, read_learners_frame
from training.insights.courses import (
    CohortFigures,
    StageBounds,
    choose_cohort_courses,
    cohort_figures,
    with_cohorts,
)
from training.insights.figures import (
    GroupFigures,
    PopulationFigures,
    group_figures,
    population_figures,
)
from training.insights.paths import PAY_STEP, MoveKey, career_paths, learner_columns
from training.insights.profiles import (
    coarse_profiles_from_figures,
    profiles_document,
    profiles_from_figures,
    with_paths,
)
from training.model.choice import KChoice, choose_k
from training.model.compare import (
    compare_labelings,
    further_seeds,
    mean_silhouettes,
    other_seed_aris,
    segment_silhouettes,
    silhouette_fields,
    spread_of,
)
from training.model.hierarchy import (
    Hierarchy,
    coarse_groups,
    hierarchical_exact,
    two_stage_tree,
)
from training.model.ids import id_reference, ids_report, previous_centers, public_ids
from training.model.kmeans import fit_kmeans, limit_threads, sample_rows
from training.model.pipeline import build_pipeline
from training.model.stability import bootstrap_stability
from training.model.sweep import KSweep, sweep_k
from training.model.workers import FitWorkers
from training.prep.cleaning import CleaningReport
from training.prep.features import LearnerData, build_learner_data
from training.progress import StepClock, StepProgress
from training.runtime.artifacts import ArtifactError
from training.runtime.cleaning import CleaningRules
from training.runtime.courses import CohortCourses, stage_codes
from training.runtime.drift import DriftReference, fit_reference
from training.runtime.features import FeatureTables
from training.runtime.kernel import Kernel
from training.runtime.loader import load_model
from training.store.probes import select_probes
from training.store.publish import (
    ModelParts,
    confidence_threshold,
    manifest_fields,
    model_kernel,
    publish_model,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

__all__ = [
    "EngineSteps",
    "KMeansFit",
    "ProfileFigures",
    "Reference",
    "TrainingResult",
    "check_learners",
    "fingerprint",
    "finish_run",
    "load_raw",
    "run",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Learners drawn for the segment map (and for the low-confidence threshold).
MAP_SAMPLE = 5_000


@dataclass
class TrainingResult:
    """What a run produced and where it went."""

    version: str
    folder: Path
    k: int
    k_choice: KChoice
    rows: int
    learners: int
    metrics: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# What an engine hands the tail
# --------------------------------------------------------------------------------------------
@dataclass
class KMeansFit:
    """An engine's fitted K-Means and what the shared tail needs of the run so far.

    Attributes
    ----------
    engine : dict
        The manifest's engine fields (``{"engine": "scikit-learn"}``, or Spark's with versions).
    features : list of str
        The clustering inputs, in matrix column order.
    sweep, choice
        The elbow sweep and the choice of k.
    pipeline : sklearn.pipeline.Pipeline
        Fitted ``clip`` -> ``scale`` -> ``kmeans``, in K-Means' own centre order.
    sizes : ndarray of int, shape (k,)
        Learners of each K-Means centre (all learners).
    z : ndarray, shape (n_eval, n_features)
        The evaluation learners, scaled: every learner (scikit-learn) or a seeded sample
        (Spark). Stability, the comparison, silhouettes and the segment map are read on them.
    labels : ndarray of int, shape (n_eval,)
        Their K-Means centre (K-Means' own order).
    x : ndarray, shape (n_eval, n_features)
        The same learners in feature units, for the ids report (how many the previous model
        places elsewhere).
    kmeans_metrics : dict
        ``inertia`` and the engine's own figures (seeds, iterations), for the manifest.
    rules, tables, cleaning
        The frozen cleaning rules, peer tables and the cleaning report.
    probes : dict of str to list
        Raw probe learners (:func:`training.store.probes.select_probes`).
    source : dict
        The manifest's ``data``: source, fingerprint, rows, learners.
    raw : DataFrame, optional
        The raw training table (the loader's schema), on which the manifest's ``churn`` is
        measured; None (the Spark engine, whose table is not in memory): not measured.
    """

    engine: dict[str, Any]
    features: list[str]
    sweep: KSweep
    choice: KChoice
    pipeline: Pipeline
    sizes: IntArray
    z: FloatArray
    labels: IntArray
    x: FloatArray
    kmeans_metrics: dict[str, Any]
    rules: CleaningRules
    tables: FeatureTables
    cleaning: CleaningReport
    probes: dict[str, list[Any]]
    source: dict[str, Any]
    raw: pd.DataFrame | None = None


@dataclass
class Reference:
    """The hierarchical reference on the evaluation learners.

    ``labels`` are its clusters (0 = largest), ``linkage`` its tree for the dendrogram,
    ``metrics`` the manifest's ``hierarchical`` figures, ``leaf_counts`` (when the engine has
    them) the learners of each segment in each leaf, given the public segment ids.
    ``further`` (a seeded two-stage reference only) holds the trees of the reference's further
    seeds (:func:`~training.model.compare.further_seeds`), fitted in the workers beside the
    tail; before the manifest is written the run cuts each at k and measures K-Means against it
    (:func:`~training.model.compare.other_seed_aris`).
    """

    labels: IntArray
    linkage: FloatArray
    method: str
    metrics: dict[str, Any]
    leaf_counts: IntArray | None = None
    further: list[Future[Hierarchy]] = field(default_factory=list, repr=False, compare=False)


@dataclass
class ProfileFigures:
    """The figures profiles are built from: each segment's, each coarse segment's, all learners'."""

    segments: dict[int, GroupFigures]
    coarse: dict[int, GroupFigures]
    population: PopulationFigures


class EngineSteps(Protocol):
    """The steps of the tail that each engine computes its own way."""

    #: How the reference is named in the progress line (``"two-stage"``, ``"bisecting ..."``).
    reference_label: str

    def fit_reference(self, k: int, segment_of: IntArray) -> Reference:
        """The hierarchical reference with ``k`` clusters; ``segment_of`` maps K-Means centres
        to public ids."""

    def figures(self, segment_of: IntArray, coarse: list[int]) -> ProfileFigures:
        """Profile figures of every segment (public id) and coarse segment."""

    def drift_reference(self, segment_of: IntArray, public_sizes: IntArray) -> DriftReference:
        """The drift reference of every learner's features and segment."""

    # --- cohorts (segment x track): their figures, over every learner -------------------------
    def cohort_figures(
        self, segment_of: IntArray, kernel: Kernel, bounds: StageBounds
    ) -> dict[tuple[int, str], CohortFigures]:
        """Learners, median CTC and low-confidence placements (relative margin under
        ``kernel``'s threshold) of every segment x track with learners; an engine may also count
        them at each of their own career stages (``bounds``), as the placements will."""

    def learner_sample(self, size: int, seed: int) -> pd.DataFrame:
        """A seeded sample of at most ``size`` cleaned learners (``company``, ``job_title``,
        ``orgyear``, ``ctc``, ``ctc_updated_year``), whose what-if moves the paths count."""


# --------------------------------------------------------------------------------------------
# The scikit-learn engine
# --------------------------------------------------------------------------------------------
def load_raw(settings: TrainingSettings) -> tuple[pd.DataFrame, str]:
    """The raw table named by ``settings.data``, or the embedded default; and a label for it."""
    if settings.data is None:
        from training.data.synth import generate_learners

        frame = generate_learners(rows=settings.synth_rows, seed=settings.synth_seed)
        label = (
            f"embedded default (synthetic, {settings.synth_rows} rows, seed {settings.synth_seed})"
        )
        return read_learners_frame(frame, origin="the embedded default"), label
    return load_learners(settings.data, cache_dir=settings.cache_dir), settings.data


def fingerprint(raw: pd.DataFrame) -> str:
    """SHA-256 of the loaded table's values (row order included), independent of file format."""
    hashed = pd.util.hash_pandas_object(raw, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def check_learners(n: int, settings: TrainingSettings) -> None:
    """Refuse a table with too few learners to segment into up to ``k_max`` segments."""
    if n < max(settings.k_max, 10) * 5:
        raise ValueError(
            f"Only {n} learners remain after cleaning: too few to segment into up to "
            f"{settings.k_max} segments."
        )


def run(
    settings: TrainingSettings,
    *,
    raw: pd.DataFrame | None = None,
    source: str | None = None,
    progress: StepProgress | None = None,
) -> TrainingResult:
    """Train a segmentation model with scikit-learn and publish it under ``settings.model_dir``.

    Parameters
    ----------
    settings : TrainingSettings
        Every knob; ``settings.data`` names the table unless ``raw`` is given.
    raw : DataFrame, optional
        An already loaded raw table (the loader's schema); ``source`` labels it.
    progress : callable, optional
        Called with a short label as each step starts.
    """
    clock = StepClock(progress=progress)
    created_at = datetime.now(UTC).replace(microsecond=0)
    # The fit workers start now: their forkserver imports scikit-learn on the core the load
    # leaves idle. They fit the sweep and the hierarchical reference's trees (micro-clusters and
    # weighted Ward) of every seed.
    with FitWorkers(settings.fit_workers) as workers:
        workers.start()
        with clock.step("load", "Loading the learner table"):
            if raw is None:
                raw, source = load_raw(settings)
            data_fingerprint = fingerprint(raw)
        with clock.step("clean_features", "Cleaning and computing learner features"):
            data: LearnerData = build_learner_data(raw, settings)
        origin = {"source": source or "dataframe", "fingerprint": data_fingerprint}
        fit, trees = _fit(settings, raw, origin, data, workers, clock)
        steps = _LocalSteps(data, fit, settings, trees)
        return finish_run(settings, fit, steps, clock, created_at, workers)


def _fit(
    settings: TrainingSettings,
    raw: pd.DataFrame,
    origin: dict[str, Any],
    data: LearnerData,
    workers: FitWorkers,
    clock: StepClock,
) -> tuple[KMeansFit, _Trees]:
    """Preprocessing, the elbow sweep, the choice of k and the final K-Means of the cleaned
    learners of ``raw`` (``origin``: its source and fingerprint), and the hierarchical
    reference's trees, which do not depend on k and are fitted in workers while the sweep runs
    (:class:`_Trees`)."""
    features = list(settings.cluster_features)
    x = data.features[features].to_numpy(np.float64)
    check_learners(x.shape[0], settings)
    with clock.step("preprocess", "Preprocessing (clip + scale)"):
        pipeline = build_pipeline(2, seed=settings.seed, n_init=settings.n_init)
        z = pipeline[:-1].fit(x).transform(x)
    # One thread per fit throughout (the limit is process-wide; the workers have their own).
    with limit_threads(1):
        # The hierarchical reference does not depend on k: its tree (micro-clusters, then
        # weighted Ward) is queued before the sweep's fits, whose silhouettes cut it at every k.
        tree = _tree_in(workers, z, settings.seed, settings)

        def reference(k: int) -> IntArray:
            return tree.result().cut(k)

        # The further seeds' trees, queued behind the sweep's fits: they run as the fits run out,
        # beside the silhouettes, the final fit and the tail; joined before the manifest.
        further: list[Future[Hierarchy]] = []
        two_stage = settings.hierarchical == "two-stage"  # exact Ward has one seed

        def queue_further() -> None:
            if two_stage:
                seeds = further_seeds(settings.seed)
                further.extend(_tree_in(workers, z, seed, settings) for seed in seeds)

        with clock.step("sweep", f"Elbow sweep k = {settings.k_min}..{settings.k_max}"):
            sweep = _sweep(z, settings, workers, reference if two_stage else None, queue_further)
            choice = choose_k(
                sweep,
                settings.k,
                min_stability=settings.min_stability,
                min_jaccard=settings.min_jaccard,
            )
        with clock.step("kmeans", f"K-Means with k = {choice.k}"):
            # The sweep's fit at k is the final fit when it had the final fit's restarts (the
            # same rows, seed and restarts, one thread: the same fit, not fitted twice).
            same = settings.sweep_n_init == settings.n_init and choice.k in sweep.fitted
            kmeans = (
                sweep.fitted[choice.k]
                if same
                else fit_kmeans(z, choice.k, seed=settings.seed, n_init=settings.n_init)
            )
            pipeline.steps[-1] = ("kmeans", kmeans)
    fit = KMeansFit(
        engine={"engine": "scikit-learn"},
        features=features,
        sweep=sweep,
        choice=choice,
        pipeline=pipeline,
        sizes=np.bincount(kmeans.labels_, minlength=choice.k),
        z=z,
        labels=np.asarray(kmeans.labels_, np.intp),
        x=x,
        kmeans_metrics={"inertia": float(kmeans.inertia_), "n_init": settings.n_init},
        rules=data.rules,
        tables=data.tables,
        cleaning=data.report,
        probes=select_probes(raw, data.rules, seed=settings.seed),
        source={**origin, "rows": len(raw), "learners": int(x.shape[0])},
        raw=raw,
    )
    return fit, _Trees(tree.result(), further)


def _tree_in(
    workers: FitWorkers, z: FloatArray, seed: int, settings: TrainingSettings
) -> Future[Hierarchy]:
    """The two-stage reference's tree of one seed, fitted in a worker."""
    return workers.submit(two_stage_tree, z, seed=seed, n_micro=settings.n_micro, n_threads=1)


def _sweep(
    z: FloatArray,
    settings: TrainingSettings,
    workers: FitWorkers,
    reference: Callable[[int], IntArray] | None,
    queued: Callable[[], None] | None = None,
) -> KSweep:
    return sweep_k(
        z,
        settings.k_min,
        settings.k_max,
        seed=settings.seed,
        n_init=settings.sweep_n_init,
        silhouette_sample=settings.silhouette_sample,
        stability_resamples=settings.stability_resamples,
        stability_sample=settings.stability_sample,
        stability_n_init=settings.stability_n_init,
        workers=settings.fit_workers,
        pool=workers,
        reference=reference,
        queued=queued,
    )


@dataclass(frozen=True)
class _Trees:
    """What the run fitted of the hierarchical reference beside the sweep (none depends on k):
    the published seed's two-stage tree and the further seeds' trees
    (:func:`~training.model.compare.further_seeds`, perhaps still in the workers; none for exact
    Ward, which has one seed)."""

    tree: Hierarchy
    further: list[Future[Hierarchy]]


class _LocalSteps:
    """The tail's engine steps on pandas and scikit-learn (every learner in memory)."""

    def __init__(
        self, data: LearnerData, fit: KMeansFit, settings: TrainingSettings, trees: _Trees
    ) -> None:
        self.data, self.fit, self.settings, self.trees = data, fit, settings, trees
        self.reference_label: str = settings.hierarchical

    def fit_reference(self, k: int, segment_of: IntArray) -> Reference:
        settings, z, trees = self.settings, self.fit.z, self.trees
        staged = trees.tree.at(k, z)
        hierarchy, versus_exact = staged, None
        if settings.hierarchical == "exact":
            from sklearn.metrics import adjusted_rand_score

            hierarchy = hierarchical_exact(z, k)
            versus_exact = float(adjusted_rand_score(hierarchy.labels, staged.labels))
        return Reference(
            labels=hierarchy.labels,
            linkage=hierarchy.linkage,
            method=hierarchy.method,
            metrics={
                "method": hierarchy.method,
                "n_micro": hierarchy.n_micro,
                "seconds": round(hierarchy.seconds, 3),
                "two_stage_vs_exact_ari": versus_exact,
            },
            leaf_counts=hierarchy.leaf_counts(segment_of[self.fit.labels], k),
            further=trees.further,
        )

    def figures(self, segment_of: IntArray, coarse: list[int]) -> ProfileFigures:
        learners, features = self.data.learners, self.data.features
        labels = segment_of[self.fit.labels]
        coarse_labels = np.asarray(coarse)[labels]
        population_ctc = np.sort(learners["ctc"].to_numpy(np.float64))

        def of(members: npt.NDArray[np.bool_]) -> GroupFigures:
            return group_figures(members, learners, features, population_ctc=population_ctc)

        return ProfileFigures(
            segments={int(s): of(labels == s) for s in np.unique(labels)},
            coarse={int(c): of(coarse_labels == c) for c in sorted(set(coarse))},
            population=population_figures(learners, features),
        )

    def drift_reference(self, segment_of: IntArray, public_sizes: IntArray) -> DriftReference:
        ids = sorted(int(i) for i in segment_of)
        return fit_reference(self.fit.features, self.fit.x, segment_of[self.fit.labels], ids)

    # --- cohorts (segment x track) ------------------------------------------------------------
    def cohort_figures(
        self, segment_of: IntArray, kernel: Kernel, bounds: StageBounds
    ) -> dict[tuple[int, str], CohortFigures]:
        relative = kernel.nearest(self.fit.x).relative_margin
        low = (
            np.zeros(len(self.fit.x), bool)
            if relative is None
            else relative < kernel.confidence_threshold
        )
        learners = self.data.learners
        orgyear = learners["orgyear"].to_numpy(np.float64)
        years = np.maximum(kernel.tables.reference_year - orgyear, 0.0)  # as the features do
        return cohort_figures(
            segment_of[self.fit.labels],
            learners["track"].to_numpy(dtype=object),
            learners["ctc"].to_numpy(np.float64),
            low,
            stage_codes(years, bounds.early, bounds.senior),
        )

    def learner_sample(self, size: int, seed: int) -> pd.DataFrame:
        learners = self.data.learners
        return learners.iloc[_sample(len(learners), size, seed)]


# --------------------------------------------------------------------------------------------
# The tail both engines share
# --------------------------------------------------------------------------------------------
@dataclass
class _Comparison:
    """K-Means against the reference (``figures``: the manifest's ``comparison``), each
    segment's silhouette, and the two mean silhouettes still being measured in a worker when
    the sweep's pass had not measured these partitions (joined before the manifest)."""

    figures: dict[str, Any]
    segment_silhouettes: dict[int, float]
    pending: Future[list[float]] | None

    def settle(self) -> None:
        """Write the pending silhouettes into ``figures``."""
        if self.pending is not None:
            self.figures.update(silhouette_fields(*self.pending.result()))
            self.pending = None


def _compare(
    settings: TrainingSettings,
    fit: KMeansFit,
    labels: IntArray,
    reference: Reference,
    workers: FitWorkers | None,
) -> _Comparison:
    """K-Means against the reference, and each segment's silhouette (the reference's spread over
    its seeds is added before the manifest is written: :attr:`Reference.further`). The two mean
    silhouettes come from the sweep's pass when it measured these very partitions; otherwise
    they are measured in a worker (one pass, ~1.6 s of CPU) while the tail runs."""
    # the comparison's silhouette sample (compare_labelings draws the same rows)
    rng = np.random.default_rng(settings.seed)
    rows = sample_rows(rng, len(labels), settings.silhouette_sample)
    known = _measured_silhouettes(fit, rows, labels, reference)
    pending = None
    if known is None:
        pending = (FitWorkers(1) if workers is None else workers).submit(
            mean_silhouettes, fit.z[rows], [labels[rows], reference.labels[rows]]
        )
    comparison = compare_labelings(
        labels,
        reference.labels,
        fit.z,
        seed=settings.seed,
        sample=settings.silhouette_sample,
        workers=settings.fit_workers,
        silhouettes=known or (math.nan, math.nan),
    )
    silhouettes = segment_silhouettes(
        fit.z, labels, settings.seed, min(settings.silhouette_sample, MAP_SAMPLE)
    )
    return _Comparison(comparison, silhouettes, pending)


def _measured_silhouettes(
    fit: KMeansFit, rows: IntArray, labels: IntArray, reference: Reference
) -> tuple[float, float] | None:
    """K-Means' and the reference's silhouettes when the sweep's pass measured these very
    partitions on the comparison's sample (``rows``); None otherwise."""
    evaluated = fit.sweep.evaluated
    if evaluated is None or not np.array_equal(rows, evaluated.rows):
        return None
    return evaluated.silhouettes(labels, reference.labels, int(fit.sizes.size))


def finish_run(
    settings: TrainingSettings,
    fit: KMeansFit,
    steps: EngineSteps,
    clock: StepClock,
    created_at: datetime,
    workers: FitWorkers | None = None,
) -> TrainingResult:
    """Everything after an engine's K-Means fit, the same for both engines: segment ids,
    bootstrap stability, the hierarchical reference and the comparison (on the evaluation
    learners), coarse segments and profiles, the drift reference, metrics, paths, the churn
    against the previous model, the manifest's fields, then the model is published."""
    k = int(fit.sizes.size)
    with clock.step("ids", "Numbering the segments"):
        segment_of, centers, ids_doc = _number_segments(settings, fit, k)
        labels = segment_of[fit.labels]
    with clock.step("stability", f"Bootstrap stability of the {k} segments"):
        stability = _stability(settings, fit, k, segment_of)
    with clock.step("hierarchical", f"Hierarchical reference ({steps.reference_label})"):
        reference = steps.fit_reference(k, segment_of)
    with clock.step("compare", "Comparing K-Means with the hierarchical reference"):
        compared = _compare(settings, fit, labels, reference, workers)
        comparison, silhouettes = compared.figures, compared.segment_silhouettes
    with clock.step("profiles", "Profiling segments"):
        public_sizes = np.empty(k, np.intp)
        public_sizes[segment_of] = fit.sizes
        coarse = coarse_groups(centers, public_sizes)
        figures = steps.figures(segment_of, coarse)
        profiles = _profiles(settings, figures, centers, coarse, comparison, silhouettes)
        profiles = profiles_document(
            k,
            profiles["segments"],
            profiles["coarse"],
            profiles["population"],
            jaccard={int(i): float(j) for i, j in stability["jaccard"].items()},
            inputs=list(settings.cluster_features),
        )
    with clock.step("drift", "Drift reference: decile bins and segment shares"):
        drift = steps.drift_reference(segment_of, public_sizes)
    sample = _sample(len(fit.z), MAP_SAMPLE, settings.seed)
    with clock.step("cohorts", "A course for every cohort (segment x track)"):
        kernel, cohorts, profiles = _cohorts(
            settings, fit, steps, (segment_of, coarse), figures, fit.z[sample], profiles
        )
    with clock.step("paths", "Career paths and what-if moves of each segment"):
        profiles = _paths(settings, fit, steps, kernel, cohorts, profiles)
    with clock.step("churn", "Churn: the training table placed by the previous model"):
        churn = _churn(settings, fit, kernel)
    parts = ModelParts(
        pipeline=fit.pipeline,
        features=fit.features,
        segment_ids=segment_of,
        kernel=kernel,
        cohorts=cohorts,
        probes=fit.probes,
        profiles=profiles,
        linkage=reference.linkage,
        hierarchy_method=reference.method,
        map_z=fit.z[sample],
        map_labels=labels[sample],
        centers=centers,
        leaf_segments=reference.leaf_counts,
        drift=drift,
    )
    # The timing is written by every engine (nothing to wait for where the reference has one
    # seed: exact Ward, Spark's bisecting K-Means, whose one figure takes the same fields).
    with clock.step("reference_seeds", "Waiting for the workers (reference seeds, silhouettes)"):
        compared.settle()
        trees = [tree.result() for tree in reference.further]
        comparison.update(spread_of([comparison["ari"], *other_seed_aris(fit.labels, trees, k)]))
    with clock.step("write", "Writing artifacts, plots and report"):
        metrics = _metrics(settings, fit, stability, reference, comparison)
        fields = manifest_fields(
            fit.engine,
            k=k,
            choice=fit.choice,
            rules=fit.rules,
            cleaning=fit.cleaning,
            features=fit.features,
            source=fit.source,
            settings=settings,
            metrics=metrics,
            ids=ids_doc,
            churn=churn,
            timings=clock.timings,
        )
        version = publish_model(settings.model_dir, created_at, parts, fields, workers)
    return TrainingResult(
        version=version,
        folder=settings.model_dir / version,
        k=k,
        k_choice=fit.choice,
        rows=int(fit.source["rows"]),
        learners=int(fit.source["learners"]),
        metrics=metrics,
        timings=clock.timings,
    )


def _number_segments(
    settings: TrainingSettings, fit: KMeansFit, k: int
) -> tuple[IntArray, FloatArray, dict[str, Any]]:
    """The public id of each K-Means centre, the centres (scaled) in public-id order, and the
    manifest's ``ids``.

    Ids are matched to the previous model's (``--previous`` or ``LATEST``) when it can lend
    them, else numbered by size; ``ids`` says which, and how many evaluation learners the
    previous model places elsewhere.
    """
    scaler, kmeans = fit.pipeline.named_steps["scale"], fit.pipeline.named_steps["kmeans"]
    raw_centers = np.asarray(kmeans.cluster_centers_, np.float64)
    mean, scale = np.asarray(scaler.mean_), np.asarray(scaler.scale_)
    reference = id_reference(settings, fit.features, k)
    previous = previous_centers(reference.folder, fit.features) if reference.folder else None
    segment_of = public_ids(fit.sizes, raw_centers * scale + mean, (mean, scale), previous)
    if previous is not None and len(previous) < k:
        log.info("%d new segments got fresh ids", k - len(previous))
    centers = np.empty_like(raw_centers)
    centers[segment_of] = raw_centers
    return segment_of, centers, ids_report(reference)


def _churn(settings: TrainingSettings, fit: KMeansFit, kernel: Kernel) -> dict[str, Any]:
    """The manifest's ``churn``: of the training table's rows, how many the previous model (the
    one the ids were matched to) places in another segment than this one, as ``diff`` counts
    them (each model end to end: its own cleaning rules, peer tables and centres), and a
    sentence saying exactly that."""
    from training.batch.diff import measure_churn
    from training.batch.reading import raw_arrays

    reference = id_reference(settings, fit.features, kernel.k)
    if reference.folder is None:
        why = f"the segment ids were {reference.reason}, so no earlier model shares them"
        return {"previous_version": None, "measures": f"Not measured: {why}."}
    if fit.raw is None:
        return {
            "previous_version": reference.folder.name,
            "measures": "Not measured: the Spark engine does not hold the training table; run "
            f"python -m training diff --old {reference.folder.name} --new <this version> on it.",
        }
    try:
        previous = load_model(reference.folder)
    except ArtifactError as exc:
        return {"previous_version": reference.folder.name, "measures": f"Not measured: {exc}"}
    figures = measure_churn(previous, kernel, raw_arrays(fit.raw))
    return {
        "previous_version": previous.version,
        **figures,
        "measures": (
            f"Of the {figures['placed']:,} rows of this model's training table that the service "
            f"places (of {figures['rows']:,}), {figures['moved']:,} "
            f"({figures['share_moved']:.2%}) get another segment id from this model than from "
            f"{previous.version}, each row placed end to end by each model (its own cleaning "
            "rules, peer tables and centres), as python -m training diff places a table."
        ),
    }


def _stability(
    settings: TrainingSettings, fit: KMeansFit, k: int, segment_of: IntArray
) -> dict[str, Any]:
    """Bootstrap stability of the K-Means segments, each segment's Jaccard under its public id.

    Against the sweep's own resampled fits of this k when it kept them (the scikit-learn engine:
    the same resamples, so the published figure is the sweep's figure for the published
    partition), else on a seeded sample of the evaluation learners.
    """
    if fit.sweep.resampled is not None:
        scores = fit.sweep.resampled.scores(fit.labels, k)
        if scores is not None:
            return scores.by_id(segment_of)
    rows = _sample(len(fit.z), settings.stability_sample, settings.seed)
    return bootstrap_stability(
        fit.z[rows],
        fit.labels[rows],
        k,
        resamples=settings.stability_resamples,
        seed=settings.seed,
        n_init=settings.stability_n_init,
        workers=settings.fit_workers,
    ).by_id(segment_of)


def _metrics(
    settings: TrainingSettings,
    fit: KMeansFit,
    stability: dict[str, Any],
    reference: Reference,
    comparison: dict[str, Any],
) -> dict[str, Any]:
    """The manifest's ``metrics``: sweep, stability, K-Means, the reference, the comparison."""
    kmeans = {
        "inertia": fit.kmeans_metrics["inertia"],
        "n_init": settings.n_init,
        "silhouette": comparison["silhouette_a"],
    }
    kmeans |= {key: v for key, v in fit.kmeans_metrics.items() if key not in kmeans}
    return {
        "sweep": fit.sweep.to_dict(),
        "stability": stability,
        "kmeans": kmeans,
        "hierarchical": reference.metrics,
        "comparison": comparison,
    }


def _cohorts(
    settings: TrainingSettings,
    fit: KMeansFit,
    steps: EngineSteps,
    ids: tuple[IntArray, list[int]],
    figures: ProfileFigures,
    map_z: FloatArray,
    profiles: dict[str, Any],
) -> tuple[Kernel, CohortCourses, dict[str, Any]]:
    """The kernel with its low-confidence threshold (from the segment map's learners
    ``map_z``), the course of every segment x track, and ``profiles.json`` with the cohorts.

    ``ids`` holds the public id of each K-Means centre and the coarse segment of each public id;
    a segment's career stage is its median experience against all learners' quartiles.
    """
    segment_of, coarse = ids
    kernel = confidence_threshold(
        model_kernel(fit.pipeline, fit.features, segment_of, coarse, fit.rules, fit.tables),
        map_z,
        settings.low_confidence_quantile,
    )
    low, _, high = figures.population.years_quartiles
    bounds = StageBounds(early=low, senior=high)
    choice = choose_cohort_courses(
        steps.cohort_figures(segment_of, kernel, bounds),
        {int(s): g.years_median for s, g in figures.segments.items()},
        bounds,
        fit.rules.tracks,
        settings.catalogue(),
    )
    profiles = with_cohorts(profiles, choice, fit.rules.tracks, settings.catalogue())
    return kernel, choice.courses, profiles


def _paths(
    settings: TrainingSettings,
    fit: KMeansFit,
    steps: EngineSteps,
    kernel: Kernel,
    cohorts: CohortCourses,
    profiles: dict[str, Any],
) -> dict[str, Any]:
    """``profiles.json`` with the career paths of the learners ``fit.x`` holds (all of them on
    scikit-learn, the evaluation sample on Spark) and the what-if moves of a seeded sample."""
    names = {int(p["id"]): str(p["name"]) for p in profiles["segments"]}
    placed: list[int] = []
    reachable: list[set[MoveKey]] = []
    if settings.paths_sample:
        sample = learner_columns(steps.learner_sample(settings.paths_sample, settings.seed))
        if len(sample["ctc"]):
            what_ifs = WhatIfs(kernel, cohorts, names)
            placed, reachable = what_ifs.reachable_moves(sample, PAY_STEP)
    paths = career_paths(kernel, names, fit.x, placed, reachable, pay_step=PAY_STEP)
    return with_paths(profiles, paths)


def _sample(n: int, size: int, seed: int) -> IntArray:
    """A sorted seeded sample of ``min(n, size)`` of ``n`` rows (all of them, in order, when
    ``n <= size``)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(n, size), replace=False))


def _profiles(
    settings: TrainingSettings,
    figures: ProfileFigures,
    centers: FloatArray,
    coarse: list[int],
    comparison: dict[str, Any],
    silhouettes: dict[int, float],
) -> dict[str, Any]:
    """Segment and coarse-segment profiles (named, with their actions) from the figures."""
    members: dict[int, list[int]] = {}
    for segment, group in enumerate(coarse):
        members.setdefault(group, []).append(segment)
    thresholds = settings.recommendation_thresholds
    inputs, catalogue = list(settings.cluster_features), settings.catalogue()
    segments = profiles_from_figures(
        figures.segments,
        figures.population,
        centers=centers,
        silhouette=silhouettes,
        best_match={int(a): m for a, m in comparison["best_match_jaccard"].items()},
        coarse=dict(enumerate(coarse)),
        thresholds=thresholds,
        inputs=inputs,
        catalogue=catalogue,
        comparison=comparison,
    )
    return {
        "segments": segments,
        "coarse": coarse_profiles_from_figures(
            figures.coarse,
            figures.population,
            members,
            thresholds,
            segments=segments,
            inputs=inputs,
            catalogue=catalogue,
        ),
        "population": figures.population,
    }
