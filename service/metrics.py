"""Prometheus metrics, in a registry of the app's own (two apps in one process never clash).

- ``learnseg_requests_total{method,route,status}`` and
  ``learnseg_request_duration_seconds{method,route,status}``: by route *template*
  (``/segments/{segment_id}``; unmatched paths count as ``<unmatched>``) so ids never explode the
  label set.
- ``learnseg_assignments_total{segment_id}``: learners placed, per fine segment.
- ``learnseg_fallbacks_total{kind}``: warnings by kind (``company_fallback``, ``title_fallback``,
  ``orgyear_imputed``, ``ctc_clipped``, ...; see :func:`warning_kind`).
- ``learnseg_batch_learners``: learners per batch request.
- ``learnseg_model_info{version}`` (1 for the model being served) and ``learnseg_model_ready``
  (1 when a verified model is loaded); ``learnseg_reloads_total{outcome}``.
- Drift (:mod:`service.drift`), set at each scrape from the drift window of the model being
  served: ``learnseg_feature_psi{feature}`` (PSI against training; absent until a learner is
  placed), ``learnseg_segment_share{segment,source}`` (``source="training"`` or ``"served"``),
  ``learnseg_track_share{track,source}`` (the same for each track: the learner's job profile,
  ``unknown`` for a missing or placeholder title) and ``learnseg_drift_observed{scope}``
  (placements counted, ``scope="window"`` or ``"since_start"``). All absent when drift is off
  or the model has no drift reference.

With several uvicorn workers each process has its own registry and a scrape sees one worker:
run one worker per container (and scale containers) when the numbers matter.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.segmenter import Assignment, Segmenter
from training.runtime.placement import Placement

__all__ = ["CONTENT_TYPE", "RULE_KINDS", "ServiceMetrics", "warning_kind"]

# (prefix of the warning sentence, kind); the first match wins, so longer prefixes come first.
_WARNING_KINDS = (
    ("ctc_updated_year is missing", "ctc_updated_year_imputed"),
    ("ctc_updated_year ", "ctc_updated_year_capped"),
    ("ctc is missing", "ctc_missing"),
    ("ctc ", "ctc_clipped"),  # "... cannot be a yearly salary" is told apart in warning_kind
    ("company not seen", "company_fallback"),
    ("company is missing", "company_missing"),
    ("job title not seen", "title_fallback"),
    ("job_position ", "title_cleaned"),
    ("orgyear ", "orgyear_repaired"),
)
#: The kind of the warning each cleaning rule (``training.runtime.cleaning.WARNING_RULES``) and
#: each peer-group fallback (``training.runtime.features.FALLBACKS``) gives: what
#: :func:`warning_kind` says of its sentence (a test holds the two together). The batch path
#: counts by rule.
RULE_KINDS: dict[str, str] = {
    "ctc_missing_dropped": "ctc_missing",
    "ctc_implausible_imputed": "ctc_imputed",
    "ctc_above_bound_lowered": "ctc_clipped",
    "ctc_updated_year_imputed": "ctc_updated_year_imputed",
    "ctc_updated_year_capped": "ctc_updated_year_capped",
    "company_missing": "company_missing",
    "job_title_placeholder": "title_placeholder",
    "job_title_rare_to_track": "title_rare",
    "orgyear_typo_repaired": "orgyear_typo",
    "orgyear_missing_imputed": "orgyear_imputed",
    "orgyear_implausible_imputed": "orgyear_imputed",
    "orgyear_after_ctc_update_imputed": "orgyear_imputed",
    "company_fallback": "company_fallback",
    "title_fallback": "title_fallback",
}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 50_000)


def warning_kind(warning: str) -> str:
    """The kind of an assignment warning, for counting (``other`` when unknown)."""
    for prefix, kind in _WARNING_KINDS:
        if warning.startswith(prefix):
            if kind == "orgyear_repaired":
                return "orgyear_typo" if "looks like a typo" in warning else "orgyear_imputed"
            if kind == "ctc_clipped" and "cannot be a yearly salary" in warning:
                return "ctc_imputed"
            if kind == "title_cleaned":
                return "title_placeholder" if "placeholder" in warning else "title_rare"
            return kind
    return "other"


class ServiceMetrics:
    """The service's metrics and the registry they live in."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "learnseg_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "learnseg_request_duration_seconds",
            "Time from the first byte of a request to the end of its response.",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.assignments = Counter(
            "learnseg_assignments",
            "Learners placed, by fine segment.",
            ["segment_id"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "learnseg_fallbacks",
            "Assignment warnings (repairs, imputations, peer-group fallbacks) by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "learnseg_batch_learners",
            "Learners per batch request (valid and invalid).",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            "learnseg_model_info",
            "1 for the model version being served.",
            ["version"],
            registry=self.registry,
        )
        self.model_ready = Gauge(
            "learnseg_model_ready",
            "1 when a verified model is loaded, else 0.",
            registry=self.registry,
        )
        self.reloads = Counter(
            "learnseg_reloads",
            "Model reloads by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.feature_psi = Gauge(
            "learnseg_feature_psi",
            "Population stability index of each model feature over the drift window, against "
            "the training population (0.1 moderate, 0.25 major).",
            ["feature"],
            registry=self.registry,
        )
        self.segment_share = Gauge(
            "learnseg_segment_share",
            "Share of learners per segment: of the training population (source=training) and "
            "of the placements in the drift window (source=served).",
            ["segment", "source"],
            registry=self.registry,
        )
        self.track_share = Gauge(
            "learnseg_track_share",
            "Share of learners per track (job profile; unknown: no usable job title): of the "
            "training population (source=training) and of the placements in the drift window "
            "(source=served).",
            ["track", "source"],
            registry=self.registry,
        )
        self.drift_observed = Gauge(
            "learnseg_drift_observed",
            "Placements counted for drift: in the window (scope=window) and since start.",
            ["scope"],
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._segment_children: dict[int, Any] = {}
        self._kind_children: dict[str, Any] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in _METHODS:  # a client may send any token: keep the label set bounded
            method = "other"
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            code = str(status)
            children = self._request_children[key] = (
                self.requests.labels(method, route, code),
                self.latency.labels(method, route, code),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_assignment(self, assignment: Assignment) -> None:
        """Count one learner placed on the scalar path, and its warnings by kind."""
        self._segment(assignment.segment_id).inc()
        for warning in assignment.warnings:
            self._kind(warning_kind(warning)).inc()

    def observe_placement(self, placed: Placement) -> None:
        """Count learners placed on the numpy path, and their warnings by kind."""
        for segment, n in placed.segment_counts.items():
            if n:
                self._segment(segment).inc(n)
        for rule, n in placed.warning_counts.items():
            if n:
                self._kind(RULE_KINDS.get(rule, "other")).inc(n)

    # prometheus_client's labels() takes a lock and builds a key on every call: the children
    # are looked up once per label value and kept (label values are few and bounded).
    def _segment(self, segment: int) -> Any:
        child = self._segment_children.get(segment)
        if child is None:
            child = self._segment_children[segment] = self.assignments.labels(str(segment))
        return child

    def _kind(self, kind: str) -> Any:
        child = self._kind_children.get(kind)
        if child is None:
            child = self._kind_children[kind] = self.fallbacks.labels(kind)
        return child

    def set_model(self, version: str | None) -> None:
        """Point the model gauges at `version` (None: no model is loaded)."""
        self.model_info.clear()
        if version is not None:
            self.model_info.labels(version).set(1)
        self.model_ready.set(0 if version is None else 1)

    def observe_drift(self, segmenter: Segmenter | None) -> None:
        """Set the drift gauges from the window of the model being served (cleared without)."""
        for gauge in (self.feature_psi, self.segment_share, self.track_share, self.drift_observed):
            gauge.clear()
        if segmenter is None or segmenter.drift is None:
            return
        report = segmenter.drift.report(segmenter.version)
        window = report["window"]
        for feature in window["features"]:
            if feature["psi"] is not None:
                self.feature_psi.labels(feature["feature"]).set(feature["psi"])
        for segment in window["segments"]:
            label = str(segment["segment_id"])
            self.segment_share.labels(label, "training").set(segment["training_share"])
            if segment["served_share"] is not None:
                self.segment_share.labels(label, "served").set(segment["served_share"])
        for track in window.get("tracks", []):
            for source in ("training", "served"):
                share = track[f"{source}_share"]
                if share is not None:
                    self.track_share.labels(track["track"], source).set(share)
        self.drift_observed.labels("window").set(window["count"])
        self.drift_observed.labels("since_start").set(report["since_start"]["count"])

    def render(self) -> bytes:
        return generate_latest(self.registry)
