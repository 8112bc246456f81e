"""Benchmark of ``python -m training diff`` against one ``assign`` of the same table, same run.

The table is the embedded default (205,843 rows, the case study's size) as Parquet. Two models,
trained once into ``--data-dir`` and reused: ``old`` on the whole table, ``new`` on a random 90 %
of it (seed 0) with the old model's ids kept, the retrain the issue measures churn on. Then, in
child processes one after the other so each has its own peak RSS, ``--repeats`` times each,
alternating:

- ``assign``: :func:`training.batch.assign.assign_table` of the table with the new model;
- ``diff``: :func:`training.batch.diff.diff_table` of the same table, old model to new,

both timed from loading the model(s) to the renamed output. Peak RSS is the highest resident set
of the child (interpreter and imports included), sampled every 50 ms. Reported: the median
seconds of each, diff's over assign's (target <= 2), diff's peak RSS (target <= 1 GB), and the
churn the new model's manifest reports beside what diff measured on its training rows.

    .venv/bin/python bench/diff.py [--data-dir /tmp/learnseg-bench-diff] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _load import measure_in_child
from assign import _TreeRss  # bench/assign.py: the same RSS sampler

RATIO_TARGET = 2.0
RSS_TARGET_MB = 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnseg-bench-diff"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("BENCHJSON " + json.dumps(_child(json.loads(args.child))))
        return 0
    args.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    table, part, old, new = _prepare(args.data_dir)
    runs: dict[str, list[dict[str, Any]]] = {"assign": [], "diff": []}
    for _ in range(args.repeats):
        for kind in runs:
            spec = {"kind": kind, "source": str(table), "old": str(old), "new": str(new)}
            spec["out"] = str(args.data_dir / f"{kind}-out.parquet")
            runs[kind].append(_measure(spec))
    churn = json.loads((new / "manifest.json").read_text())["churn"]
    on_part = _measure(
        {"kind": "diff", "source": str(part), "old": str(old), "new": str(new),
         "out": str(args.data_dir / "part-moves.parquet")}
    )  # fmt: skip
    print(
        f"{dt.date.today()}  {args.repeats} runs of each, alternating; 1-min load average "
        f"{load:.2f} -> {os.getloadavg()[0]:.2f}; {time.perf_counter() - started:.0f} s in all"
    )
    print()
    print("| what | rows | median s | runs s | rows/s | peak RSS MB | target | met |")
    print("|---|---:|---:|---|---:|---:|---|---|")
    median = {kind: statistics.median(r["seconds"] for r in got) for kind, got in runs.items()}
    for kind, got in runs.items():
        rows = got[0]["rows"]
        rss = max(r["rss_mb"] for r in got)
        ratio = median["diff"] / median["assign"]
        target, met = "", ""
        if kind == "diff":
            target = f"<= {RATIO_TARGET:g}x assign ({ratio:.2f}x), <= 1 GB"
            met = "yes" if ratio <= RATIO_TARGET and rss <= RSS_TARGET_MB else "NO"
        each = ", ".join(f"{r['seconds']:.2f}" for r in got)
        print(
            f"| {kind} | {rows:,} | {median[kind]:.2f} | {each} | {rows / median[kind]:,.0f} | "
            f"{rss:,.0f} | {target} | {met} |"
        )
    print()
    print(
        f"Churn of the 90 % retrain: the manifest reports {churn['moved']:,} of "
        f"{churn['placed']:,} rows ({churn['share_moved']:.2%}); diff on those rows measured "
        f"{on_part['moved']:,} of {on_part['placed']:,} ({on_part['share_moved']:.2%}); on the "
        f"whole table {runs['diff'][0]['moved']:,} of {runs['diff'][0]['placed']:,} "
        f"({runs['diff'][0]['share_moved']:.2%})."
    )
    return 0


def _prepare(folder: Path) -> tuple[Path, Path, Path, Path]:
    """The table, its 90 % part, and the old and new model folders (made once)."""
    table, part = folder / "learners.parquet", folder / "learners-90.parquet"
    models = folder / "models"
    if not table.exists():
        from training.config import TrainingSettings
        from training.run import load_raw

        raw, _ = load_raw(TrainingSettings())
        raw.to_parquet(table, index=False)
        raw.sample(frac=0.9, random_state=0).to_parquet(part, index=False)
    versions = sorted(p.name for p in models.glob("2*") if (p / "manifest.json").exists())
    if len(versions) < 2:
        for data in (table, part):
            done = subprocess.run(
                [sys.executable, "-m", "training", "train", "--data", str(data), "--out",
                 str(models)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-3000:])
        versions = sorted(p.name for p in models.glob("2*") if (p / "manifest.json").exists())
    return table, part, models / versions[-2], models / versions[-1]


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    figures = measure_in_child(__file__, spec, spec["kind"])
    return figures


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process: seconds of the work, rows, peak RSS."""
    import pyarrow.parquet  # noqa: F401

    from training.batch.assign import assign_table
    from training.batch.diff import diff_table
    from training.runtime.loader import load_model

    source, out = Path(spec["source"]), Path(spec["out"])
    sampler = _TreeRss()
    start = time.perf_counter()
    figures: dict[str, Any]
    if spec["kind"] == "assign":
        summary = assign_table(source, out, load_model(Path(spec["new"])))
        figures = {"rows": summary.rows_in}
    else:
        moved = diff_table(
            source, out, load_model(Path(spec["old"])), load_model(Path(spec["new"]))
        )
        figures = {
            "rows": moved.rows,
            "placed": moved.placed,
            "moved": moved.moved,
            "share_moved": moved.share_moved,
        }
    seconds = time.perf_counter() - start
    sampler.stop()
    return {**figures, "seconds": seconds, "rss_mb": sampler.peak_mb}


if __name__ == "__main__":
    sys.exit(main())
