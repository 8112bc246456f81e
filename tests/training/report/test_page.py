"""The HTML report (training.report.page): written into the model folder from its JSON, every
image it shows is a plot of that folder, its sections come in the agreed order with the
figures each one promises, ordinals are English, the synthetic data and a small table are
announced, every jargon word has a glossary entry, and names from profiles.json are escaped.
Every company-tier figure the page, the names and the actions quote is recomputed from the
learners, counting known companies only; courses per cohort; figures of few learners marked
and never ranked; the second method's split said wherever a segment is acted on."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training.insights.actions import summary_actions
from training.insights.facts import distinctive_facts
from training.insights.figures import FEW_LEARNERS, SMALL_TABLE
from training.insights.trust import method_caveat, method_short, method_split, stability_reading
from training.insights.wording import known_text, lpa_text, ordinal
from training.model.choice import KChoice, choose_k
from training.model.sweep import KSweep
from training.prep.features import LearnerData
from training.report import ReportError, render_page, render_report
from training.report.page import GLOSSARY, SECTIONS, explain_warning
from training.run import TrainingResult
from training.runtime.courses import DEFAULT_COURSES
from training.runtime.loader import load_model

#: The sections the report was specified with, in their order.
AGREED_SECTIONS = [
    "summary",
    "courses",
    "trust",
    "segments",
    "paths",
    "companies",
    "peers",
    "by-year",
    "data-quality",
    "glossary",
]


@pytest.fixture
def folder(trained_small: TrainingResult, tmp_path: Path) -> Path:
    """A writable copy of the trained model's folder, without its report."""
    copy = Path(shutil.copytree(trained_small.folder, tmp_path / trained_small.version))
    (copy / "report.html").unlink()
    return copy


@pytest.fixture(scope="module")
def docs(trained_small: TrainingResult) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trained model's manifest and profiles (copies: tests may change them)."""
    folder = trained_small.folder
    return (
        json.loads((folder / "manifest.json").read_text(encoding="utf-8")),
        json.loads((folder / "profiles.json").read_text(encoding="utf-8")),
    )


@pytest.fixture
def manifest(docs: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(docs[0]))
    return copy


@pytest.fixture
def profiles(docs: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(docs[1]))
    return copy


class _Outline(HTMLParser):
    """The ids of the <section> elements, the ids of all elements, and the in-page links."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
            if tag == "section":
                self.sections.append(str(found["id"]))
        href = found.get("href") or ""
        if tag == "a" and href.startswith("#"):
            self.links.append(href[1:])


def _outline(page: str) -> _Outline:
    parser = _Outline()
    parser.feed(page)
    return parser


def _section(page: str, anchor: str) -> str:
    found = re.search(rf"<section id='{anchor}'>(.*?)</section>", page, re.DOTALL)
    assert found, anchor
    return found.group(1)


def _rows(fragment: str) -> list[str]:
    """The body rows of every table in an HTML fragment (header rows left out)."""
    bodies = re.findall(r"<tbody>(.*?)</tbody>", fragment, re.DOTALL)
    return [row for body in bodies for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.DOTALL)]


def _text(fragment: str) -> str:
    """The text of an HTML fragment, entities decoded, no-break spaces as spaces."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).replace("\u00a0", " ")


# --- the page as a whole ------------------------------------------------------------------------
def test_every_image_of_the_report_is_a_plot_of_the_folder(folder: Path) -> None:
    out = render_report(folder)
    assert out == folder / "report.html"
    sources = re.findall(r"<img src='([^']*)'", out.read_text(encoding="utf-8"))
    plots = sorted(p.relative_to(folder).as_posix() for p in (folder / "plots").iterdir())
    assert sorted(sources) == plots and len(plots) == 5  # each plot shown once
    for source in sources:
        assert (folder / source).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), source


def test_sections_come_in_the_agreed_order(folder: Path) -> None:
    outline = _outline(render_report(folder).read_text(encoding="utf-8"))
    assert outline.sections == AGREED_SECTIONS == [anchor for anchor, _ in SECTIONS]


def test_every_in_page_link_lands_and_the_glossary_explains_the_jargon(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    page = render_page(manifest, profiles)
    outline = _outline(page)
    assert set(outline.links) <= outline.ids  # no link to a missing anchor
    glossary = _text(_section(page, "glossary")).lower()
    for term in (
        "lift", "z-score", "percentile", "silhouette", "ari", "jaccard", "stability", "track",
        "cohort", "course", "career-service", "tier",
    ):  # fmt: skip
        assert f"g-{term}" in outline.ids, term
        assert f"g-{term}" in outline.links, f"{term} is never linked from the text"
    assert "hennig" in glossary and "0.75" in glossary  # the reading of a Jaccard
    anchors = [anchor for anchor, _, _ in GLOSSARY]
    assert len(anchors) == len(set(anchors))


def test_names_from_the_profiles_are_escaped(folder: Path) -> None:
    path = folder / "profiles.json"
    profiles = json.loads(path.read_text(encoding="utf-8"))
    profiles["segments"][0]["name"] = "<script>alert(1)</script> R&D"
    profiles["segments"][0]["name_words"] = [
        {
            "word": "<script>alert(1)</script> R&D",
            "kind": "x",
            "rule": "r",
            "figure": "it's <b>bold</b>",
        }
    ]
    profiles["segments"][0]["top_companies"][0]["name"] = "<img src=x onerror=alert(1)>"
    path.write_text(json.dumps(profiles), encoding="utf-8")
    page = render_report(folder).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; R&amp;D" in page
    assert "<script>" not in page and "<img src=x" not in page and "<b>bold</b>" not in page
    assert "it&#x27;s &lt;b&gt;bold&lt;/b&gt;" in page  # inside a single-quoted title too


def test_a_model_from_before_the_report_is_refused_in_one_sentence(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    del profiles["population"], profiles["by_year"]
    with pytest.raises(ReportError, match=r"has no population, by_year: .* retrain the model"):
        render_page(manifest, profiles)


def test_every_ordinal_on_the_page_is_english(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    for segment in profiles["segments"]:
        segment["ctc_percentile"] = 58.3  # once written "58.3th"
    profiles["segments"][0]["ctc_percentile"] = 22.0
    page = _text(render_page(manifest, profiles))
    found = re.findall(r"\b(\d+(?:\.\d+)?)(st|nd|rd|th)\b", page)
    assert ("58", "th") in found and ("22", "nd") in found
    for number, suffix in found:
        assert "." not in number, f"{number}{suffix}"
        assert ordinal(float(number)) == number + suffix


def test_every_pay_amount_is_written_one_way(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    """Every LPA amount of the page (names, actions, summary, cards) has one decimal at most
    and no trailing ".0", whatever the digits profiles.json keeps: the same amount never reads
    "INR 17.0 LPA" in one place and "INR 17 LPA" in another, nor "26.18" beside "24"."""
    profiles["population"]["ctc_lpa"]["p50"] = 26.18
    profiles["segments"][0]["center"]["ctc_lpa"] = 17.0
    text = _text(render_page(manifest, profiles))
    amounts = re.findall(r"INR ([0-9.]+) LPA", text) + re.findall(
        r"between ([0-9.]+) and ([0-9.]+) LPA", text
    )
    flat = [a for found in amounts for a in ((found,) if isinstance(found, str) else found)]
    assert len(flat) > len(profiles["segments"]) * 3
    assert "INR 26.2 LPA" in text and "INR 17 LPA" in text
    for amount in flat:
        assert re.fullmatch(r"\d+(\.\d)?", amount), amount
        assert not amount.endswith(".0"), amount


# --- summary --------------------------------------------------------------------------------------
def test_summary_gives_the_baseline_the_three_actions_and_a_line_per_segment_by_size(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    stability = manifest["metrics"]["stability"]["jaccard"]
    stability.update(dict.fromkeys(stability, 0.9))  # every segment stable: no stand-in
    summary = _section(render_page(manifest, profiles), "summary")
    text = _text(summary)
    assert "did not come back" not in text
    population = profiles["population"]
    assert f"median experience {population['years_experience']['p50']:g} years" in text
    assert f"median pay {lpa_text(population['ctc_lpa']['p50'])}" in text
    actions = profiles["summary"]["actions"]
    assert 1 <= len(actions) <= 3
    for action in actions:
        assert f"{action['reach']:,} learners" in text and action["text"] in text
    # one row per segment, in the order of summary.segments (by size)
    rows = _rows(summary)
    order = [int(re.findall(r"href='#segment-(\d+)'", row)[0]) for row in rows]
    assert order == [s["id"] for s in profiles["summary"]["segments"]]
    sizes = [next(p["size"] for p in profiles["segments"] if p["id"] == i) for i in order]
    assert sizes == sorted(sizes, reverse=True)


def test_summary_acts_through_the_macro_segment_where_the_trust_table_says_so(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    """A dissolving segment sharing its macro-segment: the summary offers the macro-segment's
    action (naming it and its segments) and marks the segment's line; the trust table's "Use"
    says the same macro-segment."""
    first, second = profiles["segments"][:2]
    manifest["metrics"]["stability"]["jaccard"][str(first["id"])] = 0.55
    for group in profiles["coarse"]:
        group["segments"] = [s for s in group["segments"] if s not in (first["id"], second["id"])]
    group = next(c for c in profiles["coarse"] if c["id"] == first["coarse_segment_id"])
    group["segments"] = sorted([*group["segments"], first["id"], second["id"]])
    second["coarse_segment_id"] = group["id"]
    # The widest reach of all, so that it is among the three (whatever the small model's data).
    widest = {"rule": "macro_rule", "text": "Offer the macro-segment's programme.", "reach": 10**6}
    group["actions"] = [widest, *group.get("actions", [])]
    jaccard = {int(i): v for i, v in manifest["metrics"]["stability"]["jaccard"].items()}
    profiles["summary"]["actions"] = summary_actions(
        profiles["segments"], profiles["coarse"], jaccard
    )
    macro_actions = [a for a in profiles["summary"]["actions"] if a["level"] == "macro-segment"]
    assert [a["rule"] for a in macro_actions] == ["macro_rule"]
    assert all(a["segment_id"] != first["id"] for a in profiles["summary"]["actions"])
    page = render_page(manifest, profiles)
    text = _text(_section(page, "summary"))
    for action in macro_actions:
        assert (
            f"{action['reach']:,} learners of macro-segment {group['id']}, {group['name']}" in text
        )
        assert action["text"] in text
    row = next(
        _text(r) for r in _rows(_section(page, "summary")) if f"#segment-{first['id']}'" in r
    )
    assert f"dissolves (0.55): act on macro-segment {group['id']}" in row
    assert (
        f"Segment {first['id']} did not come back when the learners were resampled "
        "(stability under 0.75): the action of its macro-segment stands in." in text
    )
    trust = next(
        _text(r) for r in _rows(_section(page, "trust")) if f"#segment-{first['id']}'" in r
    )
    assert f"act on macro-segment {group['id']} " in trust
    # The macro-segment table shows each macro-segment's first action.
    assert "1,000,000 learners: Offer the macro-segment's programme." in _text(
        _section(page, "trust")
    )


def test_summary_shows_what_sets_each_segment_apart_with_its_glossary_links(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    segment = profiles["segments"][0]
    segment["feature_z"]["log_ctc"] = 9.0  # pay first
    # a track's share of known titles, as names and cards quote it
    segment["known_titles"] = 1_000
    segment["track_shares_known"] = {"R&D <lab>": 0.9}
    profiles["population"]["tracks_known"] = {
        **profiles["population"]["tracks_known"],
        "R&D <lab>": 0.1,
    }
    summary = _section(render_page(manifest, profiles), "summary")
    row = next(r for r in _rows(summary) if f"href='#segment-{segment['id']}'" in r)
    facts = [f.text for f in distinctive_facts(segment, profiles["population"])]
    assert facts[0].startswith("median pay") and facts[1].startswith("R&D <lab> 90")
    assert "; ".join(facts).replace("\u00a0", " ") in _text(row)
    assert "<a class='term' href='#g-percentile'>percentile</a>" in row
    assert "R&amp;D &lt;lab&gt; 90" in row and "of known titles" in row


# --- trust ----------------------------------------------------------------------------------------
def test_trust_says_where_the_two_methods_draw_a_segment_differently(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    jaccard = manifest["metrics"]["stability"]["jaccard"]
    jaccard.update(dict.fromkeys(jaccard, 0.9))
    first = profiles["segments"][0]
    first["hierarchical_match"] = {"match": 0, "jaccard": 0.3}
    del jaccard[str(profiles["segments"][1]["id"])]
    comparison = manifest["metrics"]["comparison"]
    comparison.update(ari=0.4, ari_by_seed=[0.4, 0.42, 0.45], ari_median=0.42)
    comparison.update(ari_min=0.4, ari_max=0.45)  # weak on every seed of the reference
    trust = _section(render_page(manifest, profiles), "trust")
    rows = {
        s["id"]: next(_text(r) for r in _rows(trust) if f"href='#segment-{s['id']}'" in r)
        for s in profiles["segments"][:2]
    }
    assert "0.30 (no)" in rows[first["id"]]
    split = method_split(first["id"], manifest["metrics"]["comparison"])
    sentence = method_caveat(0.3, split)
    assert sentence and "best-match Jaccard 0.30" in sentence and "act on" in sentence
    assert rows[first["id"]].endswith(sentence)
    assert "not measured" in rows[profiles["segments"][1]["id"]]
    assert rows[profiles["segments"][1]["id"]].endswith("act with care")
    text = _text(trust)
    assert "weak agreement: the segments depend on the method" in text
    missed = re.search(r"The hierarchical method draws (.*?) differently", text)
    assert missed and f"{first['id']}. {first['name']}" in missed.group(1)


@pytest.mark.parametrize("macro", ["shared", "alone"])
def test_trust_reads_each_segments_stability_and_says_when_to_use_the_macro_segment(
    macro: str, manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    jaccard = manifest["metrics"]["stability"]["jaccard"]
    first, second = profiles["segments"][:2]
    jaccard[str(first["id"])] = 0.55
    group = next(c for c in profiles["coarse"] if c["id"] == first["coarse_segment_id"])
    group["segments"] = [first["id"], second["id"]] if macro == "shared" else [first["id"]]
    trust = _section(render_page(manifest, profiles), "trust")
    rows = _rows(trust)
    for segment in profiles["segments"]:
        row = next(_text(r) for r in rows if f"href='#segment-{segment['id']}'" in r)
        value = float(jaccard[str(segment["id"])])
        assert f"{value:.2f}" in row and stability_reading(value) in row
    row = next(_text(r) for r in rows if f"href='#segment-{first['id']}'" in r)
    assert "dissolves" in row
    if macro == "shared":
        assert (
            f"act on macro-segment {group['id']} (segments {first['id']}, {second['id']}) "
            "instead" in row
        )
    else:  # a macro-segment of one segment is no way out
        assert "act with care" in row and "macro-segment" not in row
    text = _text(trust)
    comparison = manifest["metrics"]["comparison"]  # quoted as the median over the seeds
    assert f"ARI {comparison.get('ari_median', comparison['ari']):.2f}" in text
    assert "When to act on the macro-segments instead" in text
    assert "K-Means against the hierarchical (Ward) reference" in text


def _choice_warnings() -> dict[str, tuple[str, KChoice]]:
    """Every kind of warning ``choose_k`` writes, from crafted sweeps: case -> (warning, choice)."""
    ks = list(range(2, 9))

    def sweep(knee: int | None, stable: set[int], best_silhouette: int) -> KSweep:
        return KSweep(
            ks=ks,
            inertia=[100.0 / k for k in ks],
            silhouette=[0.5 if k == best_silhouette else 0.3 for k in ks],
            davies_bouldin=[1.0] * len(ks),
            calinski_harabasz=[1.0] * len(ks),
            stability=[0.95 if k in stable else 0.6 for k in ks],
            stability_p10=[0.9 if k in stable else 0.5 for k in ks],
            jaccard=[[0.9 if k in stable else 0.5] * k for k in ks],
            knee=knee,
            silhouette_sample=100,
            stability_resamples=20,
        )

    cases = {
        "silhouette elsewhere": choose_k(sweep(5, {5}, 3)),
        "no knee": choose_k(sweep(None, {3}, 3)),
        "knee at the end": choose_k(sweep(8, {8}, 8)),
        "fixed and unstable": choose_k(sweep(5, {5}, 5), k=6),
        "fixed outside the sweep": choose_k(sweep(5, {5}, 5), k=20),
        "nothing stable": choose_k(sweep(5, set(), 5)),
    }
    out: dict[str, tuple[str, KChoice]] = {}
    for case, choice in cases.items():
        for i, warning in enumerate(choice.warnings):
            out[f"{case} ({i})"] = (warning, choice)
    return out


WARNINGS = _choice_warnings()


def test_the_crafted_sweeps_give_every_kind_of_warning() -> None:
    kinds = {w.split(" k = ")[0].split(" in ")[0] for w, _ in WARNINGS.values()}
    assert len(WARNINGS) >= 7 and len(kinds) >= 6, sorted(WARNINGS)


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_every_warning_of_the_choice_of_k_is_explained_in_plain_words(
    case: str, manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    warning, choice = WARNINGS[case]
    manifest["k"] = choice.k
    manifest["k_choice"] = choice.to_dict() | {"warnings": [warning]}
    plain = explain_warning(warning, manifest)
    assert plain != explain_warning("something new", manifest)  # not the catch-all
    page = render_page(manifest, profiles)
    note = re.search(r"<div class='note'>(.*?)</div>", _section(page, "trust"), re.DOTALL)
    assert note and _text(plain) in _text(note.group(1)) and warning in _text(note.group(1))
    assert "class='warn'" not in page


# --- segments ------------------------------------------------------------------------------------
def test_each_word_of_a_name_shows_its_rule_and_figure(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    segments = _section(render_page(manifest, profiles), "segments")
    for segment in profiles["segments"]:
        card = re.search(
            rf"<article class='seg' id='segment-{segment['id']}'.*?</article>", segments, re.DOTALL
        )
        assert card, segment["id"]
        head = re.search(r"<h3>(.*?)</h3><p class='why'>(.*?)</p>", card.group(0), re.DOTALL)
        assert head and segment["name"] in _text(head.group(1))
        for word in segment["name_words"]:
            titles = re.findall(r"<span class='word' title='([^']*)'>([^<]*)</span>", head.group(1))
            assert (f"{word['rule']}: {word['figure']}", word["word"]) in [
                (_text(t), _text(w)) for t, w in titles
            ]
            assert f"{word['word']}: {word['figure']}" in _text(head.group(2))
        for action in segment["actions"]:
            assert f"{action['reach']:,} learners" in _text(card.group(0))


# --- companies, peers, by-year --------------------------------------------------------------------
def test_companies_lists_each_segments_top_companies_with_share_and_lift(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    companies = _text(_section(render_page(manifest, profiles), "companies"))
    assert "hashed" in companies
    for segment in profiles["segments"]:
        assert segment["top_companies"], segment["id"]
        for company in segment["top_companies"]:
            if company["learners"] >= FEW_LEARNERS:
                assert f"{company['name']}{company['learners']:,}" in companies
            else:
                assert f"{company['name']} ({company['learners']:,}; lift" in companies
            assert f"{company['lift']:.2f}" in companies


def test_a_company_of_few_learners_is_marked_and_never_ranked(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    """The case of a small table: a lift of 6.0 from 14 learners is no top company."""
    segment = profiles["segments"][0]
    segment["top_companies"] = [
        {"name": "bigco", "learners": 400, "share": 0.2, "lift": 1.5},
        {"name": "tinyco", "learners": 14, "share": 0.01, "lift": 6.0},
    ]
    companies = _section(render_page(manifest, profiles), "companies")
    block = companies.split(f"href='#segment-{segment['id']}'")[1].split("<h3>")[0]
    ranked = _rows(block)
    assert len(ranked) == 1 and "bigco" in ranked[0]
    assert f"Fewer than {FEW_LEARNERS} learners, not ranked" in _text(block)
    assert "tinyco (14; lift 6.00)" in _text(block)


def test_peers_gives_the_three_flags_of_each_segment_against_all_learners(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    peers = _section(render_page(manifest, profiles), "peers")
    rows = [_text(r) for r in _rows(peers)]
    expected = [("All learners", profiles["population"]["peer_flags"])]
    expected += [(f"{s['id']}. {s['name']}", s["peer_flags"]) for s in profiles["segments"]]
    for label, flags in expected:
        row = next(r for r in rows if r.startswith(label))
        shares = [
            f"{100 * flags[f][side]:.0f} %"
            for f in ("designation", "class", "tier")
            for side in ("above", "at", "below")
        ]
        assert row == label + "".join(shares)


def test_by_year_gives_each_years_learners_and_segment_mix(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    by_year = _section(render_page(manifest, profiles), "by-year")
    rows = [_text(r) for r in _rows(by_year)]
    assert len(rows) == len(profiles["by_year"]) >= 2
    for year, counts in profiles["by_year"].items():
        total = sum(counts.values())
        assert any(r.startswith(f"{year}{total:,}") for r in rows), year
    assert "The largest shift" in _text(by_year)


def test_a_year_of_few_learners_is_marked_and_left_out_of_the_largest_shift(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    ids = [str(s["id"]) for s in profiles["segments"]]
    profiles["by_year"] = {
        "2014": {i: (12 if i == ids[0] else 0) for i in ids},  # 12 learners, all of one segment
        "2019": {i: 100 for i in ids},
        "2021": {i: (200 if i == ids[1] else 100) for i in ids},
    }
    by_year = _section(render_page(manifest, profiles), "by-year")
    rows = [_text(r) for r in _rows(by_year)]
    assert rows[0].startswith("2014 (few)12")
    assert "last updated in 2019 and" in _text(by_year) and "2014 and" not in _text(by_year)


# --- data quality -------------------------------------------------------------------------------
def test_data_quality_counts_every_cleaning_rule_and_the_imputed_shares(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    quality = _section(render_page(manifest, profiles), "data-quality")
    text = _text(quality)
    rows = [_text(r) for r in _rows(quality)]
    for rule in manifest["cleaning"]["rules"]:
        assert any(r.startswith(rule["name"]) and r.endswith(f"{rule['count']:,}") for r in rows)
    headers = re.findall(r"<th[^>]*>(.*?)</th>", quality.split("Missing and imputed")[1])
    shown = [_text(h) for h in headers]
    assert shown[:2] == ["Segment", "No job title"] and "Company unknown" in shown
    for segment in profiles["segments"]:
        q = segment["data_quality"]
        cells = {
            "No job title": f"{100 * q['no_title_share']:.0f} %",
            "Expected from experience": f"{100 * q['no_title_expected_share']:.0f} %",
            "Ratio": f"{q['no_title_ratio']:.2f}",
            "Pay imputed": f"{100 * q['ctc_imputed_share']:.1f} %",
            "Company unknown": f"{100 * q['company_imputed_share']:.0f} %",
            "No company name (of the unknown)": f"{100 * q['company_unnamed_share']:.0f} %",
        }
        expected = f"{segment['id']}. {segment['name']}" + "".join(cells[h] for h in shown[1:])
        assert expected in rows
    for header in set(cells) - set(shown):  # a column the same in every segment is said once
        assert f"{header}: " in text.split("left out of the table:")[1]
    assert "clipped" in text


def test_data_quality_says_what_company_unknown_covers_with_counts(
    manifest: dict[str, Any], profiles: dict[str, Any], small_data: LearnerData
) -> None:
    population = profiles["population"]
    text = _text(_section(render_page(manifest, profiles), "data-quality"))
    known = small_data.features["company_known"].to_numpy() == 1
    unnamed = small_data.learners["company"].isna().to_numpy()
    assert population["company_unknown"] == (~known).sum()
    assert population["company_unnamed"] == unnamed.sum()
    assert f"{unnamed.sum():,} learners" in text
    assert f"{(~known & ~unnamed).sum():,} learners" in text
    assert f"Together {(~known).sum():,} learners" in text
    size = manifest["settings"]["min_group_size"]
    assert f"had fewer than {size} learners in the training table" in text
    assert "never held is unknown too" in text


def test_the_synthetic_default_is_announced_and_real_data_is_not(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    assert manifest["data"]["source"].startswith("embedded default (synthetic")
    page = render_page(manifest, profiles)
    assert "id='synthetic-notice'" in _section(page, "data-quality")
    assert "do not act on these segments" in _text(_section(page, "data-quality"))
    assert "Synthetic data." in _text(page.split("<main>")[0])  # above the summary too
    manifest["data"]["source"] = "data/learners.csv"
    real = render_page(manifest, profiles)
    assert "synthetic-notice" not in real and "Synthetic data." not in real


# --- courses ------------------------------------------------------------------------------------
def _with_cohorts(profiles: dict[str, Any]) -> dict[str, Any]:
    """The profiles with crafted cohorts (as the course step writes them): two courses, one of
    them over two segments, and a cohort of few learners."""
    first, second = profiles["segments"][:2]
    first["cohorts"] = [
        {
            "track": "backend", "learners": 900, "share": 0.5, "median_ctc_lpa": 8.25,
            "course": "software-development",
            "course_name": "Software development: DSA and system design",
            "why": "backend titles 50 % of the segment", "low_confidence": 40, "small": False,
        },
        {
            "track": "qa", "learners": 12, "share": 0.01, "median_ctc_lpa": None,
            "course": "test-automation", "course_name": "Test automation (SDET)",
            "why": "QA & test titles", "low_confidence": 3, "small": True,
        },
    ]  # fmt: skip
    second["cohorts"] = [
        {
            "track": "backend", "learners": 300, "share": 0.4, "median_ctc_lpa": 21.0,
            "course": "software-development",
            "course_name": "Software development: DSA and system design",
            "why": "backend titles 40 % of the segment", "low_confidence": 5, "small": False,
        }
    ]  # fmt: skip
    for segment in profiles["segments"][2:]:
        segment["cohorts"] = []
    profiles["tracks"] = [{"id": "backend", "name": "Backend & SDE"}, {"id": "qa", "name": "QA"}]
    profiles["catalogue"] = [c.to_dict() for c in DEFAULT_COURSES]
    return profiles


def test_courses_give_each_course_its_learners_by_segment_and_track(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    profiles = _with_cohorts(profiles)
    first, second = profiles["segments"][:2]
    courses = _section(render_page(manifest, profiles), "courses")
    text = _text(courses)
    block = courses.split("id='course-software-development'")[1].split("<h3")[0]
    rows = [_text(r) for r in _rows(block)]
    assert rows == [
        f"{first['id']}. {first['name']}Backend & SDE90050 %INR 8.2 LPA40"
        "backend titles 50 % of the segment",
        f"{second['id']}. {second['name']}Backend & SDE30040 %INR 21 LPA5"
        "backend titles 40 % of the segment",
    ]
    assert "1,200 learners in 2 cohorts; 45 of them placed with low confidence" in text
    qa = _text(courses.split("id='course-test-automation'")[1].split("<h3")[0])
    assert f"{first['id']}. {first['name']}QA12 (few)" in qa  # marked, pay not shown
    assert "No cohort gets: " in text and "Data science and machine learning" in text


def test_the_summary_says_which_course_goes_to_which_learners_first(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    profiles = _with_cohorts(profiles)
    first, second = profiles["segments"][:2]
    summary = _section(render_page(manifest, profiles), "summary")
    courses = re.search(r"<ol class='courses'>(.*?)</ol>", summary, re.DOTALL)
    assert courses
    items = [_text(i) for i in re.findall(r"<li>(.*?)</li>", courses.group(1), re.DOTALL)]
    assert items == [
        "Software development: DSA and system design for 1,200 learners: 900 of "
        f"{first['id']}. {first['name']} on Backend & SDE, 300 of {second['id']}. "
        f"{second['name']} on Backend & SDE (45 of them placed with low confidence)"
    ]  # the QA cohort of 12 is never ranked first


def test_a_model_without_cohorts_says_so_and_shows_no_course(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    for segment in profiles["segments"]:
        segment.pop("cohorts", None)
    page = render_page(manifest, profiles)
    for anchor in ("summary", "courses"):
        assert "trained before courses were chosen per cohort" in _text(_section(page, anchor))
    assert "class='courses'" not in page


# --- small data -----------------------------------------------------------------------------------
def test_a_small_table_is_announced_at_the_top(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    manifest["data"]["learners"] = SMALL_TABLE - 1
    page = render_page(manifest, profiles)
    head = page.split("<main>")[0]
    assert "id='small-notice'" in head
    assert f"Only {SMALL_TABLE - 1:,} learners." in _text(head)
    manifest["data"]["learners"] = SMALL_TABLE
    assert "small-notice" not in render_page(manifest, profiles)


def test_a_model_from_before_known_company_tiers_says_its_tier_figures_are_not(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    assert "older-notice" not in render_page(manifest, profiles)
    for segment in profiles["segments"]:
        del segment["company_known"]
    page = render_page(manifest, profiles)
    assert "id='older-notice'" in page.split("<main>")[0]
    assert "retrain to see them" in _text(_section(page, "segments"))


def test_a_figure_the_same_in_every_segment_is_not_shown(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    for segment in profiles["segments"]:
        segment["feature_z"]["n_records"] = 0.01  # reads 0.0 everywhere
        for flag in segment["peer_flags"].values():
            flag["at"] = 0.12
    page = render_page(manifest, profiles)
    caption = _text(_section(page, "segments"))
    assert (
        "Rows that read the same in every segment, or as all learners (within 0.1) in every "
        "segment, are left out: Records in the table"
    ) in caption
    peers = _section(page, "peers")
    said = _text(peers).split("read the same in every segment and are left out of the table: ")[1]
    assert said.startswith("At (same company and title): 12 %; At (same title): 12 %")
    assert "<th class='num'>At</th>" not in peers


# --- trust: one figure, and the second method's split wherever a segment is acted on -------------
def test_the_stability_of_the_segments_is_quoted_once(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    trust = _section(render_page(manifest, profiles), "trust")
    shown = trust.split("<details>")[0]
    assert manifest["k_choice"]["reason"] not in _text(shown)
    ari = f"ARI {manifest['metrics']['stability']['ari']:.2f} on average"
    assert _text(shown).count(ari) == 1
    # the analysts' table quotes the published k's stability with the same figure, not the
    # sweep's own draw of it
    details = trust.split("<details>")[1]
    published = manifest["metrics"]["stability"]["ari"]
    row = next(_text(r) for r in _rows(details) if f">{manifest['k']} (published)<" in r)
    assert row.startswith(f"{manifest['k']} (published)") and f"{published:.2f}" in row


def test_a_segment_the_second_method_splits_says_so_wherever_it_is_acted_on(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    jaccard = manifest["metrics"]["stability"]["jaccard"]
    jaccard.update(dict.fromkeys(jaccard, 0.95))
    segment = max(profiles["segments"], key=lambda s: s["size"])
    for other in profiles["segments"]:
        other["hierarchical_match"] = {"match": 0, "jaccard": 0.9}
        other.pop("method_caveat", None)  # as a model from before: read from the match
    segment["hierarchical_match"] = {"match": 0, "jaccard": 0.22}
    segment["actions"] = [
        {"rule": "below_peers", "text": "Offer pay coaching.", "reach": 10**6, "small": False}
    ]
    profiles["summary"]["actions"] = summary_actions(profiles["segments"], profiles["coarse"])
    page = render_page(manifest, profiles)
    split = method_split(segment["id"], manifest["metrics"]["comparison"])
    warning = method_caveat(0.22, split)
    assert warning is not None and "best-match Jaccard 0.22, under 0.5" in warning
    summary = _text(_section(page, "summary"))
    assert f"Offer pay coaching.⚠ {warning}" in summary
    row = next(
        _text(r) for r in _rows(_section(page, "summary")) if f"#segment-{segment['id']}'" in r
    )
    assert f"{method_short(split)} (Jaccard 0.22)" in row
    card = _section(page, "segments").split(f"id='segment-{segment['id']}'")[1].split("</article>")
    assert warning in _text(card[0])
    trust = next(
        _text(r) for r in _rows(_section(page, "trust")) if f"#segment-{segment['id']}'" in r
    )
    # one sentence, the same in the summary, the card and the trust table
    assert "0.22 (no)" in trust and trust.endswith(warning)


def test_a_macro_segment_without_an_action_says_why(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    macro = profiles["coarse"][0]
    macro["actions"], macro["no_action"] = [], "No rule of the catalogue fires on its figures."
    trust = _section(render_page(manifest, profiles), "trust")
    row = next(_text(r) for r in _rows(trust) if r.startswith(f"<td>{macro['id']}</td>"))
    assert row.endswith("No rule of the catalogue fires on its figures.")


# --- every tier figure, recomputed from the learners (known companies only) ---------------------
#: "82 % of the 61 % whose company is known [work] at <words> tier-N ... (all learners: 30 % of
#: the 70 % whose company is known)": a segment's share and all learners'; "82 % (all companies
#: known)" where every company is known (the share known read as 100).
_KNOWN = r"(\d+) % (?:of the (\d+) % whose company is known|\(all companies known\))"
_TIER = re.compile(
    rf"{_KNOWN} (?:work )?at [^()]*?tier-(\d)[^()]*?"
    rf"(?:\([^()]*\) )?companies \(all learners: {_KNOWN}\)"
)
#: A card's line: "among the 64 % (32,709 learners) whose company is known: tier 2 80 % (...", or
#: "all 3,744 learners' companies known: ..." where every company is known.
_CARD = re.compile(
    r"(?:among the (\d+) % \(([\d,]+) learners\) whose company is known"
    r"|all ([\d,]+) learners' companies known): (.*?)\.$"
)


class _Known:
    """Tier figures recomputed from the learners, by segment and macro-segment."""

    def __init__(self, data: LearnerData, segment: np.ndarray, macro: np.ndarray) -> None:
        self.known = data.features["company_known"].to_numpy() == 1
        self.tier = data.features["company_tier"].to_numpy()
        self.segment, self.macro = segment, macro

    def shares(self, members: np.ndarray) -> tuple[dict[int, float], float, int]:
        """Each tier's share of the members whose company is known, the share known, how many."""
        inside = members & self.known
        tiers = {t: float((self.tier[inside] == t).mean()) for t in (1, 2, 3)}
        return tiers, float(inside.sum() / members.sum()), int(inside.sum())

    def check(self, text: str, members: np.ndarray) -> int:
        """Every tier figure of ``text`` about ``members``: the count checked."""
        tiers, known, count = self.shares(members)
        everyone, known_all, _ = self.shares(np.ones_like(members))
        found = 0
        for share, of, tier, base, base_of in _TIER.findall(text):
            assert int(share) == round(100 * tiers[int(tier)]), text
            assert int(of or 100) == round(100 * known), text
            assert int(base) == round(100 * everyone[int(tier)]), text
            assert int(base_of or 100) == round(100 * known_all), text
            found += 1
        for of, learners, everyone_known, listed in _CARD.findall(text):
            assert int(of or 100) == round(100 * known)
            assert int((learners or everyone_known).replace(",", "")) == count
            for tier, share in re.findall(r"tier (\d) (\d+) %", listed):
                assert int(share) == round(100 * tiers[int(tier)]), listed
                found += 1
        return found


@pytest.fixture(scope="module")
def recomputed(trained_small: TrainingResult, small_data: LearnerData) -> _Known:
    """The learners of the small model (the same table, cleaned the same way) placed by its own
    kernel, as a served learner is."""
    kernel = load_model(trained_small.folder).kernel
    centre = kernel.assign(small_data.features[list(kernel.features)].to_numpy(np.float64))
    return _Known(small_data, kernel.segment_ids[centre], kernel.coarse[centre])


def test_every_tier_figure_counts_known_companies_and_is_recomputed_from_the_learners(
    docs: tuple[dict[str, Any], dict[str, Any]], recomputed: _Known
) -> None:
    manifest, profiles = docs
    sizes = {s["id"]: s["size"] for s in profiles["segments"]}
    assert {int(i): int((recomputed.segment == i).sum()) for i in sizes} == sizes
    checked = 0
    # names and actions of segments and macro-segments
    for level, labels in (("segments", recomputed.segment), ("coarse", recomputed.macro)):
        for group in profiles[level]:
            members = labels == group["id"]
            for word in group["name_words"]:
                checked += recomputed.check(f"{word['word']} {word['figure']}", members)
            for action in group["actions"]:
                checked += recomputed.check(action["text"], members)
    # the page: the summary's rows, the cards, the macro-segments' table
    page = render_page(manifest, profiles)
    for segment in profiles["segments"]:
        members = recomputed.segment == segment["id"]
        row = next(r for r in _rows(_section(page, "summary")) if f"#segment-{segment['id']}'" in r)
        checked += recomputed.check(_text(row), members)
        card = page.split(f"id='segment-{segment['id']}'")[1].split("</article>")[0]
        why = re.findall(r"<p class='why'>(.*?)</p>", card, re.DOTALL)
        for item in [*why, *re.findall(r"<li>(.*?)</li>", card, re.DOTALL)]:
            checked += recomputed.check(_text(item).strip(), members)
    macros = _section(page, "trust").split("When to act on the macro-segments")[1]
    for row in _rows(macros.split("</table>")[0]):
        macro = re.match(r"<td>(\d+)</td>", row)
        assert macro, row
        checked += recomputed.check(_text(row), recomputed.macro == int(macro.group(1)))
    assert checked >= 2 * len(profiles["segments"])
    # and no tier share anywhere on the page without the base it counts
    blocks = re.split(r"<(?:p|li|td|th|figcaption|h\d|dd|dt|div)\b[^>]*>", page)
    for sentence in (s for b in blocks for s in re.split(r"(?<=[.;])\s", _text(b))):
        if re.search(r"\d+ %", sentence) and re.search(r"\btier[- ]\d\b", sentence):
            assert re.search(r"whose company is known|companies known", sentence), sentence


# --- paths: where careers lead ---------------------------------------------------------
def test_paths_show_each_segments_stored_path_and_commonest_move(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    paths = profiles["paths"]
    section = _section(render_page(manifest, profiles), "paths")
    rows = _rows(section)
    assert len(rows) == len(paths["segments"]) == len(profiles["segments"])
    for row, entry in zip(rows, paths["segments"], strict=True):
        text = _text(row)
        assert text.startswith(f"{entry['id']}. ")
        for step in entry["path"]:
            for t in step["to"]:
                share = _text(_share_text(t["share"]))
                word = "stay " if t["segment_id"] == entry["id"] else ""
                assert f"{word}{share}" in text
        top = entry["top_move"]
        if top is not None:
            how = (
                "a raise of at most 20 %"
                if top["input"] == "pay"
                else "a job at a best-paying company"
                if top["direction"] == "tier 1"
                else "a job at a mid-paying company"
            )
            # the gain is the change; the segment is a label that comes with it
            assert f"{_text(_share_text(top['share']))} would gain from {how}" in text
            assert f"and with it the model's label '{top['segment_id']}. " in text
        else:
            assert "No raise of at most 20 %" in text
    assert f"Counted over {paths['learners']:,} learners" in _text(section)
    assert f"seeded sample of {paths['sampled']:,} learners" in _text(section)
    assert "These are label changes under the model, not recommendations" in _text(section)


def _share_text(share: float) -> str:
    from training.report.page import _share

    return _share(float(share))


def test_a_model_without_paths_gets_a_one_line_note(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    del profiles["paths"]
    page = render_page(manifest, profiles)
    section = _section(page, "paths")
    assert _text(section) == (
        "Where careers lead"
        "This model was trained before career paths were computed; retrain it to see where "
        "each segment's learners go."
    )
    assert _outline(page).sections == AGREED_SECTIONS


def test_a_move_counted_on_few_sampled_learners_is_marked(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    entry = profiles["paths"]["segments"][0]
    entry["sampled"] = 7
    entry["top_move"] = {
        "input": "company_tier",
        "direction": "tier 1",
        "segment_id": 1,
        "segment_name": "<Top>",
        "learners": 3,
        "share": 0.4286,
    }
    row = _text(_rows(_section(render_page(manifest, profiles), "paths"))[0])
    assert (
        "43 % would gain from a job at a best-paying company, and with it the "
        "model's label '1. <Top>' (from only 7 learners)"
    ) in row


# --- counted headings, small data, what changed, shares ----------------------------------------
@pytest.mark.parametrize(
    ("shown", "heading"),
    [
        (0, "Actions to take first"),
        (1, "The action to take first"),
        (2, "Two actions to take first"),
    ],
)
def test_the_heading_over_the_actions_counts_those_shown(
    manifest: dict[str, Any], profiles: dict[str, Any], shown: int, heading: str
) -> None:
    profiles["summary"]["actions"] = profiles["summary"]["actions"][:shown]
    assert len(profiles["summary"]["actions"]) == shown  # the fixture has at least two
    summary = _section(render_page(manifest, profiles), "summary")
    assert f"<h3>{heading}</h3>" in summary
    assert "Three actions" not in summary
    assert len(re.findall(r"<li><b>[\d,]+ learners</b> of ", summary)) == shown


def test_a_small_table_puts_a_caveat_beside_the_trust_table(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    manifest["data"]["learners"] = SMALL_TABLE - 1
    trust = _section(render_page(manifest, profiles), "trust")
    assert "id='small-trust'" in trust
    assert trust.index("small-trust") < trust.index("<table")  # before the stability table
    assert "Stability figures from few learners." in _text(trust)
    manifest["data"]["learners"] = SMALL_TABLE
    assert "small-trust" not in render_page(manifest, profiles)


def test_a_share_of_few_learners_in_a_year_is_marked_and_never_the_largest_shift(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    ids = [str(s["id"]) for s in profiles["segments"]]
    # segment ids[0] moves most (10 -> 50 %), but from 8 learners in 2019: not ranked
    profiles["by_year"] = {
        "2019": {i: (8 if i == ids[0] else 24) for i in ids},
        "2021": {i: (300 if i == ids[0] else 100 if i == ids[1] else 40) for i in ids},
    }
    by_year = _section(render_page(manifest, profiles), "by-year")
    first_row = _rows(by_year)[0]
    cells = re.findall(r"<td class='num'>(.*?)</td>", first_row)
    assert all("(few)" in _text(c) for c in cells[1:])  # every segment's 2019 share: few
    shift = re.search(r"The largest shift: (\d+)\.", _text(by_year))
    assert shift is None  # no segment has 30 learners in both years
    profiles["by_year"]["2019"] = {i: (40 if i == ids[0] else 60) for i in ids}
    shift = re.search(
        r"The largest shift: (\d+)\.", _text(_section(render_page(manifest, profiles), "by-year"))
    )
    assert shift and shift.group(1) == ids[0]


def test_since_the_previous_model_says_which_segments_grew_and_shrank(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    manifest["ids"] = {"matched_to": None, "reason": "numbered by size"}
    assert "since-previous" not in render_page(manifest, profiles)  # no previous model: silent
    manifest["ids"] = {"matched_to": "20260101-000000", "reason": "matched to the latest model"}
    manifest["churn"] = {"previous_version": "20260101-000000", "placed": 1_000, "moved": 18}
    previous = json.loads(json.dumps(profiles))
    first, second = previous["segments"][0], previous["segments"][1]
    first["share"] = profiles["segments"][0]["share"] - 0.05  # it grew by 5 points
    second["share"] = profiles["segments"][1]["share"] + 0.004  # under a point: not listed
    summary = _text(_section(render_page(manifest, profiles, previous=previous), "summary"))
    line = summary.split("Since the previous model (20260101-000000): ")[1].split(".")[0]
    assert line.startswith(
        "18 of 1,000 training rows (a learner may have several records) (2 %) would now be "
        "placed in another segment"
    )
    assert f"segment {profiles['segments'][0]['id']} grew from" in line
    assert f"segment {profiles['segments'][1]['id']} " not in line
    # without the previous model's profiles, only the learners who moved
    summary = _text(_section(render_page(manifest, profiles), "summary"))
    assert "grew" not in summary and "18 of 1,000 training rows" in summary


def test_a_report_rewritten_beside_the_model_it_replaced_reads_its_profiles(
    folder: Path, manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    before = folder.parent / "20260101-000000"
    before.mkdir()
    previous = json.loads(json.dumps(profiles))
    previous["segments"][0]["share"] = profiles["segments"][0]["share"] + 0.1
    (before / "profiles.json").write_text(json.dumps(previous), encoding="utf-8")
    manifest["ids"] = {"matched_to": before.name, "reason": "matched to the latest model"}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    page = render_report(folder).read_text(encoding="utf-8")
    assert f"segment {profiles['segments'][0]['id']} shrank from" in _text(page)


def test_no_share_reads_zero_point_zero(manifest: dict[str, Any], profiles: dict[str, Any]) -> None:
    population = profiles["population"]
    population["ctc_imputed_share"] = 0.0002
    for segment in profiles["segments"]:
        segment["data_quality"]["ctc_imputed_share"] = 0.0
    population["company_unnamed"] = 1  # one learner of thousands: "under 0.1 %"
    text = _text(render_page(manifest, profiles))
    assert not re.search(r"(?<![\d.])0\.0 %", text)
    assert "under 0.1 %" in text


# --- words held against their figures -------------------------------------------------------------
def test_the_agreement_of_the_methods_is_quoted_over_the_reference_s_seeds(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    comparison = manifest["metrics"]["comparison"]
    comparison.update(ari_by_seed=[0.69, 0.74, 0.79], ari_median=0.74, ari_min=0.69, ari_max=0.79)
    text = _text(_section(render_page(manifest, profiles), "trust"))
    assert "agree at ARI 0.74 (median of 3 seeds of the reference, range 0.69-0.79)" in text
    assert "moderate to strong agreement, depending on the reference's seed" in text
    comparison.update(ari_by_seed=[0.8, 0.85], ari_median=0.825, ari_min=0.8, ari_max=0.85)
    text = _text(_section(render_page(manifest, profiles), "trust"))
    assert "strong agreement: the segments hardly depend on the method" in text
    assert "depending on the reference's seed" not in text


def _use_cells(page: str) -> list[str]:
    trust = _section(page, "trust")
    table = trust.split("<table")[1]
    return [_text(re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)[-1]) for r in _rows(table)]


def test_on_a_small_table_the_use_column_never_says_act_on_it_unqualified(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    manifest["data"]["learners"] = SMALL_TABLE - 1
    cells = _use_cells(render_page(manifest, profiles))
    assert cells and all(c.startswith("provisional (fewer than 5,000 learners)") for c in cells)
    manifest["data"]["learners"] = SMALL_TABLE
    cells = _use_cells(render_page(manifest, profiles))
    assert not any(c.startswith("provisional") for c in cells)


def test_on_a_small_table_the_use_column_does_not_say_check_it_and_act_on_it(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    """Checking again on more data before acting is the advice: "act on it" after it
    contradicts it."""
    large = _use_cells(render_page(manifest, profiles))
    manifest["data"]["learners"] = SMALL_TABLE - 1
    small = _use_cells(render_page(manifest, profiles))
    assert "act on it" in large  # the default model has segments to act on
    for before, after in zip(large, small, strict=True):
        assert not after.endswith("act on it"), after
        if before == "act on it":
            assert after == (
                "provisional (fewer than 5,000 learners): check it again on more data before acting"
            )


def test_a_local_source_is_named_by_its_file_name_only(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    manifest["data"]["source"] = "/tmp/rrh/small.csv"
    page = render_page(manifest, profiles)
    assert "/tmp/rrh" not in page
    assert "source: small.csv." in _text(page.split("<main>")[0])
    assert "Source: small.csv." in _text(_section(page, "data-quality"))
    manifest["data"]["source"] = "https://example.org/data/learners.csv"
    assert "https://example.org/data/learners.csv" in render_page(manifest, profiles)


def test_when_every_company_is_known_the_share_known_is_not_repeated(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    assert known_text(1.0, 1.0) == "100 % (all companies known)"
    assert known_text(0.82, 0.61) == "82 % of the 61 % whose company is known"
    segment = profiles["segments"][0]
    segment["company_known_share"] = 1.0
    segment["company_known"] = segment["size"]
    text = _text(render_page(manifest, profiles))
    assert f"all {segment['size']:,} learners' companies known: " in text
    assert "of the 100 % whose company is known" not in text


def _silhouette_manifest(manifest: dict[str, Any], gap: float) -> str:
    sweep = manifest["metrics"]["sweep"]
    ks = list(sweep["ks"])
    other = next(k for k in ks if k != manifest["k"])
    sil = [0.30] * len(ks)
    sil[ks.index(other)] = 0.30 + gap
    sweep["silhouette"] = sil
    return f"silhouette peaks at k = {other}, not at the chosen k = {manifest['k']}"


def test_the_silhouette_note_says_another_k_is_clearer_only_when_it_is_material(
    manifest: dict[str, Any],
) -> None:
    from training.report.page import SILHOUETTE_MATERIAL

    small = explain_warning(_silhouette_manifest(manifest, 0.004), manifest)
    assert "no material difference" in small and "would sit more clearly" not in small
    assert f"by less than {SILHOUETTE_MATERIAL:g} (0.30 against 0.30" in small
    large = explain_warning(_silhouette_manifest(manifest, 0.06), manifest)
    assert "would sit more clearly" in large and "0.36 against 0.30" in large


def test_unknown_companies_are_said_to_sit_at_the_population_s_pay_level(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    page = render_page(manifest, profiles)
    glossary = _text(_section(page, "glossary"))
    assert "as if their company paid at the population's level" in glossary
    quality = _text(_section(page, "data-quality"))
    assert "as if the company paid at the population's level" in quality
    assert "more companies stay under the minimum group size" not in quality
    manifest["data"]["learners"] = SMALL_TABLE - 1
    quality = _text(_section(render_page(manifest, profiles), "data-quality"))
    assert "more companies stay under the minimum group size" in quality
