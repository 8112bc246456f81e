"""``report.html``: the page of a trained model, written from its ``manifest.json`` and
``profiles.json``."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from training.report.plots import BISECTING, PLOTS

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} .muted{color:#666}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#f4f6f8} td.num{text-align:right} .seg{border:1px solid #ddd;border-radius:8px;
padding:.8em 1.2em;margin:1em 0} .seg h3{margin:.2em 0} img{max-width:100%;border:1px solid #eee;
margin:.5em 0} .warn{color:#a15c00}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt_inr(value: float) -> str:
    return f"₹{value:,.0f}"


def render_report(folder: Path) -> Path:
    """Write ``report.html`` in a model folder from its ``manifest.json`` and ``profiles.json``."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    profiles = json.loads((folder / "profiles.json").read_text(encoding="utf-8"))
    segments = profiles["segments"]
    metrics = manifest["metrics"]
    comparison = metrics["comparison"]
    choice = manifest["k_choice"]
    parts: list[str] = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>learnseg model {_e(manifest['version'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Who are our learners?</h1>",
        f"<p class='muted'>Model {_e(manifest['version'])}, trained {_e(manifest['created_at'])} "
        f"on {manifest['data']['learners']:,} learners ({manifest['data']['rows']:,} raw rows, "
        f"source: {_e(manifest['data']['source'])}). Experience is counted to "
        f"{manifest['reference_year']}.</p>",
        "<h2>Segments at a glance</h2>",
        f"<p>{_e(choice['reason'])}</p>",
    ]
    parts += [f"<p class='warn'>⚠ {_e(w)}</p>" for w in choice.get("warnings", [])]
    parts.append(
        "<table><tr><th>id</th><th>segment</th><th>learners</th><th>share</th>"
        "<th>median experience</th><th>median CTC</th><th>CTC p10-p90 (LPA)</th>"
        "<th>macro-segment</th></tr>"
    )
    for s in segments:
        parts.append(
            f"<tr><td>{s['id']}</td><td>{_e(s['name'])}</td><td class='num'>{s['size']:,}</td>"
            f"<td class='num'>{100 * s['share']:.1f} %</td>"
            f"<td class='num'>{s['center']['years_experience']:g} years</td>"
            f"<td class='num'>{_fmt_inr(s['center']['ctc_inr'])} ({s['center']['ctc_lpa']:g} LPA)"
            f"</td><td class='num'>{s['ctc_lpa']['p10']:g} - {s['ctc_lpa']['p90']:g}</td>"
            f"<td>{s['coarse_segment_id']}</td></tr>"
        )
    parts.append("</table>")
    parts.append(f"<img src='{PLOTS['ranges']}' alt='CTC and experience by segment'>")

    parts.append("<h2>What to offer each segment</h2>")
    for s in segments:
        families = ", ".join(
            f"{_e(f['name'])} ({100 * f['share']:.0f} %, lift {f['lift']:.2f})"
            for f in s["top_role_families"]
        )
        tiers = ", ".join(
            f"{_e(t['name'])} ({100 * t['share']:.0f} %, lift {t['lift']:.2f})"
            for t in s["company_tiers"]
        )
        recs = "".join(f"<li>{_e(r)}</li>" for r in s["recommendations"])
        parts.append(
            f"<div class='seg'><h3>{s['id']}. {_e(s['name'])}</h3>"
            f"<p>{s['size']:,} learners ({100 * s['share']:.1f} %). Median "
            f"{s['center']['years_experience']:g} years of experience and "
            f"{_fmt_inr(s['center']['ctc_inr'])} a year; pay at the "
            f"{s['ctc_percentile']:g}th percentile of all learners.</p>"
            f"<p>Role families: {families}.<br>Company tiers (1 = best paid): {tiers}.</p>"
            f"<p><b>Recommendations</b></p><ul>{recs}</ul></div>"
        )

    parts.append(
        "<h2>Macro-segments</h2><table><tr><th>id</th><th>name</th><th>segments</th>"
        "<th>learners</th></tr>"
    )
    for c in profiles.get("coarse", []):
        parts.append(
            f"<tr><td>{c['id']}</td><td>{_e(c['name'])}</td>"
            f"<td>{', '.join(str(x) for x in c['segments'])}</td>"
            f"<td class='num'>{c['size']:,}</td></tr>"
        )
    parts.append("</table>")

    parts.append("<h2>How the number of segments was chosen</h2>")
    parts.append(f"<img src='{PLOTS['elbow']}' alt='elbow plot'>")
    sweep = metrics["sweep"]
    parts.append(
        "<table><tr><th>k</th><th>inertia</th><th>silhouette</th><th>Davies-Bouldin</th>"
        "<th>Calinski-Harabasz</th><th>stability (mean ARI)</th><th>ARI p10</th>"
        "<th>least stable segment (Jaccard)</th></tr>"
    )
    for i, k in enumerate(sweep["ks"]):
        p10 = sweep.get("stability_p10")
        jaccard = sweep.get("jaccard")
        parts.append(
            f"<tr><td>{k}</td><td class='num'>{sweep['inertia'][i]:,.0f}</td>"
            f"<td class='num'>{sweep['silhouette'][i]:.3f}</td>"
            f"<td class='num'>{sweep['davies_bouldin'][i]:.3f}</td>"
            f"<td class='num'>{sweep['calinski_harabasz'][i]:,.0f}</td>"
            f"<td class='num'>{sweep['stability'][i]:.3f}</td>"
            f"<td class='num'>{'' if p10 is None else f'{p10[i]:.3f}'}</td>"
            f"<td class='num'>{'' if jaccard is None else f'{min(jaccard[i]):.3f}'}</td></tr>"
        )
    parts.append("</table>")

    method = str(metrics["hierarchical"]["method"])
    reference = "bisecting K-Means" if method == BISECTING else "Ward"
    parts.append(f"<h2>K-Means against the hierarchical ({reference}) reference</h2>")
    parts.append(
        f"<p>Both methods were run over all learners. Agreement: adjusted Rand index "
        f"{comparison['ari']:.3f}, normalised mutual information {comparison['nmi']:.3f}; "
        f"silhouette K-Means {comparison['silhouette_a']:.3f}, {reference} "
        f"{comparison['silhouette_b']:.3f} (hierarchical method: {_e(method)}).</p>"
    )
    parts.append(f"<table><tr><th>K-Means \\ {reference}</th>")
    width = len(comparison["contingency"][0])
    parts += [f"<th>{j}</th>" for j in range(width)]
    parts.append("<th>best match (Jaccard)</th></tr>")
    for i, row in enumerate(comparison["contingency"]):
        match = comparison["best_match_jaccard"].get(str(i), {})
        cells = "".join(f"<td class='num'>{v:,}</td>" for v in row)
        parts.append(
            f"<tr><th>{i}</th>{cells}<td>{match.get('match', '')} "
            f"({match.get('jaccard', 0):.2f})</td></tr>"
        )
    parts.append("</table>")
    parts.append(f"<img src='{PLOTS['dendrogram']}' alt='dendrogram'>")
    parts.append("<h2>Segment map and profiles</h2>")
    parts.append(f"<img src='{PLOTS['segment_map']}' alt='segment map'>")
    parts.append(f"<img src='{PLOTS['heatmap']}' alt='profile heatmap'>")
    parts.append(
        "<p class='muted'>Names and recommendations come from documented rules over each "
        "profile (training/profiles.py). Figures are medians unless stated.</p></body></html>"
    )
    out = folder / "report.html"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
