"""Benchmark of ``python -m training assign`` on large raw tables, against pyarrow in the same run.

For every table size (Parquet: 0.2M, 2M and 10M raw rows by default; CSV: 0.2M and 2M), in
child processes one after the other so each has its own peak RSS:

- baseline: pyarrow reads the table and writes it back, streaming batches of the same size
  (``ParquetFile(pre_buffer=False).iter_batches`` -> ``ParquetWriter``, as the loader reads;
  for CSV ``pyarrow.csv.open_csv`` -> ``CSVWriter``): the floor of any tool that reads and
  writes such a table;
- ``assign``: :func:`training.batch.assign.assign_table` with the model of ``--model-dir``
  (verification, chunked reading with the loader's rules, the service's edge rules and
  placement, writing through a temporary file), timed from the call to the renamed output;
- ``assign --per-learner`` on the sizes of ``--per-learner-sizes`` (rows grouped by email on disk
  first).

Throughput is input rows per second; the ratio is assign's throughput over the baseline's of the
same table in the same run (the machine is shared and noisy: compare ratios). Peak RSS is the
highest sum of the resident sets of the child and its own worker processes, sampled every
50 ms (interpreter and imports included; ``ru_maxrss`` would be inherited across exec).
Targets (issue 14): >= 250,000 rows/s and peak RSS <= 1 GB on the Parquet tables, whatever
their size.

The tables are generated once (``generate_learners`` in blocks of 500,000 rows with different
seeds, so memory stays flat) into ``--data-dir`` and reused by later runs.

    .venv/bin/python bench/assign.py [--model-dir models] [--data-dir /tmp/learnseg-bench]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _load import measure_in_child

ROWS_TARGET = 250_000  # rows/s
RSS_TARGET_MB = 1024
BLOCK = 500_000


@dataclass(frozen=True)
class Run:
    kind: str
    seconds: float
    rows: int
    rss_mb: float


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/learnseg-bench"))
    parser.add_argument("--sizes", default="200000,2000000,10000000", help="Parquet tables.")
    parser.add_argument("--csv-sizes", default="200000,2000000", help="CSV tables.")
    parser.add_argument("--per-learner-sizes", default="200000,2000000")
    parser.add_argument("--chunk-rows", type=int, default=None, help="Default: the setting's.")
    parser.add_argument("--workers", type=int, default=None, help="Default: the setting's.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("BENCHJSON " + json.dumps(_child(json.loads(args.child))))
        return 0

    from training.config import TrainingSettings
    from training.runtime.artifacts import LATEST_FILE, MANIFEST_FILE

    chunk = args.chunk_rows or TrainingSettings().assign_chunk_rows
    workers = args.workers or TrainingSettings().assign_workers
    if not any((args.model_dir / name).exists() for name in (LATEST_FILE, MANIFEST_FILE)):
        print(f"No model in {args.model_dir}: run `make train` first.", file=sys.stderr)
        return 2
    sizes = _sizes(args.sizes)
    csv_sizes = _sizes(args.csv_sizes)
    per_learner = _sizes(args.per_learner_sizes)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    lines = []
    for fmt, rows_list in (("parquet", sizes), ("csv", csv_sizes)):
        for rows in rows_list:
            source = _table(args.data_dir, rows, fmt)
            out = args.data_dir / f"out-{rows}.{fmt}"
            spec = {"source": str(source), "out": str(out), "chunk": chunk, "workers": workers}
            base = _measure({**spec, "kind": "baseline"})
            mine = _measure({**spec, "kind": "assign", "model": str(args.model_dir)})
            lines.append((fmt, rows, "assign", base, mine))
            if fmt == "parquet" and rows in per_learner:
                grouped = _measure({**spec, "kind": "per-learner", "model": str(args.model_dir)})
                lines.append((fmt, rows, "assign --per-learner", base, grouped))
            out.unlink(missing_ok=True)
    print(
        f"{dt.date.today()}  chunk {chunk:,} rows, {workers} placing processes; 1-min load "
        f"average {load:.2f} -> {os.getloadavg()[0]:.2f}; "
        f"{time.perf_counter() - started:.0f} s in all "
        f"(tables generated once into {args.data_dir})"
    )
    print()
    print(
        "| table | rows | what | seconds | rows/s | x baseline | peak RSS MB | "
        "baseline s | baseline rows/s | baseline RSS MB | target | met |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for fmt, rows, what, base, mine in lines:
        rate = rows / mine.seconds
        ratio = (rows / mine.seconds) / (rows / base.seconds)
        parquet = fmt == "parquet" and what == "assign"
        met = rate >= ROWS_TARGET and mine.rss_mb <= RSS_TARGET_MB
        print(
            f"| {fmt} | {rows:,} | {what} | {mine.seconds:.2f} | {rate:,.0f} | {ratio:.2f} | "
            f"{mine.rss_mb:,.0f} | {base.seconds:.2f} | {rows / base.seconds:,.0f} | "
            f"{base.rss_mb:,.0f} | {'>= 250,000 rows/s, <= 1 GB' if parquet else ''} | "
            f"{('yes' if met else 'NO') if parquet else ''} |"
        )
    return 0


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _measure(spec: dict[str, Any]) -> Run:
    figures = measure_in_child(__file__, spec, f"{spec['kind']} on {spec['source']}")
    return Run(spec["kind"], figures["seconds"], figures["rows"], figures["rss_mb"])


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process: seconds of the work, rows, peak RSS."""
    # Every library imported before the clock starts, in both kinds of child.
    import pandas  # noqa: F401
    import pyarrow.csv
    import pyarrow.parquet  # noqa: F401

    from training.batch.assign import assign_table
    from training.runtime.loader import load_model

    source, out, chunk = Path(spec["source"]), Path(spec["out"]), int(spec["chunk"])
    kind = spec["kind"]
    sampler = _TreeRss()
    if kind == "baseline":
        start = time.perf_counter()
        rows = _copy_with_pyarrow(source, out, chunk)
        seconds = time.perf_counter() - start
    else:
        start = time.perf_counter()
        placing = load_model(Path(spec["model"]))
        summary = assign_table(
            source,
            out,
            placing,
            chunk_rows=chunk,
            per_learner=kind == "per-learner",
            workers=int(spec["workers"]),
        )
        seconds = time.perf_counter() - start
        rows = summary.rows_in
    sampler.stop()
    return {"seconds": seconds, "rows": rows, "rss_mb": sampler.peak_mb}


class _TreeRss:
    """Samples the resident set of this process and its descendants every 50 ms; keeps the peak."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._sample()
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(0.05):
            self._sample()

    def _sample(self) -> None:
        total = sum(_rss_kb(pid) for pid in _tree(os.getpid()))
        self.peak_mb = max(self.peak_mb, total / 1024)


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(x) for x in task.read_text().split()]
    return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _copy_with_pyarrow(source: Path, out: Path, chunk: int) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = 0
    if source.suffix == ".parquet":
        # As the loader reads (pre_buffer would keep the whole file in memory by the end).
        reader = pq.ParquetFile(source, pre_buffer=False)
        with pq.ParquetWriter(out, reader.schema_arrow) as writer:
            for batch in reader.iter_batches(batch_size=chunk, use_threads=False):
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows
    stream = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=64 << 20))
    with pacsv.CSVWriter(out, stream.schema) as writer:
        for batch in stream:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _table(folder: Path, rows: int, fmt: str) -> Path:
    """The table of `rows` raw rows in `fmt`, generated once (Parquet first, CSV from it)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    parquet = folder / f"learners-{rows}.parquet"
    if not parquet.exists():
        from training.data.synth import generate_learners

        schema = pa.schema(
            [
                ("Unnamed: 0", pa.int64()),
                ("company_hash", pa.string()),
                ("email_hash", pa.string()),
                ("orgyear", pa.float64()),
                ("ctc", pa.float64()),
                ("job_position", pa.string()),
                ("ctc_updated_year", pa.float64()),
            ]
        )
        temp = parquet.with_suffix(".tmp")
        with pq.ParquetWriter(temp, schema) as writer:
            for k, start in enumerate(range(0, rows, BLOCK)):
                block = generate_learners(rows=min(BLOCK, rows - start), seed=100 + k)
                block["Unnamed: 0"] = block["Unnamed: 0"] + start
                table = pa.Table.from_pandas(block, preserve_index=False)
                writer.write_table(table.select(schema.names).cast(schema))
        os.replace(temp, parquet)
    if fmt == "parquet":
        return parquet
    csv = folder / f"learners-{rows}.csv"
    if not csv.exists():
        temp = csv.with_suffix(".tmp")
        reader = pq.ParquetFile(parquet)
        with pacsv.CSVWriter(temp, reader.schema_arrow) as writer:
            for batch in reader.iter_batches(batch_size=BLOCK):
                writer.write_batch(batch)
        os.replace(temp, csv)
    return csv


if __name__ == "__main__":
    sys.exit(main())
