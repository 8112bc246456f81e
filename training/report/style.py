"""What the plots and the page share: one colour per segment, and the features in words.

A segment has the same colour in every plot and on the page (:func:`segment_color`). Grey and
red are kept out of the palette: grey means "no segment" (a dendrogram branch that no segment
holds half of), red and black mark decisions (the published k, the cut of the tree).
"""

from __future__ import annotations

__all__ = [
    "DIVERGING_CMAP",
    "FEATURE_LABELS",
    "FEATURE_SIGNS",
    "MIXED_COLOR",
    "SEGMENT_COLORS",
    "feature_label",
    "segment_color",
]

#: The segment palette, by segment id: matplotlib's tab10 without its grey (which means "no
#: segment") and its red (which marks the published k), then three lighter tones; past its end
#: it starts again.
SEGMENT_COLORS: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#c5b0d5",
)
#: A branch or share that belongs to no single segment.
MIXED_COLOR = "#b0b0b0"
#: The diverging colour map of the profile heatmap: blue above all learners, red below,
#: white at all learners (0).
DIVERGING_CMAP = "RdBu"


def segment_color(segment_id: int) -> str:
    """The colour of a segment, the same in every plot and on the page.

    Parameters
    ----------
    segment_id : int
        The public segment id (0 = the largest segment of a first model).

    Returns
    -------
    str
        A ``#rrggbb`` colour.
    """
    return SEGMENT_COLORS[int(segment_id) % len(SEGMENT_COLORS)]


#: Each feature in words, said the way its sign reads in the heatmap: a positive z-score means
#: "more of this than all learners". Features where 1 is the best-paid band or "above peers"
#: (tiers, classes, the 1/2/3 flags) are turned round (:data:`FEATURE_SIGNS`), so that blue
#: always means more experience, more pay or better-paying companies, never "better" in one
#: column and "worse" in the next.
FEATURE_LABELS: dict[str, str] = {
    "years_experience": "Years of experience",
    "log_ctc": "Pay (CTC)",
    "n_records": "Records in the table",
    "ctc_growth": "Yearly pay growth",
    "log_company_size": "Company size (learners)",
    "company_tier": "Better-paying company (tier)",
    "job_class": "Better-paid job title (class)",
    "pay_vs_company": "Pay vs. own company",
    "pay_vs_title": "Pay vs. same title",
    "pay_vs_peers": "Pay vs. same company and title",
    "pay_vs_experience": "Pay vs. same experience",
    "designation_flag": "Above company-and-title peers",
    "class_flag": "Above same-title peers",
    "tier_flag": "Above same-company peers",
    "company_known": "Company known",
    "title_known": "Job title known",
}
#: -1 for features whose raw value falls as the label's words rise (tier 1 is the best paid).
FEATURE_SIGNS: dict[str, int] = {
    "company_tier": -1,
    "job_class": -1,
    "designation_flag": -1,
    "class_flag": -1,
    "tier_flag": -1,
}


def feature_label(name: str) -> str:
    """A feature in words (:data:`FEATURE_LABELS`); an unknown feature keeps its name."""
    return FEATURE_LABELS.get(name, name.replace("_", " "))
