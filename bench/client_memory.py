"""Memory and time of the client's batch runs: 205,843 learners through a live service.

Writes the embedded default table (``training.data.synth.generate_learners``, ``--rows`` and
``--seed``) as a CSV, starts the service on ``--model-dir`` (``bench/_server.py``, one worker on
127.0.0.1), then runs ``bench/_client_run.py`` in a fresh process per row: the client alone
reading the CSV lazily and writing every result as a JSON line, as an LMS's nightly job would.
Each row gives the learners placed, seconds, learners/s and the process's peak RSS.

Rows: ``read`` (the table read, nothing sent: the baseline of the interpreter, httpx, pydantic
and csv), ``segment_stream`` with the default chunk (2,000) and with 10,000 (the service's
``max_batch``), compact, ``segment_batch`` (every result held), and the client as it was before
runs streamed (``service/client.py`` of ``--old-commit``, extracted with git: its
``segment_batch`` of a list).

    .venv/bin/python bench/client_memory.py [--model-dir models] [--rows 205843] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _load import BenchServer, missing_model

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RUNNER = HERE / "_client_run.py"
#: The last commit whose service/client.py was the client before runs streamed.
OLD_COMMIT = "d1f071f"
TARGET_MB = 150.0


def _write_table(rows: int, seed: int, path: Path) -> None:
    from training.data.synth import generate_learners  # pandas: only in this process

    generate_learners(rows=rows, seed=seed).to_csv(path, index=False)


def _old_client(folder: Path, commit: str) -> Path | None:
    """The old ``service/client.py``, or None without git or that commit."""
    done = subprocess.run(
        ["git", "show", f"{commit}:service/client.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    path = folder / "old_client.py"
    path.write_text(done.stdout, encoding="utf-8")
    return path


def _run(url: str, table: Path, out: Path, *args: str) -> dict[str, Any]:
    """One run of bench/_client_run.py in a process of its own (only the client importable
    besides the standard library and the venv's packages)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "clients" / "python")}
    done = subprocess.run(
        [sys.executable, str(RUNNER), url, str(table), "--out", str(out), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["heavy_modules"]:
        raise SystemExit(f"error: the client run imported {result['heavy_modules']}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "models")
    parser.add_argument("--rows", type=int, default=205_843)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--old-commit", default=OLD_COMMIT)
    args = parser.parse_args()
    if (error := missing_model(args.model_dir)) is not None:
        print(error, file=sys.stderr)
        return 2

    rows: list[tuple[str, list[str]]] = [
        ("read the table only (baseline)", ["--mode", "read"]),
        ("`segment_stream` (chunks of 2,000)", ["--mode", "stream"]),
        ("`segment_stream`, chunks of 10,000", ["--mode", "stream", "--chunk-size", "10000"]),
        ("`segment_stream`, compact", ["--mode", "stream", "--compact"]),
        ("`segment_batch` (every result held)", ["--mode", "list"]),
    ]
    with tempfile.TemporaryDirectory(prefix="learnseg-client-bench-") as tmp:
        folder = Path(tmp)
        table = folder / "learners.csv"
        _write_table(args.rows, args.seed, table)
        old = _old_client(folder, args.old_commit)
        if old is not None:
            name = f"the old client's `segment_batch` ({args.old_commit})"
            rows.append((name, ["--old-client", str(old)]))
        out = folder / "out.jsonl"
        with BenchServer(args.model_dir, log_level="warning") as server:
            results = [(name, _run(server.url, table, out, *more)) for name, more in rows]

    base = results[0][1]["peak_rss_mb"]
    print(f"{args.rows:,} learners (seed {args.seed}); target: a run under {TARGET_MB:.0f} MB\n")
    print("| run | learners | seconds | learners/s | peak RSS (MB) | over the baseline (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, got in results:
        rate = got["learners"] / got["seconds"] if got["seconds"] else 0.0
        print(
            f"| {name} | {got['learners']:,} | {got['seconds']:.2f} | {rate:,.0f} | "
            f"{got['peak_rss_mb']:.0f} | {got['peak_rss_mb'] - base:+.0f} |"
        )
    versions = {v for _, got in results for v in got["versions"]}
    print(f"\nversions that placed learners: {', '.join(sorted(versions))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
