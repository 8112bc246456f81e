"""``report.html``: what to do first, then why to trust it, then the detail.

The page is written from a model folder's ``manifest.json`` and ``profiles.json`` alone, so
``python -m training report`` can rebuild it at any time. Its sections, in order, are elements
with the ids of :data:`SECTIONS`. Every jargon word links to its entry in the glossary; every
figure is quoted with what it is compared with (all learners, unless said otherwise).

The page only presents: what sets a segment apart (:mod:`training.insights.facts`), how far
to trust it (:mod:`training.insights.trust`), which courses and actions come first
(:mod:`training.insights.actions`) are decided in :mod:`training.insights`.

It stays honest on little data: a table of fewer than
:data:`~training.insights.figures.SMALL_TABLE` learners is announced at the top, a figure
counted on fewer than :data:`~training.insights.figures.FEW_LEARNERS` learners is marked and
never ranked first, and a column or heatmap row that reads the same for every segment is left
out (said once in words). Every company-tier figure counts only learners whose company is known
and says how many that is; a model written before that (no ``company_known`` in its profiles)
shows no tier figure.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from training.config import DISSOLVES_UNDER_JACCARD, HIGHLY_STABLE_JACCARD, MIN_JACCARD
from training.insights.actions import acted_through_coarse, first_action, summary_courses
from training.insights.courses import course_learners
from training.insights.facts import Fact, distinctive_facts
from training.insights.figures import FEW_LEARNERS, SMALL_TABLE
from training.insights.trust import (
    FOUND_BY_BOTH,
    MethodSplit,
    SegmentTrust,
    agreement_figure,
    is_found_by_both,
    method_caveat,
    method_short,
    method_split,
    segment_trust,
    stability_reading,
)
from training.insights.wording import (
    few_text,
    lift_text,
    lpa_number,
    lpa_text,
    ordinal,
    pct_unbroken,
    score_text,
)
from training.model.hierarchy import BISECTING
from training.report.plots import constant_features
from training.report.style import feature_label, segment_color
from training.runtime.artifacts import MANIFEST_FILE, PLOTS, PROFILES_JSON, REPORT_HTML
from training.runtime.tracks import TRACK_NAMES

__all__ = [
    "GLOSSARY",
    "SECTIONS",
    "SYNTHETIC_SOURCE",
    "ReportError",
    "explain_warning",
    "is_synthetic",
    "render_page",
    "render_report",
    "since_previous",
    "source_name",
]

#: The page's sections in order: (element id, heading).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "What to do first"),
    ("courses", "Which course for which learners"),
    ("trust", "How far to trust the segments"),
    ("segments", "The segments"),
    ("paths", "Where careers lead"),
    ("companies", "Top companies of each segment"),
    ("peers", "Pay against peers"),
    ("by-year", "Segment mix by the year pay was last updated"),
    ("data-quality", "Data quality"),
    ("glossary", "Glossary"),
)

#: The glossary: (anchor, term, definition). Definitions are HTML.
GLOSSARY: tuple[tuple[str, str, str], ...] = (
    (
        "ctc",
        "CTC, LPA",
        "Cost to company: a learner's yearly pay package as entered in the data. LPA is lakh "
        "per annum; 1 LPA = INR 100,000 a year.",
    ),
    (
        "percentile",
        "Percentile",
        "The n-th percentile is the value under which n % of all learners fall. A segment whose "
        "median pay is at the 80th percentile earns more than 80 % of all learners. The median "
        "is the 50th percentile; the 25th and 75th percentiles bound the middle half.",
    ),
    (
        "lift",
        "Lift",
        "How many times more common something is in a segment than among all learners: a "
        "company that employs 4 % of a segment and 2 % of all learners has a lift of 2. Lift 1 "
        "is no difference; under 1 is rarer than usual.",
    ),
    (
        "z-score",
        "z-score",
        "How far a segment's average lies from all learners' average, in standard deviations "
        "(the typical spread of learners around the average). 0 is the same as all learners, "
        "+1 is one typical spread above, -1 one below; beyond about 0.5 either way the "
        "difference is clear. For a share (say, the share at tier-1 companies) it is the "
        "difference in shares divided by the spread of a yes/no figure with all learners' share.",
    ),
    (
        "tier",
        "Company tier, title class",
        "Companies are put in three tiers by the median pay of their learners: tier 1 pays best, "
        "tier 3 least. Job titles are put in three classes the same way. A learner whose "
        "company is unknown (see <a href='#company-unknown'>Data quality</a>) has no tier of "
        "their own: the model places them as if their company paid at the population's level "
        "(its median pay, which falls in tier 2 on the default table; docs/segmentation.md), "
        "but every tier figure in this report counts only learners whose company is known, and "
        'says how many that is ("82 % of the 61 % whose company is known").',
    ),
    (
        "track",
        "Track",
        "What a learner works on, read from their job title: backend & SDE, full-stack, "
        "frontend, mobile, data & ML, DevOps & cloud, QA & test, leadership & architecture, "
        'support, product & design; "other" for a title no pattern matches, "unknown" for a '
        "missing or placeholder title (never guessed). The map from titles to tracks is a "
        "setting the school edits.",
    ),
    (
        "cohort",
        "Cohort",
        "The learners of one segment on one track (say, segment 1's backend engineers). Each "
        "cohort gets the course of the catalogue that fits it best.",
    ),
    (
        "course",
        "Course",
        "A programme of the school's catalogue that teaches (software development, data science, "
        "DevOps, ...): chosen per cohort, from the cohort's track and career stage.",
    ),
    (
        "career-service",
        "Career service",
        "Career help of the school's catalogue (interview preparation, pay negotiation, "
        "placement support, mentoring, a profile update): chosen per segment, by a rule on the "
        "segment's figures (docs/recommendations.md). A segment gets at most one of each "
        "programme family, and each goes to at most two segments.",
    ),
    (
        "few",
        "Few learners",
        f"A figure counted on fewer than {FEW_LEARNERS} learners is marked: a share or a lift of "
        "so few learners moves a lot by chance, so it is never ranked first.",
    ),
    (
        "peers",
        "Pay against peers",
        "A learner's pay against the median of learners with the same company and title "
        "(the designation flag), the same title (class flag) or the same company (company "
        "flag; the input is called tier_flag): "
        "above, at (within the tolerance) or below.",
    ),
    (
        "k-means",
        "K-Means",
        "The method that forms the segments: it places k centres among the learners and gives "
        "each learner to the nearest centre, moving the centres until they settle. Its inputs "
        "are the few figures listed under the heatmap's first panel.",
    ),
    (
        "hierarchical",
        "Hierarchical clustering (Ward)",
        "A second, independent method used as a check: it starts with every learner (or small "
        "group) apart and repeatedly merges the two closest groups, forming a tree "
        "(the dendrogram); cutting the tree gives k clusters. Where it finds the same groups as "
        "K-Means, the segments do not depend on the method.",
    ),
    (
        "elbow",
        "Elbow and knee",
        "The elbow curve shows how much of the spread between learners is left unexplained "
        "(inertia) for each number of segments k. It always falls as k grows; the knee is the k "
        "after which adding segments helps much less.",
    ),
    (
        "silhouette",
        "Silhouette",
        "For each learner: how much nearer it is to its own segment than to the next one, "
        "from -1 (in the wrong segment) through 0 (on the border) to 1 (clearly in its own). "
        "Learner data rarely falls into sharply separated groups; 0.3-0.5 is usual.",
    ),
    (
        "stability",
        "Stability (bootstrap)",
        "Whether the segments come back when the analysis is repeated on resampled learners "
        "(random draws of learners, with replacement). Overall stability is the mean ARI "
        "between the segments of each draw and the published ones; a segment's stability is "
        "its mean Jaccard with the best-matching segment of each draw.",
    ),
    (
        "jaccard",
        "Jaccard",
        "The overlap of two groups: learners in both divided by learners in either. 1 is the "
        "same group, 0 no learner in common. Hennig's reading for a segment's stability: under "
        f"{DISSOLVES_UNDER_JACCARD:g} it dissolves, {DISSOLVES_UNDER_JACCARD:g}-{MIN_JACCARD:g} "
        f"doubtful, {MIN_JACCARD:g} and over stable, {HIGHLY_STABLE_JACCARD:g} and over highly "
        "stable.",
    ),
    (
        "ari",
        "ARI (adjusted Rand index)",
        "The agreement of two groupings of the same learners: 1 is identical, 0 no better than "
        "chance. It counts pairs of learners that both groupings put together (or apart).",
    ),
    (
        "macro-segment",
        "Macro-segment",
        "A group of neighbouring segments (merged by Ward on the segment centres): coarser, and "
        "safer to act on when a segment is not stable.",
    ),
    (
        "nmi",
        "Normalised mutual information (NMI)",
        "Another agreement score of two groupings, like the ARI: how much knowing a learner's "
        "group in one tells about their group in the other, from 0 (nothing) to 1 (everything).",
    ),
    (
        "davies-bouldin",
        "Davies-Bouldin index",
        "For analysts choosing k: how close each segment is to its most similar neighbour, "
        "against how spread out both are. Lower is better (tighter, better separated segments).",
    ),
    (
        "calinski-harabasz",
        "Calinski-Harabasz index",
        "For analysts choosing k: the spread between segment centres against the spread within "
        "segments. Higher is better; it tends to fall as k grows.",
    ),
    (
        "reach",
        "Reach",
        "The number of learners an action is for: those the figure that fired the rule counts "
        "(say, the 82 % of a segment paid below their peers).",
    ),
    (
        "low-confidence",
        "Low confidence",
        "A learner nearly as close to another segment's centre as to its own (among the 10 % "
        "least clear-cut placements of the training learners). Such learners sit on a border.",
    ),
    (
        "imputed",
        "Imputed",
        "A missing or impossible value replaced by an estimate (for example, the median of "
        "learners like this one), and flagged so that it can be counted.",
    ),
)

_CSS = """
:root{--ink:#1d2329;--muted:#5b6570;--line:#dfe3e8;--soft:#f5f7f9}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1120px;
margin:1.2em auto 3em;padding:0 1.2em;color:var(--ink);line-height:1.45;font-size:15px}
h1{margin:.1em 0 .1em;font-size:1.75em} h2{margin:1.6em 0 .4em;padding-top:.4em;
border-top:2px solid var(--ink);font-size:1.35em} h3{margin:1.1em 0 .35em;font-size:1.08em}
.muted{color:var(--muted)} .small{font-size:.86em}
nav{font-size:.86em;margin:.4em 0 .6em} nav a{margin-right:.9em;white-space:nowrap}
a{color:#1f5fa8} a.term{color:inherit;text-decoration:underline dotted #7a8793}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}
th,td{border-bottom:1px solid var(--line);padding:.3em .55em;text-align:left;vertical-align:top}
table.segs td:first-child{min-width:15em}
th{background:var(--soft);font-weight:600} td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums} tr.all td{font-weight:600;background:var(--soft)}
.sw{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.35em;
vertical-align:baseline}
.lead{font-size:1.08em;margin:.3em 0 .6em}
.paths .nw{white-space:nowrap} .caveat{color:#8a4b00} .few{color:#8a4b00;font-size:.86em}
.notice{border:2px solid #b35c00;background:#fff4e5;padding:.55em .8em;border-radius:6px;
margin:.6em 0}
.note{border-left:4px solid #7a8793;background:var(--soft);padding:.45em .8em;margin:.5em 0}
ol.actions{padding-left:1.4em;margin:.3em 0} ol.actions li{margin:.3em 0}
.seg{border:1px solid var(--line);border-left-width:8px;border-radius:6px;padding:.6em 1em;
margin:1em 0;break-inside:avoid} .seg h3{margin:.1em 0}
.why{font-size:.84em;color:var(--muted);margin:.15em 0 .5em}
.word{border-bottom:1px dotted #7a8793;cursor:help}
.seg ul{margin:.2em 0 .5em;padding-left:1.2em}
figure{margin:.8em 0 1.2em} figure img{max-width:100%;border:1px solid var(--line)}
figcaption{font-size:.86em;color:var(--muted);max-width:60em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:0 1.4em}
.bar{display:flex;height:1em;width:100%;min-width:12em;border-radius:2px;overflow:hidden}
.bar span{display:block;height:100%}
dl.glossary dt{font-weight:600;margin-top:.6em} dl.glossary dd{margin:.1em 0 0 1.2em}
details{margin:.5em 0} summary{cursor:pointer;color:var(--muted)}
@media print{body{max-width:none;font-size:11px} h2{break-before:auto} figure,table,.seg
{break-inside:avoid} nav{display:none}}
"""


class ReportError(ValueError):
    """A model folder the report cannot be written from; the message is one sentence."""


# --------------------------------------------------------------------------------------------
# Words and numbers
# --------------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value))


def _share(share: float) -> str:
    """A share in running text: one decimal under 1 %, so that 54 learners never read 0 %, and
    "under 0.1 %" below that (never "0.0 %")."""
    if share >= 0.01 or share == 0:
        return pct_unbroken(share)
    if share < 0.001:
        return "under\u00a00.1\u00a0%"
    return f"{100 * share:.1f}\u00a0%"


def _tenths(share: float) -> str:
    """A small share in a table with one decimal ("1.5 %"): "0 %" when none, "under 0.1 %"
    when some but fewer than a thousandth, never "0.0 %"."""
    if share <= 0:
        return "0 %"
    if share < 0.0005:
        return "under 0.1 %"
    return f"{100 * share:.1f} %"


def _count_word(n: int) -> str:
    """A small count as a word at the start of a heading: "Two", "Three"."""
    words = {2: "Two", 3: "Three", 4: "Four", 5: "Five"}
    return words.get(n, f"{n:,}")


def _num(value: float) -> str:
    return f"{value:g}"


def _term(anchor: str, text: str | None = None) -> str:
    """A jargon word, linked to its glossary entry."""
    label = text if text is not None else anchor
    return f"<a class='term' href='#g-{anchor}'>{_e(label)}</a>"


def _fact(fact: Fact) -> str:
    """A fact in HTML: its text escaped, its glossary words linked."""
    return "".join(_e(p) if isinstance(p, str) else _term(p.anchor, p.label) for p in fact.pieces)


def _swatch(segment_id: int) -> str:
    return f"<span class='sw' style='background:{segment_color(segment_id)}'></span>"


def _segment(segment: Mapping[str, Any]) -> str:
    """A segment's colour, id and name, linked to its card."""
    return (
        f"{_swatch(segment['id'])}<a href='#segment-{segment['id']}'>{segment['id']}. "
        f"{_e(segment['name'])}</a>"
    )


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = ()
) -> str:
    """An HTML table; cells are HTML already; columns in `numeric` are right-aligned."""
    head = "".join(
        f"<th class='num'>{h}</th>" if i in numeric else f"<th>{h}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        css = ""
        if row and row[0].startswith("<!--all-->"):
            css = " class='all'"
        cells = "".join(
            f"<td class='num'>{c}</td>" if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr{css}>{cells}</tr>")
    css = " class='segs'" if headers and headers[0] == "Segment" else ""
    return f"<table{css}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(plot: str, alt: str, caption: str) -> str:
    return (
        f"<figure><img src='{PLOTS[plot]}' alt='{_e(alt)}'>"
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _section(anchor: str, body: str) -> str:
    heading = dict(SECTIONS)[anchor]
    return f"<section id='{anchor}'><h2>{_e(heading)}</h2>{body}</section>"


#: How both engines name the embedded default in ``manifest.data.source``.
SYNTHETIC_SOURCE = "embedded default (synthetic"


def is_synthetic(manifest: Mapping[str, Any]) -> bool:
    """Whether the model was trained on the embedded synthetic default table.

    Parameters
    ----------
    manifest : mapping
        The model's ``manifest.json``; both engines name the default in ``data.source`` as
        ``"embedded default (synthetic, <rows> rows, seed <seed>)"``.

    Returns
    -------
    bool
    """
    return str(manifest.get("data", {}).get("source", "")).startswith(SYNTHETIC_SOURCE)


def source_name(source: Any) -> str:
    """The table a model was trained on, as the report names it: a local file by its name only
    (its folder is the trainer's machine, no news to a reader, and may name people); a URL and
    the embedded default as given.

    Parameters
    ----------
    source : str
        ``manifest.data.source``.

    Returns
    -------
    str
    """
    text = str(source)
    if "://" in text or text.startswith(SYNTHETIC_SOURCE) or not text:
        return text
    return Path(text).name or text


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------
def _jaccard(manifest: Mapping[str, Any]) -> dict[int, float]:
    """Each segment's bootstrap stability (Jaccard) by id; empty when not measured."""
    stability = manifest.get("metrics", {}).get("stability", {})
    return {int(i): float(v) for i, v in stability.get("jaccard", {}).items()}


def _stand_in(through: Mapping[int, int]) -> str:
    """The summary's sentence on segments acted on through their macro-segment (none: empty)."""
    if not through:
        return ""
    ids = [str(i) for i in sorted(through)]
    if len(ids) == 1:
        which, whose = f"Segment {ids[0]} did", "its"
    else:
        which, whose = f"Segments {', '.join(ids[:-1])} and {ids[-1]} did", "their"
    return (
        f" {which} not come back when the learners were resampled ({_term('stability')} "
        f"under {MIN_JACCARD:g}): the action of {whose} {_term('macro-segment')} stands in."
    )


def _split_jaccard(segment: Mapping[str, Any]) -> float | None:
    """The segment's best-match Jaccard with the second method, when under FOUND_BY_BOTH."""
    jaccard = (segment.get("hierarchical_match") or {}).get("jaccard")
    if jaccard is None or is_found_by_both(float(jaccard)):
        return None
    return float(jaccard)


def _split_of(segment: Mapping[str, Any], manifest: Mapping[str, Any]) -> MethodSplit | None:
    """Where the second method puts a segment's learners (None without the comparison)."""
    comparison = manifest.get("metrics", {}).get("comparison")
    return None if not comparison else method_split(int(segment["id"]), comparison)


def _method_caveat(segment: Mapping[str, Any], manifest: Mapping[str, Any]) -> str | None:
    """The one sentence on a segment the second method does not find (merged or split, and
    what that means for acting on it), from the manifest's comparison; the same in the trust
    table, the segment list and beside its actions."""
    jaccard = (segment.get("hierarchical_match") or {}).get("jaccard")
    if jaccard is None:  # an older model: its stored sentence
        return segment.get("method_caveat")
    return method_caveat(float(jaccard), _split_of(segment, manifest))


def _caveat(text: str) -> str:
    return f"<br><span class='caveat small'>⚠ {_e(text)}</span>"


def _action_html(action: Mapping[str, Any], caveat: str | None = None) -> str:
    """An action's text, marked when its figure rests on few learners, with the warning of
    its segment (``method_caveat``: the second method splits it)."""
    out = _e(action["text"])
    if action.get("small"):
        out += f" <span class='few'>({_term('few', 'few learners')})</span>"
    if caveat:
        out += _caveat(caveat)
    return out


def _track_names(profiles: Mapping[str, Any]) -> dict[str, str]:
    """Track id -> its name: the model's own (``tracks``), else the default map's."""
    names = dict(TRACK_NAMES)
    names |= {str(t["id"]): str(t["name"]) for t in profiles.get("tracks") or []}
    return names


def _has_cohorts(profiles: Mapping[str, Any]) -> bool:
    return any("cohorts" in s for s in profiles["segments"])


#: What the page says of a model trained before courses were chosen per cohort.
_NO_COHORTS = (
    "This model was trained before courses were chosen per cohort; retrain it to see which "
    "course goes to which learners."
)


def _courses_first(profiles: Mapping[str, Any], by_id: Mapping[int, Any]) -> str:
    """The summary's courses to offer first, each with its largest cohorts."""
    head = (
        f"<h3>Courses to offer first</h3><p class='small muted'>Each {_term('cohort')} (a "
        f"segment's learners on one {_term('track')}) gets one {_term('course')}; here the "
        f"courses of the most learners, cohorts of fewer than {FEW_LEARNERS} learners left out "
        "(<a href='#courses'>every course and cohort</a>).</p>"
    )
    if not _has_cohorts(profiles):
        return f"{head}<p class='small'>{_NO_COHORTS}</p>"
    names = {str(c["id"]): str(c["name"]) for c in profiles.get("catalogue") or []}
    courses = summary_courses(profiles["segments"], names=names)
    if not courses:
        return f"{head}<p>No cohort has {FEW_LEARNERS} learners or more.</p>"
    tracks = _track_names(profiles)
    items = []
    for course in courses:
        shown = course["cohorts"][:3]
        cohorts = ", ".join(
            f"{c['learners']:,} of {_segment(by_id[c['segment_id']])} on "
            f"{_e(tracks.get(c['track'], c['track']))}"
            for c in shown
            if c["segment_id"] in by_id
        )
        more = len(course["cohorts"]) - len(shown)
        if more > 0:
            cohorts += f" and {more} more cohort{'s' if more > 1 else ''}"
        low = course["low_confidence"]
        items.append(
            f"<li><b>{_e(course['course_name'])}</b> for <b>{course['learners']:,} learners"
            f"</b>: {cohorts}"
            + (f" ({low:,} of them placed with {_term('low-confidence', 'low confidence')})")
            + "</li>"
        )
    return f"{head}<ol class='courses'>{''.join(items)}</ol>"


def _summary_actions(
    manifest: Mapping[str, Any], profiles: Mapping[str, Any], by_id: Mapping[int, Any]
) -> str:
    items = []
    for action in profiles["summary"]["actions"]:
        if action.get("level") == "macro-segment":
            members = ", ".join(_segment(by_id[i]) for i in action["segments"] if i in by_id)
            target = (
                f"macro-segment {action['coarse_segment_id']}, {_e(action['segment_name'])} "
                f"({members})"
            )
            caveat = None
        else:
            target = _segment(by_id[action["segment_id"]])
            caveat = _method_caveat(by_id[action["segment_id"]], manifest)
        items.append(
            f"<li><b>{action['reach']:,} learners</b> of {target}: "
            f"{_action_html(action, caveat)}</li>"
        )
    if items:
        return f"<ol class='actions'>{''.join(items)}</ol>"
    return "<p>No rule fires on any segment with enough learners to act on.</p>"


def _actions_heading(n: int) -> str:
    """The heading over the actions to take first, counting those shown."""
    if n == 0:
        return "Actions to take first"
    if n == 1:
        return "The action to take first"
    return f"{_count_word(n)} actions to take first"


def _summary(
    manifest: Mapping[str, Any],
    profiles: Mapping[str, Any],
    previous: Mapping[str, Any] | None = None,
) -> str:
    """All learners' medians, the three actions and the courses to take first, one line per
    segment."""
    population = profiles["population"]
    jaccard = _jaccard(manifest)
    through = acted_through_coarse(profiles["segments"], profiles.get("coarse", []), jaccard)
    by_id = {s["id"]: s for s in profiles["segments"]}
    years, lpa = population["years_experience"], population["ctc_lpa"]
    parts = [
        f"<p class='lead'>All {population['learners']:,} learners: median experience "
        f"<b>{_num(years['p50'])} years</b> (the middle half between {_num(years['p25'])} and "
        f"{_num(years['p75'])}), median pay <b>{lpa_text(lpa['p50'])}</b> (the middle half between "
        f"{lpa_number(lpa['p25'])} and {lpa_number(lpa['p75'])} LPA; pay is the yearly "
        f"{_term('ctc', 'CTC')} in lakh rupees, {_term('ctc', 'LPA')}).</p>",
        since_previous(manifest, profiles, previous),
        f"<h3>{_actions_heading(len(profiles['summary']['actions']))}</h3>"
        "<p class='small muted'>"
        f"{_term('career-service', 'Career services')} (courses come per cohort, below): "
        f"each segment's action of the widest {_term('reach')}, then the ones that reach the "
        f"most learners, three at most.{_stand_in(through)}</p>",
        _summary_actions(manifest, profiles, by_id),
        _courses_first(profiles, by_id),
        "<h3>The segments, largest first</h3>",
    ]
    rows = []
    for entry in profiles["summary"]["segments"]:
        segment = by_id[entry["id"]]
        facts = [_fact(f) for f in distinctive_facts(segment, population)]
        caveat = (
            f"<br><span class='small muted'>{stability_reading(jaccard[entry['id']])} "
            f"({score_text(jaccard[entry['id']])}): act on macro-segment "
            f"{through[entry['id']]}</span>"
            if entry["id"] in through
            else ""
        )
        split = _split_jaccard(segment)
        if split is not None:
            caveat += (
                f"<br><span class='caveat small'>⚠ {method_short(_split_of(segment, manifest))} "
                f"({_term('jaccard', 'Jaccard')} {score_text(split)}): <a href='#trust'>what "
                "that means for acting on it</a></span>"
            )
        rows.append(
            [
                _segment(segment) + caveat,
                pct_unbroken(segment["share"]),
                "; ".join(facts) if facts else "close to all learners on every figure",
            ]
        )
    parts.append(
        _table(
            ["Segment", "Share of learners", "What sets it apart from all learners"],
            rows,
            numeric=(1,),
        )
    )
    return _section("summary", "".join(parts))


Cohort = tuple[Mapping[str, Any], Mapping[str, Any]]


def _cohort_rows(course: str, profiles: Mapping[str, Any]) -> list[Cohort]:
    """(segment, cohort) of one course, most learners first: a cohort's ``learners`` and
    ``low_confidence`` are those of its learners who get the course at their own career stage
    (:func:`course_learners`); its median pay stays the whole cohort's."""
    found = [
        (segment, {**cohort, "learners": learners, "low_confidence": low})
        for segment in profiles["segments"]
        for cohort in segment.get("cohorts") or []
        for answered, learners, low in course_learners(cohort)
        if answered == course
    ]
    return sorted(found, key=lambda sc: (-int(sc[1]["learners"]), sc[0]["id"], sc[1]["track"]))


def _course_block(
    course: Mapping[str, Any], profiles: Mapping[str, Any], tracks: Mapping[str, str]
) -> str:
    found = _cohort_rows(str(course["id"]), profiles)
    learners = sum(int(c["learners"]) for _, c in found)
    low = sum(int(c.get("low_confidence", 0)) for _, c in found)
    rows = []
    for segment, cohort in found:
        n = int(cohort["learners"])
        few = cohort.get("small") or n < FEW_LEARNERS
        pay = cohort.get("median_ctc_lpa")
        rows.append(
            [
                _segment(segment),
                _e(tracks.get(str(cohort["track"]), cohort["track"])),
                f"{n:,}" + (f" <span class='few'>({_term('few', 'few')})</span>" if few else ""),
                pct_unbroken(float(cohort.get("share", 0.0))),
                "" if pay is None else lpa_text(float(pay)),
                f"{int(cohort.get('low_confidence', 0)):,}",
                _e(cohort.get("why", "")),
            ]
        )
    table = _table(
        [
            "Segment",
            _term("track", "Track"),
            "Learners",
            "Share of the segment",
            "Median pay",
            _term("low-confidence", "Low confidence"),
            "Why this course",
        ],
        rows,
        numeric=(2, 3, 4, 5),
    )
    return (
        f"<h3 id='course-{_e(course['id'])}'>{_e(course['name'])}</h3>"
        f"<p class='small muted'>{_e(course.get('description', ''))} <b>{learners:,} "
        f"learners</b> in {len(found)} cohort{'s' if len(found) != 1 else ''}; {low:,} of them "
        f"placed with {_term('low-confidence', 'low confidence')}.</p>{table}"
    )


def _courses(profiles: Mapping[str, Any]) -> str:
    """For each course: its learners by segment and track, their pay and the low-confidence
    placements among them."""
    intro = (
        f"<p>Each {_term('cohort')}, a segment's learners on one {_term('track')}, gets the "
        f"{_term('course')} of the school's catalogue that fits its track and career stage; the "
        "last column gives the figures that chose it. <b>The segment changes the course only "
        "through its career stage</b> (its median experience: early, mid or senior); its pay "
        "does not change the course, it changes the segment's career services (the actions). "
        "Learners placed with "
        f"{_term('low-confidence', 'low confidence')} sit near another segment's border: their "
        f"cohort may change when the model is retrained. Cohorts of fewer than {FEW_LEARNERS} "
        f"learners are marked ({_term('few', 'few')}). {_term('career-service', 'Career services')}"
        " are chosen per segment instead (each segment's actions).</p>"
    )
    if not _has_cohorts(profiles):
        return _section("courses", f"{intro}<p>{_NO_COHORTS}</p>")
    tracks = _track_names(profiles)
    used = {str(c["course"]) for s in profiles["segments"] for c in s.get("cohorts") or []}
    catalogue = [c for c in profiles.get("catalogue") or [] if c.get("kind", "course") == "course"]
    known = {str(c["id"]) for c in catalogue}
    # Courses a cohort names but the catalogue of profiles.json lacks keep their cohort's name.
    for segment in profiles["segments"]:
        for cohort in segment.get("cohorts") or []:
            if str(cohort["course"]) not in known:
                known.add(str(cohort["course"]))
                catalogue.append(
                    {"id": cohort["course"], "name": cohort.get("course_name", cohort["course"])}
                )
    blocks = [c for c in catalogue if str(c["id"]) in used]
    blocks.sort(
        key=lambda c: (
            -sum(
                int(x["learners"])
                for s in profiles["segments"]
                for x in s.get("cohorts") or []
                if str(x["course"]) == str(c["id"])
            )
        )
    )
    parts = [intro, *(_course_block(c, profiles, tracks) for c in blocks)]
    unused = [c["name"] for c in catalogue if str(c["id"]) not in used]
    if unused:
        parts.append(f"<p class='small muted'>No cohort gets: {_e(', '.join(unused))}.</p>")
    return _section("courses", "".join(parts))


def _k_choice_words(manifest: Mapping[str, Any]) -> str:
    choice = manifest["k_choice"]
    sweep = manifest["metrics"]["sweep"]
    k, knee, source = manifest["k"], choice.get("knee"), choice.get("source")
    span = f"{sweep['ks'][0]} to {sweep['ks'][-1]}"
    resampled = f"came back when the learners were resampled ({_term('stability')})"
    if source == "knee":
        text = (
            f"We tried {span} segments. Beyond {k}, more segments explain little more of how "
            f"learners differ (the {_term('elbow', 'knee of the elbow curve')}), and the {k} "
            f"segments {resampled}."
        )
    elif source == "nearest-stable":
        text = (
            f"We tried {span} segments. The {_term('elbow', 'knee of the elbow curve')} is at "
            f"{knee}, but those segments did not reliably come back when the learners were "
            f"resampled; {k} is the nearest number of segments that did ({_term('stability')})."
        )
    elif source == "most-stable":
        text = (
            f"We tried {span} segments, and no number of them reliably came back when the "
            f"learners were resampled; {k} came back most often ({_term('stability')}). Treat "
            "every segment as provisional and prefer the macro-segments."
        )
    elif source == "fixed":
        text = f"The number of segments was set to {k} by hand (the setting k)."
    else:
        text = (
            f"We tried {span} segments. The elbow curve has no clear knee, so the number with "
            f"the clearest separation ({_term('silhouette')}) was taken, {k}, and its segments "
            f"{resampled}."
        )
    # The choice's own check (its reason) was measured on the sweep's resamples; the stability
    # of the published segments is quoted once, in the next paragraph, so no second figure
    # for the same thing is shown here (the reason is in the analysts' details).
    return f"<p>{text}</p>"


def explain_warning(warning: str, manifest: Mapping[str, Any]) -> str:
    """A warning of the choice of k in plain words, for someone who acts on segments.

    Parameters
    ----------
    warning : str
        One of ``manifest["k_choice"]["warnings"]``, as :func:`training.model.choice.choose_k`
        words it.
    manifest : mapping
        The model's ``manifest.json`` (k, how it was chosen, the sweep's figures).

    Returns
    -------
    str
        HTML: what the warning means and what to do about it. A warning of a kind this function
        does not know gets a general sentence (the page still shows the warning beside it).
    """
    sweep = manifest["metrics"]["sweep"]
    k = manifest["k"]
    ks = list(sweep["ks"])
    if warning.startswith("silhouette peaks at k = "):
        other = int(warning.removeprefix("silhouette peaks at k = ").split(",")[0])
        if other in ks and k in ks:
            best, here = sweep["silhouette"][ks.index(other)], sweep["silhouette"][ks.index(k)]
            if float(score_text(best)) - float(score_text(here)) < SILHOUETTE_MATERIAL:
                return (
                    f"The {_term('silhouette')} is highest with {other} segments, but by less "
                    f"than {SILHOUETTE_MATERIAL:g} ({score_text(best)} against "
                    f"{score_text(here)} with {k}): no material difference, so {k} segments "
                    "separate learners about as clearly."
                )
            gap = "a small difference" if best - here < 0.05 else "a clear difference"
            kept = {
                "fixed": f"{k} was set by hand",
                "most-stable": f"{k} was kept because its segments came back most often when "
                "the learners were resampled",
            }.get(
                str(manifest["k_choice"].get("source")),
                f"{k} was kept because its segments are stable and tell apart groups that call "
                "for different actions",
            )
            change = "merge some of them" if other < k else "split some of them further"
            return (
                f"With {other} segments learners would sit more clearly in their own segment "
                f"({_term('silhouette')} {score_text(best)} against {score_text(here)} with "
                f"{k}: {gap}). "
                f"{kept}; {other} segments would {change}."
            )
    if warning.startswith("no knee in the elbow curve"):
        return (
            "Each added segment explained about as much as the one before, so the data has no "
            f"natural number of segments; the clearest separation ({_term('silhouette')}) chose "
            "it instead. Expect the segments to shift more than usual on new data."
        )
    if warning.startswith("the knee is at the end of the range"):
        return (
            f"The best number of segments may lie above the largest one tried ({ks[-1]}); a "
            "wider sweep (the setting k_max) should be run before relying on the segments."
        )
    if warning.startswith("the fixed k = "):
        return (
            f"The number of segments was forced to {k}, and those segments did not reliably "
            "come back when the learners were resampled: act on the macro-segments."
        )
    if " is outside the sweep " in warning:
        return (
            f"The number of segments was forced to {k}, which the sweep did not test, so there "
            "are no stability figures for it."
        )
    if " of the sweep is at k = " in warning:
        return f"The data alone points to another number of segments than the {k} set by hand."
    if warning.startswith("no k in "):
        return (
            "No number of segments reliably came back when the learners were resampled: the "
            "segments may not survive new data. Act on the macro-segments, and retrain on "
            "fresh data before large decisions."
        )
    return "A check of the number of segments disagreed with the choice; see the figures below."


#: What to use a segment for (:data:`training.insights.trust.Use`), in words; a segment acted on
#: through its macro-segment names it.
_USE_WORDS: dict[str, str] = {
    "unmeasured": "act with care",
    "with care": "act with care: it may not come back on new data",
    "split by second method": "act on it knowing what the second method does with it",
    "act": "act on it",
}
#: The agreement of the two methods (:data:`training.insights.trust.Agreement`), in words.
_AGREEMENT_WORDS: dict[str, str] = {
    "same": "nearly the same grouping: the segments do not depend on the method",
    "strong": "strong agreement: the segments hardly depend on the method",
    "moderate": (
        "moderate agreement: the broad groups are the same, but some boundaries between "
        "segments depend on the method"
    ),
    "weak": "weak agreement: the segments depend on the method; lean on the macro-segments",
}


#: The gap in printed silhouettes under which another k is "no material difference" (a
#: silhouette varies by about this much between seeds of the same k).
SILHOUETTE_MATERIAL = 0.02
#: The Use column's qualifier on a table of fewer than SMALL_TABLE learners.
_PROVISIONAL = (
    f"provisional (fewer than {SMALL_TABLE:,} learners): check it again on more data before "
    "acting; "
)


def _use_words(
    trust: SegmentTrust, coarse: Mapping[int, Mapping[str, Any]], small: bool = False
) -> str:
    """What to use a segment for; on a small table never an unqualified "act on it"."""
    first = _PROVISIONAL if small else ""
    if small and trust.use == "act" and not method_caveat(trust.both, trust.split):
        # "check it again before acting; act on it" says two things: the check is the advice.
        return _PROVISIONAL.rstrip("; ")
    if trust.use == "macro-segment" and trust.coarse_segment_id is not None:
        macro = coarse[trust.coarse_segment_id]
        members = ", ".join(str(x) for x in macro["segments"])
        return f"{first}act on macro-segment {macro['id']} (segments {members}) instead"
    caveat = method_caveat(trust.both, trust.split)
    if trust.use in ("split by second method", "act") and caveat:
        return first + _e(caveat[:1].lower() + caveat[1:] if first else caveat)
    return first + _USE_WORDS[trust.use]


def _stability_table(
    manifest: Mapping[str, Any], profiles: Mapping[str, Any], trusts: Sequence[SegmentTrust]
) -> str:
    """The overall stability in words, then one row per segment: its reading and its use."""
    stability = manifest["metrics"].get("stability", {})
    coarse = {c["id"]: c for c in profiles.get("coarse", [])}
    small = int(manifest.get("data", {}).get("learners", SMALL_TABLE)) < SMALL_TABLE
    parts = []
    if "ari" in stability:
        parts.append(
            f"<p>Overall, the segments of {stability.get('resamples', 20)} resampled draws "
            "agree with the published ones at "
            f"{_term('ari', 'ARI')} {score_text(stability['ari'])} on average (1 = identical). "
            "Each "
            f"segment's own {_term('stability')} is its {_term('jaccard', 'Jaccard')} overlap "
            f"with its match in each draw; Hennig's reading: under {DISSOLVES_UNDER_JACCARD:g} "
            f"the segment dissolves, {DISSOLVES_UNDER_JACCARD:g}-{MIN_JACCARD:g} it is "
            f"doubtful, {MIN_JACCARD:g} and over stable, {HIGHLY_STABLE_JACCARD:g} and over "
            "highly stable.</p>"
        )
    rows = [
        [
            _segment(segment),
            ("" if trust.jaccard is None else score_text(trust.jaccard))
            + _few_mark(int(segment.get("size", FEW_LEARNERS))),
            trust.reading,
            f"{score_text(trust.both)} ({'yes' if trust.found_by_both else 'no'})",
            pct_unbroken(float(segment.get("low_confidence_share", 0.0))),
            _use_words(trust, coarse, small),
        ]
        for segment, trust in zip(profiles["segments"], trusts, strict=True)
    ]
    parts.append(
        _table(
            [
                "Segment",
                f"Stability ({_term('jaccard', 'Jaccard')})",
                "Reading",
                f"Found by the {_term('hierarchical', 'hierarchical method')} too (Jaccard)",
                f"{_term('low-confidence', 'Low-confidence')} learners",
                "Use",
            ],
            rows,
            numeric=(1, 3, 4),
        )
    )
    return "".join(parts)


def _method_comparison(
    manifest: Mapping[str, Any], profiles: Mapping[str, Any], trusts: Sequence[SegmentTrust]
) -> str:
    """K-Means against the hierarchical reference: their agreement, the segments both find."""
    metrics = manifest["metrics"]
    method = str(metrics.get("hierarchical", {}).get("method", ""))
    reference = "bisecting K-Means" if method == BISECTING else "Ward"
    figure, low, high = agreement_figure(metrics["comparison"])
    verdict = _AGREEMENT_WORDS[low]
    if high != low:  # the reference's seed moves it across a bar: say both readings
        verdict = f"{low} to {high} agreement, depending on the reference's seed; at worst, " + (
            verdict
        )
    pairs = list(zip(profiles["segments"], trusts, strict=True))
    found = [segment for segment, trust in pairs if trust.found_by_both]
    missed = [segment for segment, trust in pairs if not trust.found_by_both]
    return (
        f"<h3>K-Means against the hierarchical ({reference}) reference</h3>"
        f"<p>The learners were also grouped by a second, independent method, "
        f"{_term('hierarchical', 'hierarchical clustering')} ({_e(reference)}), into the same "
        f"number of groups. The two groupings agree at "
        f"{figure.replace('ARI', _term('ari', 'ARI'), 1)}: {verdict}. "
        + (
            f"Both methods find {', '.join(_segment(s) for s in found)}. "
            if found
            else "No segment is found by both methods. "
        )
        + (
            f"The hierarchical method draws {', '.join(_segment(s) for s in missed)} "
            "differently: its best-matching group overlaps it by less than half "
            f"({_term('jaccard', 'Jaccard')} under {FOUND_BY_BOTH}); the Use column of the "
            "table above says what that means for acting on it."
            if missed
            else ""
        )
        + "</p>"
    )


def _coarse_table(profiles: Mapping[str, Any]) -> str:
    """When to act on the macro-segments, and each one's segments and first action."""
    by_id = {s["id"]: s for s in profiles["segments"]}
    rows = []
    for c in profiles.get("coarse", []):
        first = first_action(c)
        if len(c["segments"]) == 1:
            sid = int(c["segments"][0])
            todo = (
                f"<span class='small'>Segment {sid} alone: the same learners, name and actions "
                f"(<a href='#segment-{sid}'>its card</a>).</span>"
            )
        elif first:
            todo = f"<b>{first['reach']:,} learners</b>: {_action_html(first)}"
        else:
            todo = f"<span class='small'>{_e(c.get('no_action') or '')}</span>"
        rows.append(
            [
                str(c["id"]),
                _e(c["name"]),
                "<br>".join(_segment(by_id[s]) for s in c["segments"] if s in by_id),
                pct_unbroken(c["share"]),
                todo,
            ]
        )
    advice = (
        "<p><b>When to act on the macro-segments instead.</b> A "
        f"{_term('macro-segment')} merges neighbouring segments. Act on it rather than on a "
        "segment when the segment is doubtful or dissolves, when a decision hinges on exactly "
        "who is at a segment's edge and the two methods disagree on that segment, or when a "
        "programme is too costly to run for each segment apart.</p>"
    )
    if not rows:
        return advice
    return advice + _table(
        [
            "Macro-segment",
            "Name (each word holds for every segment in it)",
            "Segments",
            "Share of learners",
            "Its first action, or why it has none",
        ],
        rows,
        numeric=(3,),
    )


def _trust_figures() -> str:
    """The elbow plot and the dendrogram, with what to read in them."""
    elbow = _figure(
        "elbow",
        "elbow plot with stability per number of segments",
        f"Top: the {_term('elbow', 'elbow curve')} (solid; lower means tighter segments) "
        f"and the {_term('silhouette')} (dashed) for each number of segments; the red line "
        "is the number published, the grey dash-dot line the knee when it differs. Bottom: "
        f"{_term('stability')} per number of segments, overall (solid) and of the least "
        "stable segment (dashed); under the dotted lines (shaded) "
        "segments do not reliably come back.",
    )
    dendrogram = _figure(
        "dendrogram",
        "dendrogram of the hierarchical reference, coloured by segment",
        f"The top of the tree of the {_term('hierarchical', 'hierarchical')} reference: "
        "learners merge upwards into ever larger groups; the dashed line cuts it into as "
        "many groups as there are segments. Each branch has the colour of the K-Means "
        "segment holding more than half of its learners (grey when none does); a segment's "
        "colour spread over several branches, or two colours under one cut, is where the two "
        "methods disagree.",
    )
    return elbow + dendrogram


def _trust(manifest: Mapping[str, Any], profiles: Mapping[str, Any]) -> str:
    """How k was chosen, each segment's stability, the second method, the macro-segments."""
    trusts = segment_trust(
        profiles["segments"],
        profiles.get("coarse", []),
        _jaccard(manifest),
        manifest.get("metrics", {}).get("comparison"),
    )
    parts = [_k_choice_words(manifest)]
    for warning in manifest["k_choice"].get("warnings", []):
        parts.append(
            f"<div class='note'><b>Note.</b> {explain_warning(warning, manifest)} "
            f"<span class='small muted'>(check: {_e(warning)})</span></div>"
        )
    learners = int(manifest.get("data", {}).get("learners", SMALL_TABLE))
    if learners < SMALL_TABLE:
        parts.append(
            "<div class='notice' id='small-trust'><b>Stability figures from few learners.</b> "
            f"These segments were found and resampled on only {learners:,} learners (fewer "
            f"than {SMALL_TABLE:,}): a high {_term('stability')} here says they come back "
            "within this table, not that they would come back on another table of the "
            "school's learners. Treat every segment as provisional and check it again on more "
            "data before acting on it at scale.</div>"
        )
    parts += [
        _stability_table(manifest, profiles, trusts),
        _method_comparison(manifest, profiles, trusts),
        _coarse_table(profiles),
        _trust_figures(),
        _analyst_details(manifest),
    ]
    return _section("trust", "".join(parts))


def _sweep_rows(manifest: Mapping[str, Any]) -> list[list[str]]:
    """One row per k of the sweep. Scores have two decimals, as everywhere on the page; the
    chosen k's stability cells are the published segments' (the trust table's), so that one
    figure is never quoted twice with two values."""
    metrics = manifest["metrics"]
    sweep, published = metrics["sweep"], metrics.get("stability", {})
    p10, jaccard = sweep.get("stability_p10"), sweep.get("jaccard")
    rows = []
    for i, k in enumerate(sweep["ks"]):
        cells = [
            "" if sweep["stability"][i] is None else score_text(sweep["stability"][i]),
            "" if p10 is None else score_text(p10[i]),
            "" if jaccard is None else score_text(min(jaccard[i])),
        ]
        mark = ""
        if k == manifest["k"] and "ari" in published:
            cells = [
                score_text(published["ari"]),
                score_text(published["ari_p10"]) if "ari_p10" in published else cells[1],
                score_text(min(published["jaccard"].values()))
                if published.get("jaccard")
                else cells[2],
            ]
            mark = " (published)"
        rows.append(
            [
                f"{k}{mark}",
                f"{sweep['inertia'][i]:,.0f}",
                score_text(sweep["silhouette"][i]),
                score_text(sweep["davies_bouldin"][i]),
                f"{sweep['calinski_harabasz'][i]:,.0f}",
                *cells,
            ]
        )
    return rows


def _analyst_details(manifest: Mapping[str, Any]) -> str:
    metrics = manifest["metrics"]
    comparison = metrics["comparison"]
    rows = _sweep_rows(manifest)
    sweep_table = _table(
        [
            "k",
            f"{_term('elbow', 'inertia')}",
            f"{_term('silhouette')}",
            f"{_term('davies-bouldin', 'Davies-Bouldin')}",
            f"{_term('calinski-harabasz', 'Calinski-Harabasz')}",
            f"{_term('stability')} (mean {_term('ari', 'ARI')})",
            "ARI, 10th percentile of draws",
            f"least stable segment ({_term('jaccard', 'Jaccard')})",
        ],
        rows,
        numeric=range(8),
    )
    labels_b = comparison.get("labels_b", list(range(len(comparison["contingency"][0]))))
    contingency = _table(
        ["K-Means segment", *[f"cluster {b}" for b in labels_b], "best match (Jaccard)"],
        [
            [
                str(a),
                *[f"{v:,}" for v in row],
                f"{comparison['best_match_jaccard'].get(str(a), {}).get('match', '')} "
                "("
                + score_text(comparison["best_match_jaccard"].get(str(a), {}).get("jaccard", 0))
                + ")",
            ]
            for a, row in zip(
                comparison.get("labels_a", range(len(comparison["contingency"]))),
                comparison["contingency"],
                strict=True,
            )
        ],
        numeric=range(1, len(labels_b) + 1),
    )
    check = (
        "<p class='small muted'>The choice of k read each k's own resampled draws (the "
        "stability columns); the row of the published k shows the published segments' "
        "figures instead, the ones quoted in the trust table above.</p>"
    )
    return (
        "<details><summary>Figures for analysts: every k of the sweep, and the learners of each "
        "segment in each hierarchical cluster</summary>"
        f"{check}{sweep_table}{contingency}"
        f"<p class='small muted'>{_term('nmi', 'Normalised mutual information')} "
        f"{score_text(comparison.get('nmi', 0))}; silhouette K-Means "
        f"{score_text(comparison.get('silhouette_a', 0))}, hierarchical "
        f"{score_text(comparison.get('silhouette_b', 0))}.</p></details>"
    )


def _name_html(segment: Mapping[str, Any]) -> tuple[str, str]:
    """The segment's name with each word's rule on hover, and the line of justifications."""
    words = segment.get("name_words") or []
    if not words:
        return _e(segment["name"]), ""
    spans = [
        f"<span class='word' title='{_e(w['rule'])}: {_e(w['figure'])}'>{_e(w['word'])}</span>"
        for w in words
    ]
    composed = ", ".join(w["word"] for w in words)
    full = str(segment["name"])
    if composed not in full:  # a name written some other way: shown as it is
        return _e(full), ""
    # the words, with what the name holds around them (an id it opens with, a mark of few
    # learners it ends with)
    start = full.index(composed)
    name = _e(full[:start]) + ", ".join(spans) + _e(full[start + len(composed) :])
    why = " · ".join(f"<b>{_e(w['word'])}</b>: {_e(w['figure'])}" for w in words)
    return name, why


def _few_mark(learners: float) -> str:
    """The mark of a figure counted on fewer than FEW_LEARNERS learners (none otherwise)."""
    if round(learners) >= FEW_LEARNERS:
        return ""
    return f" <span class='few'>({_term('few', 'few')})</span>"


def _tiers_line(segment: Mapping[str, Any]) -> str:
    """The segment's company tiers among learners whose company is known, saying how many."""
    if "company_known" not in segment:
        return (
            f"{_term('tier', 'Company tiers')}: not shown, since this model's tier figures "
            "counted learners whose company is unknown; retrain to see them."
        )
    known = int(segment["company_known"])
    if not known:
        return f"{_term('tier', 'Company tiers')}: no learner's company is known."
    tiers = ", ".join(
        f"{_e(t['name'])} {pct_unbroken(t['share'])} ({_term('lift')} {lift_text(t['lift'])})"
        f"{_few_mark(t['share'] * known)}"
        for t in segment["company_tiers"]
    )
    few = f" <span class='few'>({_term('few', few_text(known))})</span>"
    if float(segment["company_known_share"]) >= 1.0:
        return (
            f"{_term('tier', 'Company tiers')} (tier 1 pays best), all {known:,} learners' "
            f"companies known: {tiers}." + (few if known < FEW_LEARNERS else "")
        )
    return (
        f"{_term('tier', 'Company tiers')} (tier 1 pays best), among the "
        f"{pct_unbroken(float(segment['company_known_share']))} ({known:,} learners) whose "
        f"company is known: {tiers}." + (few if known < FEW_LEARNERS else "")
    )


def _cohorts_line(segment: Mapping[str, Any], tracks: Mapping[str, str]) -> str | None:
    cohorts = segment.get("cohorts")
    if cohorts is None:
        return None
    shown = [c for c in cohorts if int(c["learners"]) >= FEW_LEARNERS][:4]
    if not shown:
        return f"{_term('course', 'Courses')}: no {_term('cohort')} of {FEW_LEARNERS} learners."
    words = "; ".join(
        f"{_e(tracks.get(str(c['track']), c['track']))} ({int(c['learners']):,}): "
        f"<a href='#course-{_e(c['course'])}'>{_e(c.get('course_name', c['course']))}</a>"
        for c in shown
    )
    more = len(cohorts) - len(shown)
    tail = f"; {more} more in <a href='#courses'>Courses</a>" if more > 0 else ""
    return f"{_term('course', 'Courses')} by {_term('track')}, largest cohorts: {words}{tail}."


def _tracks_text(
    segment: Mapping[str, Any], population: Mapping[str, Any], tracks: Mapping[str, str]
) -> str:
    """The commonest tracks as names and the summary quote them: shares of known titles,
    lifts over all learners' known titles (the words after "Tracks (")."""
    shares, bases = segment.get("track_shares_known"), population.get("tracks_known")
    if not shares or not bases:  # an older profile: shares of all titles
        return "all titles): " + ", ".join(
            f"{_e(tracks.get(f['name'], f['name']))} {pct_unbroken(f['share'])} "
            f"({_term('lift')} {lift_text(f['lift'])}){_few_mark(f['share'] * segment['size'])}"
            for f in segment["top_tracks"]
        )
    known = int(segment.get("known_titles", 0))
    top = sorted(shares.items(), key=lambda item: -item[1])[:3]
    return f"of the {known:,} known titles): " + ", ".join(
        f"{_e(tracks.get(t, t))} {pct_unbroken(share)} ({_term('lift')} "
        f"{lift_text(share / float(bases[t])) if bases.get(t) else '-'})"
        f"{_few_mark(share * known)}"
        for t, share in top
    )


def _segment_card(
    manifest: Mapping[str, Any],
    segment: Mapping[str, Any],
    population: Mapping[str, Any],
    coarse: Mapping[int, Any],
    tracks: Mapping[str, str],
) -> str:
    sid = segment["id"]
    name, why = _name_html(segment)
    years, lpa = segment["years_experience"], segment["ctc_lpa"]
    families = _tracks_text(segment, population, tracks)
    bands = ", ".join(
        f"{_e(band)} years {pct_unbroken(share)}"
        for band, share in segment["experience_shares"].items()
        if share >= 0.005
    )
    macro = coarse.get(int(segment.get("coarse_segment_id", -1)))
    facts = [
        f"<b>{segment['size']:,} learners</b>, {pct_unbroken(segment['share'])} of all.",
        f"Experience: median {_num(segment['center']['years_experience'])} years; the middle "
        f"80 % between {_num(years['p10'])} and {_num(years['p90'])} (all learners' median "
        f"{_num(population['years_experience']['p50'])}). By band: {bands}.",
        f"Pay: median {lpa_text(segment['center']['ctc_lpa'])}, the "
        f"{ordinal(segment['ctc_percentile'])} {_term('percentile')} of all learners; the "
        f"middle 80 % between {lpa_number(lpa['p10'])} and {lpa_number(lpa['p90'])} LPA.",
        f"{_term('track', 'Tracks')} ({families}.",
        _tiers_line(segment),
        f"{pct_unbroken(float(segment.get('low_confidence_share', 0.0)))} placed with "
        f"{_term('low-confidence', 'low confidence')}"
        + (
            f"; nearest segment: {segment['nearest_segment']['id']}"
            if segment.get("nearest_segment")
            else ""
        )
        + (f"; macro-segment {macro['id']}" if macro else "")
        + ".",
    ]
    cohorts = _cohorts_line(segment, tracks)
    if cohorts is not None:
        facts.append(cohorts)
    actions = segment.get("actions") or []
    if actions:
        items = "".join(
            f"<li><b>{a['reach']:,} learners</b> "
            f"({pct_unbroken(a['reach'] / segment['size'])} of the segment): "
            f"{_action_html(a)}</li>"
            for a in actions
        )
        todo = f"<ol class='actions'>{items}</ol>"
    else:
        reason = segment.get("no_action") or (
            "No rule of the catalogue fires on this segment, so nothing is recommended that "
            "its figures do not support."
        )
        todo = f"<p class='small'>{_e(reason)}</p>"
    warning = _method_caveat(segment, manifest)
    if warning:
        todo = f"<p class='caveat small'>⚠ {_e(warning)}</p>{todo}"
    return (
        f"<article class='seg' id='segment-{sid}' style='border-left-color:{segment_color(sid)}'>"
        f"<h3>{sid}. {name}</h3><p class='why'>{why}</p>"
        f"<ul>{''.join(f'<li>{f}</li>' for f in facts)}</ul>"
        f"<p><b>{_term('career-service', 'Career services')}</b> <span class='small muted'>"
        f"(with their {_term('reach')})</span></p>"
        f"{todo}</article>"
    )


def _left_out(segments: Sequence[Mapping[str, Any]]) -> str:
    same = constant_features(segments)
    if not same:
        return ""
    rows = ", ".join(_e(feature_label(f)) for f in same)
    return (
        " Rows that read the same in every segment, or as all learners (within 0.1) in every "
        f"segment, are left out: {rows}."
    )


def _segments(manifest: Mapping[str, Any], profiles: Mapping[str, Any]) -> str:
    population = profiles["population"]
    coarse = {c["id"]: c for c in profiles.get("coarse", [])}
    inputs = [feature_label(f) for f in manifest.get("features", [])]
    parts = [
        "<p>Each name is made of words with a rule on the segment's figures against all "
        "learners; hover over a word for its rule, and the line under each name gives the "
        "figure that earned it (docs/recommendations.md lists the vocabulary and the "
        "actions' rules).</p>",
        _figure(
            "ranges",
            "pay and experience by segment",
            "Pay (left, log scale) and years of experience (right) of each segment: the bar "
            "spans its middle 80 % of learners (10th to 90th percentile), the dot is its "
            "median, the dashed line all learners' median.",
        ),
        _figure(
            "heatmap",
            "heatmap of each segment against all learners",
            f"How each segment differs from all learners, as {_term('z-score', 'z-scores')}: "
            "0 (white) is all learners, blue is more, red is less, on every row alike (rows "
            "where a low number means better, like company tier 1, are turned round and "
            "labelled accordingly). The first panel holds the model's inputs, the only figures "
            f"the segments are formed from ({_e(', '.join(inputs))}); the second holds the "
            "other figures, for context."
            + (
                " Company tier counts only learners whose company is known."
                if all("company_known" in s for s in profiles["segments"])
                else ""
            )
            + _left_out(profiles["segments"]),
        ),
        _figure(
            "segment_map",
            "map of learners and segment centres",
            "A sample of learners, placed so that learners with similar inputs sit close "
            "together. The model has more inputs than a page has dimensions, so the map shows "
            "the two directions along which learners differ most (the first two principal "
            "components of the scaled inputs); each axis label gives its share of the spread "
            "between learners and the inputs that rise (↑) or fall (↓) along it. Segments "
            "that overlap here may still be apart along a direction the map leaves out.",
        ),
    ]
    tracks = _track_names(profiles)
    parts += [_segment_card(manifest, s, population, coarse, tracks) for s in profiles["segments"]]
    return _section("segments", "".join(parts))


# --- paths: where each segment's learners are after 1, 2, 3 years, and the commonest move -------
_NO_PATHS = (
    "This model was trained before career paths were computed; retrain it to see where each "
    "segment's learners go."
)


def _path_cell(segment_id: int, step: Mapping[str, Any], names: Mapping[int, Any]) -> str:
    """Each destination of one year with its share: "stay 93 %", then the others."""
    parts: list[str] = []
    for t in step["to"]:
        share = _share(float(t["share"]))
        if int(t["segment_id"]) == segment_id:
            parts.insert(0, f"<b class='nw'>stay {share}</b>")
        else:
            to = names.get(int(t["segment_id"]), {"id": t["segment_id"], "name": ""})
            swatch = _swatch(int(t["segment_id"]))
            parts.append(f"<span class='nw'>{share} to {swatch}{int(to['id'])}</span>")
    return "<br>".join(parts)


def _move_sentence(move: Mapping[str, Any] | None, pay_step: float, sampled: int) -> str:
    """ "42 % would move to '3. Name' with <= 20 % more pay"."""
    few = f" <span class='few'>({few_text(sampled)})</span>" if sampled < FEW_LEARNERS else ""
    if move is None:
        return (
            f"<span class='muted'>No raise of at most {pct_unbroken(pay_step)} and no "
            f"better-paying company moves any of its {sampled:,} sampled learners.</span>{few}"
        )
    gain = (
        f"a raise of at most {pct_unbroken(pay_step)}"
        if move["input"] == "pay"
        else "a job at a "
        + {"tier 1": "best-paying", "tier 2": "mid-paying"}.get(
            str(move["direction"]), "better-paying"
        )
        + " company"
    )
    # The gain is the change itself (more pay, a better-paying company); the new segment is a
    # label that comes with it, never the goal, whatever its name says.
    return (
        f"{_share(float(move['share']))} would gain from {gain}, and with it the model's label "
        f"{_swatch(int(move['segment_id']))}'{int(move['segment_id'])}. "
        f"{_e(move['segment_name'])}'{few}"
    )


def _paths(profiles: Mapping[str, Any]) -> str:
    """Each segment's learners after 1, 2 and 3 years at the same relative pay, and the
    commonest what-if move within reach (figures of ``profiles.json``'s ``paths``)."""
    paths = profiles.get("paths")
    if not paths:
        return _section("paths", f"<p>{_NO_PATHS}</p>")
    years = [int(y) for y in paths["years"]]
    step = float(paths["pay_step"])
    intro = (
        "<p>Experience grows by itself. If each learner's pay kept the same place against "
        "peers with the same experience, and nothing else changed, where would each segment's "
        f"learners be after {', '.join(str(y) for y in years[:-1])} and {years[-1]} years? "
        f"Counted over {int(paths['learners']):,} learners. The last column is the commonest "
        "change within reach that would move a learner to another segment: a raise of at most "
        f"{pct_unbroken(step)} or a company of a better-paying {_term('tier')}, the smallest "
        "such change of each learner as the explorer's \u201cWhy and what if\u201d gives it, "
        f"counted on a seeded sample of {int(paths['sampled']):,} learners. <b>These are label "
        "changes under the model, not recommendations:</b> only moves that leave the learner "
        "better off (more pay, a better-paying company) are counted, and what the learner gains "
        "is that change; the destination segment's name describes its typical learner, not "
        "a goal (a learner who gets a raise may land in a segment named for being underpaid "
        "because its learners are, on the whole, less experienced).</p>"
    )
    names = {int(s["id"]): s for s in profiles["segments"]}
    rows = []
    for entry in paths["segments"]:
        segment = names.get(int(entry["id"]), {"id": entry["id"], "name": str(entry["id"])})
        by_year = {int(p["years"]): p for p in entry["path"]}
        cells = [
            _path_cell(int(entry["id"]), by_year[y], names) if y in by_year else "" for y in years
        ]
        move = _move_sentence(entry.get("top_move"), step, int(entry.get("sampled", 0)))
        rows.append([_segment(segment), *cells, move])
    table = _table(
        ["Segment", *(f"After {y} year{'s' if y > 1 else ''}" for y in years), "Commonest move"],
        rows,
    )
    return _section("paths", f"{intro}<div class='paths'>{table}</div>")


def _company_rows(companies: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [
        [
            f"<code>{_e(c['name'])}</code>",
            f"{c['learners']:,}",
            pct_unbroken(c["share"]) if c["share"] >= 0.005 else f"{100 * c['share']:.1f} %",
            lift_text(c["lift"]),
        ]
        for c in companies
    ]


def _companies(profiles: Mapping[str, Any]) -> str:
    parts = [
        "<p>The commonest known companies of each segment, with their share of the segment "
        f"and their {_term('lift')} (how many times more common than among all learners). "
        f"Only a company with at least {FEW_LEARNERS} of the segment's learners is ranked: a "
        f"lift from fewer moves a lot by chance, so those are listed under the table, marked "
        f"({_term('few', 'few')}). Company names are hashed in the source data and are shown "
        "as they are there.</p><div class='grid'>"
    ]
    for segment in profiles["segments"]:
        companies = segment.get("top_companies", [])
        ranked = [c for c in companies if c["learners"] >= FEW_LEARNERS]
        few = [c for c in companies if c["learners"] < FEW_LEARNERS]
        table = (
            _table(
                ["Company (hashed)", "Learners", "Share", "Lift"],
                _company_rows(ranked),
                numeric=(1, 2, 3),
            )
            if ranked
            else f"<p class='small'>No company holds {FEW_LEARNERS} of its learners.</p>"
        )
        if few:
            listed = ", ".join(
                f"<code>{_e(c['name'])}</code> ({c['learners']:,}; lift {lift_text(c['lift'])})"
                for c in few
            )
            table += (
                f"<p class='small few'>Fewer than {FEW_LEARNERS} learners, not ranked "
                f"({_term('few', 'few')}): {listed}.</p>"
            )
        if not companies:
            table = "<p class='small'>No known company.</p>"
        parts.append(f"<div><h3>{_segment(segment)}</h3>{table}</div>")
    parts.append("</div>")
    return _section("companies", "".join(parts))


def _varying(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, first: int, skip: int = 0
) -> tuple[list[str], list[list[str]], list[tuple[str, str]]]:
    """A table without the columns (from ``first``) that read the same in every segment row.

    ``skip`` leading rows (all learners) are left out of the comparison. Returns the headers,
    the rows and the dropped columns as (header, the value every segment has).
    """
    body = rows[skip:]
    keep = [
        i for i in range(len(headers)) if i < first or not body or len({row[i] for row in body}) > 1
    ]
    dropped = [(headers[i], body[0][i]) for i in range(len(headers)) if i not in keep]
    return (
        [headers[i] for i in keep],
        [[row[i] for i in keep] for row in rows],
        dropped,
    )


def _same_everywhere(dropped: Sequence[tuple[str, str]]) -> str:
    if not dropped:
        return ""
    said = "; ".join(f"{_e(re.sub('<[^>]+>', '', h))}: {v}" for h, v in dropped)
    which = "This column reads" if len(dropped) == 1 else "These columns read"
    return (
        f"<p class='small muted'>{which} the same in every segment and "
        f"{'is' if len(dropped) == 1 else 'are'} left out of the table: {said}.</p>"
    )


_FLAGS = (
    ("designation", "same company and title"),
    ("class", "same title"),
    ("tier", "same company"),
)


_SIDES = ("Above", "At", "Below")


def _peers(manifest: Mapping[str, Any], profiles: Mapping[str, Any]) -> str:
    population = profiles["population"]
    tolerance = float(manifest.get("settings", {}).get("flag_tolerance", 0.1))
    parts = [
        f"<p>Each learner's pay against the median of their {_term('peers', 'peers')}: "
        "learners at the same company with the same title (the designation flag), with the "
        "same title anywhere (class flag), at the same company (company flag). <i>At</i> means "
        f"within {100 * tolerance:.0f} % of the peers' median. Shares of each segment; a share "
        "10 points or more away from all learners' is in bold.</p>"
    ]
    headers = ["Segment"]
    for _, words in _FLAGS:
        headers += [f"Above ({words})", "At", "Below"]

    def cells(flags: Mapping[str, Mapping[str, float]], bold: bool) -> list[str]:
        out = []
        for flag, _ in _FLAGS:
            for side in ("above", "at", "below"):
                share = flags[flag][side]
                text = pct_unbroken(share)
                base = population["peer_flags"][flag][side]
                out.append(f"<b>{text}</b>" if bold and abs(share - base) >= 0.1 else text)
        return out

    rows = [["<!--all-->All learners", *cells(population["peer_flags"], False)]]
    rows += [[_segment(s), *cells(s["peer_flags"], True)] for s in profiles["segments"]]
    # a left-out column is named in full ("At (same title)"), the table's short "At" is not
    full = ["Segment"] + [f"{side} ({words})" for _, words in _FLAGS for side in _SIDES]
    short = dict(zip(full, headers, strict=True))
    shown, rows, dropped = _varying(full, rows, first=1, skip=1)
    parts.append(_table([short[h] for h in shown], rows, numeric=range(1, len(shown))))
    parts.append(_same_everywhere(dropped))
    return _section("peers", "".join(parts))


def _by_year(profiles: Mapping[str, Any]) -> str:
    segments = profiles["segments"]
    by_year = profiles.get("by_year", {})
    years = sorted(by_year, key=int)
    rows = []
    shares: dict[str, dict[int, float]] = {}
    for year in years:
        counts = {int(s): int(n) for s, n in by_year[year].items()}
        total = sum(counts.values())
        shares[year] = {s: (n / total if total else 0.0) for s, n in counts.items()}
        bar = "".join(
            f"<span style='width:{100 * shares[year].get(s['id'], 0.0):.2f}%;"
            f"background:{segment_color(s['id'])}' title='{s['id']}: "
            f"{pct_unbroken(shares[year].get(s['id'], 0.0))}'></span>"
            for s in segments
        )
        rows.append(
            [
                year + _few_mark(total),
                f"{total:,}",
                f"<div class='bar'>{bar}</div>",
                *[
                    pct_unbroken(shares[year].get(s["id"], 0.0))
                    + ("" if counts.get(s["id"], 0) == 0 else _few_mark(counts.get(s["id"], 0)))
                    for s in segments
                ],
            ]
        )
    parts = [
        "<p>Learners by the year their pay (CTC) was last updated, and each segment's share of "
        "them. A pay figure updated long ago may no longer be true; a segment that grows among "
        f"recent updates is growing, or updating more. A year or a share of fewer than "
        f"{FEW_LEARNERS} learners is marked ({_term('few', 'few')}) and left out of the "
        "largest shift.</p>"
    ]
    enough = [y for y in years if sum(int(n) for n in by_year[y].values()) >= FEW_LEARNERS]
    if len(enough) >= 2:
        first, last = enough[0], enough[-1]

        def counted(s: Mapping[str, Any]) -> bool:
            """Both ends of the shift counted on enough of the segment's learners."""
            return all(int(by_year[y].get(str(s["id"]), 0)) >= FEW_LEARNERS for y in (first, last))

        ranked = [s for s in segments if counted(s)]
    else:
        ranked = []
    if ranked:
        shift = max(
            ranked,
            key=lambda s: abs(shares[last].get(s["id"], 0.0) - shares[first].get(s["id"], 0.0)),
        )
        a, b = shares[first].get(shift["id"], 0.0), shares[last].get(shift["id"], 0.0)
        parts.append(
            f"<p>The largest shift: {_segment(shift)} is {pct_unbroken(a)} of the learners "
            f"whose pay was last updated in {first} and {pct_unbroken(b)} of those updated in "
            f"{last}.</p>"
        )
    parts.append(
        _table(
            ["Year", "Learners", "Mix", *[f"{_swatch(s['id'])}{s['id']}" for s in segments]],
            rows,
            numeric=[1, *range(3, 3 + len(segments))],
        )
    )
    return _section("by-year", "".join(parts))


def _data_quality(manifest: Mapping[str, Any], profiles: Mapping[str, Any]) -> str:
    data = manifest["data"]
    cleaning = manifest.get("cleaning", {})
    parts = []
    if is_synthetic(manifest):
        parts.append(
            "<div class='notice' id='synthetic-notice'><b>These figures describe synthetic "
            "learners.</b> The model was trained on learnseg's embedded default table "
            f"({_e(data['source'])}), generated to look like the case study's file. No real "
            "learner is in it: do not act on these segments; train on the real file "
            "(<code>python -m training train --data FILE</code>) and read its report.</div>"
        )
    parts.append(
        f"<p>Source: {_e(source_name(data['source']))}. {data['rows']:,} raw rows; "
        f"{cleaning.get('rows_out', data['rows']):,} rows after cleaning; "
        f"{data['learners']:,} learners (one row each). Experience is counted to "
        f"{manifest.get('reference_year', '')}.</p>"
    )
    rules = cleaning.get("rules", [])
    if rules:
        parts.append("<h3>Every cleaning rule, in the order it runs</h3>")
        parts.append(
            _table(
                ["Rule", "What it does", "Rows"],
                [
                    [f"<code>{_e(r['name'])}</code>", _e(r["description"]), f"{r['count']:,}"]
                    for r in rules
                ],
                numeric=(2,),
            )
        )
    population = profiles["population"]
    parts.append(_company_unknown(manifest, population))
    parts.append(
        "<h3>Missing and imputed values by segment</h3>"
        f"<p>Learners without a job title, against the share their experience explains (titles "
        "go missing more often early in a career; a ratio near 1 means the segment is not made "
        f"of missing titles); learners whose pay could not be a yearly salary and was "
        f"{_term('imputed')}; learners whose company is unknown (above), and of them those "
        "with no company name at all. Before clustering, each of the model's inputs is also "
        "clipped to its 1st-99th percentile, so that a few extreme values do not pull a "
        "segment.</p>"
    )
    unnamed = "company_unnamed_share" in population
    rows = [
        [
            "<!--all-->All learners",
            pct_unbroken(population["no_title_share"]),
            "",
            "",
            _tenths(population["ctc_imputed_share"]),
            pct_unbroken(population["company_imputed_share"]),
            *([pct_unbroken(population["company_unnamed_share"])] if unnamed else []),
        ]
    ]
    for segment in profiles["segments"]:
        quality = segment["data_quality"]
        rows.append(
            [
                _segment(segment),
                pct_unbroken(quality["no_title_share"]),
                pct_unbroken(quality["no_title_expected_share"]),
                f"{quality['no_title_ratio']:.2f}",
                _tenths(quality["ctc_imputed_share"]),
                pct_unbroken(quality["company_imputed_share"]),
                *([pct_unbroken(quality.get("company_unnamed_share", 0.0))] if unnamed else []),
            ]
        )
    headers = [
        "Segment",
        "No job title",
        "Expected from experience",
        "Ratio",
        "Pay imputed",
        "Company unknown",
        *(["No company name (of the unknown)"] if unnamed else []),
    ]
    shown, rows, dropped = _varying(headers, rows, first=1, skip=1)
    parts.append(_table(shown, rows, numeric=range(1, len(shown))))
    parts.append(_same_everywhere(dropped))
    return _section("data-quality", "".join(parts))


def _company_unknown(manifest: Mapping[str, Any], population: Mapping[str, Any]) -> str:
    """What "company unknown" covers, with the learners of each reason."""
    n = int(population["learners"])
    unknown = int(population.get("company_unknown", round(population["company_imputed_share"] * n)))
    head = "<h3 id='company-unknown'>Company unknown: what it covers</h3>"
    if "company_unnamed" not in population:
        return (
            f"{head}<p>{unknown:,} learners ({pct_unbroken(unknown / n)}) have no known company. "
            "This model's tier figures count them too; retrain to see tier figures of known "
            "companies only.</p>"
        )
    unnamed = int(population["company_unnamed"])
    small = unknown - unnamed
    size = manifest.get("settings", {}).get("min_group_size")
    fewer = f"fewer than {size}" if size else "too few"
    return (
        f"{head}<p>A learner's company is unknown when the record names no company (missing, "
        "or not a name such as '0' or '2020', the cleaning rule <code>company_missing</code>, "
        f"which counts rows): <b>{unnamed:,} learners</b> ({_share(unnamed / n)}); or "
        f"when the company had {fewer} learners in the training table, too few for its median "
        f"pay to place it in a tier: <b>{small:,} learners</b> ({_share(small / n)}). "
        f"Together <b>{unknown:,} learners</b> ({_share(unknown / n)}). When the service "
        "places a learner, a company the training table never held is unknown too (the answer "
        f"warns). The model places a learner whose company is unknown as if the company paid at "
        "the population's level (its median pay, tier 2 on the default table), so the company "
        f"neither lifts nor lowers them; every {_term('tier', 'company-tier')} figure of this "
        "report leaves them out and says how many learners it counts.</p>"
        + (
            f"<p class='small'>On a table of fewer than {SMALL_TABLE:,} learners more companies "
            f"stay under the minimum group size ({fewer} learners), so more learners have an "
            "unknown company than on a large table: the share rises with less data, not because "
            "the records are worse.</p>"
            if int(manifest.get("data", {}).get("learners", n)) < SMALL_TABLE
            else ""
        )
    )


def _glossary() -> str:
    entries = "".join(
        f"<dt id='g-{anchor}'>{_e(term)}</dt><dd>{definition}</dd>"
        for anchor, term, definition in GLOSSARY
    )
    return _section("glossary", f"<dl class='glossary'>{entries}</dl>")


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------
#: What the page reads of profiles.json that models written before the report did not write.
_NEEDED = ("population", "summary", "by_year")
_NEEDED_PER_SEGMENT = ("name_words", "actions", "peer_flags", "top_companies", "data_quality")


def _check(profiles: Mapping[str, Any], folder: Path | None) -> None:
    where = PROFILES_JSON if folder is None else str(folder / PROFILES_JSON)
    missing = [key for key in _NEEDED if key not in profiles]
    segments = profiles.get("segments") or [{}]
    missing += [key for key in _NEEDED_PER_SEGMENT if key not in segments[0]]
    if missing:
        raise ReportError(
            f"{where} has no {', '.join(missing)}: it was written by an older learnseg; "
            "retrain the model to get this report."
        )


def _small_notice(learners: int) -> str:
    return (
        f"<p class='notice' id='small-notice'><b>Only {learners:,} learners.</b> On fewer than "
        f"{SMALL_TABLE:,} learners segments and their figures can change a lot from one table "
        f"to the next: a figure of fewer than {FEW_LEARNERS} learners is marked "
        f"({_term('few', 'few')}) and never ranked first; check the segments on more data "
        "before large decisions.</p>"
    )


def render_page(
    manifest: Mapping[str, Any],
    profiles: Mapping[str, Any],
    *,
    folder: Path | None = None,
    previous: Mapping[str, Any] | None = None,
) -> str:
    """The report page of a model, as one HTML document.

    Parameters
    ----------
    manifest, profiles : mapping
        The model's ``manifest.json`` and ``profiles.json``.
    folder : Path, optional
        The model folder, named in errors.
    previous : mapping, optional
        The ``profiles.json`` of the model this one replaced (:func:`since_previous`).

    Returns
    -------
    str
        The page: a header, then the sections of :data:`SECTIONS` in order. Images are the
        folder's plots, by relative path.

    Raises
    ------
    ReportError
        If ``profiles.json`` lacks what the page needs (a model written before it).
    """
    _check(profiles, folder)
    segments = profiles["segments"]
    data = manifest["data"]
    nav = " ".join(f"<a href='#{anchor}'>{_e(title)}</a>" for anchor, title in SECTIONS)
    head = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>learnseg model {_e(manifest['version'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header><h1>Who are our learners?</h1>",
        f"<p class='muted small'>{len(segments)} segments of {data['learners']:,} learners. "
        f"Model {_e(manifest['version'])}, trained {_e(manifest['created_at'])}; source: "
        f"{_e(source_name(data['source']))}.</p>",
    ]
    if is_synthetic(manifest):
        head.append(
            "<p class='notice'><b>Synthetic data.</b> This model was trained on the embedded "
            "synthetic table, not on real learners (see <a href='#data-quality'>Data "
            "quality</a>).</p>"
        )
    if int(data["learners"]) < SMALL_TABLE:
        head.append(_small_notice(int(data["learners"])))
    if not all("company_known" in s for s in segments):
        head.append(
            "<p class='notice' id='older-notice'><b>Written by an older learnseg.</b> This "
            "model's names and actions counted learners whose company is unknown in their "
            "company-tier figures; retrain it for tier figures of known companies only.</p>"
        )
    head.append(f"<nav>{nav}</nav></header><main>")
    body = [
        _summary(manifest, profiles, previous),
        _courses(profiles),
        _trust(manifest, profiles),
        _segments(manifest, profiles),
        _paths(profiles),
        _companies(profiles),
        _peers(manifest, profiles),
        _by_year(profiles),
        _data_quality(manifest, profiles),
        _glossary(),
    ]
    foot = (
        "</main><footer><p class='small muted'>Names and actions come from documented rules "
        "(docs/recommendations.md); figures are medians unless said otherwise.</p></footer>"
        "</body></html>"
    )
    return "\n".join([*head, *body, foot])


def render_report(folder: Path) -> Path:
    """Write ``report.html`` in a model folder from its ``manifest.json`` and ``profiles.json``.

    Parameters
    ----------
    folder : Path
        A model folder (its plots are referenced by relative path, see :data:`PLOTS`).

    Returns
    -------
    Path
        ``folder / REPORT_HTML`` (``report.html``).

    Raises
    ------
    ReportError
        For a model the page cannot describe (written before ``profiles.json`` held the
        population, the summary and the by-year figures); nothing is written then.
    """
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    profiles = json.loads((folder / PROFILES_JSON).read_text(encoding="utf-8"))
    out = folder / REPORT_HTML
    page = render_page(
        manifest, profiles, folder=folder, previous=_previous_profiles(folder, manifest)
    )
    out.write_text(page, encoding="utf-8")
    return out


def _previous_profiles(folder: Path, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The profiles of the model this one replaced (its ids were matched to), when that model
    still sits beside it; None otherwise."""
    matched = (manifest.get("ids") or {}).get("matched_to")
    if not matched or "/" in str(matched) or str(matched).startswith("."):
        return None
    path = folder.parent / str(matched) / PROFILES_JSON
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


#: A segment's share must move at least this much (in share of all learners) to be listed as
#: grown or shrunk since the previous model.
MOVED = 0.01


def since_previous(
    manifest: Mapping[str, Any],
    profiles: Mapping[str, Any],
    previous: Mapping[str, Any] | None = None,
) -> str:
    """What changed since the model this one replaced, in words; empty without one.

    Parameters
    ----------
    manifest, profiles : mapping
        This model's; the manifest's ``ids`` says which model it replaced (``matched_to``) and
        its ``churn`` how many learners change segment from that model to this one.
    previous : mapping, optional
        The replaced model's ``profiles.json``, when still available: then each segment whose
        share of learners moved by at least :data:`MOVED` is listed, grown or shrunk.

    Returns
    -------
    str
        An HTML paragraph (element id ``since-previous``), or ``""`` when the model replaced
        none (its ids were numbered by size).
    """
    ids = manifest.get("ids") or {}
    matched = ids.get("matched_to")
    if not matched:
        return ""
    parts = [f"Since the previous model ({_e(matched)})"]
    churn = manifest.get("churn") or {}  # every training row placed by both models, end to end
    compared, changed = churn.get("placed"), churn.get("moved")
    if compared:
        parts.append(
            f": {int(changed or 0):,} of {int(compared):,} training rows (a learner may have "
            f"several records) ({_share(int(changed or 0) / int(compared))}) would now be placed "
            "in another segment"
        )
    moves = []
    if previous is not None:
        before = {int(s["id"]): float(s["share"]) for s in previous.get("segments") or []}
        for segment in sorted(profiles["segments"], key=lambda s: int(s["id"])):
            sid, now = int(segment["id"]), float(segment["share"])
            if sid not in before:
                moves.append(f"segment {sid} is new ({pct_unbroken(now)} of learners)")
            elif abs(now - before[sid]) >= MOVED:
                verb = "grew" if now > before[sid] else "shrank"
                moves.append(
                    f"segment {sid} {verb} from {pct_unbroken(before[sid])} to "
                    f"{pct_unbroken(now)} of learners"
                )
        gone = sorted(set(before) - {int(s["id"]) for s in profiles["segments"]})
        moves += [f"segment {sid} is gone" for sid in gone]
        if not moves:
            moves.append(
                f"no segment's share of learners moved by {100 * MOVED:g} percentage point"
                f"{'' if MOVED == 0.01 else 's'} or more"
            )
    text = "".join(parts) + ("; " + "; ".join(moves) if moves else "") + "."
    return f"<p id='since-previous'>{text}</p>"
