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
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.features import FEATURE_COLUMNS

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


def _lifts(values: pd.Series, members: npt.NDArray[np.bool_], top: int) -> list[dict[str, Any]]:
    labels = values.astype(object).where(values.notna(), "Unknown").astype(str)
    population = labels.value_counts(normalize=True).to_dict()
    inside = labels[members].value_counts(normalize=True).head(top).to_dict()
    return [
        {
            "name": str(key),
            "share": round(float(share), 4),
            "lift": round(float(share / population[key]), 3),
        }
        for key, share in inside.items()
    ]


def _percentiles(values: FloatArray) -> dict[str, float]:
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {"p10": float(p10), "p50": float(p50), "p90": float(p90)}


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
    n = int(members.sum())
    years = features["years_experience"].to_numpy()[members]
    ctc = learners["ctc"].to_numpy(np.float64)[members]
    mean = features.mean()
    std = features.std(ddof=0).replace(0.0, 1.0)
    z = ((features[members].mean() - mean) / std).round(3)
    median_ctc = float(np.median(ctc))
    percentile = (
        100.0 * np.searchsorted(population_ctc, median_ctc, side="right") / len(population_ctc)
    )
    tier = features["company_tier"].astype(int).astype(str).radd("tier ")
    missing = (learners["job_title"].isna() | learners["company"].isna()).to_numpy()
    incomplete = float(missing[members].mean())
    return {
        "size": n,
        "share": round(n / len(members), 4),
        "center": {
            "years_experience": round(float(np.median(years)), 2),
            "ctc_inr": round(median_ctc),
            "ctc_lpa": round(median_ctc / LPA, 2),
        },
        "years_experience": {k: round(v, 2) for k, v in _percentiles(years).items()},
        "ctc_inr": {k: round(v) for k, v in _percentiles(ctc).items()},
        "ctc_lpa": {k: round(v / LPA, 2) for k, v in _percentiles(ctc).items()},
        "ctc_percentile": round(float(percentile), 1),
        "top_role_families": _lifts(learners["role_family"], members, 3),
        "company_tiers": _lifts(tier, members, 3),
        "feature_z": {name: float(z[name]) for name in FEATURE_COLUMNS},
        "pay_vs_peers_median": round(float(np.median(features["pay_vs_peers"][members])), 4),
        "incomplete_share": round(incomplete, 4),
        "incomplete_lift": round(incomplete / max(float(missing.mean()), 1e-9), 3),
    }


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
    ids = sorted(int(i) for i in np.unique(labels))
    profiles: list[dict[str, Any]] = []
    for seg in ids:
        profile: dict[str, Any] = {"id": seg}
        profile |= profile_group(labels == seg, learners, features, population_ctc=population_ctc)
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
    profiles = []
    for cid in sorted(members):
        profile: dict[str, Any] = {"id": cid, "segments": sorted(int(s) for s in members[cid])}
        profile |= profile_group(
            coarse_labels == cid, learners, features, population_ctc=population_ctc
        )
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
