"""The routers' shared parts (service.api.common) and the public API they add up to: the route
table (method, path, route name, operation id, tags, answers, parameters) and the component
schemas are frozen here, so splitting or moving a router cannot change the API unnoticed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.routing import APIRoute

from service.api.common import OPERATION_IDS, JSONBytes, operation_id
from service.main import create_app
from tests.helpers import service_settings

# (method, path, route name, path parameters for url_path_for, operation id, tags, status codes,
# query and path parameters, has a JSON body), in the order of the OpenAPI document.
ROUTES: list[tuple[str, str, str, dict[str, Any], str, list[str], list[str], list[str], bool]] = [
    ("GET", "/health/live", "live", {}, "getLiveness", ["health"], ["200"], [], False),
    (
        "GET",
        "/health/ready",
        "ready",
        {},
        "getReadiness",
        ["health"],
        ["200", "503"],
        [],
        False,
    ),
    (
        "POST",
        "/v1/segment",
        "segment",
        {},
        "segmentLearner",
        ["segments"],
        ["200", "400", "409", "413", "415", "422", "503"],
        ["version"],
        True,
    ),
    (
        "POST",
        "/v1/segment/batch",
        "segment_batch",
        {},
        "segmentBatch",
        ["segments"],
        ["200", "409", "413", "415", "422", "503"],
        ["compact", "version"],
        True,
    ),
    (
        "POST",
        "/v1/segment/explain",
        "explain_learner",
        {},
        "explainLearner",
        ["segments"],
        ["200", "409", "413", "415", "422", "503"],
        ["version"],
        True,
    ),
    (
        "GET",
        "/v1/segments",
        "list_segments",
        {},
        "listSegments",
        ["segments"],
        ["200", "409", "422", "503"],
        ["level", "version"],
        False,
    ),
    (
        "GET",
        "/v1/segments/{segment_id}",
        "get_segment",
        {"segment_id": "{segment_id}"},
        "getSegment",
        ["segments"],
        ["200", "404", "409", "422", "503"],
        ["segment_id", "level", "version"],
        False,
    ),
    (
        "GET",
        "/v1/model",
        "model_info",
        {},
        "getModel",
        ["model"],
        ["200", "409", "422", "503"],
        ["version"],
        False,
    ),
    (
        "GET",
        "/v1/model/drift",
        "model_drift",
        {},
        "modelDrift",
        ["model"],
        ["200", "404", "409", "422", "503"],
        ["version"],
        False,
    ),
    (
        "POST",
        "/v1/admin/reload",
        "reload_model",
        {},
        "reloadModel",
        ["model"],
        ["200", "400", "401", "403", "409", "413", "415", "422"],
        ["version"],
        True,
    ),
    (
        "GET",
        "/v1/plots/{name}.png",
        "plot",
        {"name": "{name}"},
        "getPlot",
        ["segments"],
        ["200", "404", "409", "422", "503"],
        ["name", "version"],
        False,
    ),
    ("GET", "/v1/metrics", "prometheus_metrics", {}, "getMetrics", ["health"], ["200"], [], False),
]
COMPONENTS = {
    "Action",
    "BatchAssigned",
    "BatchCompactAssigned",
    "BatchItemError",
    "BatchRequest",
    "BatchResponse",
    "Center",
    "Cohort",
    "CompanyShare",
    "CourseInfo",
    "DataInfo",
    "DataQuality",
    "DriftBands",
    "DriftFigures",
    "DriftInfo",
    "ErrorDetail",
    "ExplainResult",
    "FeatureDrift",
    "FieldError",
    "GroupShare",
    "HTTPValidationError",
    "HierarchicalMatch",
    "Learner",
    "Live",
    "ModelInfo",
    "ModelSummary",
    "NameWord",
    "NearestSegment",
    "PathStep",
    "PayQuartileShares",
    "PeerShares",
    "PipelineCheck",
    "ProfileAction",
    "Range",
    "Ready",
    "ReloadRequest",
    "ReloadResult",
    "RequestChange",
    "Resolution",
    "RunnerUp",
    "SegmentList",
    "SegmentProfile",
    "SegmentResult",
    "SegmentShare",
    "SegmentSummary",
    "Serving",
    "TrackCourse",
    "TrackInfo",
    "TrackShare",
    "ValidationError",
    "ValidationErrors",
    "WhatIf",
    "WhyInput",
}


def _schema(**overrides: Any) -> dict[str, Any]:
    """The OpenAPI document of an app (no model is needed to build it)."""
    schema: dict[str, Any] = create_app(
        service_settings(Path("/nonexistent/models"), **overrides)
    ).openapi()
    return schema


def _table(schema: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            method.upper(),
            path,
            op["operationId"],
            op.get("tags"),
            sorted(op["responses"]),
            [p["name"] for p in op.get("parameters", [])],
            "requestBody" in op,
        )
        for path, operations in schema["paths"].items()
        for method, op in operations.items()
    ]


def _refusals(path: str) -> set[str]:
    """What a route behind a key answers besides its own answers (none for health)."""
    if path.startswith("/health/"):
        return set()
    return {"401", "429"} if path == "/v1/metrics" else {"401", "403", "429"}


def test_the_route_table_is_frozen() -> None:
    """Paths (in order), operation ids, tags, answers, parameters and bodies, as documented."""
    schema = _schema()
    expected = [
        (m, p, op, tags, sorted({*codes, *_refusals(p)}), params, body)
        for m, p, _, _, op, tags, codes, params, body in ROUTES
    ]
    assert _table(schema) == expected
    assert set(schema["components"]["schemas"]) == COMPONENTS
    assert set(schema["components"]) == {"schemas", "securitySchemes"}


def test_route_names_lead_to_their_paths() -> None:
    """Each route's name (its function's) finds its documented path: /v1 first, then the alias."""
    app = create_app(service_settings(Path("/nonexistent/models")))
    for _, path, name, params, *_ in ROUTES:
        assert app.url_path_for(name, **params) == path
    assert app.url_path_for("explorer") == "/"


def test_with_keys_every_api_route_is_secured_and_documents_its_refusals() -> None:
    """401 (no or a wrong key), 429 (too many wrong keys, with Retry-After) on every route behind
    a key; 403 (a metrics key) on every one of them but /metrics, which any key reads."""
    schema = _schema(api_keys=("k1",), admin_keys=("a1",))
    for method, path, *_, codes, _params, _body in ROUTES:
        operation = schema["paths"][path][method.lower()]
        if path.startswith("/health/"):
            assert "security" not in operation and "401" not in operation["responses"]
        else:
            assert operation["security"] == [{"APIKeyHeader": []}, {"HTTPBearer": []}], path
            assert sorted({*codes, *_refusals(path)}) == sorted(operation["responses"]), path
            assert "Retry-After" in operation["responses"]["429"]["headers"], path
    assert [row[:3] for row in _table(schema)] == [(m, p, op) for m, p, _, _, op, *_ in ROUTES]


def test_operation_ids_are_named_or_camel_case() -> None:
    """A route listed in OPERATION_IDS keeps its stable id; any other gets its name in camelCase."""
    # every named id belongs to a route that exists
    assert set(OPERATION_IDS) <= {name for _, _, name, *_ in ROUTES}

    async def model_drift() -> None: ...

    async def plot() -> None: ...

    assert operation_id(APIRoute("/x", model_drift)) == "modelDrift"
    assert operation_id(APIRoute("/x", plot)) == "getPlot"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"already": "bytes"}', b'{"already": "bytes"}'),
        ({"n": np.int64(3), "x": np.float64(0.5)}, b'{"n":3,"x":0.5}'),
    ],
)
def test_json_bytes_passes_bytes_through_and_writes_numpy_scalars(
    content: Any, expected: bytes
) -> None:
    response = JSONBytes(content)
    assert response.body == expected
    assert orjson.loads(response.body) == orjson.loads(expected)
    assert response.media_type == "application/json"


@pytest.mark.parametrize(
    "keys",
    [
        {"api_keys": ("k1",)},
        {"api_keys": ("k1",), "admin_keys": ("a1",)},
        {"admin_keys": ("a1",)},
        {"metrics_keys": ("m1",)},
        {"api_keys": ("lms:k1", "nightly:k2"), "metrics_keys": ("m1",)},
    ],
    ids=["client", "client+admin", "admin", "metrics only (anonymous)", "named+metrics"],
)
def test_the_document_is_the_same_with_or_without_keys(keys: dict[str, Any]) -> None:
    """A client generated from /openapi.json is the same however the service is configured: an
    anonymous service documents the keys it would ask for (and serves without them)."""
    anonymous = orjson.dumps(_schema(), option=orjson.OPT_SORT_KEYS)
    assert orjson.dumps(_schema(**keys), option=orjson.OPT_SORT_KEYS) == anonymous


def test_an_anonymous_service_documents_keys_but_serves_without_them() -> None:
    from tests.helpers import TestClient

    app = create_app(service_settings(Path("/nonexistent/models")))
    with TestClient(app) as client:
        schema = client.get("/openapi.json").json()
        assert client.get("/v1/metrics").status_code == 200  # no key needed
        assert client.get("/v1/segments").status_code == 503  # no model, not 401
    assert schema["paths"]["/v1/segments"]["get"]["security"] == [
        {"APIKeyHeader": []},
        {"HTTPBearer": []},
    ]
    assert set(schema["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}
