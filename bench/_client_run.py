"""One batch run of learnseg_client in a process of its own, measured: what an LMS's nightly job
does with the client, and nothing else (the standard library's csv reader and the client: no
pandas, numpy or service code is imported here).

Reads a raw learner table (CSV) lazily, places it through a running service, writes every
result as a JSON line to ``--out``, and prints one JSON object: learners, item errors, the
versions that placed them, seconds, and the process's peak RSS.

    python bench/_client_run.py URL TABLE.csv --mode stream|list|read \\
        [--limit N] [--chunk-size N] [--compact] [--learner-id COLUMN] [--api-key KEY] \\
        [--out results.jsonl]

- ``stream``: ``client.segment_stream`` (one chunk held);
- ``list``: ``client.segment_batch`` (every result held until the end: what the client did
  before runs streamed);
- ``read``: only reads the table (the baseline: the interpreter, httpx, pydantic, csv).

``--old-client FILE`` runs ``list`` with the client as it was before runs streamed (the
``service/client.py`` of an earlier commit, loaded from `FILE`; ``bench/client_memory.py``
extracts it with git): its ``segment_batch`` and dataclass results.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.util
import json
import resource
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from learnseg_client import ItemError, LearnsegClient, Result

__all__ = ["main", "peak_rss_mb", "read_learners"]

NUMBERS = ("orgyear", "ctc", "ctc_updated_year")
TEXTS = ("company_hash", "email_hash", "job_position")


def read_learners(
    path: Path, limit: int | None = None, learner_id: str | None = None
) -> Iterator[dict[str, Any]]:
    """The table's rows as API learners, one at a time (empty cells left out)."""
    with path.open(newline="", encoding="utf-8") as table:
        for number, row in enumerate(csv.DictReader(table)):
            if limit is not None and number >= limit:
                return
            learner: dict[str, Any] = {k: row[k] for k in TEXTS if row.get(k)}
            learner.update({k: float(row[k]) for k in NUMBERS if row.get(k)})
            if learner_id is not None:
                learner["learner_id"] = row[learner_id]
            yield learner


def _write(results: Iterable[Result], out: TextIO) -> tuple[int, int, set[str]]:
    count, errors, versions = 0, 0, set()
    for result in results:
        count += 1
        if isinstance(result, ItemError):
            errors += 1
        else:
            versions.add(result.model_version)
        out.write(result.model_dump_json())
        out.write("\n")
    return count, errors, versions


def _old_list(
    args: argparse.Namespace, learners: Iterator[dict[str, Any]], out: TextIO
) -> tuple[int, int, set[str]]:
    """``segment_batch`` of the old client (a list of dataclasses), written as JSON lines."""
    spec = importlib.util.spec_from_file_location("old_client", args.old_client)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    with module.LearnsegClient(args.url, api_key=args.api_key, timeout=60.0) as client:
        results = client.segment_batch(list(learners))
    errors, versions = 0, set[str]()
    for result in results:
        row = dataclasses.asdict(result)
        if "error" in row:
            errors += 1
        else:
            versions.add(row["model_version"])
        out.write(json.dumps(row))
        out.write("\n")
    return len(results), errors, versions


def peak_rss_mb() -> float:
    """This process's peak resident set size: ``VmHWM`` (Linux), else ``ru_maxrss``, which
    Linux carries over from the parent at fork (a big parent would show as this process)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("table", type=Path)
    parser.add_argument("--mode", choices=("stream", "list", "read"), default="stream")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--compact", action="store_true")
    parser.add_argument("--learner-id", default=None, help="column sent as learner_id")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--out", type=Path, default=Path("/dev/null"))
    parser.add_argument("--old-client", type=Path, default=None, help="old service/client.py")
    args = parser.parse_args(argv)

    learners = read_learners(args.table, args.limit, args.learner_id)
    start = time.perf_counter()
    client = LearnsegClient(args.url, api_key=args.api_key, timeout=60.0)
    with client, args.out.open("w") as out:
        if args.old_client is not None:
            count, errors, versions = _old_list(args, learners, out)
        elif args.mode == "read":
            count, errors, versions = sum(1 for _ in learners), 0, set[str]()
        elif args.mode == "list":
            results = client.segment_batch(
                learners, compact=args.compact, chunk_size=args.chunk_size
            )
            count, errors, versions = _write(results, out)
        else:
            stream = client.segment_stream(
                learners, compact=args.compact, chunk_size=args.chunk_size
            )
            count, errors, versions = _write(stream, out)
    seconds = time.perf_counter() - start
    heavy = sorted(m for m in ("numpy", "pandas", "service", "training") if m in sys.modules)
    print(
        json.dumps(
            {
                "mode": "old list" if args.old_client else args.mode,
                "learners": count,
                "errors": errors,
                "versions": sorted(versions),
                "seconds": round(seconds, 3),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "heavy_modules": heavy,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
