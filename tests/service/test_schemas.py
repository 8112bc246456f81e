"""Request validation at the edge (service.schemas): whatever a client sends, the answer is a 4xx
with a clear detail that echoes no input, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import TestClient

JSON = "application/json"
SECRET_EMAIL = "mail-do-not-echo-5f1e2d3c"
SECRET_COMPANY = "company-do-not-echo-9a8b7c"


def _learner(**fields: Any) -> bytes:
    return json.dumps(
        {"email_hash": SECRET_EMAIL, "company_hash": SECRET_COMPANY, **fields}
    ).encode()


Where = tuple[tuple[str, ...], str] | None


def _at(field: str, kind: str) -> Where:
    """Location and type of the first 422 error: a field of the body, or the body itself."""
    return (("body", field) if field else ("body",)), kind


# (body, content type, status, where the first 422 error is); ids name the case
CASES = [
    pytest.param(_learner(ctc=-1), JSON, 422, _at("ctc", "greater_than"), id="negative ctc"),
    pytest.param(_learner(ctc=0), JSON, 422, _at("ctc", "greater_than"), id="zero ctc"),
    pytest.param(b'{"ctc": NaN}', JSON, 422, _at("ctc", "finite_number"), id="NaN"),
    pytest.param(b'{"ctc": Infinity}', JSON, 422, _at("ctc", "finite_number"), id="inf"),
    pytest.param(b'{"ctc": -Infinity}', JSON, 422, _at("ctc", "finite_number"), id="-inf"),
    pytest.param(b'{"ctc": 1e400}', JSON, 422, _at("ctc", "finite_number"), id="1e400"),
    pytest.param(_learner(ctc=1e13), JSON, 422, _at("ctc", "less_than_equal"), id="huge ctc"),
    pytest.param(_learner(ctc="1000"), JSON, 422, _at("ctc", "float_type"), id="string ctc"),
    pytest.param(_learner(ctc=True), JSON, 422, _at("ctc", "float_type"), id="bool ctc"),
    pytest.param(_learner(ctc=None), JSON, 422, _at("ctc", "float_type"), id="null ctc"),
    pytest.param(_learner(orgyear=2016), JSON, 422, _at("ctc", "missing"), id="missing ctc"),
    pytest.param(
        _learner(ctc=5, nickname="x"), JSON, 422, _at("nickname", "extra_forbidden"), id="extra"
    ),
    pytest.param(
        _learner(ctc=5, company_hash="c" * 201),
        JSON,
        422,
        _at("company_hash", "string_too_long"),
        id="long company",
    ),
    pytest.param(
        _learner(ctc=5, job_position="j" * 201),
        JSON,
        422,
        _at("job_position", "string_too_long"),
        id="long job",
    ),
    pytest.param(
        _learner(ctc=5, email_hash="e" * 129),
        JSON,
        422,
        _at("email_hash", "string_too_long"),
        id="long email",
    ),
    pytest.param(
        _learner(ctc=5, company_hash=12), JSON, 422, _at("company_hash", "string_type"), id="int"
    ),
    pytest.param(
        _learner(ctc=5, orgyear=-1), JSON, 422, _at("orgyear", "greater_than_equal"), id="-year"
    ),
    pytest.param(
        _learner(ctc=5, orgyear=100_001), JSON, 422, _at("orgyear", "less_than_equal"), id="year"
    ),
    pytest.param(
        _learner(ctc=5, orgyear="2016"), JSON, 422, _at("orgyear", "float_type"), id="str year"
    ),
    pytest.param(
        _learner(ctc=5, ctc_updated_year=1e9),
        JSON,
        422,
        _at("ctc_updated_year", "less_than_equal"),
        id="huge ctc_updated_year",
    ),
    pytest.param(
        b'{"ctc": 1' + b"0" * 5000 + b"}", JSON, 422, _at("", "json_invalid"), id="5000 digits"
    ),
    pytest.param(b'{"ctc": 5,', JSON, 422, _at("", "json_invalid"), id="malformed JSON"),
    pytest.param(b'{"ctc": "\xff\xfe"}', JSON, 422, _at("", "json_invalid"), id="not UTF-8"),
    pytest.param(
        b'{"ctc": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        JSON,
        422,
        _at("", "json_invalid"),
        id="deep nesting",
    ),
    pytest.param(b'[{"ctc": 5}]', JSON, 422, _at("", "model_type"), id="array body"),
    pytest.param(b'"ctc"', JSON, 422, _at("", "model_type"), id="string body"),
    pytest.param(b"null", JSON, 422, _at("", "model_type"), id="null body"),
    pytest.param(b"", JSON, 422, _at("", "missing"), id="empty body"),
    pytest.param(b"", None, 422, _at("", "missing"), id="no body, no type"),
    pytest.param(_learner(ctc=5), "text/plain", 415, None, id="text/plain"),
    pytest.param(b"ctc=5", "application/x-www-form-urlencoded", 415, None, id="form"),
    pytest.param(_learner(ctc=5), None, 415, None, id="JSON, no type"),
]


def _check_error(response: Any, status: int, where: Where) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"}
    if status == 422:
        errors = body["detail"]
        assert isinstance(errors, list) and errors
        for error in errors:
            assert {"loc", "msg", "type"} <= set(error) and "input" not in error
        assert where is not None
        assert (tuple(errors[0]["loc"]), errors[0]["type"]) == where
    else:
        assert isinstance(body["detail"], str) and body["detail"].endswith(".")
    assert SECRET_EMAIL not in response.text and SECRET_COMPANY not in response.text


@pytest.mark.parametrize(("body", "content_type", "status", "where"), CASES)
def test_bad_learner_is_a_clear_4xx(
    client: TestClient, body: bytes, content_type: str | None, status: int, where: Where
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    _check_error(client.post("/segment", content=body, headers=headers), status, where)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"", (("body",), "missing")),
        (b"{", (("body",), "json_invalid")),
        (b'[{"ctc": 5}]', (("body",), "model_type")),
        (b"{}", (("body", "learners"), "missing")),
        (b'{"learners": {"ctc": 5}}', (("body", "learners"), "list_type")),
        (b'{"learners": [], "extra": 1}', (("body", "extra"), "extra_forbidden")),
        (b'{"learners": [{"ctc": 1' + b"0" * 5000 + b"}]}", (("body",), "json_invalid")),
    ],
)
def test_bad_batch_envelope_is_422(client: TestClient, body: bytes, where: Where) -> None:
    response = client.post("/segment/batch", content=body, headers={"content-type": JSON})
    _check_error(response, 422, where)


def test_batch_item_errors_echo_only_the_learner_id(client: TestClient) -> None:
    """An error names the learner by its email_hash (to match results), never another input."""
    items = [
        {"ctc": -1, "email_hash": SECRET_EMAIL, "company_hash": SECRET_COMPANY},
        {"ctc": 5, "email_hash": SECRET_EMAIL * 10},
        {"ctc": float("nan"), "company_hash": SECRET_COMPANY},
    ]
    body = json.dumps({"learners": items}).encode()  # Python's json writes NaN
    response = client.post("/segment/batch", content=body, headers={"content-type": JSON})
    assert response.status_code == 200
    assert [r["error"] for r in response.json()["results"]] == [
        "ctc: Input should be greater than 0",
        "email_hash: String should have at most 128 characters",
        "ctc: Input should be a finite number",
    ]
    assert [r.get("email_hash") for r in response.json()["results"]] == [SECRET_EMAIL, None, None]
    assert SECRET_EMAIL * 10 not in response.text and SECRET_COMPANY not in response.text


def test_batch_with_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post("/segment/batch", content=b"{}", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_a_summary_action_may_be_a_macro_segment_s() -> None:
    """A macro-segment's action (standing in for unstable segments) has no segment id; a
    segment's action, as older models wrote it, reads as level "segment"."""
    from service.schemas import ModelSummary

    summary = ModelSummary.model_validate(
        {
            "segments": [],
            "actions": [
                {
                    "level": "macro-segment",
                    "segment_id": None,
                    "segment_name": "AB",
                    "coarse_segment_id": 0,
                    "segments": [0, 1],
                    "rule": "r",
                    "text": "t",
                    "reach": 3,
                },
                {"segment_id": 2, "segment_name": "C", "rule": "r", "text": "t", "reach": 2},
            ],
        }
    )
    macro, segment = summary.actions
    assert macro.level == "macro-segment" and macro.segment_id is None
    assert macro.coarse_segment_id == 0 and macro.segments == [0, 1]
    assert segment.level == "segment" and segment.segment_id == 2
