"""Soak test of the segment service: sustained load on both assignment routes, memory watched.

Starts the service (``bench/_server.py``, one uvicorn worker on 127.0.0.1) and sends, for
``--duration`` seconds after a short warm-up, ``POST /segment`` on half of ``--connections``
connections and ``POST /segment/batch`` (``--batch-size`` learners) on the other half, at the same
time (``wrk`` when installed, else a small asyncio client; both stop by themselves). Every
response must be a 200 with a valid body: wrk checks each body's shape in Lua (a placement; a
batch with one placement per learner and no item error), the asyncio client parses each one, and
a last request to each route is validated against the response models. The server's RSS
(``VmRSS`` of ``/proc/<pid>/status``) is sampled every second; growth is the mean of the last
``--window`` seconds against the mean of the first.

Criteria (exit code 1 when one fails): 0 failed requests; RSS growth < ``--max-growth`` (10 %).

    .venv/bin/python bench/soak.py [--model-dir models] [--duration 60] [--window 10] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any, get_args

import httpx
from _load import (
    BenchServer,
    LoadResult,
    LoadSpec,
    Tool,
    batch_bodies,
    learner_mix,
    missing_model,
    pick_tool,
    rss_mb,
    run_loads,
    single_bodies,
)

from service.schemas import BatchResponse, SegmentResult


class RssSampler(threading.Thread):
    """Samples a process's RSS every `interval` seconds: (seconds since `start`, MB) pairs."""

    def __init__(self, pid: int, start: float, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.start_time = start
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            try:
                self.samples.append((time.perf_counter() - self.start_time, rss_mb(self.pid)))
            except (OSError, RuntimeError):  # the process is gone
                return
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


@dataclass(frozen=True)
class SoakReport:
    results: list[LoadResult]
    tool: str
    rss_ready: float
    rss_first: float
    rss_last: float
    rss_max: float
    trace: list[tuple[float, float]]  # (seconds since the load started, RSS MB)
    final_check_failures: int
    max_growth: float

    @property
    def failures(self) -> int:
        return sum(r.failures for r in self.results) + self.final_check_failures

    @property
    def growth(self) -> float:
        return (self.rss_last - self.rss_first) / self.rss_first * 100

    @property
    def passed(self) -> bool:
        return self.failures == 0 and self.growth < self.max_growth

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "endpoints": {
                r.spec.path: {
                    "connections": r.spec.connections,
                    "requests": r.requests,
                    "requests_per_s": round(r.rate, 1),
                    "failures": r.failures,
                    "p50_ms": r.p50_ms,
                    "p99_ms": r.p99_ms,
                }
                for r in self.results
            },
            "final_check_failures": self.final_check_failures,
            "failures": self.failures,
            "rss_mb": {
                "ready": round(self.rss_ready, 1),
                "first_window": round(self.rss_first, 1),
                "last_window": round(self.rss_last, 1),
                "max": round(self.rss_max, 1),
                "samples": len(self.trace),
            },
            "rss_growth_pct": round(self.growth, 2),
            "passed": self.passed,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of measured load.")
    parser.add_argument("--window", type=float, default=10.0, help="RSS window in seconds.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Seconds of load before.")
    parser.add_argument("--connections", type=int, default=64, help="Split over both routes.")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--learners", type=int, default=20_000, help="Distinct learners sent.")
    parser.add_argument("--max-growth", type=float, default=10.0, help="RSS growth limit, %%.")
    parser.add_argument("--tool", choices=get_args(Tool), default="auto")
    parser.add_argument("--log-level", default="info", help="The server's (default: info).")
    parser.add_argument("--json", action="store_true", help="Also print one JSON line.")
    args = parser.parse_args()
    problem = missing_model(args.model_dir)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    if args.duration < 2 * args.window:
        print("error: --duration must be at least twice --window.", file=sys.stderr)
        return 2

    report = soak(args)
    load_average = os.getloadavg()[0]
    print(
        f"{dt.date.today()}  soak: {report.tool}, {args.connections} connections "
        f"({args.connections // 2} per route), {args.duration:g} s after {args.warmup:g} s "
        f"warm-up, batches of {args.batch_size}, {args.learners:,} distinct learners; "
        f"server: 1 uvicorn worker, log level {args.log_level}; 1-min load average "
        f"{load_average:.2f}"
    )
    print()
    print("| route | connections | requests | requests/s | failed | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in report.results:
        print(
            f"| POST {r.spec.path} | {r.spec.connections} | {r.requests:,} | {r.rate:,.0f} "
            f"| {r.failures} | {r.p50_ms:.1f} | {r.p99_ms:.1f} |"
        )
    print()
    print(
        f"| RSS at ready | first {args.window:g} s (mean) | last {args.window:g} s (mean) "
        "| max | growth | samples |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {report.rss_ready:.1f} MB | {report.rss_first:.1f} MB | {report.rss_last:.1f} MB "
        f"| {report.rss_max:.1f} MB | {report.growth:+.2f} % | {len(report.trace)} |"
    )
    windows = _window_means(report.trace, args.window)
    trend = ", ".join(f"{mb:.1f}" for mb in windows)
    print(f"RSS by {args.window:g} s window (mean, MB): {trend}")
    print()
    sent = sum(r.requests for r in report.results)
    print(
        f"0 failed requests: {'yes' if report.failures == 0 else 'NO'} "
        f"({report.failures} of {sent:,}, final model check: {report.final_check_failures})"
    )
    print(
        f"RSS growth < {args.max_growth:g} %: {'yes' if report.growth < args.max_growth else 'NO'}"
        f" ({report.growth:+.2f} %)"
    )
    if args.json:
        print("SOAKJSON " + json.dumps(report.to_json()))
    return 0 if report.passed else 1


def soak(args: argparse.Namespace) -> SoakReport:
    """Run the soak described by the parsed flags and gather the figures."""
    tool = pick_tool(args.tool)
    # The server imports and loads its model while the learners are generated.
    with BenchServer(args.model_dir, log_level=args.log_level, wait=False) as server:
        half = args.learners // 2
        learners = learner_mix(args.learners, seed=11)
        singles = single_bodies(learners[:half])
        batches = batch_bodies(learners[half:], args.batch_size)
        per_route = args.connections // 2
        specs = [
            LoadSpec("single", "/segment", singles, per_route, check="single"),
            LoadSpec(
                "batch",
                "/segment/batch",
                batches,
                args.connections - per_route,
                args.batch_size,
                check="batch",
            ),
        ]
        server.wait_ready()
        rss_ready = rss_mb(server.pid)
        warm = run_loads(server.url, specs, args.warmup, args.tool) if args.warmup > 0 else []
        start = time.perf_counter()
        sampler = RssSampler(server.pid, start)
        sampler.start()
        try:
            results = run_loads(server.url, specs, args.duration, args.tool)
        finally:
            sampler.stop()
        final = _final_check(server.url, singles[0], batches[0], args.batch_size)
    samples = sampler.samples
    first = [mb for t, mb in samples if t < args.window]
    last = [mb for t, mb in samples if t >= args.duration - args.window]
    if not first or not last:
        raise RuntimeError(f"too few RSS samples ({len(samples)}) for {args.window:g} s windows")
    # A failure during warm-up is a failure too.
    results = [
        LoadResult(
            spec=r.spec,
            tool=r.tool,
            requests=r.requests,
            seconds=r.seconds,
            failures=r.failures + sum(w.failures for w in warm if w.spec is r.spec),
            hist=r.hist,
        )
        for r in results
    ]
    return SoakReport(
        results=results,
        tool=tool,
        rss_ready=rss_ready,
        rss_first=fmean(first),
        rss_last=fmean(last),
        rss_max=max(mb for _, mb in samples),
        trace=samples,
        final_check_failures=final,
        max_growth=args.max_growth,
    )


def _window_means(trace: list[tuple[float, float]], window: float) -> list[float]:
    """Mean RSS of each consecutive `window` seconds of the trace."""
    buckets: dict[int, list[float]] = {}
    for t, mb in trace:
        buckets.setdefault(int(t // window), []).append(mb)
    return [fmean(buckets[k]) for k in sorted(buckets)]


def _final_check(url: str, single: bytes, batch: bytes, size: int) -> int:
    """After the load: one request per route, validated against the response models."""
    failures = 0
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        response = client.post("/segment", content=single)
        try:
            SegmentResult.model_validate_json(response.content)
        except ValueError:
            failures += 1
        failures += response.status_code != 200
        response = client.post("/segment/batch", content=batch)
        try:
            results = BatchResponse.model_validate_json(response.content).results
            failures += len(results) != size or any(not hasattr(r, "segment_id") for r in results)
        except ValueError:
            failures += 1
        failures += response.status_code != 200
    return failures


if __name__ == "__main__":
    sys.exit(main())
