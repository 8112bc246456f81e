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
        ["200", "409", "413", "415", "422", "503"],
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
    "TrackInfo",
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


def test_the_route_table_is_frozen() -> None:
    """Paths (in order), operation ids, tags, answers, parameters and bodies, as documented."""
    schema = _schema()
    expected = [
        (m, p, op, tags, codes, params, body)
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
            refusals = {"401", "429"} if path == "/v1/metrics" else {"401", "403", "429"}
            assert sorted({*codes, *refusals}) == sorted(operation["responses"]), path
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
