"""Structured logs (service.logs): no email, company or key ever reaches a log line, and the
request-id rules (a sane client id is echoed, anything else is replaced)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from service.logs import JsonFormatter, request_id_from
from service.main import create_app
from tests.helpers import JUNK, LEARNERS, TestClient, service_settings


def test_logs_never_hold_emails_companies_or_keys(
    service_model_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = "key-never-logged-3b7d"
    secrets = [key, JUNK["company_hash"], JUNK["email_hash"]]
    secrets += [v for learner in LEARNERS for f, v in learner.items() if f.endswith("_hash")]
    caplog.set_level(logging.DEBUG)
    app = create_app(service_settings(service_model_dir, api_keys=(key,)))
    with TestClient(app, headers={"X-API-Key": key}) as client:
        for learner in [*LEARNERS, JUNK]:
            assert client.post("/segment", json=learner).status_code == 200
        client.post("/segment/batch", json={"learners": [*LEARNERS, JUNK]})
        client.post("/segment", json={**LEARNERS[0], "ctc": -1})  # 422
        client.post(
            "/segment", json={**LEARNERS[0], "company_hash": LEARNERS[0]["company_hash"] * 9}
        )
        client.post("/segment/batch", json={"learners": [{**LEARNERS[1], "ctc": "x"}]})
        client.get("/model", headers={"X-API-Key": key + "-wrong"})
        client.get("/model", headers={"Authorization": f"Bearer {key}"})
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    captured = capsys.readouterr()
    text = "\n".join([*lines, captured.out, captured.err])
    assert len(lines) >= 12
    for secret in secrets:
        assert secret not in text, secret


def test_request_id(service_model_dir: Path) -> None:
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        echoed = client.get("/health/live", headers={"X-Request-ID": "trace-42.a:b"})
        assert echoed.headers["x-request-id"] == "trace-42.a:b"
        fresh = [client.get("/health/live").headers["x-request-id"] for _ in range(2)]
        assert fresh[0] != fresh[1] and all(re.fullmatch(r"[0-9a-f]{32}", r) for r in fresh)
        forged = client.get("/health/live", headers={"X-Request-ID": 'x" level=error'})
        assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["x-request-id"])
        assert client.get("/nowhere").headers["x-request-id"]
    assert request_id_from("a" * 128) == "a" * 128
    assert request_id_from("a" * 129) != "a" * 129
    assert request_id_from("") != ""
