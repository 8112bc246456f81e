"""Segment profiles (service.api.segments): the list at both levels, one profile in full, every
field typed in the contract, and the 404 sentence for an id the model does not have."""

from __future__ import annotations

import json
from typing import Any

from service.schemas import SegmentList, SegmentProfile
from service.segmenter import Segmenter
from tests.helpers import TestClient
from training.run import TrainingResult


def test_segments_and_coarse_segments(client: TestClient, trained_small: TrainingResult) -> None:
    fine = SegmentList.model_validate(client.get("/segments").json()).segments
    assert [s.id for s in fine] == list(range(trained_small.k))
    assert sum(s.size for s in fine) == trained_small.learners
    coarse = SegmentList.model_validate(client.get("/segments?level=coarse").json()).segments
    assert 1 <= len(coarse) < len(fine)
    assert sorted(i for s in coarse for i in s.segments or []) == [s.id for s in fine]
    assert {s.coarse_segment_id for s in fine} == {s.id for s in coarse}


def test_segments_carry_the_summary_and_each_names_words(
    client: TestClient, trained_small: TrainingResult
) -> None:
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    listing = SegmentList.model_validate(client.get("/segments").json())
    assert listing.summary is not None and listing.population is not None
    assert listing.population == profiles["population"]
    assert [a.text for a in listing.summary.actions] == [
        a["text"] for a in profiles["summary"]["actions"]
    ]
    for summary, profile in zip(listing.segments, profiles["segments"], strict=True):
        assert [w.model_dump() for w in summary.name_words] == profile["name_words"]
        assert summary.recommendations == profile["recommendations"]


def test_each_segment_carries_its_course_map(
    client: TestClient, segmenter: Segmenter, trained_small: TrainingResult
) -> None:
    """GET /segments lists, for every segment, the course of each track (the model's tracks in
    order), the course a learner of the segment on that track is placed with: an LMS can show
    it without placing anyone. Macro-segments have none."""
    listing = client.get("/segments").json()
    fine = SegmentList.model_validate(listing).segments
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    tracks = [t["id"] for t in profiles["tracks"]]
    names = {t["id"]: t["name"] for t in profiles["tracks"]}
    for summary, profile in zip(fine, profiles["segments"], strict=True):
        assert summary.course_map is not None
        assert [c.track for c in summary.course_map] == tracks
        assert all(c.track_name == names[c.track] for c in summary.course_map)
        cohorts = {c["track"]: (c["course"], c["course_name"]) for c in profile["cohorts"]}
        assert {c.track: (c.course, c.course_name) for c in summary.course_map} == cohorts
    coarse = client.get("/segments?level=coarse").json()["segments"]
    assert all(s.get("course_map") is None for s in coarse)
    # The map is what placing answers: one learner per track, placed, gets the listed course.
    titles = {"backend": "Backend Engineer", "data": "Data Scientist", "unknown": "n/a"}
    maps = {s.id: {c.track: c.course for c in s.course_map or []} for s in fine}
    for track, title in titles.items():
        learner = {"ctc": 1_500_000, "orgyear": 2016, "job_position": title}
        placed = client.post("/segment", json=learner).json()
        assert placed["track"] == track
        assert placed["course"] == maps[placed["segment_id"]][track]


def test_segment_profile(client: TestClient, trained_small: TrainingResult) -> None:
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    response = client.get("/segments/1")
    assert response.status_code == 200
    assert response.json() == _with_aliases(profiles["segments"][1])
    SegmentProfile.model_validate(response.json())
    coarse = client.get("/segments/0", params={"level": "coarse"})
    assert coarse.status_code == 200 and coarse.json() == _with_aliases(profiles["coarse"][0])


def _with_aliases(profile: dict[str, Any]) -> dict[str, Any]:
    """A profile as served: the deprecated names answer the values of the new ones."""
    return {
        **profile,
        "top_role_families": profile["top_tracks"],
        "dominant_family": profile["dominant_track"],
    }


def test_the_old_names_of_tracks_are_deprecated_aliases_of_the_same_values(
    client: TestClient, trained_small: TrainingResult
) -> None:
    """top_role_families and dominant_family answer what top_tracks and dominant_track do, and
    the OpenAPI document marks them deprecated."""
    for segment_id in (0, 1):
        got = client.get(f"/segments/{segment_id}").json()
        assert got["top_role_families"] == got["top_tracks"] and got["top_tracks"]
        assert got["dominant_family"] == got["dominant_track"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["SegmentProfile"]
    for old, new in (("top_role_families", "top_tracks"), ("dominant_family", "dominant_track")):
        assert schema["properties"][old]["deprecated"] is True
        assert new in schema["properties"][old]["description"]
    assert "deprecated" not in schema["properties"]["top_tracks"]


def test_a_segment_s_cohorts_are_typed_and_cover_its_learners(
    client: TestClient, trained_small: TrainingResult
) -> None:
    """Every segment lists every track once, learners summing to its size, each with a course."""
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    tracks = [t["id"] for t in profiles["tracks"]]
    for profile in profiles["segments"]:
        got = SegmentProfile.model_validate(client.get(f"/segments/{profile['id']}").json())
        assert got.cohorts is not None and got.career_stage in ("early", "mid", "senior")
        assert sorted(c.track for c in got.cohorts) == sorted(tracks)
        assert sum(c.learners for c in got.cohorts) == got.size
        learners = [c.learners for c in got.cohorts]
        assert learners == sorted(learners, reverse=True)
        assert all(c.small == (c.learners < 30) for c in got.cohorts)
        assert all(c.course_name and c.why.endswith(".") for c in got.cohorts)


def test_every_field_of_a_profile_is_typed_in_the_contract(trained_small: TrainingResult) -> None:
    """A client generated from the OpenAPI document gets every profile field typed."""
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    typed = set(SegmentProfile.model_fields)
    for profile in [*profiles["segments"], *profiles["coarse"]]:
        assert set(profile) <= typed, set(profile) - typed
        SegmentProfile.model_validate(profile)


def test_unknown_segment_is_404(client: TestClient, trained_small: TrainingResult) -> None:
    k = trained_small.k
    response = client.get("/segments/99")
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"Segment 99 does not exist; this model has segments 0-{k - 1}."
    }
    n_coarse = len(client.get("/segments?level=coarse").json()["segments"])
    coarse = client.get("/segments/7?level=coarse")
    assert coarse.status_code == 404
    assert coarse.json() == {
        "detail": "Coarse segment 7 does not exist; this model has coarse segments "
        f"0-{n_coarse - 1}."
    }
    assert client.get("/segments/-1").status_code == 404
    assert client.get("/segments/abc").status_code == 422
    assert client.get("/segments?level=micro").status_code == 422
