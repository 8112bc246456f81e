"""Prometheus metrics (service.metrics): requests, assignments and fallbacks counted, per app,
with bounded labels; every warning counted as its kind, the same on the single and batch paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from service.main import create_app
from service.metrics import RULE_KINDS, ServiceMetrics, warning_kind
from tests.helpers import JUNK, LEARNERS, TestClient, raw_learners, service_settings
from training.runtime.cleaning import RULES, WARNING_RULES
from training.runtime.features import FALLBACKS


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
    for kind in ("orgyear_typo", "ctc_imputed", "company_fallback", "title_placeholder"):
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
            "job title not seen in training (or too few learners): its track's pay used",
            "title_fallback",
        ),
        ("job_position 'NA' is a placeholder: treated as missing", "title_placeholder"),
        ("job_position 'x' is rare: grouped with the other titles of 'Other'", "title_rare"),
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


def _counts(text: str, metric: str) -> dict[str, float]:
    pattern = rf'{metric}_total\{{\w+="([^"]+)"\}} ([0-9.e+]+)'
    return {label: float(n) for label, n in re.findall(pattern, text)}


def test_batch_and_single_requests_count_the_same_metrics(
    service_model_dir: Path, real_raw: pd.DataFrame
) -> None:
    """Every warning kind the single path counts (by sentence), the batch counts (by rule)."""
    junk: list[dict[str, Any]] = [
        JUNK,
        {"ctc": 2, "orgyear": 20165, "ctc_updated_year": 2099},
        {"ctc": 9e11, "orgyear": 1, "ctc_updated_year": 1000, "company_hash": "0"},
        {"ctc": 5e5, "orgyear": 2021, "ctc_updated_year": 2019, "job_position": "NA"},
        {"ctc": 5e5, "job_position": "Chief Vibes Officer", "company_hash": "nobody co"},
        {"ctc": 5e5, "orgyear": 2016.5, "job_position": "  backend   ENGINEER "},
    ]
    learners = junk + raw_learners(real_raw) + LEARNERS
    settings = service_settings(service_model_dir)
    with TestClient(create_app(settings)) as single, TestClient(create_app(settings)) as batch:
        for learner in learners:
            assert single.post("/segment", json=learner).status_code == 200
        assert batch.post("/segment/batch", json={"learners": learners}).status_code == 200
        one, many = single.get("/metrics").text, batch.get("/metrics").text
    for metric in ("learnseg_fallbacks", "learnseg_assignments"):
        assert _counts(one, metric) == _counts(many, metric), metric
    kinds = _counts(many, "learnseg_fallbacks")
    assert {
        "ctc_imputed",
        "ctc_updated_year_imputed",
        "ctc_updated_year_capped",
        "company_missing",
        "company_fallback",
        "title_placeholder",
        "orgyear_typo",
        "orgyear_imputed",
    } <= set(kinds)
    assert sum(_counts(many, "learnseg_assignments").values()) == len(learners)
