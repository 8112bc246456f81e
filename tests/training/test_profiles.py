"""Segment profiles (training.profiles) of a trained model: unique names, 2-4 recommendations,
figures consistent with each other and with the segment sizes."""

from __future__ import annotations

import json

import pytest

from training.pipeline import TrainingResult


def test_profiles_describe_every_segment(trained_small: TrainingResult) -> None:
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    segments = profiles["segments"]
    assert [s["id"] for s in segments] == list(range(trained_small.k))
    assert sum(s["size"] for s in segments) == trained_small.learners
    assert len({s["name"] for s in segments}) == len(segments)
    for s in segments:
        assert 2 <= len(s["recommendations"]) <= 4
        assert s["ctc_inr"]["p10"] <= s["ctc_inr"]["p50"] <= s["ctc_inr"]["p90"]
        assert s["center"]["ctc_lpa"] == pytest.approx(s["center"]["ctc_inr"] / 1e5, abs=0.01)
        assert s["nearest_segment"]["id"] != s["id"]
        assert "match" in s["hierarchical_match"]
        assert s["top_role_families"] and s["company_tiers"]
    coarse = profiles["coarse"]
    assert 2 <= len(coarse) <= 3
    assert sorted(x for c in coarse for x in c["segments"]) == list(range(trained_small.k))
    assert sum(c["size"] for c in coarse) == trained_small.learners
