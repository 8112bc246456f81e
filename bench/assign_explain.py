"""Benchmark of ``python -m training assign --explain`` against plain ``assign``, same table.

On the Parquet table of ``--rows`` raw rows (2M by default; generated once by ``bench/assign.py``'s
recipe into ``--data-dir`` and reused), in child processes one after the other so each has its own
peak RSS: :func:`training.batch.assign.assign_table` without and with ``explain=True`` (the
what-if columns of :mod:`training.batch.explain`), timed from the call to the renamed output.
Throughput is input rows per second; peak RSS is the highest resident set of the child and its
worker processes, sampled every 50 ms (interpreter and imports included). Target (issue 24):
``--explain`` >= 50,000 rows/s and <= 1 GB on the 2M-row Parquet table.

Also prints how the explained rows were answered: the share of pay moves solved in closed
form, by the vector search, and by the scalar Explainer row by row.

    .venv/bin/python bench/assign_explain.py [--model-dir models] [--data-dir /tmp/learnseg-bench]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from _load import measure_in_child
from assign import _table, _TreeRss  # bench/assign.py: the same tables and the same sampler

ROWS_TARGET = 50_000  # rows/s with --explain
RSS_TARGET_MB = 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnseg-bench"))
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk-rows", type=int, default=None, help="Default: the setting's.")
    parser.add_argument("--workers", type=int, default=None, help="Default: the setting's.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("BENCHJSON " + json.dumps(_child(json.loads(args.child))))
        return 0

    from training.config import TrainingSettings

    chunk = args.chunk_rows or TrainingSettings().assign_chunk_rows
    workers = args.workers or TrainingSettings().assign_workers
    args.data_dir.mkdir(parents=True, exist_ok=True)
    source = _table(args.data_dir, args.rows, "parquet")
    load = os.getloadavg()[0]
    started = time.perf_counter()
    runs = {}
    for explain in (False, True):
        spec: dict[str, Any] = {
            "source": str(source),
            "out": str(args.data_dir / f"out-explain-{args.rows}.parquet"),
            "model": str(args.model_dir),
            "chunk": chunk,
            "workers": workers,
            "explain": explain,
        }
        runs[explain] = _measure(spec)
        Path(spec["out"]).unlink(missing_ok=True)
    print(
        f"{dt.date.today()}  {args.rows:,} Parquet rows, chunk {chunk:,} rows, {workers} placing "
        f"processes; 1-min load average {load:.2f} -> {os.getloadavg()[0]:.2f}; "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    print()
    print("| what | seconds | rows/s | x assign | peak RSS MB | target | met |")
    print("|---|---:|---:|---:|---:|---|---|")
    base = runs[False]
    for explain, run in runs.items():
        rate = run["rows"] / run["seconds"]
        ratio = base["seconds"] / run["seconds"]
        met = rate >= ROWS_TARGET and run["rss_mb"] <= RSS_TARGET_MB
        print(
            f"| assign{' --explain' if explain else ''} | {run['seconds']:.2f} | {rate:,.0f} | "
            f"{ratio:.2f} | {run['rss_mb']:,.0f} | "
            f"{'>= 50,000 rows/s, <= 1 GB' if explain else ''} | "
            f"{('yes' if met else 'NO') if explain else ''} |"
        )
    paths = runs[True]["paths"]
    total = sum(paths.values()) or 1
    print()
    print("| pay moves answered by | moves | share |")
    print("|---|---:|---:|")
    for name, count in paths.items():
        print(f"| {name} | {count:,} | {count / total:.3%} |")
    return 0


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    figures = measure_in_child(__file__, spec, f"assign on {spec['source']}")
    return figures


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process: seconds, rows, peak RSS, how moves were found."""
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from training.batch import explain
    from training.batch.assign import assign_table
    from training.runtime.loader import load_model

    paths = {"closed form (walk, settled by placing)": 0, "vector search": 0, "Explainer": 0}
    searched, fallen = explain.WhatIfs._search, explain.WhatIfs._fallback

    def search(self: Any, raw: Any, ctc: Any, centre: Any, rows: Any, *rest: Any) -> None:
        paths["vector search"] += len(rows)
        searched(self, raw, ctc, centre, rows, *rest)

    def fallback(self: Any, raw: Any, ctc: Any, pay: Any, direction: int) -> None:
        paths["Explainer"] += len(pay.fallback)
        fallen(self, raw, ctc, pay, direction)

    explain.WhatIfs._search = search  # type: ignore[method-assign,assignment]
    explain.WhatIfs._fallback = fallback  # type: ignore[method-assign,assignment]
    sampler = _TreeRss()
    start = time.perf_counter()
    summary = assign_table(
        Path(spec["source"]),
        Path(spec["out"]),
        load_model(Path(spec["model"])),
        chunk_rows=int(spec["chunk"]),
        workers=int(spec["workers"]),
        explain=bool(spec["explain"]),
    )
    seconds = time.perf_counter() - start
    sampler.stop()
    if spec["explain"]:
        import pyarrow.parquet as pq

        found = pq.read_table(spec["out"], columns=["pay_up_ctc", "pay_down_ctc"])
        moves = sum(len(c) - c.null_count for c in found.columns)
        paths["closed form (walk, settled by placing)"] = (
            moves - paths["vector search"] - paths["Explainer"]
        )
    return {
        "seconds": seconds,
        "rows": summary.rows_in,
        "rss_mb": sampler.peak_mb,
        "paths": paths,
    }


if __name__ == "__main__":
    sys.exit(main())
