"""The request middleware (service.middleware): one JSON access line per request, the body-size
limit, and the last-resort 500 that names the request id and hides the error."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from service.logs import JsonFormatter
from service.main import create_app
from service.segmenter import Segmenter
from tests.helpers import LEARNERS, TestClient, service_settings


def test_access_log_lines(service_model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.access")
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        response = client.post("/segment", json=LEARNERS[0], headers={"X-Request-ID": "abc-123"})
        client.get("/health/live")
    formatter = JsonFormatter()
    access = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "service.access"]
    segment, health = access[-2], access[-1]
    assert segment["request_id"] == "abc-123" == response.headers["x-request-id"]
    assert {"ts", "level", "request_id", "method", "path", "status", "duration_ms"} <= set(segment)
    assert segment["method"] == "POST" and segment["path"] == "/segment"
    assert segment["status"] == 200 and segment["duration_ms"] > 0
    assert segment["model_version"] == response.json()["model_version"]
    assert "model_version" not in health  # the route used no model
    assert re.fullmatch(r"[0-9a-f]{32}", health["request_id"])


def test_body_over_the_byte_limit_is_413(service_model_dir: Path) -> None:
    app = create_app(service_settings(service_model_dir, max_body_bytes=2048))
    with TestClient(app) as client:
        response = client.post("/segment/batch", json={"learners": [LEARNERS[0]] * 20})
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than the limit of 2048 bytes."}


def test_unexpected_error_is_a_500_with_the_request_id(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Segmenter, learner: Any) -> Any:
        raise RuntimeError("boom in the segmenter")

    monkeypatch.setattr(Segmenter, "assign", broken)
    response = client.post("/segment", json=LEARNERS[3], headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal error; the request id is req-500."}
    assert response.headers["x-request-id"] == "req-500"
    assert "boom" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged and logged[-1].exc_info is not None
    assert getattr(logged[-1], "request_id", None) == "req-500"


def test_the_access_log_s_path_is_the_one_requested_for_errors_as_for_successes(
    service_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """/v1/segment logs /v1/segment and /segment logs /segment, answered 200 or 422; a path
    parameter of a refused request stays a template (nothing the client typed is logged)."""
    caplog.set_level(logging.INFO, logger="service.access")
    bad = {**LEARNERS[0], "ctc": -5}
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        for path in ("/v1/segment", "/segment"):
            assert client.post(path, json=LEARNERS[0]).status_code == 200
            assert client.post(path, json=bad).status_code == 422
        assert client.get("/v1/segments/secret-9f8e").status_code == 422
    formatter = JsonFormatter()
    access = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "service.access"]
    logged = [(a["path"], a["status"], a["route"]) for a in access[-5:]]
    assert logged[:4] == [
        ("/v1/segment", 200, "/segment"),
        ("/v1/segment", 422, "/segment"),
        ("/segment", 200, "/segment"),
        ("/segment", 422, "/segment"),
    ]
    assert logged[4] == ("/v1/segments/{segment_id}", 422, "/segments/{segment_id}")
    assert "secret-9f8e" not in caplog.text
