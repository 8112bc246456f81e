"""The HTML report (training.report.page): written into the model folder from its JSON, every
image it shows is a plot of that folder, its sections come in the agreed order with the
figures each one promises, ordinals are English, the synthetic data is announced, every jargon
word has a glossary entry, and names from profiles.json are escaped."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from training.insights.actions import summary_actions
from training.insights.facts import distinctive_facts
from training.insights.trust import stability_reading
from training.insights.wording import lpa_text, ordinal
from training.model.choice import KChoice, choose_k
from training.model.sweep import KSweep
from training.report import ReportError, render_page, render_report
from training.report.page import GLOSSARY, SECTIONS, explain_warning
from training.run import TrainingResult

#: The sections the report was specified with, in their order.
AGREED_SECTIONS = [
    "summary",
    "trust",
    "segments",
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
    for term in ("lift", "z-score", "percentile", "silhouette", "ari", "jaccard", "stability"):
        assert f"g-{term}" in outline.ids, term
        assert f"g-{term}" in outline.links, f"{term} is never linked from the text"
    assert "hennig" in glossary and "0.75" in glossary  # the reading of a Jaccard
    anchors = [anchor for anchor, _, _ in GLOSSARY]
    assert len(anchors) == len(set(anchors))


def test_names_from_the_profiles_are_escaped(folder: Path) -> None:
    path = folder / "profiles.json"
    profiles = json.loads(path.read_text(encoding="utf-8"))
    profiles["segments"][0]["name"] = "<script>alert(1)</script> R&D"
    profiles["segments"][0]["name_words"][0]["figure"] = "it's <b>bold</b>"
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
    segment["top_tracks"] = [{"name": "R&D <lab>", "share": 0.9, "lift": 9.0}]
    summary = _section(render_page(manifest, profiles), "summary")
    row = next(r for r in _rows(summary) if f"href='#segment-{segment['id']}'" in r)
    facts = [f.text for f in distinctive_facts(segment, profiles["population"])]
    assert facts[0].startswith("median pay") and facts[1].startswith("R&D <lab> titles")
    assert "; ".join(facts).replace("\u00a0", " ") in _text(row)
    assert "<a class='term' href='#g-percentile'>percentile</a>" in row
    assert "R&amp;D &lt;lab&gt; titles" in row


# --- trust ----------------------------------------------------------------------------------------
def test_trust_says_where_the_two_methods_draw_a_segment_differently(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    jaccard = manifest["metrics"]["stability"]["jaccard"]
    jaccard.update(dict.fromkeys(jaccard, 0.9))
    first = profiles["segments"][0]
    first["hierarchical_match"] = {"match": 0, "jaccard": 0.3}
    del jaccard[str(profiles["segments"][1]["id"])]
    manifest["metrics"]["comparison"]["ari"] = 0.4
    trust = _section(render_page(manifest, profiles), "trust")
    rows = {
        s["id"]: next(_text(r) for r in _rows(trust) if f"href='#segment-{s['id']}'" in r)
        for s in profiles["segments"][:2]
    }
    assert "0.30 (no)" in rows[first["id"]]
    assert rows[first["id"]].endswith("act on it; who sits near its edge depends on the method")
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
    assert f"ARI {manifest['metrics']['comparison']['ari']:.2f}" in text
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
            assert f"{company['name']}{company['learners']:,}" in companies
            assert f"{company['lift']:.2f}" in companies


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


# --- data quality -------------------------------------------------------------------------------
def test_data_quality_counts_every_cleaning_rule_and_the_imputed_shares(
    manifest: dict[str, Any], profiles: dict[str, Any]
) -> None:
    quality = _section(render_page(manifest, profiles), "data-quality")
    text = _text(quality)
    rows = [_text(r) for r in _rows(quality)]
    for rule in manifest["cleaning"]["rules"]:
        assert any(r.startswith(rule["name"]) and r.endswith(f"{rule['count']:,}") for r in rows)
    for segment in profiles["segments"]:
        q = segment["data_quality"]
        assert (
            f"{segment['id']}. {segment['name']}{100 * q['no_title_share']:.0f} %"
            f"{100 * q['no_title_expected_share']:.0f} %{q['no_title_ratio']:.2f}"
            f"{100 * q['ctc_imputed_share']:.1f} %{100 * q['company_imputed_share']:.0f} %"
        ) in rows
    assert "clipped" in text


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
