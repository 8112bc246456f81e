"""Segmenter: a verified model folder, loaded, checked, and placing learners with numpy only.

Loading (:meth:`Segmenter.load`, at start-up and at every reload) starts with the one verified-model
loader, :func:`training.runtime.loader.load_model`: every file checked against the manifest's
SHA-256 and the library versions, ``segmenter.json`` read into the kernel, the profiles and the
drift reference (checked against the kernel). Then what only the service does: the fitted
pipeline is unpickled from ``segmenter.joblib`` through an allow-list (:mod:`service.unpickle`),
and the numpy kernel is built from its fitted attributes (clip bounds, scaler, K-Means centres);
the cleaning rules and peer tables come from ``segmenter.json``. The kernel, ``pipeline.predict``,
the JSON model and the labels stored at training must agree on every probe learner of
``probes.json``; a disagreement refuses the model, as a hash mismatch does.

Placing: the runtime kernel (:mod:`training.runtime`), on the scalar backend for one learner and
on the numpy backend for a batch (:func:`training.runtime.placement.place`, which ``python -m
training assign`` shares). Every placement answers the learner's track (from its title,
:func:`training.runtime.placement.learner_track` for one learner) and its cohort's course (the
model's :class:`~training.runtime.courses.CohortCourses`). Nothing here imports pandas or
scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from service.drift import DriftMonitor, training_track_shares
from service.unpickle import load_allowed
from training.runtime.artifacts import (
    KERNEL_JSON,
    PIPELINE_JOBLIB,
    PROBES_JSON,
    ArtifactError,
    resolve_model,
)
from training.runtime.courses import EXPERIENCE, STAGES, CohortCourses
from training.runtime.drift import DriftReference
from training.runtime.explain import Explainer
from training.runtime.features import FALLBACK_FLAGS, learner_features
from training.runtime.kernel import HIGH, Kernel, relative_margin
from training.runtime.loader import load_model
from training.runtime.placement import Placement, learner_track, place
from training.runtime.schema import RAW_FIELDS

__all__ = [
    "EMBEDDED_DEFAULT",
    "WHAT_IF_FIELDS",
    "Assignment",
    "Segmenter",
    "data_name",
    "public_data",
]

#: The name of the table training makes itself (``training.data.synth``).
EMBEDDED_DEFAULT = "embedded default"
#: The keys of every ``what_if`` entry of :meth:`Segmenter.explain`, in order (the Explainer's,
#: each entry with all of them); ``service.schemas.WhatIf`` documents them.
WHAT_IF_FIELDS = (
    "input",
    "direction",
    "segment_id",
    "segment_name",
    "course",
    "course_name",
    "change",
    "amount",
    "relative",
    "tier",
    "years",
    "request_change",
    "reason",
)
#: Fingerprint and counts of the training table: shown as they are.
_DATA_FIGURES = ("fingerprint", "rows", "learners")


def data_name(source: str) -> str:
    """What the training table is called in public: its file's name (``learners.csv``), a URL's
    host and file name (``data.example.com/learners.csv``), or ``embedded default``; never a
    folder, a query string or credentials."""
    if source.startswith(EMBEDDED_DEFAULT):
        return EMBEDDED_DEFAULT
    parts = urlsplit(source)
    if parts.scheme and parts.netloc:
        name = PurePosixPath(parts.path).name
        host = parts.hostname or "?"
        return f"{host}/{name}" if name else host
    return PurePosixPath(source.replace("\\", "/")).name or "unnamed"


def public_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest's ``data`` as ``GET /model`` shows it: the table's name (as ``name``, and as
    ``source``, which once held its path), fingerprint and counts; other text is left out."""
    name = data_name(str(data.get("source", "")))
    figures = {key: data[key] for key in _DATA_FIGURES if key in data}
    extra = {
        key: value
        for key, value in data.items()
        if key not in _DATA_FIGURES and key != "source" and not isinstance(value, str | dict | list)
    }
    return {"name": name, "source": name, **figures, **extra}


@dataclass(slots=True)
class Assignment:
    """One learner's segment, track and course, why, and what was cleaned or fell back on the
    way."""

    segment_id: int
    segment_name: str
    coarse_segment_id: int
    track: str
    course: str
    course_name: str
    distance: float
    runner_up_id: int | None
    runner_up_distance: float | None
    margin: float | None
    relative_margin: float | None
    confidence: str
    features: dict[str, float]
    warnings: list[str]
    model_version: str

    #: The keys of :meth:`to_dict`, in order: the JSON of a placement, defined here once.
    #: ``service.render`` writes them for a batch; ``service.schemas.SegmentResult`` documents
    #: them (both refuse to import if they name other keys).
    FIELDS = (
        "segment_id",
        "segment_name",
        "coarse_segment_id",
        "track",
        "course",
        "course_name",
        "distance",
        "runner_up",
        "margin",
        "relative_margin",
        "confidence",
        "features",
        "warnings",
        "model_version",
    )
    #: The keys of a compact placement (``/segment/batch?compact=true``), in order.
    COMPACT_FIELDS = (
        "segment_id",
        "segment_name",
        "coarse_segment_id",
        "track",
        "course",
        "course_name",
        "confidence",
        "model_version",
    )
    #: The keys of ``runner_up``, in order.
    RUNNER_UP_FIELDS = ("segment_id", "distance")

    @property
    def runner_up(self) -> dict[str, Any] | None:
        """The next-nearest segment's id and distance; None when the model has one segment."""
        if self.runner_up_id is None:
            return None
        values = (self.runner_up_id, self.runner_up_distance)
        return dict(zip(self.RUNNER_UP_FIELDS, values, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this placement: the attributes named in :attr:`FIELDS`, in order."""
        return {key: getattr(self, key) for key in self.FIELDS}


@dataclass
class Segmenter:
    """A loaded, verified model: assignment, profiles and model information."""

    folder: Path
    manifest: dict[str, Any]
    model: Kernel
    #: The course of every segment x track (``segmenter.json``'s ``cohorts``).
    cohorts: CohortCourses
    profiles: list[dict[str, Any]]
    coarse_profiles: list[dict[str, Any]]
    pipeline_check: dict[str, int] = field(default_factory=dict)
    overview: dict[str, Any] = field(default_factory=dict)
    #: The training population's bins and shares (None for a model trained before drift.json).
    drift_reference: DriftReference | None = None
    #: The counts of this model's placements (None when drift tracking is off or impossible).
    drift: DriftMonitor | None = None
    #: The school's catalogue the model was trained with (``profiles.json``; empty before it).
    catalogue: list[dict[str, Any]] = field(default_factory=list)
    _names: dict[int, str] = field(init=False, repr=False)
    _ids: tuple[list[int], list[int]] = field(init=False, repr=False)
    _version: str = field(init=False, repr=False)
    _wanted: tuple[str, ...] = field(init=False, repr=False)
    _explainer: Explainer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._names = {int(p["id"]): str(p["name"]) for p in self.profiles}
        self._version = str(self.manifest["version"])
        # The features a placement needs: the model's, and the flags its fallback warnings read.
        self._wanted = tuple(dict.fromkeys((*self.model.features, *FALLBACK_FLAGS, EXPERIENCE)))
        self._ids = (self.model.segment_ids.tolist(), self.model.coarse.tolist())
        # Built once per loaded model: the company standing for each tier is found here.
        self._explainer = Explainer(self.model, self.cohorts, self._names)

    # ------------------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls, model_dir: Path, version: str | None = None, *, drift_window: int | None = None
    ) -> Segmenter:
        """Resolve (``LATEST`` unless ``version``), verify, unpickle, cross-check and load.

        With ``drift_window``, placements are counted for drift over that many (see
        :mod:`service.drift`), when the model has a drift reference. Raises ``ArtifactError``
        with one clear sentence when there is no model, a file does not match its SHA-256, the
        libraries differ in major.minor, the joblib file names anything outside the
        allow-list, or the pipeline, the JSON model, the profiles and the drift reference
        disagree.
        """
        # The service is given a models folder, never a version folder: resolving it first
        # keeps the sentences of an empty or missing folder (how to train a model).
        folder = resolve_model(model_dir, version)
        verified = load_model(model_dir, folder.name, check_versions=True, purpose="served")
        pipeline, kernel = _kernel_from_joblib(verified.read(PIPELINE_JOBLIB), verified.kernel)
        check = _check_pipeline(pipeline, kernel, verified.kernel, verified.document(PROBES_JSON))
        profiles, reference = verified.profiles, verified.drift
        monitor = (
            DriftMonitor(
                reference,
                kernel.segment_ids.tolist(),
                drift_window,
                tracks=kernel.rules.tracks.ids,
                track_shares=training_track_shares(profiles),
            )
            if reference is not None and drift_window is not None
            else None
        )
        return cls(
            folder=verified.folder,
            manifest=verified.manifest,
            model=kernel,
            cohorts=verified.cohorts,
            profiles=list(profiles["segments"]),
            coarse_profiles=list(profiles.get("coarse", [])),
            pipeline_check=check,
            overview={key: profiles[key] for key in ("population", "summary") if key in profiles},
            drift_reference=reference,
            drift=monitor,
            catalogue=list(profiles.get("catalogue") or []),
        )

    @property
    def version(self) -> str:
        return self._version

    def segment_name(self, segment_id: int) -> str:
        return self._names[segment_id]

    @property
    def k(self) -> int:
        return len(self.profiles)

    def info(self) -> dict[str, Any]:
        """Version, k, metrics, when it was trained, on what data, with which libraries."""
        m = self.manifest
        comparison = m["metrics"]["comparison"]
        return {
            "version": self.version,
            "k": self.k,
            "k_choice": m["k_choice"],
            "ids": m.get("ids"),
            "features": list(self.model.features),
            "trained_at": m["created_at"],
            "reference_year": m["reference_year"],
            "data": public_data(m["data"]),
            "metrics": {
                "kmeans": m["metrics"]["kmeans"],
                "hierarchical": m["metrics"]["hierarchical"],
                "comparison": {
                    k: comparison[k] for k in ("ari", "nmi", "silhouette_a", "silhouette_b")
                },
                "sweep": m["metrics"]["sweep"],
            },
            "library_versions": m["versions"],
            "pipeline_check": self.pipeline_check,
            "tracks": self._tracks(),
            "courses": self._catalogue(),
        }

    def _catalogue(self) -> list[dict[str, Any]]:
        """The school's catalogue (courses and career services, what each fits), each with the
        cohorts whose course it is; a course placements answer that the catalogue lacks (a
        model trained before the catalogue was stored) is listed with its name only."""
        cohorts: dict[str, int] = {}
        staged = self.cohorts.by_stage
        for i, row in enumerate(self.cohorts.course):
            for j, course in enumerate(row):
                # A cohort counts once for each course a learner of it may get (at any stage).
                for answered in {course, *(() if staged is None else staged[i][j])}:
                    cohorts[answered] = cohorts.get(answered, 0) + 1
        listed = [
            {**entry, "cohorts": cohorts.get(str(entry["id"]), 0)} for entry in self.catalogue
        ]
        known = {str(entry["id"]) for entry in self.catalogue}
        listed += [
            {"id": c, "name": self.cohorts.names[c], "cohorts": cohorts[c]}
            for c in self.cohorts.courses
            if c not in known
        ]
        return listed

    def _tracks(self) -> list[dict[str, Any]]:
        """The model's title -> track map: id, name and pattern (None for other and unknown)."""
        tracks = self.model.rules.tracks
        patterns = {t.id: t.pattern for t in tracks.tracks}
        names = tracks.names()
        return [{"id": t, "name": names[t], "pattern": patterns.get(t)} for t in tracks.ids]

    # --------------------------------------------------------------------------- assignment
    def assign(self, learner: Mapping[str, Any]) -> Assignment:
        """One learner (raw field names) -> its segment, on the scalar path (~tens of µs)."""
        got = learner_features(learner, self.model.rules, self.model.tables, names=self._wanted)
        if not got.valid:
            raise ValueError("ctc must be a positive number for a learner to be placed.")
        names = self.model.features
        features = got.features
        used = [features[name] for name in names]
        best, nearest, second, runner_d = self.model.nearest_one(used)
        ids, coarse = self._ids
        segment = ids[best]
        track = learner_track(self.model.rules, learner.get("job_position"))
        course = self.cohorts.course_of(segment, track, got.features[EXPERIENCE])
        if second < 0:
            runner_id, runner_distance, margin, relative = None, None, None, None
            confidence = HIGH
        else:
            runner_id, runner_distance, margin = ids[second], runner_d, runner_d - nearest
            relative = relative_margin(nearest, runner_d)
            confidence = self.model.confidence(relative)
        return Assignment(
            segment_id=segment,
            segment_name=self._names[segment],
            coarse_segment_id=coarse[best],
            track=track,
            course=course,
            course_name=self.cohorts.names[course],
            distance=nearest,
            runner_up_id=runner_id,
            runner_up_distance=runner_distance,
            margin=margin,
            relative_margin=relative,
            confidence=confidence,
            features=dict(zip(names, used, strict=True)),
            warnings=got.warnings,
            model_version=self._version,
        )

    def explain(self, learner: Mapping[str, Any]) -> dict[str, Any]:
        """One learner's placement (:meth:`assign`'s JSON) with ``why``, ``what_if``, ``path``
        and ``resolution`` (:class:`training.runtime.explain.Explainer`; ~0.5 ms).

        Every ``what_if`` entry has the keys of :data:`WHAT_IF_FIELDS`, None where a key does
        not apply (``amount`` of a tier change), so that each entry reads alike.
        """
        answer = self.assign(learner).to_dict()
        explained = self._explainer.explain(learner)
        explained["what_if"] = [
            {key: entry.get(key) for key in WHAT_IF_FIELDS} for entry in explained["what_if"]
        ]
        answer.update(explained)
        return answer

    def assign_batch(self, learners: Sequence[Mapping[str, Any]]) -> list[Assignment]:
        """Many learners (raw field names) at once on the numpy path; results in input order.

        Every learner must have a positive ``ctc`` (validated at the edge).
        """
        return self.assignments(
            self.place({name: [x.get(name) for x in learners] for name in RAW_FIELDS})
        )

    def place(self, columns: Mapping[str, Sequence[Any]]) -> Placement:
        """Place learners given as raw columns (``RAW_FIELDS``, n values each), all at once.

        :func:`training.runtime.placement.place`, the one batch implementation (``python -m
        training assign`` runs it too): cleaning, features, distances, nearest and runner-up
        centres are numpy over the columns; warnings are formatted once per distinct sentence.
        Every ``ctc`` must be positive (validated at the edge): ``ValueError`` otherwise.
        """
        return place(self.model, columns, cohorts=self.cohorts)

    def assignments(self, placed: Placement) -> list[Assignment]:
        """One :class:`Assignment` per placed learner, in order (``render_batch`` writes the
        same fields as JSON, straight from the placement)."""
        model = self.model
        n = len(placed.nearest)
        segment_ids = model.segment_ids[placed.nearest].tolist()
        coarse = model.coarse[placed.nearest].tolist()
        distance = placed.distance.tolist()
        runner_ids: list[int | None] = [None] * n
        runner_d: list[float | None] = [None] * n
        margins: list[float | None] = [None] * n
        relatives: list[float | None] = [None] * n
        confidences: list[str] = [HIGH] * n
        if (
            placed.runner_up is not None
            and placed.runner_up_distance is not None
            and placed.relative_margin is not None
        ):
            runner_ids = model.segment_ids[placed.runner_up].tolist()
            runner_d = placed.runner_up_distance.tolist()
            margins = (placed.runner_up_distance - placed.distance).tolist()
            relatives = placed.relative_margin.tolist()
            confidences = model.confidence(placed.relative_margin).tolist()
        names, version, keys = self._names, self._version, model.features
        tracks, courses = placed.track_ids(), placed.course_ids()
        if courses is None:
            raise ValueError("Place learners with the model's cohorts (Segmenter.place).")
        course_names = self.cohorts.names
        return [
            Assignment(
                segment_id=segment,
                segment_name=names[segment],
                coarse_segment_id=coarse_id,
                track=track,
                course=course,
                course_name=course_names[course],
                distance=d,
                runner_up_id=runner_id,
                runner_up_distance=second,
                margin=margin,
                relative_margin=relative,
                confidence=confidence,
                features=dict(zip(keys, row, strict=True)),
                warnings=warnings,
                model_version=version,
            )
            for (
                segment,
                coarse_id,
                track,
                course,
                d,
                runner_id,
                second,
                margin,
                relative,
                confidence,
                row,
                warnings,
            ) in zip(
                segment_ids,
                coarse,
                tracks,
                courses,
                distance,
                runner_ids,
                runner_d,
                margins,
                relatives,
                confidences,
                placed.features.tolist(),
                placed.warnings,
                strict=True,
            )
        ]

    # ------------------------------------------------------------------------------ profiles
    def segments(self, level: str = "segment") -> list[dict[str, Any]]:
        """Profile summaries (id, name and its words, size, share, centre, CTC range,
        recommendations)."""
        source = self.coarse_profiles if level == "coarse" else self.profiles
        keys = ("id", "name", "size", "share", "center", "ctc_lpa", "years_experience")
        summaries = []
        for profile in source:
            summary = {key: profile[key] for key in keys}
            summary["name_words"] = profile.get("name_words", [])
            summary["recommendations"] = profile["recommendations"]
            if level == "coarse":
                summary["segments"] = profile["segments"]
            else:
                summary["coarse_segment_id"] = profile["coarse_segment_id"]
                summary["course_map"] = self.course_map(int(profile["id"]))
            summaries.append(summary)
        return summaries

    def course_map(self, segment_id: int) -> list[dict[str, Any]]:
        """The course a placement in the segment answers for each track (the model's frozen
        cohorts) at the segment's stage and at each of the learner's own stages, in the model's
        track order."""
        names = self.model.rules.tracks.names()
        return [
            {
                "track": track,
                "track_name": names.get(track, track),
                "course": course,
                "course_name": self.cohorts.names[course],
                "by_stage": None
                if self.cohorts.by_stage is None
                else {g: self.cohorts.course_at(segment_id, track, g) for g in STAGES},
            }
            for track in self.cohorts.tracks
            for course in (self.cohorts.course_of(segment_id, track),)
        ]

    def profile(self, segment_id: int, level: str = "segment") -> dict[str, Any] | None:
        """The full profile of one segment (or macro-segment), None when there is no such id."""
        source = self.coarse_profiles if level == "coarse" else self.profiles
        return next((p for p in source if p["id"] == segment_id), None)

    def ids(self, level: str = "segment") -> list[int]:
        source = self.coarse_profiles if level == "coarse" else self.profiles
        return sorted(int(p["id"]) for p in source)


def _kernel_from_joblib(data: bytes, exported: Kernel) -> tuple[Any, Kernel]:
    """The fitted pipeline of ``segmenter.joblib`` and the numpy kernel built from it.

    Clip bounds, scaler and centres come from the pipeline itself; the cleaning rules, the peer
    tables, the macro-segments and the low-confidence threshold from the JSON model, whose
    features and ids must match.
    """
    try:
        bundle = load_allowed(data)
        pipeline, features, ids = bundle["pipeline"], bundle["features"], bundle["segment_ids"]
        kernel = Kernel.from_pipeline(
            pipeline,
            features,
            segment_ids=ids,
            coarse=exported.coarse.tolist(),
            rules=exported.rules,
            tables=exported.tables,
            confidence_threshold=exported.confidence_threshold,
        )
    except Exception as exc:  # an unsafe pickle, or not the bundle training writes
        raise ArtifactError(
            f"{PIPELINE_JOBLIB} cannot be used ({type(exc).__name__}: {exc}); the model is refused."
        ) from None
    if kernel.features != exported.features or not np.array_equal(
        kernel.segment_ids, exported.segment_ids
    ):
        raise ArtifactError(
            f"{PIPELINE_JOBLIB} and {KERNEL_JSON} describe different models (features or "
            "segment ids differ); the model is refused."
        )
    return pipeline, kernel


def _check_pipeline(
    pipeline: Any,
    kernel: Kernel,
    exported: Kernel,
    probes: Mapping[str, Any],
) -> dict[str, int]:
    """Place the probe learners four ways; all must agree, or the model is refused.

    The kernel built from the pipeline, ``pipeline.predict`` on the same features, the JSON
    model, and the centres recorded at training. Returns ``{"probes": n, "agree": n}``.
    """
    learners, recorded = probes["learners"], np.asarray(probes["centers"], np.intp)
    _, values = kernel.featurize(learners)
    x = kernel.matrix(values)
    if len(x) == 0 or len(recorded) != len(x):
        raise ArtifactError(f"{PROBES_JSON} holds no usable probe learners; the model is refused.")
    with threadpool_limits(limits=1):  # K-Means' OpenMP threads would spin on a busy machine
        predicted = np.asarray(pipeline.predict(x), np.intp)
    agree = int(
        np.count_nonzero(
            (kernel.assign(x) == predicted)
            & (exported.assign(x) == predicted)
            & (recorded == predicted)
        )
    )
    if agree != len(x):
        raise ArtifactError(
            f"{PIPELINE_JOBLIB} and {KERNEL_JSON} disagree: {len(x) - agree} of {len(x)} "
            "probe learners are placed differently by the pipeline and the numpy kernel; the "
            "model is refused."
        )
    return {"probes": len(x), "agree": agree}
