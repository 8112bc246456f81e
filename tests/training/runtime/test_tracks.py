"""The title -> track map (training.runtime.tracks): every genuine title and the case study's
commonest ones on the track written here (docs/courses.md), real titles of the default table on
named tracks, missing and placeholder titles unknown, and the map's own checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import REFERENCE_PROFILE
from training.batch.reading import raw_arrays
from training.config import TrainingSettings
from training.data.load import read_learners_frame
from training.data.synth import generate_learners
from training.prep.cleaning import fit_rules
from training.runtime.cleaning import apply_rules, fold_title
from training.runtime.placement import learner_track
from training.runtime.tracks import DEFAULT_TRACKS, OTHER_TRACK, UNKNOWN_TRACK, Track, Tracks

#: Every distinct title of the shared genuine rows, and its track.
REAL_TITLES = {
    "Android Engineer": "mobile",
    "Backend Architect": "leadership",
    "Backend Engineer": "backend",
    "Co-founder": "leadership",
    "Data Scientist": "data",
    "Database Administrator": "devops",
    "Devops Engineer": "devops",
    "Engineering Intern": "backend",
    "Engineering Leadership": "leadership",
    "Frontend Engineer": "frontend",
    "FullStack Engineer": "fullstack",
    "Fullstack Engineer": "fullstack",
    "Not Available": UNKNOWN_TRACK,
    "Other": OTHER_TRACK,
    "Product Designer": "product",
    "Product Manager": "product",
    "QA Engineer": "qa",
    "SDET": "qa",
    "Support Engineer": "support",
    "iOS Engineer": "mobile",
}

#: The case study's commonest titles (reference_profile.json's top_job_position), by count.
TOP_TITLES = {
    "Backend Engineer": "backend",
    "FullStack Engineer": "fullstack",
    "Other": OTHER_TRACK,
    "Frontend Engineer": "frontend",
    "Engineering Leadership": "leadership",
    "QA Engineer": "qa",
    "Data Scientist": "data",
    "Android Engineer": "mobile",
    "SDET": "qa",
    "Devops Engineer": "devops",
    "Support Engineer": "support",
    "Data Analyst": "data",
    "iOS Engineer": "mobile",
    "Engineering Intern": "backend",
    "Product Designer": "product",
    "Backend Architect": "leadership",
    "Fullstack Engineer": "fullstack",
    "Research Engineers": "data",
    "Product Manager": "product",
    "Program Manager": "product",
    "Non Coder": "support",
    "Database Administrator": "devops",
    "Co-founder": "leadership",
    "Security Leadership": "leadership",
    "Release Engineer": "devops",
    "Senior  Software Engineer": "backend",
    "Software Engineer (Backend)": "backend",
    "Intern": "backend",
    "System Engineer": "devops",
}

#: Titles seen in real learner tables beyond the case study's commonest, and their track.
SEEN_TITLES = {
    "Member of Technical Staff": "backend",
    "Senior Member of Technical Staff": "backend",
    "MTS": "backend",
    "SMTS": "backend",
    "Programmer Analyst": "backend",
    "Software Engineer II": "backend",
    "Associate Software Engineer": "backend",
    "Technical Lead": "leadership",
    "SDE 2": "backend",
    "SDE-2": "backend",
    "SDE2": "backend",
    "Systems Engineer": "devops",
    "Consultant": "support",
    "Analyst": "data",
    "Business Analyst": "product",
    "Data Engineer": "data",
    "ML Engineer": "data",
    "Site Reliability Engineer": "devops",
    "Cloud Engineer": "devops",
    "Test Engineer": "qa",
    "Test Analyst": "qa",
    "Automation Engineer": "qa",
    "Engineering Manager": "leadership",
    "CTO": "leadership",
    "Architect": "leadership",
    "Staff Engineer": "leadership",
    "UI Developer": "frontend",
    "React Developer": "frontend",
    "Node.js Developer": "backend",
    "Flutter Developer": "mobile",
    "React Native Developer": "mobile",
    "Product Engineer": "backend",
    "Project Engineer": "backend",
}

#: Titles in other scripts, with accents, emoji or full-width letters: how they fold and land.
UNICODE_TITLES = {
    "Développeur": ("developpeur", "backend"),
    "Ingénieur logiciel": ("ingenieur logiciel", "backend"),
    "Desarrollador Backend Señor": ("desarrollador backend senor", "backend"),
    "ＳＤＥ２": ("sde 2", "backend"),  # full-width letters and digit
    "Backend Engineer 🚀": ("backend engineer", "backend"),
    "🚀 Data Scientist ✨": ("data scientist", "data"),
    "Straße-Engineer": ("strasse engineer", "backend"),
    "İOS Engineer": ("ios engineer", "mobile"),
    "Инженер-программист": ("инженер программист", OTHER_TRACK),
    "软件工程师": ("软件工程师", OTHER_TRACK),
    "مهندس برمجيات": ("مهندس برمجيات", OTHER_TRACK),
    "🚀": (None, UNKNOWN_TRACK),
    "👩‍💻👨‍💻": (None, UNKNOWN_TRACK),
    "١٢٣": (None, UNKNOWN_TRACK),  # Arabic-Indic digits only
    "\u200b": (None, UNKNOWN_TRACK),  # a zero-width space
    "e\u0301": (None, UNKNOWN_TRACK),  # one letter and a combining accent
}

#: Titles that say nothing: unknown, never guessed.
PLACEHOLDERS = (
    "Not Available",
    "NA",
    "na",
    "n/a",
    "N.A.",
    "none",
    "NULL",
    "nil",
    "Nil1",
    "NONE 2",
    "xyz",
    "XYZ",
    "test",
    "Test 1",
    "0",
    "-",
    "--",
    "...",
    "  ",
    "",
    "?",
    "123",
    "2019",
    "a",
    "X",
    "x 1",
)


def _track(title: str | None) -> str:
    return Tracks().of(None if title is None else fold_title(title))


def test_every_genuine_title_is_on_its_track(real_raw: pd.DataFrame) -> None:
    titles = {t for t in real_raw["job_position"].dropna().tolist()}
    assert titles == set(REAL_TITLES)
    assert {title: _track(title) for title in sorted(titles)} == REAL_TITLES


def test_the_case_study_s_commonest_titles_are_on_their_tracks() -> None:
    if not REFERENCE_PROFILE.exists():
        pytest.skip(f"{REFERENCE_PROFILE} is not there (the shared reference data)")
    top = json.loads(REFERENCE_PROFILE.read_text())["top_job_position"]
    commonest = list(top)[:30]
    assert commonest == list(TOP_TITLES)  # the published list, in its order
    assert {title: _track(title) for title in commonest} == TOP_TITLES


def test_titles_seen_in_real_tables_are_on_named_tracks() -> None:
    assert {title: _track(title) for title in SEEN_TITLES} == SEEN_TITLES
    assert not {OTHER_TRACK, UNKNOWN_TRACK} & set(SEEN_TITLES.values())


def test_unicode_titles_fold_sensibly_and_never_crash() -> None:
    folded = {title: (fold_title(title), _track(title)) for title in UNICODE_TITLES}
    assert folded == UNICODE_TITLES
    # Whatever the text, folding gives a key or None and the map a track id.
    for title in ("\x00\x01", "\ud800x", "a" * 10_000, "\U0010ffff" * 3, "ﷺ", "Ⅻ"):
        key = fold_title(title)
        assert key is None or isinstance(key, str)
        assert _track(title) in Tracks().ids


def test_missing_and_placeholder_titles_are_unknown_and_never_guessed() -> None:
    assert _track(None) == UNKNOWN_TRACK
    for title in PLACEHOLDERS:
        assert _track(title) == UNKNOWN_TRACK, title
    # A title no pattern matches is a title: other, not unknown.
    assert _track("Assistant Professor") == OTHER_TRACK
    assert _track("Other") == OTHER_TRACK


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_the_default_table_real_titles_are_on_named_tracks(
    seed: int, settings: TrainingSettings
) -> None:
    """Every row of the embedded default (seeds 0, 1, 2) through the runtime's cleaning rules:
    learners with a real title (the literal title "Other" aside) on a named track >= 90 %;
    every missing or placeholder title unknown."""
    raw = read_learners_frame(
        generate_learners(rows=settings.synth_rows, seed=seed), origin="the default"
    )
    clean = apply_rules(raw_arrays(raw), fit_rules(raw, settings))
    track = np.asarray(clean.track, dtype=object)
    title = raw["job_position"]
    missing = title.isna().to_numpy() | clean.touched["job_title_placeholder"]
    assert missing.sum() > 0.2 * len(raw)
    assert (track[missing] == UNKNOWN_TRACK).all()
    literal_other = title.fillna("").map(lambda t: fold_title(t) == "other" if t else False)
    real = ~missing & ~literal_other.to_numpy(bool)
    named = np.isin(track[real], [t.id for t in DEFAULT_TRACKS])
    assert named.mean() >= 0.90, named.mean()
    assert (track[literal_other.to_numpy(bool)] == OTHER_TRACK).all()


def test_one_raw_title_gets_the_track_the_cleaning_rules_give_it(
    real_raw: pd.DataFrame, service_model_dir: Path
) -> None:
    """learner_track (the service's single learner) and apply_rules (every batch) agree."""
    from training.runtime.loader import load_model

    rules = load_model(service_model_dir).kernel.rules
    titles = [*real_raw["job_position"].tolist(), *TOP_TITLES, *PLACEHOLDERS, None, 3.5]
    clean = apply_rules({"ctc": [1e6] * len(titles), "job_position": titles}, rules)
    assert [learner_track(rules, t) for t in titles] == list(clean.track)


def test_the_order_of_the_map_decides_and_a_setting_can_change_it() -> None:
    """The first pattern that matches wins; a school's own map is honoured."""
    assert _track("QA Lead") == "leadership"  # leadership comes before QA
    assert _track("Data Engineer") == "data"  # data before the generic engineering titles
    school = Tracks((Track("qa", "QA", r"\bqa\b"), Track("lead", "Leads", r"\blead\b")))
    assert school.of("qa lead") == "qa"
    assert school.of("backend engineer") == OTHER_TRACK
    assert school.ids == ["qa", "lead", OTHER_TRACK, UNKNOWN_TRACK]
    assert Tracks.from_dict(school.to_dict()) == school


@pytest.mark.parametrize(
    ("tracks", "message"),
    [
        ((Track("other", "Other", "x"),), "Track ids other are implied; do not list them."),
        ((Track("a", "A", "x"), Track("a", "B", "y")), "Every track id must be listed once."),
        ((Track("a", "A", "("),), "The pattern of track a is not a regular expression"),
    ],
)
def test_a_map_that_cannot_work_is_refused_in_one_sentence(
    tracks: tuple[Track, ...], message: str
) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        Tracks(tracks)
