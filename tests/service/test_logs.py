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


def test_logs_never_hold_emails_companies_learner_ids_or_keys(
    service_model_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every path a request can take (placed, batch with invalid items, 422 single and batch,
    413 by size and by count, a wrong key, a 500 logged with its traceback): no log line holds
    a hash, a learner_id or a key; the access lines name the key used (key_id)."""
    key = "key-never-logged-3b7d"
    learners = [
        {**learner, "learner_id": f"lms-user-{i}-9f2c"} for i, learner in enumerate(LEARNERS)
    ]
    junk = {**JUNK, "learner_id": "lms-user-junk-9f2c"}
    secrets = [key, JUNK["company_hash"], JUNK["email_hash"], junk["learner_id"]]
    secrets += [
        v for x in learners for f, v in x.items() if f.endswith("_hash") or f == "learner_id"
    ]
    caplog.set_level(logging.DEBUG)
    settings = service_settings(service_model_dir, api_keys=(f"lms:{key}",), max_batch=8)
    app = create_app(settings.model_copy(update={"max_body_bytes": 64 * 1024}))
    with TestClient(app, headers={"X-API-Key": key}) as client:
        for learner in [*learners, junk]:
            assert client.post("/segment", json=learner).status_code == 200
        client.post("/segment/batch", json={"learners": [*learners, junk]})
        client.post("/segment/batch?compact=true", json={"learners": [*learners, junk]})
        client.post("/segment", json={**learners[0], "ctc": -1})  # 422
        client.post("/segment", json={**learners[0], "learner_id": "lms-user-0-9f2c" * 9})  # 422
        client.post(
            "/segment", json={**learners[0], "company_hash": LEARNERS[0]["company_hash"] * 9}
        )
        client.post("/segment/batch", json={"learners": [{**learners[1], "ctc": "x"}]})
        client.post("/segment/batch", json={"learners": [junk] * 9})  # 413: too many
        client.post("/segment/batch", json={"learners": [junk] * 600})  # 413: too many bytes
        client.get("/model", headers={"X-API-Key": key + "-wrong"})
        client.get("/model", headers={"Authorization": f"Bearer {key}"})

        def broken(*args: object) -> object:
            raise RuntimeError("the model broke")

        monkeypatch.setattr(app.state.holder.current.segmenter, "assign", broken)
        assert client.post("/segment", json=learners[0]).status_code == 500
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    captured = capsys.readouterr()
    text = "\n".join([*lines, captured.out, captured.err])
    assert len(lines) >= 20 and "Traceback" in text  # the 500 is logged, with its traceback
    for secret in secrets:
        assert secret not in text, secret
    access = [
        (r.__dict__["status"], r.__dict__.get("key_id"))
        for r in caplog.records
        if r.name == "service.access"
    ]
    assert {key_id for status, key_id in access if status < 400} == {"lms"}
    assert {key_id for status, key_id in access if status == 401} == {None}


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
