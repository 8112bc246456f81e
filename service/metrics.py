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

With several uvicorn workers each process has its own registry and a scrape sees one worker:
run one worker per container (and scale containers) when the numbers matter.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.segmenter import Assignment

__all__ = ["CONTENT_TYPE", "ServiceMetrics", "warning_kind"]

# (prefix of the warning sentence, kind); the first match wins, so longer prefixes come first.
_WARNING_KINDS = (
    ("ctc_updated_year is missing", "ctc_updated_year_imputed"),
    ("ctc_updated_year ", "ctc_updated_year_capped"),
    ("ctc is missing", "ctc_missing"),
    ("ctc ", "ctc_clipped"),
    ("company not seen", "company_fallback"),
    ("company is missing", "company_missing"),
    ("job title not seen", "title_fallback"),
    ("job_position ", "title_cleaned"),
    ("orgyear ", "orgyear_repaired"),
)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 50_000)


def warning_kind(warning: str) -> str:
    """The kind of an assignment warning, for counting (``other`` when unknown)."""
    for prefix, kind in _WARNING_KINDS:
        if warning.startswith(prefix):
            if kind == "orgyear_repaired":
                return "orgyear_typo" if "looks like a typo" in warning else "orgyear_imputed"
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

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        code = str(status)
        self.requests.labels(method, route, code).inc()
        self.latency.labels(method, route, code).observe(seconds)

    def observe_assignments(self, assignments: Iterable[Assignment]) -> None:
        segments: Tally[int] = Tally()
        kinds: Tally[str] = Tally()
        for assignment in assignments:
            segments[assignment.segment_id] += 1
            for warning in assignment.warnings:
                kinds[warning_kind(warning)] += 1
        for segment, n in segments.items():
            self.assignments.labels(str(segment)).inc(n)
        for kind, n in kinds.items():
            self.fallbacks.labels(kind).inc(n)

    def set_model(self, version: str | None) -> None:
        """Point the model gauges at `version` (None: no model is loaded)."""
        self.model_info.clear()
        if version is not None:
            self.model_info.labels(version).set(1)
        self.model_ready.set(0 if version is None else 1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
