"""Segment profiles: figures in original units, lifts, z-scores, names and recommendations.

Names and recommendations come from documented rules over the profile, so the same profile
always gets the same words and a reader can tell why.

Name: ``"<career stage>, <pay band>"`` plus the segment's most over-represented trait.

* career stage by median years of experience: < 3 "Early-career", 3-5 "Mid-level", 6-10
  "Senior", >= 11 "Veteran";
* pay band by where the segment's median CTC falls among all learners: top quartile,
  bottom quartile, else "mid-range pay";
* trait: "no job title on file" when learners without a title are >= 40 % of the segment and
  over-represented 1.5x; else a role family with lift >= 1.5 and share >= 20 %; else company
  tier 1 or 3 with lift >= 1.4 ("at top-paying companies" / "at lower-paying companies"), else pay
  against company x title peers when its z-score is beyond +-0.5 ("paid above peers" /
  "paid below peers").

Recommendations, in priority order, the first four that apply (at least two always do):

1. early-career -> foundations and placement preparation;
2. paid below peers (median pay_vs_peers < -10 %) -> negotiation and switch support;
3. senior or veteran with top-quartile pay -> leadership / system-design track, mentors;
4. lower-paying companies over-represented -> product-company interview track;
5. an over-represented role family -> that family's specialisation track;
6. mid-level -> advanced engineering (system design, scale) and job-switch support;
7. many incomplete profiles (no title or company for >= 30 %, 1.5x the population's share) ->
   profile-completion nudges;
8. fallback -> personalised learning paths and career counselling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.runtime.features import FEATURE_COLUMNS

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]

LPA = 100_000.0  # one lakh per annum, the unit Indian pay is quoted in

FAMILY_TRACKS: dict[str, str] = {
    "Data & Research": "a data science and machine-learning specialisation track",
    "DevOps & Infra": "a cloud, DevOps and site-reliability track",
    "QA & Testing": "an SDET track: test automation, then a move into development",
    "Mobile": "a mobile engineering track (Android/iOS architecture, performance)",
    "Frontend": "a frontend engineering track (web performance, design systems)",
    "Full-stack": "a full-stack track with system design for product companies",
    "Backend & SDE": "a backend track: distributed systems and scalable services",
    "Leadership": "an engineering-management and leadership programme",
    "Architect": "an architecture track: large-scale system design reviews",
    "Product & Design": "a product management and design track",
    "Support & Non-coding": "a programming-foundations bridge course into development roles",
    "Intern": "an internship-to-full-time placement programme",
}


def _stage(years: float) -> str:
    if years < 3:
        return "Early-career"
    if years < 6:
        return "Mid-level"
    if years < 11:
        return "Senior"
    return "Veteran"


def _pay_band(percentile: float) -> str:
    if percentile >= 75:
        return "top-quartile pay"
    if percentile <= 25:
        return "bottom-quartile pay"
    return "mid-range pay"


def _lifts(
    counts: Mapping[str, int], size: int, population: Mapping[str, int], total: int, top: int
) -> list[dict[str, Any]]:
    """The ``top`` commonest values of a group, with their share and lift over the population.

    ``counts`` is taken in its own order for ties (the pandas path passes ``value_counts``).
    """
    ordered = sorted(counts.items(), key=lambda item: -item[1])[:top]
    out = []
    for key, count in ordered:
        share = count / size
        out.append(
            {
                "name": str(key),
                "share": round(float(share), 4),
                "lift": round(float(share / (population[key] / total)), 3),
            }
        )
    return out


def _percentiles(values: FloatArray) -> tuple[float, float, float]:
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return float(p10), float(p50), float(p90)


@dataclass(frozen=True)
class GroupFigures:
    """The aggregated figures of one group of learners that a profile is made from.

    Any engine can compute them: :func:`group_figures` does it with pandas, the Spark engine with
    Spark aggregations. Percentiles are linear (numpy's default); medians are the 50th percentile.

    Attributes
    ----------
    size : int
        Learners in the group.
    years_median, ctc_median : float
        Median years of experience and CTC.
    years_percentiles, ctc_percentiles : tuple of float
        10th, 50th and 90th percentiles.
    ctc_rank : int
        Learners of the whole population with a CTC at most the group's median CTC.
    feature_mean : mapping of str to float
        Mean of every feature in ``FEATURE_COLUMNS``.
    pay_vs_peers_median : float
    incomplete : int
        Learners without a job title or without a company.
    role_families, company_tiers : mapping of str to int
        Learners per role family and per ``"tier <n>"``; for ties, the first listed comes first.
    experience_bands : mapping of int to (int, int)
        Per experience band (:data:`EXPERIENCE_BANDS`, by index): learners, and learners of them
        without a job title.
    ctc_imputed : int
        Learners whose CTC could not be a yearly salary and was imputed.
    company_imputed : int
        Learners whose company's pay level was imputed (``company_known`` = 0).
    """

    size: int
    years_median: float
    ctc_median: float
    years_percentiles: tuple[float, float, float]
    ctc_percentiles: tuple[float, float, float]
    ctc_rank: int
    feature_mean: Mapping[str, float]
    pay_vs_peers_median: float
    incomplete: int
    role_families: Mapping[str, int]
    company_tiers: Mapping[str, int]
    experience_bands: Mapping[int, tuple[int, int]]
    ctc_imputed: int
    company_imputed: int


@dataclass(frozen=True)
class PopulationFigures:
    """Figures of all learners that group profiles are compared with.

    ``feature_std`` is the population standard deviation (ddof 0); zeros are read as 1. The
    other fields are as in :class:`GroupFigures`.
    """

    size: int
    feature_mean: Mapping[str, float]
    feature_std: Mapping[str, float]
    incomplete: int
    role_families: Mapping[str, int]
    company_tiers: Mapping[str, int]
    experience_bands: Mapping[int, tuple[int, int]]
    ctc_imputed: int
    company_imputed: int


#: Lower edges of the experience bands (years) the expected share of missing titles is
#: computed by: 0-2, 3-4, 5-6, 7-9, 10-13 and 14+ years. Titles go missing more often early in a
#: career, so a segment of juniors is expected to hold more learners without one.
EXPERIENCE_BANDS: tuple[int, ...] = (3, 5, 7, 10, 14)
EXPERIENCE_BAND_LABELS: tuple[str, ...] = ("0-2", "3-4", "5-6", "7-9", "10-13", "14+")


def experience_band(years: FloatArray) -> IntArray:
    """Index of each learner's experience band (see :data:`EXPERIENCE_BANDS`)."""
    return np.searchsorted(np.asarray(EXPERIENCE_BANDS, np.float64), years, side="right")


def data_quality(group: GroupFigures, population: PopulationFigures) -> dict[str, float]:
    """How much of a group rests on missing or imputed values, against what is expected.

    ``no_title_expected_share`` is the share of learners without a title the group would have if
    titles went missing as in the whole population *at the same experience*: the population's
    rate in each experience band, weighted by the group's learners in those bands. The ratio of
    the actual to the expected share is 1 when the group holds no more and no fewer untitled
    learners than its experience explains; a segment made of missing data is far from 1.
    """
    n = group.size
    expected = 0.0
    for band, (learners, _) in group.experience_bands.items():
        total, missing = population.experience_bands.get(band, (0, 0))
        if total:
            expected += learners * missing / total
    no_title = sum(missing for _, missing in group.experience_bands.values())
    share, expected_share = no_title / n, expected / n
    return {
        "no_title_share": round(share, 4),
        "no_title_expected_share": round(expected_share, 4),
        "no_title_ratio": round(share / expected_share, 3) if expected_share else 1.0,
        "ctc_imputed_share": round(group.ctc_imputed / n, 4),
        "company_imputed_share": round(group.company_imputed / n, 4),
    }


def _tier_labels(features: pd.DataFrame) -> pd.Series:
    return features["company_tier"].astype(int).astype(str).radd("tier ")


def _incomplete(learners: pd.DataFrame) -> npt.NDArray[np.bool_]:
    return (learners["job_title"].isna() | learners["company"].isna()).to_numpy()


def _value_counts(values: pd.Series) -> dict[str, int]:
    labels = values.astype(object).where(values.notna(), "Unknown").astype(str)
    return {str(k): int(v) for k, v in labels.value_counts().items()}


def _experience_bands(
    learners: pd.DataFrame, features: pd.DataFrame, members: npt.NDArray[np.bool_] | None = None
) -> dict[int, tuple[int, int]]:
    band = experience_band(features["years_experience"].to_numpy(np.float64))
    no_title = learners["job_title"].isna().to_numpy()
    if members is not None:
        band, no_title = band[members], no_title[members]
    learners_per_band = np.bincount(band, minlength=len(EXPERIENCE_BAND_LABELS))
    missing_per_band = np.bincount(band[no_title], minlength=len(EXPERIENCE_BAND_LABELS))
    return {
        b: (int(learners_per_band[b]), int(missing_per_band[b]))
        for b in range(len(EXPERIENCE_BAND_LABELS))
        if learners_per_band[b]
    }


def _imputed_counts(
    learners: pd.DataFrame, features: pd.DataFrame, members: npt.NDArray[np.bool_] | None = None
) -> tuple[int, int]:
    ctc = learners["ctc_imputed"].to_numpy(bool)
    company = features["company_known"].to_numpy() == 0
    if members is not None:
        ctc, company = ctc[members], company[members]
    return int(ctc.sum()), int(company.sum())


def population_figures(learners: pd.DataFrame, features: pd.DataFrame) -> PopulationFigures:
    """:class:`PopulationFigures` of a learner frame and its feature frame (pandas)."""
    mean = features.mean()
    std = features.std(ddof=0)
    ctc_imputed, company_imputed = _imputed_counts(learners, features)
    return PopulationFigures(
        size=len(features),
        feature_mean={name: float(mean[name]) for name in FEATURE_COLUMNS},
        feature_std={name: float(std[name]) for name in FEATURE_COLUMNS},
        incomplete=int(_incomplete(learners).sum()),
        role_families=_value_counts(learners["role_family"]),
        company_tiers=_value_counts(_tier_labels(features)),
        experience_bands=_experience_bands(learners, features),
        ctc_imputed=ctc_imputed,
        company_imputed=company_imputed,
    )


def group_figures(
    members: npt.NDArray[np.bool_],
    learners: pd.DataFrame,
    features: pd.DataFrame,
    *,
    population_ctc: FloatArray,
) -> GroupFigures:
    """:class:`GroupFigures` of the learners in ``members`` (pandas).

    ``population_ctc`` is the sorted CTC of all learners.
    """
    years = features["years_experience"].to_numpy()[members]
    ctc = learners["ctc"].to_numpy(np.float64)[members]
    mean = features[members].mean()
    median_ctc = float(np.median(ctc))
    ctc_imputed, company_imputed = _imputed_counts(learners, features, members)
    return GroupFigures(
        size=int(members.sum()),
        years_median=float(np.median(years)),
        ctc_median=median_ctc,
        years_percentiles=_percentiles(years),
        ctc_percentiles=_percentiles(ctc),
        ctc_rank=int(np.searchsorted(population_ctc, median_ctc, side="right")),
        feature_mean={name: float(mean[name]) for name in FEATURE_COLUMNS},
        pay_vs_peers_median=float(np.median(features["pay_vs_peers"][members])),
        incomplete=int(_incomplete(learners)[members].sum()),
        role_families=_value_counts(learners["role_family"][members]),
        company_tiers=_value_counts(_tier_labels(features)[members]),
        experience_bands=_experience_bands(learners, features, members),
        ctc_imputed=ctc_imputed,
        company_imputed=company_imputed,
    )


def profile_from_figures(group: GroupFigures, population: PopulationFigures) -> dict[str, Any]:
    """Figures of one group of learners (a segment or a macro-segment), names excluded."""
    n = group.size
    z = {
        name: float(
            np.round(
                (group.feature_mean[name] - population.feature_mean[name])
                / (population.feature_std[name] or 1.0),
                3,
            )
        )
        for name in FEATURE_COLUMNS
    }
    keys = ("p10", "p50", "p90")
    years = dict(zip(keys, group.years_percentiles, strict=True))
    ctc = dict(zip(keys, group.ctc_percentiles, strict=True))
    incomplete = group.incomplete / n
    return {
        "size": n,
        "share": round(n / population.size, 4),
        "center": {
            "years_experience": round(group.years_median, 2),
            "ctc_inr": round(group.ctc_median),
            "ctc_lpa": round(group.ctc_median / LPA, 2),
        },
        "years_experience": {k: round(v, 2) for k, v in years.items()},
        "ctc_inr": {k: round(v) for k, v in ctc.items()},
        "ctc_lpa": {k: round(v / LPA, 2) for k, v in ctc.items()},
        "ctc_percentile": round(float(100.0 * group.ctc_rank / population.size), 1),
        "top_role_families": _lifts(
            group.role_families, n, population.role_families, population.size, 3
        ),
        "company_tiers": _lifts(
            group.company_tiers, n, population.company_tiers, population.size, 3
        ),
        "feature_z": z,
        "pay_vs_peers_median": round(group.pay_vs_peers_median, 4),
        "incomplete_share": round(incomplete, 4),
        "incomplete_lift": round(
            incomplete / max(population.incomplete / population.size, 1e-9), 3
        ),
        "data_quality": data_quality(group, population),
    }


def profile_group(
    members: npt.NDArray[np.bool_],
    learners: pd.DataFrame,
    features: pd.DataFrame,
    *,
    population_ctc: FloatArray,
) -> dict[str, Any]:
    """Figures of one group of learners (a segment or a macro-segment), names excluded.

    Parameters
    ----------
    members : ndarray of bool, shape (n_learners,)
    learners : DataFrame, shape (n_learners, ...)
        Cleaned learners (``ctc``, ``role_family``...).
    features : DataFrame, shape (n_learners, len(FEATURE_COLUMNS))
    population_ctc : ndarray, shape (n_learners,)
        Sorted CTC of all learners, to place the group's median.
    """
    return profile_from_figures(
        group_figures(members, learners, features, population_ctc=population_ctc),
        population_figures(learners, features),
    )


def name_profile(profile: Mapping[str, Any]) -> str:
    """A human-readable name from the profile (rules in the module docstring)."""
    stage = _stage(profile["center"]["years_experience"])
    pay = _pay_band(profile["ctc_percentile"])
    trait = ""
    family = next(
        (
            f
            for f in profile["top_role_families"]
            if f["lift"] >= 1.5 and f["share"] >= 0.2 and f["name"] not in ("Unknown", "Other")
        ),
        None,
    )
    tiers = {t["name"]: t for t in profile["company_tiers"]}
    z_peers = profile["feature_z"]["pay_vs_peers"]
    unknown = next((f for f in profile["top_role_families"] if f["name"] == "Unknown"), None)
    if unknown is not None and unknown["share"] >= 0.4 and unknown["lift"] >= 1.5:
        trait = "no job title on file"
    elif family is not None:
        trait = family["name"]
    elif tiers.get("tier 1", {}).get("lift", 0) >= 1.4:
        trait = "at top-paying companies"
    elif tiers.get("tier 3", {}).get("lift", 0) >= 1.4:
        trait = "at lower-paying companies"
    elif z_peers >= 0.5:
        trait = "paid above peers"
    elif z_peers <= -0.5:
        trait = "paid below peers"
    name = f"{stage}, {pay}"
    return f"{name}, {trait}" if trait else name


def recommend(profile: Mapping[str, Any]) -> list[str]:
    """2-4 recommendations for the school, by the rules in the module docstring."""
    stage = _stage(profile["center"]["years_experience"])
    pay = _pay_band(profile["ctc_percentile"])
    tiers = {t["name"]: t for t in profile["company_tiers"]}
    out: list[str] = []
    if stage == "Early-career":
        out.append(
            "Offer a foundations track (data structures, algorithms, core CS) with placement "
            "preparation: mock interviews and resume reviews."
        )
    if profile["pay_vs_peers_median"] < -0.10:
        out.append(
            "Most are paid below learners with the same title at the same company: offer salary "
            "negotiation coaching and job-switch support through the referral network."
        )
    if stage in ("Senior", "Veteran") and pay == "top-quartile pay":
        out.append(
            "Offer leadership and large-scale system design programmes, and invite these learners "
            "as mentors and alumni speakers."
        )
    if tiers.get("tier 3", {}).get("lift", 0) >= 1.3:
        out.append(
            "Many work at lower-paying companies: run a product-company interview track aligned "
            "with tier-1 hiring bars."
        )
    for family in profile["top_role_families"]:
        track = FAMILY_TRACKS.get(family["name"])
        if track and family["lift"] >= 1.3 and family["share"] >= 0.15:
            out.append(f"{family['name']} is over-represented: offer {track}.")
            break
    if stage == "Mid-level":
        out.append(
            "Offer advanced engineering courses (system design, scalability) and structured "
            "job-switch support."
        )
    if profile["incomplete_share"] >= 0.30 and profile["incomplete_lift"] >= 1.5:
        out.append(
            f"{100 * profile['incomplete_share']:.0f} % have no job title or company on file: "
            "nudge them to complete their profiles so advice can be personalised."
        )
    fallback = [
        "Offer personalised learning paths built from the segment's skills gaps.",
        "Offer one-to-one career counselling to set goals for the next role.",
    ]
    for item in fallback:
        if len(out) >= 2:
            break
        out.append(item)
    return out[:4]


def build_profiles(
    labels: IntArray,
    learners: pd.DataFrame,
    features: pd.DataFrame,
    *,
    centers: FloatArray,
    silhouette: Mapping[int, float],
    best_match: Mapping[int, Mapping[str, Any]],
    coarse: Mapping[int, int],
) -> list[dict[str, Any]]:
    """One profile per segment id in ``labels`` (sorted by id), names made unique.

    Parameters
    ----------
    labels : ndarray of int, shape (n_learners,)
        Public segment ids.
    centers : ndarray, shape (k, n_cluster_features)
        Centres in the scaled space, row i = segment id i.
    silhouette : mapping id -> mean silhouette of the segment (on the evaluation sample)
    best_match : mapping id -> {"match": hierarchical cluster, "jaccard": float}
    coarse : mapping id -> coarse segment id
    """
    population_ctc = np.sort(learners["ctc"].to_numpy(np.float64))
    figures = {
        int(seg): group_figures(labels == seg, learners, features, population_ctc=population_ctc)
        for seg in np.unique(labels)
    }
    return profiles_from_figures(
        figures,
        population_figures(learners, features),
        centers=centers,
        silhouette=silhouette,
        best_match=best_match,
        coarse=coarse,
    )


def profiles_from_figures(
    figures: Mapping[int, GroupFigures],
    population: PopulationFigures,
    *,
    centers: FloatArray,
    silhouette: Mapping[int, float],
    best_match: Mapping[int, Mapping[str, Any]],
    coarse: Mapping[int, int],
) -> list[dict[str, Any]]:
    """:func:`build_profiles` from pre-aggregated figures (segment id -> its figures)."""
    ids = sorted(figures)
    profiles: list[dict[str, Any]] = []
    for seg in ids:
        profile: dict[str, Any] = {"id": seg}
        profile |= profile_from_figures(figures[seg], population)
        others = [o for o in ids if o != seg]
        if others:
            gaps = [float(np.linalg.norm(centers[seg] - centers[o])) for o in others]
            profile["nearest_segment"] = {
                "id": others[int(np.argmin(gaps))],
                "distance": round(min(gaps), 4),
            }
        profile["silhouette"] = round(float(silhouette.get(seg, float("nan"))), 4)
        profile["hierarchical_match"] = dict(best_match.get(seg, {}))
        profile["coarse_segment_id"] = int(coarse[seg])
        profile["name"] = name_profile(profile)
        profile["recommendations"] = recommend(profile)
        profiles.append(profile)
    _make_names_unique(profiles)
    return profiles


def build_coarse_profiles(
    coarse_labels: IntArray,
    learners: pd.DataFrame,
    features: pd.DataFrame,
    members: Mapping[int, Sequence[int]],
) -> list[dict[str, Any]]:
    """Profiles of the macro-segments (``members``: coarse id -> its segment ids)."""
    population_ctc = np.sort(learners["ctc"].to_numpy(np.float64))
    figures = {
        cid: group_figures(coarse_labels == cid, learners, features, population_ctc=population_ctc)
        for cid in members
    }
    return coarse_profiles_from_figures(figures, population_figures(learners, features), members)


def coarse_profiles_from_figures(
    figures: Mapping[int, GroupFigures],
    population: PopulationFigures,
    members: Mapping[int, Sequence[int]],
) -> list[dict[str, Any]]:
    """:func:`build_coarse_profiles` from pre-aggregated figures (coarse id -> its figures)."""
    profiles = []
    for cid in sorted(members):
        profile: dict[str, Any] = {"id": cid, "segments": sorted(int(s) for s in members[cid])}
        profile |= profile_from_figures(figures[cid], population)
        profile["name"] = name_profile(profile)
        profile["recommendations"] = recommend(profile)
        profiles.append(profile)
    _make_names_unique(profiles)
    return profiles


def _make_names_unique(profiles: list[dict[str, Any]]) -> None:
    """Two segments with the same name get their dominant role family, then their id, appended."""
    seen: dict[str, int] = {}
    for profile in profiles:
        seen[profile["name"]] = seen.get(profile["name"], 0) + 1
    for profile in profiles:
        if seen[profile["name"]] > 1:
            family = profile["top_role_families"][0]["name"] if profile["top_role_families"] else ""
            profile["name"] = f"{profile['name']} ({family}, #{profile['id']})"
