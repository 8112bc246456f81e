"""Explaining a placement (service.api.explain): the /segment answer plus why, what-if and path,
typed and documented; the errors of /segment; and every what-if replayed through placement on
learners of a generator seed no other test uses (10,000 in process, 500 over HTTP)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from service.main import create_app
from service.schemas import ExplainResult, Learner, SegmentResult
from service.segmenter import Segmenter
from tests.helpers import JUNK, LEARNERS, TestClient, service_settings
from training.data.synth import generate_learners
from training.runtime.schema import RAW_FIELDS

#: The generator seed of the replay checks (no other test uses it).
SEED = 41
#: The pay resolution the answer states (INR 1): a 1 % smaller change is checked when 1 % of
#: the change is more than that.
PAY_RESOLUTION = 1.0


def test_explain_answers_the_placement_of_segment_and_why_what_if_and_path(
    client: TestClient,
) -> None:
    for learner in [*LEARNERS, JUNK, {**LEARNERS[0], "learner_id": "u-7"}]:
        placed = client.post("/segment", json=learner)
        response = client.post("/v1/segment/explain", json=learner)
        assert response.status_code == 200, response.text
        assert response.headers["X-Model-Version"] == placed.headers["X-Model-Version"]
        body = response.json()
        result = ExplainResult.model_validate(body)
        # the placement, key for key and value for value, as /segment answers it
        assert {k: v for k, v in body.items() if k in SegmentResult.model_fields} == placed.json()
        assert list(body)[: len(placed.json())] == list(placed.json())
        assert ("learner_id" in body) == ("learner_id" in learner)
        assert [w.input for w in result.why] == list(result.features)
        if result.runner_up is not None:
            assert sum(w.share_of_gap for w in result.why) == pytest.approx(1.0, abs=1e-3)
        assert [(w.input, w.direction) for w in result.what_if][:2] == [
            ("pay", "more"),
            ("pay", "less"),
        ]
        for entry in result.what_if:  # a move, or the reason there is none
            assert (entry.request_change is None) == (entry.segment_id is None)
            assert (entry.reason is None) == (entry.segment_id is not None)
            assert entry.segment_id != result.segment_id
        assert [p.years for p in result.path] == [1, 2, 3, 5]
        assert result.resolution.experience == "one year"


def test_explain_refuses_what_segment_refuses_in_the_same_words(client: TestClient) -> None:
    for body in ({"orgyear": 2016}, {"ctc": 0}, {"ctc": 1_000_000, "salary": 3}):
        refused = client.post("/v1/segment/explain", json=body)
        assert refused.status_code == 422
        assert refused.json() == client.post("/v1/segment", json=body).json()
    empty = client.post("/v1/segment/explain", content=b"")
    assert empty.status_code == 422
    assert empty.json() == client.post("/v1/segment", content=b"").json()
    not_json = client.post(
        "/v1/segment/explain", content=b"ctc=5", headers={"Content-Type": "text/plain"}
    )
    assert not_json.status_code == 415
    assert (
        not_json.json()
        == client.post(
            "/v1/segment", content=b"ctc=5", headers={"Content-Type": "text/plain"}
        ).json()
    )
    pinned = client.post("/v1/segment/explain", params={"version": "20990101-0"}, json=JUNK)
    assert pinned.status_code == 409
    assert pinned.json()["detail"].startswith("Model version 20990101-0 is not loaded;")
    served = client.get("/v1/model").json()["version"]
    same = client.post("/v1/segment/explain", params={"version": served}, json=JUNK)
    assert same.status_code == 200 and same.json()["model_version"] == served


def test_explain_without_a_model_is_a_503_with_the_reason(tmp_path: Path) -> None:
    with TestClient(create_app(service_settings(tmp_path / "models"))) as client:
        response = client.post("/v1/segment/explain", json=LEARNERS[0])
        assert response.status_code == 503
        assert response.json() == client.post("/v1/segment", json=LEARNERS[0]).json()


def test_the_openapi_document_describes_every_field_of_the_answer(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/segment/explain"]["post"]
    assert operation["operationId"] == "explainLearner"
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ExplainResult"}
    schemas = document["components"]["schemas"]
    own = ("ExplainResult", "WhyInput", "WhatIf", "RequestChange", "PathStep", "Resolution")
    bare = [
        f"{name}.{field}"
        for name in own
        for field, spec in schemas[name]["properties"].items()
        if not spec.get("description")
    ]
    assert bare == []
    # what the answer may hold is what the document says: an extra key would break a client
    assert schemas["WhatIf"]["required"] == list(schemas["WhatIf"]["properties"])


# ----------------------------------------------------------------------------- the replays
def _learners(n: int) -> list[dict[str, Any]]:
    """`n` learners of the generator, each as the API reads it (validated, raw fields)."""
    table = generate_learners(rows=n, seed=SEED)[list(RAW_FIELDS)]
    rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    valid = []
    for row in rows:
        try:
            valid.append(Learner.model_validate(row).raw())
        except ValidationError:
            continue
    return valid


def _replay(
    learners: Iterable[Mapping[str, Any]],
    explain: Callable[[Mapping[str, Any]], dict[str, Any]],
    place: Callable[[Mapping[str, Any]], int],
) -> Counter[str]:
    """Replay every what-if of every learner; count what was checked, and every failure."""
    seen: Counter[str] = Counter()
    for learner in learners:
        seen["learners"] += 1
        out = explain(learner)
        here = out["segment_id"]
        for entry in out["what_if"]:
            change = entry["request_change"]
            if change is None:
                continue
            seen[f"{entry['input']} replayed"] += 1
            if place({**learner, **change}) != entry["segment_id"]:
                seen[f"{entry['input']} NOT placed as reported"] += 1
            if entry["input"] == "pay":
                step = 0.01 * entry["amount"]
                if abs(step) <= PAY_RESOLUTION:
                    seen["pay within the resolution"] += 1
                elif place({**learner, "ctc": change["ctc"] - step}) != here:
                    seen["pay NOT minimal"] += 1
            if entry["input"] == "experience" and entry["years"] > 1:
                seen["experience one year fewer"] += 1
                if place({**learner, "orgyear": change["orgyear"] + 1}) != here:
                    seen["experience NOT minimal"] += 1
    return seen


def _check(seen: Counter[str], learners: int) -> None:
    assert seen["learners"] == learners
    assert [key for key in seen if "NOT" in key] == [], seen
    # the checks ran: most learners have a pay move and a years move
    assert seen["pay replayed"] > learners // 2 and seen["experience replayed"] > learners // 2
    assert seen["experience one year fewer"] > learners // 4
    assert seen["pay within the resolution"] < seen["pay replayed"] // 100


def test_every_what_if_of_10_000_learners_replays_and_is_minimal(segmenter: Segmenter) -> None:
    """In process, through the service's own functions: Segmenter.explain, Segmenter.assign."""
    learners = _learners(10_000)
    assert len(learners) > 9_000

    def place(learner: Mapping[str, Any]) -> int:
        return segmenter.assign(learner).segment_id

    _check(_replay(learners, segmenter.explain, place), len(learners))


def test_every_what_if_of_500_learners_replays_over_http(client: TestClient) -> None:
    """The same over HTTP: POST /v1/segment/explain, then each change sent to POST /v1/segment
    (bench/explain.py runs all 10,000 against a live server)."""
    learners = _learners(10_000)[-500:]  # others than the in-process run's first ones

    def explain(learner: Mapping[str, Any]) -> dict[str, Any]:
        response = client.post("/v1/segment/explain", json=learner)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def place(learner: Mapping[str, Any]) -> int:
        response = client.post("/v1/segment", json=learner)
        assert response.status_code == 200, response.text
        return int(response.json()["segment_id"])

    _check(_replay(learners, explain, place), len(learners))
