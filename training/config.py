"""Training settings: every knob of loading, cleaning, features and the model, with its default.

Settings come from arguments, then environment variables prefixed ``LEARNSEG_`` (for example
``LEARNSEG_ORGYEAR_MIN=1985``), then the defaults below. Nothing reads the environment at
import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from training.runtime.artifacts import KERNEL_JSON
from training.runtime.courses import CAREER, COURSE, DEFAULT_COURSES, STAGES, Course
from training.runtime.features import FEATURE_COLUMNS
from training.runtime.schema import FILE_ROWS
from training.runtime.tracks import DEFAULT_TRACKS, Tracks

__all__ = [
    "DEFAULT_CLUSTER_FEATURES",
    "DEFAULT_ROWS",
    "DISSOLVES_UNDER_JACCARD",
    "HIGHLY_STABLE_JACCARD",
    "MIN_JACCARD",
    "MIN_STABILITY",
    "RECOMMENDATION_THRESHOLDS",
    "SettingError",
    "TrainingSettings",
]

#: Rows of the embedded default: as many as the case-study file.
DEFAULT_ROWS = FILE_ROWS

#: The default threshold of each recommendation rule (docs/recommendations.md), in the
#: catalogue's order (:mod:`training.insights.actions` holds what each rule measures).
RECOMMENDATION_THRESHOLDS: dict[str, float] = {
    "below_peers": 0.5,
    "above_peers": 0.5,
    "early_career": 0.4,
    "low_pay": 0.5,
    "below_experience": 0.4,
    "lower_paying_companies": 0.5,
    "mid_tier_companies": 0.6,
    "senior_top_pay": 0.5,
    "role_track": 1.3,
    "stale_pay": 0.25,
    "missing_titles": 0.35,
}

# --- Hennig's reading of bootstrap stability (clusterboot), the one place for these bars ------
#: Default overall stability (mean bootstrap ARI against the full fit) a stable k needs.
MIN_STABILITY = 0.85
#: Default bootstrap Jaccard every segment of a stable k needs: from here a segment is "stable"
#: (valid), and a segment under it is acted on through its macro-segment.
MIN_JACCARD = 0.75
#: A segment's Jaccard from which it reads "highly stable".
HIGHLY_STABLE_JACCARD = 0.85
#: A segment's Jaccard under which it "dissolves" (0.6 up to MIN_JACCARD: doubtful).
DISSOLVES_UNDER_JACCARD = 0.6

DEFAULT_CLUSTER_FEATURES: tuple[str, ...] = (
    "years_experience",
    "pay_vs_experience",
    "company_tier",
)
"""Default features K-Means sees: experience, pay against learners of the same experience when the
pay was recorded, and the pay tier of the company (an unknown company at the population's level).
Chosen on the embedded default (generator seeds 0, 1 and 2) as the set whose segments survive
resampling at the knee of the elbow curve, k = 5 (overall bootstrap stability 0.94-0.97, every
segment's Jaccard >= 0.91), with every smaller k stable too, where the earlier five inputs
(adding pay within the company and the job class) are stable only at k <= 3
(docs/segmentation.md, bench/segmentation.py). No title-based input: a missing title cannot
shape a segment, and the job profile (the track) is the second axis of a cohort rather than an
input (as an input it took the segmentation over or made it less stable). Any subset of
``FEATURE_COLUMNS`` can be set instead."""


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "learnseg"


class SettingError(ValueError):
    """A value the settings refuse, in one sentence that names the settings it involves.

    The sentence names settings by field (``k_min``); :meth:`sentence` can name them as the
    caller knows them instead (``--k-min`` on the command line).

    Parameters
    ----------
    template : str
        The sentence: ``{field}`` for a setting (a field of :class:`TrainingSettings`), any other
        ``{key}`` (with format spec or conversion) for one of `values`.
    **values
        The values the sentence quotes.
    """

    def __init__(self, template: str, **values: Any) -> None:
        self.template = template
        self.values = values
        super().__init__(self.sentence())

    def sentence(self, names: Mapping[str, str] | None = None) -> str:
        """The sentence, each setting named as in `names` (field -> name), else by its field."""
        given = names or {}
        settings = {field: given.get(field, field) for field in TrainingSettings.model_fields}
        return self.template.format_map({**settings, **self.values})


class TrainingSettings(BaseSettings):
    """Every knob of the offline half, with its default."""

    model_config = SettingsConfigDict(env_prefix="LEARNSEG_", extra="ignore")

    # --- data -------------------------------------------------------------------------------
    data: str | None = Field(
        default=None,
        description="Path or http(s) URL of the learner table; None = the embedded default.",
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir, description="Where downloaded files are kept."
    )
    synth_rows: int = Field(
        default=DEFAULT_ROWS, ge=100, description="Rows of the embedded default."
    )
    synth_seed: int = Field(default=0, ge=0, description="Seed of the embedded default.")

    # --- cleaning ---------------------------------------------------------------------------
    orgyear_min: int = Field(
        default=1980,
        ge=1900,
        description="Earliest plausible year a learner started working; earlier values are junk.",
    )
    ctc_plausible_min: float = Field(
        default=50_000.0,
        gt=0.0,
        description=(
            "Lowest CTC (INR a year) that can be a yearly salary: less than about INR 4,200 a "
            "month. Lower values (2, 15, 1,000: lakhs or thousands typed as rupees; monthly pay) "
            "are flagged and imputed from learners who started working the same year."
        ),
    )
    ctc_plausible_max: float = Field(
        default=100_000_000.0,
        gt=0.0,
        description=(
            "Highest CTC (INR a year, 10 crore) that can be a yearly salary; higher values "
            "(the file has 1,000,150,000) are flagged and imputed like the lowest."
        ),
    )
    ctc_upper_quantile: float = Field(
        default=1.0,
        gt=0.5,
        le=1.0,
        description=(
            "A plausible CTC above this training quantile is lowered to it (1.0: kept as it is; "
            "the model clips its inputs at their own quantiles, so a cap here is only for the "
            "figures, and it piles the capped learners on one value)."
        ),
    )
    min_title_learners: int = Field(
        default=25,
        ge=1,
        description="Job titles held by fewer learners are folded into their role family.",
    )
    reference_year: int | None = Field(
        default=None,
        description="Year experience is counted to; None = latest ctc_updated_year + 1.",
    )

    # --- features ---------------------------------------------------------------------------
    min_group_size: int = Field(
        default=5,
        ge=1,
        description="Peer groups smaller than this fall back to the next coarser group.",
    )
    n_tiers: int = Field(default=3, ge=2, le=10, description="Company tiers (1 = best paid).")
    n_job_classes: int = Field(default=3, ge=2, le=10, description="Job classes (1 = best paid).")
    flag_tolerance: float = Field(
        default=0.10,
        ge=0.0,
        lt=1.0,
        description="CTC within this relative band of its peer median is flagged 'at' (2).",
    )

    # --- model (used from the model step on) -------------------------------------------------
    model_dir: Path = Field(default=Path("models"), description="Where versioned models go.")
    seed: int = Field(default=0, ge=0, description="random_state of every seeded step.")
    k: int | None = Field(default=None, ge=2, description="Fixed number of segments; None = knee.")
    k_min: int = Field(default=2, ge=2, description="Smallest k of the elbow sweep.")
    k_max: int = Field(default=12, ge=3, le=40, description="Largest k of the elbow sweep.")
    cluster_features: tuple[str, ...] = Field(
        default=DEFAULT_CLUSTER_FEATURES, min_length=2, description="Features K-Means sees."
    )
    n_init: int = Field(default=10, ge=1, description="K-Means restarts of the final fit.")
    sweep_n_init: int = Field(
        default=10,
        ge=1,
        description="K-Means restarts per k in the sweep (on the distinct rows, 10 cost what 3 on "
        "every learner did; 3 let the knee move on generator seed 3, where k = 5's fit stopped "
        "in a poor optimum): with n_init, the sweep's fit at the published k is the final fit.",
    )
    silhouette_sample: int = Field(
        default=20_000, ge=500, description="Seeded sample of the silhouette and the comparison."
    )
    stability_sample: int = Field(
        default=10_000,
        ge=500,
        description="Seeded sample the bootstrap resamples are drawn from and evaluated on "
        "(10,000 read the same stable k as 20,000 on generator seeds 0-2, within 0.03, in half "
        "the time; docs/segmentation.md).",
    )
    stability_resamples: int = Field(
        default=20, ge=2, description="Bootstrap resamples per k (Hennig's clusterboot uses 20+)."
    )
    stability_n_init: int = Field(
        default=3,
        ge=1,
        description="K-Means restarts of each resampled fit (1 lets bad local optima read as "
        "instability).",
    )
    fit_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="K-Means fits of the k sweep and the bootstrap, and the reference's "
        "micro-clusters, run side by side in this many worker processes, each fit on one "
        "thread: the same results for any count (1 fits in the training process itself).",
    )
    min_stability: float = Field(
        default=MIN_STABILITY,
        gt=0.0,
        le=1.0,
        description="Overall stability (mean bootstrap ARI against the full fit) a stable k needs.",
    )
    min_jaccard: float = Field(
        default=MIN_JACCARD,
        gt=0.0,
        le=1.0,
        description="Bootstrap Jaccard every segment of a stable k needs (clusterboot: 0.75 = "
        "valid and stable, under 0.6 the segment dissolves).",
    )
    low_confidence_quantile: float = Field(
        default=0.10,
        gt=0.0,
        lt=0.5,
        description="A placement whose relative margin (d2 - d1) / d2 is below this quantile of "
        "the training learners' is 'low' confidence.",
    )
    paths_sample: int = Field(
        default=1_000,
        ge=0,
        description="Training learners (a seeded sample) whose what-if moves the report's "
        "career paths count (all at once: about 0.1 s for 1,000; 0: no moves, the paths only).",
    )
    hierarchical: Literal["two-stage", "exact"] = Field(
        default="two-stage",
        description="two-stage: MiniBatchKMeans micro-clusters + weighted Ward; exact: Ward "
        "over all learners (fastcluster, minutes).",
    )
    n_micro: int = Field(default=2000, ge=10, description="Micro-clusters of the two-stage Ward.")
    fresh: bool = Field(
        default=False,
        description=(
            "Number segments by size (0 = largest) even when model_dir/LATEST could keep ids "
            "stable; by default ids are matched to LATEST when it uses the same features."
        ),
    )
    previous: Path | None = Field(
        default=None,
        description="A previous model folder whose segment ids to keep (default: LATEST).",
    )

    # --- tracks and the catalogue ------------------------------------------------------------
    tracks: list[dict[str, str]] = Field(
        default_factory=lambda: [t.to_dict() for t in DEFAULT_TRACKS],
        description=(
            "The map from folded job titles to tracks, in match order: each {id, name, pattern} "
            "(a regular expression over the folded title); the first match wins, no match is "
            "'other', a missing or placeholder title 'unknown' (docs/courses.md). As JSON in "
            "LEARNSEG_TRACKS."
        ),
    )
    courses: list[dict[str, Any]] = Field(
        default_factory=lambda: [c.to_dict() for c in DEFAULT_COURSES],
        description=(
            "The school's catalogue: courses (chosen per segment x track) and career services "
            "(chosen from a segment's figures), each {id, name, kind, family, tracks, stages, "
            "description} (docs/courses.md). As JSON in LEARNSEG_COURSES."
        ),
    )

    # --- insights ---------------------------------------------------------------------------
    recommendation_thresholds: dict[str, float] = Field(
        default_factory=lambda: dict(RECOMMENDATION_THRESHOLDS),
        description=(
            "Threshold of each recommendation rule (docs/recommendations.md), by rule id; rules "
            "left out keep their default. As JSON in LEARNSEG_RECOMMENDATION_THRESHOLDS."
        ),
    )

    # --- engine -----------------------------------------------------------------------------
    engine: Literal["sklearn", "spark"] = Field(
        default="sklearn",
        description="sklearn: pandas + scikit-learn in this process; spark: Apache Spark "
        "(pip install '.[spark]', Java 17), for tables larger than one machine's memory.",
    )
    spark_master: str = Field(
        default="local[*]",
        description="Spark master URL: local[*], local[2], spark://host:7077, yarn, k8s://...",
    )
    spark_driver_memory: str = Field(
        default="4g", description="spark.driver.memory (in local mode: all of Spark's memory)."
    )
    spark_shuffle_partitions: int | None = Field(
        default=None,
        ge=1,
        description="spark.sql.shuffle.partitions; None = Spark's default (adaptive coalescing).",
    )
    spark_sweep_n_init: int = Field(
        default=3,
        ge=1,
        description="Spark K-Means runs per k in the Spark engine's sweep (each a Spark job), "
        "and restarts of its resampled fits.",
    )
    spark_max_iter: int = Field(
        default=100, ge=1, description="Iteration cap of each Spark K-Means fit."
    )
    spark_tol: float = Field(
        default=1e-4,
        gt=0.0,
        description="Convergence of Spark K-Means, as scikit-learn's tol: it stops once every "
        "centre moves less than sqrt(tol / k) (scaled units), so the squared shifts sum under tol.",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        exclude=True,  # may hold credentials: never written to a manifest
        description='Extra Spark settings, e.g. {"spark.jars.packages": '
        '"org.apache.hadoop:hadoop-aws:3.4.1"} to read s3a:// paths.',
    )

    # --- bulk assignment and drift -----------------------------------------------------------
    assign_chunk_rows: int = Field(
        default=100_000,
        ge=1,
        le=10_000_000,
        description="Rows `assign` and `drift` read and place at once: memory is bounded by it "
        "(about 0.5 KB a row), not by the table.",
    )
    assign_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes `assign` places chunks in, side by side (1: this process alone). "
        "Each adds about 400 MB; on 2 cores one process (which reads and writes in threads) "
        "was as fast as 2, in half the memory (docs/benchmarks.md).",
    )

    def track_map(self) -> Tracks:
        """The title -> track map of these settings."""
        return Tracks.from_dict(self.tracks)

    def catalogue(self) -> list[Course]:
        """The courses and career services of these settings, in their order."""
        return [Course.from_dict(c) for c in self.courses]

    def _check_catalogue(self) -> None:
        try:
            known = set(self.track_map().ids)
            catalogue = self.catalogue()
        except (KeyError, TypeError, ValueError) as exc:
            raise SettingError("{tracks} or {courses}: {problem}", problem=str(exc)) from None
        ids = [c.id for c in catalogue]
        problems = [
            f"course {i} is listed twice" for i in sorted({i for i in ids if ids.count(i) > 1})
        ]
        for c in catalogue:
            if c.kind not in (COURSE, CAREER):
                problems.append(
                    f"course {c.id} is of kind {c.kind!r}, not {COURSE!r} or {CAREER!r}"
                )
            problems += [
                f"course {c.id} names the unknown track {t!r}"
                for t in c.tracks
                if t != "*" and t not in known
            ]
            problems += [
                f"course {c.id} names the unknown stage {g!r}" for g in c.stages if g not in STAGES
            ]
        if not any(c.kind == COURSE for c in catalogue):
            problems.append("the catalogue lists no course")
        if problems:
            raise SettingError("{courses}: {problems}.", problems="; ".join(problems))

    @field_validator("hierarchical", "engine", mode="before")
    @classmethod
    def _check_choice(cls, value: Any, info: ValidationInfo) -> Any:
        field = str(info.field_name)
        choices = get_args(cls.model_fields[field].annotation)
        if value not in choices:
            raise SettingError(
                f"{{{field}}} must be {{choices}}, not {{value!r}}.",
                choices=" or ".join(choices),
                value=value,
            )
        return value

    @field_validator("previous")
    @classmethod
    def _check_previous(cls, previous: Path | None, info: ValidationInfo) -> Path | None:
        if previous is None:
            return None
        if info.data.get("fresh"):  # fresh is validated first: it comes first
            raise SettingError(
                "{previous} keeps a model's segment ids and {fresh} drops them: choose one."
            )
        if not (previous / KERNEL_JSON).is_file():
            raise SettingError(
                "{previous} {folder} is not a model folder (no {file}).",
                folder=str(previous),
                file=KERNEL_JSON,
            )
        return previous

    @model_validator(mode="after")
    def _check_ranges(self) -> TrainingSettings:
        if self.k_min >= self.k_max:
            raise SettingError(
                "{k_min} ({low}) must be smaller than {k_max} ({high}).",
                low=self.k_min,
                high=self.k_max,
            )
        unknown = [f for f in self.cluster_features if f not in FEATURE_COLUMNS]
        if unknown:
            raise SettingError(
                "Unknown cluster features: {unknown}; choose from {choices}.",
                unknown=", ".join(unknown),
                choices=", ".join(FEATURE_COLUMNS),
            )
        unknown_rules = sorted(set(self.recommendation_thresholds) - set(RECOMMENDATION_THRESHOLDS))
        if unknown_rules:
            raise SettingError(
                "Unknown recommendation rules: {unknown}; choose from {choices}.",
                unknown=", ".join(unknown_rules),
                choices=", ".join(RECOMMENDATION_THRESHOLDS),
            )
        self.recommendation_thresholds = {
            **RECOMMENDATION_THRESHOLDS,
            **{k: float(v) for k, v in self.recommendation_thresholds.items()},
        }
        self._check_catalogue()
        if self.ctc_plausible_min >= self.ctc_plausible_max:
            raise SettingError(
                "{ctc_plausible_min} ({low:,.0f}) must be smaller than "
                "{ctc_plausible_max} ({high:,.0f}).",
                low=self.ctc_plausible_min,
                high=self.ctc_plausible_max,
            )
        return self
