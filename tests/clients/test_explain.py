"""learnseg_client's ``explain`` (sync and async) against the service app (its lifespan run, the
session's model): the typed answer is the service's, field for field, and every what-if it
reports replays through ``segment``."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from learnseg_client import (
    AsyncLearnsegClient,
    Explanation,
    LearnsegClient,
    NotReadyError,
    VersionNotLoadedError,
)
from service.main import create_app
from tests.helpers import JUNK, LEARNERS, TestClient, service_settings

BASE = "http://testserver"


@pytest.fixture(scope="module")
def app_client(service_model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        yield client


def _through(app_client: TestClient) -> httpx.MockTransport:
    """A transport that hands each request to the app (the client's own code runs as is)."""

    def handle(request: httpx.Request) -> httpx.Response:
        answer = app_client.request(
            request.method,
            str(request.url.copy_with(scheme=None, host=None, port=None)),
            content=request.content,
            headers=request.headers,
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return httpx.MockTransport(handle)


def _dump(got: Explanation) -> dict[str, Any]:
    """The answer as the service wrote it (a request_change holds only the field it sets)."""
    dump = got.model_dump(exclude={"index", "email_hash"})
    for entry, typed in zip(dump["what_if"], got.what_if, strict=True):
        if typed.request_change is not None:
            entry["request_change"] = typed.request_change.as_body()
    return dump


def test_explain_returns_the_service_s_answer_typed(app_client: TestClient) -> None:
    with LearnsegClient(BASE, transport=_through(app_client), retries=0) as client:
        for learner in [{**LEARNERS[0], "learner_id": "u-1"}, LEARNERS[2], JUNK]:
            got = client.explain(learner)
            assert isinstance(got, Explanation)
            served = app_client.post("/v1/segment/explain", json=learner).json()
            assert _dump(got) == {"learner_id": None, **served}
            placed = client.segment(learner)
            assert (got.segment_id, got.track, got.course) == (
                placed.segment_id,
                placed.track,
                placed.course,
            )
            moves = [w for w in got.what_if if w.request_change is not None]
            assert moves, got.what_if
            for move in moves:
                assert move.request_change is not None
                replayed = client.segment({**learner, **move.request_change.as_body()})
                assert replayed.segment_id == move.segment_id
            assert [p.years for p in got.path] == [1, 2, 3, 5]
        assert got.learner_id is None and got.email_hash == JUNK["email_hash"]


def test_explain_pins_and_raises_as_segment_does(app_client: TestClient, tmp_path: Path) -> None:
    with LearnsegClient(BASE, transport=_through(app_client), retries=0) as client:
        version = client.model().version
        assert client.explain(JUNK, version=version).model_version == version
        with pytest.raises(VersionNotLoadedError) as pinned:
            client.explain(JUNK, version="20990101-0")
        assert pinned.value.status_code == 409
    with (
        TestClient(create_app(service_settings(tmp_path / "models"))) as empty,
        LearnsegClient(BASE, transport=_through(empty), retries=0) as client,
        pytest.raises(NotReadyError),
    ):
        client.explain(JUNK)


def test_async_explain_matches_the_sync_one(app_client: TestClient) -> None:
    with LearnsegClient(BASE, transport=_through(app_client)) as client:
        expected = [client.explain(learner) for learner in LEARNERS]

    async def main() -> list[Explanation]:
        transport = httpx.ASGITransport(app=app_client.app)  # the lifespan ran already
        async with AsyncLearnsegClient(BASE, transport=transport) as client:
            return list(await asyncio.gather(*(client.explain(x) for x in LEARNERS)))

    assert asyncio.run(main()) == expected


def test_the_service_the_client_and_assign_explain_give_the_same_moves(
    app_client: TestClient, service_model_dir: Path, tmp_path: Path
) -> None:
    """The same learners explained by POST /segment/explain (through the client) and by
    ``python -m training assign --explain``: the same destinations, CTCs, tiers and companies."""
    import pandas as pd

    from tests.training.batch.helpers import invoke, iter_output
    from training.data.synth import generate_learners
    from training.runtime.schema import RAW_FIELDS

    table = generate_learners(rows=300, seed=2525)
    source, out = tmp_path / "learners.csv", tmp_path / "answers.csv"
    table.to_csv(source, index=False)
    result = invoke(
        "assign",
        ["--model", str(service_model_dir), "--data", str(source), "--out", str(out), "--explain"],
    )
    assert result.exit_code == 0, result.output
    rows = list(iter_output(out))
    assert len(rows) == len(table)
    compared = 0
    with LearnsegClient(BASE, transport=_through(app_client), retries=0) as client:
        for row, (_, raw) in zip(rows, table.iterrows(), strict=True):
            if row["error"]:
                continue
            learner = {k: (None if pd.isna(raw[k]) else raw[k]) for k in RAW_FIELDS}
            got = client.explain(learner)
            assert got.segment_id == row["segment_id"]
            for move in got.what_if:
                if move.input == "pay":
                    side = "pay_up" if move.direction == "more" else "pay_down"
                    if move.request_change is None:
                        assert row[f"{side}_ctc"] is None or math.isnan(row[f"{side}_ctc"])
                        continue
                    assert row[f"{side}_ctc"] == move.request_change.as_body()["ctc"]
                    assert row[f"{side}_segment_id"] == move.segment_id
                    compared += 1
                elif move.input == "company_tier" and move.request_change is not None:
                    assert row["tier_to"] == move.tier
                    assert row["tier_company"] == move.request_change.as_body()["company_hash"]
                    assert row["tier_segment_id"] == move.segment_id
                    compared += 1
    assert compared > 300
