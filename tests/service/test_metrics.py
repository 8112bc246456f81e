"""Operating the service: start-up without a model, verification, reload, metrics, logs."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest

from service.logs import JsonFormatter, request_id_from
from service.main import create_app
from service.metrics import RULE_KINDS, ServiceMetrics, warning_kind
from tests.conftest import small_training_settings
from tests.helpers import (
    JUNK,
    LEARNERS,
    TestClient,
    copy_models,
    flip_byte,
    service_settings,
)
from training.pipeline import TrainingResult, run
from training.publish import seal_manifest
from training.runtime.cleaning import RULES, WARNING_RULES
from training.runtime.features import FALLBACKS

MODEL_ROUTES = [
    ("POST", "/segment"),
    ("POST", "/segment/batch"),
    ("GET", "/segments"),
    ("GET", "/segments/0"),
    ("GET", "/model"),
]
BODIES = {"/segment": LEARNERS[0], "/segment/batch": {"learners": LEARNERS}}


def _assert_not_ready(client: TestClient, reason: str) -> None:
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert reason in ready.json()["detail"]
    for method, path in MODEL_ROUTES:
        response = client.request(method, path, json=BODIES.get(path))
        assert response.status_code == 503, path
        assert response.json() == ready.json()


@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_starts_without_a_model(tmp_path: Path, layout: str) -> None:
    model_dir = tmp_path / "models"
    if layout == "empty":
        model_dir.mkdir()
    with TestClient(create_app(service_settings(model_dir))) as client:
        _assert_not_ready(client, "No trained model")
        detail = client.get("/health/ready").json()["detail"]
        assert detail == (
            f"No trained model in {model_dir}/: run `make train` (or `python -m training train`) "
            "first."
        )
        assert "learnseg_model_ready 0.0" in client.get("/metrics").text


def test_a_corrupted_model_is_refused_at_start(service_model_dir: Path, tmp_path: Path) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    version = (model_dir / "LATEST").read_text().strip()
    flip_byte(model_dir / version / "segmenter.json")
    with TestClient(create_app(service_settings(model_dir))) as client:
        _assert_not_ready(
            client,
            "segmenter.json does not match its SHA-256 in the manifest: the artifact is "
            "corrupted or was modified.",
        )


def test_other_library_versions_are_refused(service_model_dir: Path, tmp_path: Path) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    manifest_path = model_dir / (model_dir / "LATEST").read_text().strip() / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["versions"]["scikit-learn"] = "0.1.0"
    manifest_path.write_text(json.dumps(seal_manifest(manifest)))  # as if written by 0.1
    with TestClient(create_app(service_settings(model_dir))) as client:
        _assert_not_ready(client, "This model was written with scikit-learn 0.1 but")


def test_reload_serves_a_newly_trained_model(
    service_model_dir: Path, trained_small: TrainingResult, tmp_path: Path
) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    with TestClient(create_app(service_settings(model_dir))) as client:
        assert client.post("/segment", json=LEARNERS[0]).json()["model_version"] == (
            trained_small.version
        )
        second = run(small_training_settings(model_dir, seed=3))
        assert second.version != trained_small.version
        # Nothing changes until the reload.
        assert client.get("/model").json()["version"] == trained_small.version

        response = client.post("/admin/reload")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "version": second.version,
            "k": second.k,
            "previous_version": trained_small.version,
        }
        assert client.get("/health/ready").json()["model_version"] == second.version
        assert client.post("/segment", json=LEARNERS[0]).json()["model_version"] == second.version
        assert client.get("/model").json()["version"] == second.version
        metrics = client.get("/metrics").text
        assert f'learnseg_model_info{{version="{second.version}"}} 1.0' in metrics
        assert trained_small.version not in metrics.split("learnseg_model_info", 1)[1]
        assert 'learnseg_reloads_total{outcome="succeeded"} 1.0' in metrics

        back = client.post("/admin/reload", params={"version": trained_small.version})
        assert back.status_code == 200 and back.json()["version"] == trained_small.version
        body = client.post("/admin/reload", json={"version": second.version})
        assert body.status_code == 200 and body.json()["version"] == second.version


def test_a_failed_reload_keeps_the_old_model(
    service_model_dir: Path, trained_small: TrainingResult, tmp_path: Path
) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    bad = "20990101-000000"
    shutil.copytree(model_dir / trained_small.version, model_dir / bad)
    flip_byte(model_dir / bad / "profiles.json")
    with TestClient(create_app(service_settings(model_dir))) as client:
        response = client.post("/admin/reload", json={"version": bad})
        assert response.status_code == 409
        assert response.json() == {
            "detail": f"Reload failed and model {trained_small.version} keeps serving: "
            "profiles.json does not match its SHA-256 in the manifest: the artifact is "
            "corrupted or was modified."
        }
        missing = client.post("/admin/reload", params={"version": "20990101-000001"})
        assert missing.status_code == 409
        assert "is not in" in missing.json()["detail"]
        assert client.post("/admin/reload", params={"version": "../etc"}).status_code == 422
        conflict = client.post(
            "/admin/reload", params={"version": bad}, json={"version": trained_small.version}
        )
        assert conflict.status_code == 400
        assert client.get("/health/ready").status_code == 200
        served = client.post("/segment", json=LEARNERS[0]).json()
        assert served["model_version"] == trained_small.version
        assert 'learnseg_reloads_total{outcome="failed"} 2.0' in client.get("/metrics").text


def test_reload_after_starting_empty(service_model_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    with TestClient(create_app(service_settings(model_dir))) as client:
        failed = client.post("/admin/reload")
        assert failed.status_code == 409
        assert failed.json()["detail"].startswith(
            "Reload failed and no model is being served: No trained model in"
        )
        copy_models(service_model_dir, model_dir)
        response = client.post("/admin/reload")
        assert response.status_code == 200 and response.json()["previous_version"] is None
        assert client.get("/health/ready").status_code == 200
        assert client.post("/segment", json=LEARNERS[0]).status_code == 200


def test_metrics_count_requests_assignments_and_fallbacks(service_model_dir: Path) -> None:
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        client.post("/segment", json=JUNK)
        client.post("/segment/batch", json={"learners": [*LEARNERS, {"ctc": -1}]})
        client.get("/segments/0")
        client.get("/segments/99")
        client.get("/nowhere")
        text = client.get("/metrics").text
        version = client.get("/model").json()["version"]
    assert 'learnseg_requests_total{method="POST",route="/segment",status="200"} 1.0' in text
    assert 'learnseg_requests_total{method="POST",route="/segment/batch",status="200"} 1.0' in text
    assert (
        'learnseg_requests_total{method="GET",route="/segments/{segment_id}",status="404"} 1.0'
        in text
    )
    assert 'learnseg_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert re.search(
        r'learnseg_request_duration_seconds_count\{method="POST",route="/segment",status="200"\}',
        text,
    )
    placed = re.findall(r'learnseg_assignments_total\{segment_id="\d+"\} (\d+)\.0', text)
    assert sum(int(n) for n in placed) == 1 + len(LEARNERS)
    for kind in ("orgyear_typo", "ctc_clipped", "company_fallback", "title_placeholder"):
        assert f'learnseg_fallbacks_total{{kind="{kind}"}}' in text
    assert f'learnseg_model_info{{version="{version}"}} 1.0' in text
    assert "learnseg_model_ready 1.0" in text
    assert "learnseg_batch_learners_count 1.0" in text


def test_two_apps_have_their_own_metrics(service_model_dir: Path) -> None:
    with (
        TestClient(create_app(service_settings(service_model_dir))) as one,
        TestClient(create_app(service_settings(service_model_dir))) as two,
    ):
        one.post("/segment", json=LEARNERS[0])
        assert 'route="/segment"' in one.get("/metrics").text
        assert 'route="/segment"' not in two.get("/metrics").text


@pytest.mark.parametrize(
    ("warning", "kind"),
    [
        ("ctc 2 is below the plausible range: raised to 27400", "ctc_clipped"),
        ("ctc 9e9 is above the plausible range: lowered to 1e7", "ctc_clipped"),
        ("ctc is missing or not positive: the learner cannot be placed", "ctc_missing"),
        (
            "ctc_updated_year is missing or implausible (missing): imputed as 2020",
            "ctc_updated_year_imputed",
        ),
        (
            "ctc_updated_year 2030 is after the reference year: capped at 2022",
            "ctc_updated_year_capped",
        ),
        ("company is missing or not a name: population fallback", "company_missing"),
        (
            "company not seen in training (or too few learners): population fallback",
            "company_fallback",
        ),
        (
            "job title not seen in training (or too few learners): role family fallback",
            "title_fallback",
        ),
        ("job_position 'NA' is a placeholder: treated as missing", "title_placeholder"),
        ("job_position 'x' is rare: mapped to role family 'Other'", "title_rare"),
        ("orgyear 20165 looks like a typo: read as 2016", "orgyear_typo"),
        ("orgyear is missing: imputed as 2015 from pay peers", "orgyear_imputed"),
        ("orgyear 1900 is implausible: imputed as 2015 from pay peers", "orgyear_imputed"),
        (
            "orgyear 2021 is after ctc_updated_year: imputed as 2019 from pay peers",
            "orgyear_imputed",
        ),
        ("something new", "other"),
    ],
)
def test_warning_kinds(warning: str, kind: str) -> None:
    assert warning_kind(warning) == kind


def test_every_warning_rule_counts_as_the_kind_its_sentence_reads() -> None:
    """The batch path counts warnings by rule (RULE_KINDS), the single path by sentence."""
    assert set(RULE_KINDS) == {*WARNING_RULES, *FALLBACKS}
    shown = {
        "ctc": "2",
        "bound": "27400",
        "value": "2016",
        "orgyear": "20165",
        "ctc_updated_year": "1000",
        "job_position": "x",
    }
    for rule in WARNING_RULES:
        assert warning_kind(RULES[rule][1].format(**shown)) == RULE_KINDS[rule], rule
    for name, sentence in FALLBACKS.items():
        assert warning_kind(sentence) == RULE_KINDS[name]


def test_request_metrics_keep_a_bounded_method_label() -> None:
    metrics = ServiceMetrics()
    for method in ("POST", "BREW", "X" * 50):
        metrics.observe_request(method, "/segment", 405, 0.001)
    text = metrics.render().decode()
    assert 'method="POST"' in text and 'method="other"' in text
    assert "BREW" not in text


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
