"""Benchmark: training with scikit-learn and with Spark on 0.2M, 1M and 2M raw rows.

Each run is ``python -m training train --engine ENGINE --data FILE.parquet`` in a subprocess,
with the same settings for both engines (below). Time is the subprocess's wall time; peak
memory is the largest *sum* of resident memory over the subprocess and all its descendants
(for Spark: the driver's Python, the JVM and the Python workers), sampled from ``/proc`` every
0.2 s, so Linux only (psutil would make it portable; it is not a dependency). The tables are
generated once with :func:`training.data.synth.generate_learners` (seed 0) and kept as Parquet in
``--data-dir``.

    .venv/bin/python bench/train_spark.py [--rows 200000 1000000 2000000] [--master local[2]]

Settings of both engines: the sweep over k = 2..8 with one K-Means run per k, 2 bootstrap
resamples for stability and an evaluation sample of 20,000; then k fixed at 5 (so that both
engines fit the same model: a single-seed Spark sweep can miss the knee) with 3 restarts (seeds
for Spark) in the final fit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from training.data.synth import generate_learners, write_learners

SETTINGS = {
    "LEARNSEG_K": "5",
    "LEARNSEG_K_MIN": "2",
    "LEARNSEG_K_MAX": "8",
    "LEARNSEG_SWEEP_N_INIT": "1",
    "LEARNSEG_N_INIT": "3",
    "LEARNSEG_STABILITY_RESAMPLES": "2",
    "LEARNSEG_SILHOUETTE_SAMPLE": "20000",
}
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every descendant (0 for processes already gone)."""
    tree = _children()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(tree.get(pid, []))
        with contextlib.suppress(OSError, IndexError, ValueError):  # gone meanwhile
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    return total


def run_engine(engine: str, data: Path, master: str) -> dict[str, object]:
    """Train once; wall time, peak tree RSS and the manifest's figures."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "training", "train", "--engine", engine]
        command += ["--data", str(data), "--out", tmp]
        if engine == "spark":
            command += ["--master", master]
        env = os.environ | SETTINGS
        start = time.perf_counter()
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(proc.pid))
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = proc.communicate()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        if proc.returncode != 0:
            tail = "\n".join(err.strip().splitlines()[-5:])
            raise SystemExit(f"{engine} on {data} failed ({proc.returncode}):\n{tail}")
        folder = Path(tmp) / (Path(tmp) / "LATEST").read_text().strip()
        manifest = json.loads((folder / "manifest.json").read_text())
    return {
        "seconds": seconds,
        "peak_mb": peak / 2**20,
        "learners": manifest["data"]["learners"],
        "k": manifest["k"],
        "timings": manifest["timings"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000, 2_000_000])
    parser.add_argument("--engines", nargs="+", default=["sklearn", "spark"])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "learnseg")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    steps = ("load", "clean_features", "sweep", "kmeans", "hierarchical", "profiles")
    header = (
        f"{'rows':>9} {'learners':>9} {'engine':<8} {'seconds':>8} {'peak MB':>8} {'k':>2}  "
        + " ".join(f"{s[:8]:>8}" for s in steps)
    )
    lines = []
    for rows in args.rows:
        data = args.data_dir / f"learners-{rows}.parquet"
        if not data.exists():
            write_learners(generate_learners(rows=rows, seed=0), data)
        for engine in args.engines:
            got = run_engine(engine, data, args.master)
            timings = got["timings"]
            assert isinstance(timings, dict)
            line = (
                f"{rows:>9,} {got['learners']:>9,} {engine:<8} {got['seconds']:>8.1f} "
                f"{got['peak_mb']:>8,.0f} {got['k']:>2}  "
                + " ".join(f"{timings.get(s, 0.0):>8.1f}" for s in steps)
            )
            lines.append(line)
            print(line, file=sys.stderr, flush=True)
    print(
        f"master {args.master}, {os.cpu_count()} cores; settings: "
        + ", ".join(f"{k.removeprefix('LEARNSEG_').lower()}={v}" for k, v in SETTINGS.items())
    )
    print(header)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
