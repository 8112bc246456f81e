"""Placing learners (service.api.placement): one learner, a batch, in order, alike on both paths,
limits, chunks that let other requests through, the compact form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from service.main import create_app
from service.schemas import BatchAssigned, BatchItemError, BatchResponse, SegmentResult
from tests.helpers import JUNK, LEARNERS, TestClient, service_settings
from training.run import TrainingResult


def test_segment_places_a_learner(client: TestClient, trained_small: TrainingResult) -> None:
    response = client.post("/segment", json=LEARNERS[0])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    result = SegmentResult.model_validate(response.json())
    assert 0 <= result.segment_id < trained_small.k
    assert result.model_version == trained_small.version
    assert result.runner_up is not None and result.runner_up.segment_id != result.segment_id
    assert result.margin == pytest.approx(result.runner_up.distance - result.distance)
    assert result.distance >= 0 and result.margin is not None and result.margin >= 0
    # The features the model placed the learner by, in its order: the "why" of the segment.
    assert list(result.features) == client.get("/model").json()["features"]
    names = {s["id"]: s["name"] for s in client.get("/segments").json()["segments"]}
    assert result.segment_name == names[result.segment_id]


#: Titles of one learner, each with the track the default map gives it (docs/courses.md).
TITLES = {
    "Backend Engineer": "backend",
    "Data Scientist": "data",
    "Engineering Manager": "leadership",
    "Android Engineer": "mobile",
    "SDET": "qa",
    "Devops Engineer": "devops",
    "Frontend Engineer": "frontend",
    "FullStack Engineer": "fullstack",
    "Support Engineer": "support",
    "Product Manager": "product",
    "Other": "other",
    "Not Available": "unknown",
}


def test_a_learner_identical_but_for_the_title_gets_its_track_and_its_cohort_s_course(
    client: TestClient,
) -> None:
    """The same learner with twelve titles and none: each gets the track of its title, and the
    course profiles.json gives its cohort (segment x track); the catalogue sends them to
    several courses, and the batch answers the same."""
    base = {"ctc": 1_400_000, "orgyear": 2017, "company_hash": "bxwqgogen"}
    learners = [{**base, "job_position": title} for title in TITLES] + [base]
    answers = [client.post("/segment", json=learner).json() for learner in learners]
    assert [a["track"] for a in answers] == [*TITLES.values(), "unknown"]
    for answer in answers:
        cohorts = client.get(f"/segments/{answer['segment_id']}").json()["cohorts"]
        cohort = next(c for c in cohorts if c["track"] == answer["track"])
        # The course of the cohort at the learner's own stage (all of them 2017 starters).
        assert answer["course"] in cohort["by_stage"].values()
    assert len({a["course"] for a in answers}) >= 5
    batch = client.post("/segment/batch", json={"learners": learners}).json()["results"]
    assert [(b["track"], b["course"]) for b in batch] == [
        (a["track"], a["course"]) for a in answers
    ]


def test_junk_learner_is_repaired_with_warnings(client: TestClient) -> None:
    response = client.post("/segment", json=JUNK)
    assert response.status_code == 200, response.text
    warnings = response.json()["warnings"]
    assert "orgyear 20165 looks like a typo: read as 2016" in warnings
    assert any(
        w.startswith("ctc 2 cannot be a yearly salary: imputed as ")
        and w.endswith(" from learners who started working the same year")
        for w in warnings
    )
    assert (
        "company not seen in training (or too few learners): its pay level is unknown and "
        "counted as the population's"
    ) in warnings
    assert "job_position 'Not Available' is a placeholder: treated as missing" in warnings


@pytest.mark.parametrize("orgyear", [0, 1, 100_000, 2016.5, 20165.0, 3000])
def test_absurd_but_numeric_years_are_accepted(client: TestClient, orgyear: float) -> None:
    response = client.post("/segment", json={"ctc": 900_000, "orgyear": orgyear})
    assert response.status_code == 200, response.text
    assert any(w.startswith("orgyear") for w in response.json()["warnings"])


def test_batch_keeps_order_reports_bad_items_and_matches_single(client: TestClient) -> None:
    items: list[Any] = [
        LEARNERS[0],
        {"ctc": -5, "email_hash": "x"},
        LEARNERS[1],
        {**LEARNERS[2], "nickname": "bob"},
        JUNK,
        "not a learner",
        {"orgyear": 2016},
        LEARNERS[3],
        {"ctc": 1e6, "company_hash": "x" * 201},
        LEARNERS[4],
    ]
    response = client.post("/segment/batch", json={"learners": items})
    assert response.status_code == 200, response.text
    results = BatchResponse.model_validate(response.json()).results
    assert [r.index for r in results] == list(range(len(items)))
    errors = {r.index: r.error for r in results if isinstance(r, BatchItemError)}
    assert errors == {
        1: "ctc: Input should be greater than 0",
        3: "nickname: Extra inputs are not permitted",
        5: "The item must be a JSON object holding one learner (ctc at least).",
        6: "ctc: Field required",
        8: "company_hash: String should have at most 200 characters",
    }
    for result in results:
        if isinstance(result, BatchAssigned):
            single = client.post("/segment", json=items[result.index]).json()
            assert result.email_hash == items[result.index].get("email_hash")
            assert_same_result(
                result.model_dump(exclude={"index", "email_hash", "learner_id"}), single
            )


def test_batch_of_many_matches_single_results(client: TestClient) -> None:
    learners = [
        {**learner, "ctc": learner["ctc"] * (1 + i / 50)}
        for i in range(40)
        for learner in (*LEARNERS, JUNK)
    ]
    batch = client.post("/segment/batch", json={"learners": learners}).json()["results"]
    assert len(batch) == len(learners)
    for i in range(0, len(learners), 7):
        single = client.post("/segment", json=learners[i]).json()
        echoed = {"index", "email_hash"}
        assert_same_result({k: v for k, v in batch[i].items() if k not in echoed}, single)


def assert_same_result(batch: dict[str, Any], single: dict[str, Any]) -> None:
    """Same segment, features and warnings; distances equal up to rounding (numpy vs Python)."""
    exact = (
        "segment_id",
        "segment_name",
        "coarse_segment_id",
        "track",
        "course",
        "course_name",
        "features",
        "warnings",
    )
    assert {k: batch[k] for k in (*exact, "model_version")} == {
        k: single[k] for k in (*exact, "model_version")
    }
    assert batch["runner_up"]["segment_id"] == single["runner_up"]["segment_id"]
    for a, b in (
        (batch["distance"], single["distance"]),
        (batch["margin"], single["margin"]),
        (batch["runner_up"]["distance"], single["runner_up"]["distance"]),
    ):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12)
    assert set(batch) == set(single)


def test_empty_batch(client: TestClient) -> None:
    response = client.post("/segment/batch", json={"learners": []})
    assert response.status_code == 200 and response.json() == {"results": []}


def test_batch_over_the_limit_is_413(client: TestClient) -> None:
    response = client.post("/segment/batch", json={"learners": [{"ctc": 1}] * 10_001})
    assert response.status_code == 413
    assert response.json() == {
        "detail": "A batch holds at most 10000 learners; this one has 10001."
    }


def test_batch_limit_is_a_setting(service_model_dir: Path) -> None:
    app = create_app(service_settings(service_model_dir, max_batch=3))
    with TestClient(app) as client:
        ok = client.post("/segment/batch", json={"learners": [{"ctc": 1e6}] * 3})
        assert ok.status_code == 200
        over = client.post("/segment/batch", json={"learners": [{"ctc": 1e6}] * 4})
    assert over.status_code == 413
    assert over.json()["detail"] == "A batch holds at most 3 learners; this one has 4."


def test_a_batch_in_small_chunks_answers_the_same(service_model_dir: Path) -> None:
    items: list[Any] = [*LEARNERS, {"ctc": -1}, JUNK, "x", *LEARNERS]
    answers = []
    for chunk in (1, 3, 1_000):
        settings = service_settings(service_model_dir, batch_chunk=chunk)
        with TestClient(create_app(settings)) as client:
            response = client.post("/segment/batch", json={"learners": items})
            assert response.status_code == 200
            answers.append(response.content)
    assert answers[0] == answers[1] == answers[2]


def test_other_requests_are_served_between_the_chunks_of_a_batch(
    service_model_dir: Path,
) -> None:
    """A batch runs on the event loop, but yields after every chunk: a probe sent after the
    batch started is answered before the batch is."""
    app = create_app(service_settings(service_model_dir, batch_chunk=1))
    done: list[str] = []

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):

            async def batch() -> None:
                body = {"learners": [LEARNERS[i % len(LEARNERS)] for i in range(1_500)]}
                response = await client.post("/segment/batch", json=body)
                assert response.status_code == 200
                done.append("batch")

            async def probe() -> None:
                await anyio.sleep(0.05)  # the batch is under way by then
                assert (await client.get("/health/live")).status_code == 200
                done.append("probe")

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(batch)
                tasks.start_soon(probe)

    anyio.run(scenario)
    assert done == ["probe", "batch"]


def test_compact_batch_over_http(client: TestClient) -> None:
    learners = [{**learner, "email_hash": f"id-{i}"} for i, learner in enumerate(LEARNERS)]
    full = client.post("/v1/segment/batch", json={"learners": learners})
    compact = client.post("/v1/segment/batch?compact=true", json={"learners": learners})
    assert compact.status_code == 200, compact.text
    results = BatchResponse.model_validate(compact.json()).results
    assert [r.email_hash for r in results] == [f"id-{i}" for i in range(len(LEARNERS))]
    assert [r.model_dump(exclude_unset=True) for r in results] == [
        {key: r[key] for key in r if key in set(compact.json()["results"][0])}
        for r in full.json()["results"]
    ]
    refused = client.post("/v1/segment/batch?compact=maybe", json={"learners": learners})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "compact"]


@pytest.mark.parametrize("path", ["/v1/segment", "/segment"])
@pytest.mark.parametrize("value", ["true", "false", "1", "maybe", ""])
def test_compact_on_one_learner_is_refused_in_one_sentence(
    client: TestClient, path: str, value: str
) -> None:
    """compact is for batches: POST /segment never silently answers in full to a caller who
    asked for the compact shape (the README says so); without ?compact it places as ever."""
    refused = client.post(f"{path}?compact={value}", json=LEARNERS[0])
    assert refused.status_code == 400
    assert refused.json() == {
        "detail": "compact applies to POST /segment/batch only: POST /segment always answers "
        "the full placement, so drop ?compact or send the learner as a batch of one."
    }
    placed = client.post(path, json=LEARNERS[0])
    assert placed.status_code == 200 and "runner_up" in placed.json()


# ----------------------------------------------------------------------------- job titles
#: Titles any client may send: accents, other scripts, emoji, full-width forms, control and
#: zero-width characters, placeholders. None may give a 500.
ODD_TITLES = (
    "Développeur",
    "Инженер-программист",
    "软件工程师",
    "مهندس برمجيات",
    "Backend Engineer 🚀",
    "👩‍💻",
    "ＳＤＥ２",
    "\u200b",
    "\x00\x07",
    "e\u0301",
    "Ⅻ",
    "n/a",
    "Nil1",
    "xyz",
    "test",
    "0",
    "...",
    "12345",
    "x",
    "-",
)


def test_odd_titles_place_alike_one_by_one_and_in_a_batch(client: TestClient) -> None:
    learners = [{"ctc": 1_200_000, "orgyear": 2017, "job_position": t} for t in ODD_TITLES]
    one = [client.post("/segment", json=learner) for learner in learners]
    assert [r.status_code for r in one] == [200] * len(ODD_TITLES)
    batch = client.post("/segment/batch", json={"learners": learners})
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [r["track"] for r in results] == [r.json()["track"] for r in one]
    assert [r["course"] for r in results] == [r.json()["course"] for r in one]
    tracks = dict(zip(ODD_TITLES, (r.json()["track"] for r in one), strict=True))
    assert tracks["Développeur"] == tracks["ＳＤＥ２"] == tracks["Backend Engineer 🚀"] == "backend"
    assert tracks["软件工程师"] == tracks["Инженер-программист"] == "other"
    placeholders = ("👩‍💻", "\u200b", "\x00\x07", "e\u0301", "n/a", "Nil1", "xyz", "test", "0")
    assert all(tracks[t] == "unknown" for t in (*placeholders, "...", "12345", "x", "-"))


@pytest.mark.parametrize("length", [201, 1000, 1001, 100_000])
def test_a_title_over_the_limit_is_a_clear_422(client: TestClient, length: int) -> None:
    """Titles are at most 200 characters (well under 1,000; every title of the case study is
    shorter): a longer one is refused at the edge with the field and the limit named, on one
    learner, and as that item's error in a batch (the others placed)."""
    title = ("Senior Software Engineer " * 4_000)[:length]
    one = client.post("/segment", json={"ctc": 1_000_000, "job_position": title})
    assert one.status_code == 422
    (error,) = one.json()["detail"]
    assert error["loc"] == ["body", "job_position"]
    assert error["msg"] == "String should have at most 200 characters"
    assert "input" not in error
    batch = client.post(
        "/segment/batch",
        json={"learners": [{"ctc": 1_000_000}, {"ctc": 1_000_000, "job_position": title}]},
    )
    assert batch.status_code == 200
    placed, refused = batch.json()["results"]
    assert "segment_id" in placed
    assert refused == {
        "index": 1,
        "error": "job_position: String should have at most 200 characters",
    }
    # 200 characters, even of a script that takes 3 bytes each, are a title.
    ok = client.post("/segment", json={"ctc": 1_000_000, "job_position": "软" * 200})
    assert ok.status_code == 200 and ok.json()["track"] == "other"


# ------------------------------------------------------------------------- the caller's own id
def test_learner_id_comes_back_in_every_answer(client: TestClient) -> None:
    """A learner_id sent is echoed by /segment, by a batch's result (full and compact) and by a
    batch's error item; absent where none was sent; it changes nothing of the placement."""
    ids = ["u-123", "Ω-ünïcode id", "x" * 128]
    single = client.post("/v1/segment", json={**LEARNERS[0], "learner_id": ids[0]})
    assert single.status_code == 200, single.text
    answer = single.json()
    assert next(iter(answer)) == "learner_id" and answer["learner_id"] == "u-123"
    plain = client.post("/v1/segment", json=LEARNERS[0]).json()
    assert "learner_id" not in plain and {**plain, "learner_id": "u-123"} == answer
    assert SegmentResult.model_validate(answer).learner_id == "u-123"

    items: list[Any] = [
        {**LEARNERS[1], "learner_id": ids[1]},
        LEARNERS[2],
        {"ctc": -1, "learner_id": ids[2], "email_hash": "e-1"},
        {**LEARNERS[3], "learner_id": ids[0], "email_hash": "e-2"},
        {"ctc": 1e6, "learner_id": "y" * 129},
        {"ctc": 1e6, "learner_id": 42},
    ]
    for compact in ("false", "true"):
        response = client.post(
            "/v1/segment/batch", params={"compact": compact}, json={"learners": items}
        )
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        BatchResponse.model_validate(response.json())
        assert [r.get("learner_id") for r in results] == [ids[1], None, ids[2], ids[0], None, None]
        assert list(results[3])[:3] == ["index", "learner_id", "email_hash"]
        assert results[2] == {
            "index": 2,
            "learner_id": ids[2],
            "email_hash": "e-1",
            "error": "ctc: Input should be greater than 0",
        }
        assert results[4]["error"] == "learner_id: String should have at most 128 characters"
        assert results[5]["error"] == "learner_id: Input should be a valid string"
        assert "y" * 129 not in response.text
        placed = {key: v for key, v in results[0].items() if key not in ("index", "learner_id")}
        alone = client.post(
            "/v1/segment/batch", params={"compact": compact}, json={"learners": [LEARNERS[1]]}
        ).json()["results"][0]
        assert placed == {key: v for key, v in alone.items() if key != "index"}


def test_a_learner_id_too_long_is_a_422_that_does_not_quote_it(client: TestClient) -> None:
    long_id = "secret-learner-" + "z" * 120
    response = client.post("/v1/segment", json={**LEARNERS[0], "learner_id": long_id})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "type": "string_too_long",
            "loc": ["body", "learner_id"],
            "msg": "String should have at most 128 characters",
            "ctx": {"max_length": 128},
        }
    ]
    assert long_id not in response.text


def test_batch_indices_count_from_zero(client: TestClient) -> None:
    """The index of a batch item is its position counted from 0: the numbering `python -m
    training assign` uses for its rows, so a result joins back to its row by position."""
    learners = [{**LEARNERS[i % len(LEARNERS)], "learner_id": f"row-{i}"} for i in range(7)]
    results = client.post("/v1/segment/batch", json={"learners": learners}).json()["results"]
    assert [(r["index"], r["learner_id"]) for r in results] == [(i, f"row-{i}") for i in range(7)]
