"""Benchmark of the segment service over HTTP against its framework ceiling, and in process.

Starts the service (``bench/_server.py``: ``create_app(settings)`` plus two bench-only ceiling
routes, one uvicorn worker on 127.0.0.1) and, in the same run, one endpoint after the other at
the same concurrency (``wrk`` when installed, else a small asyncio client):

(a) ``POST /bench/learner``      the ``/segment`` parsing of one learner, echoed: the ceiling
(b) ``POST /segment``            one learner
(c) ``POST /bench/batch-parse``  the ``/segment/batch`` parsing of 1,000 learners: the ceiling
(d) ``POST /segment/batch``      the same 1,000-learner bodies
(e) ``POST /segment/explain``    the bodies of (b), explained: target >= 0.5 x (b) requests/s

then, in this process, ``Segmenter.assign`` (cleaning and features included), the batch
path's pieces (``Segmenter.place``, ``render_batch``, and for comparison the same answer as
``orjson.dumps`` of ``{"index": i, **assignment.to_dict()}`` per learner) and the whole batch
route's work, per learner, against pydantic's validation of the same learner as the baseline,
and ``Segmenter.explain`` (placement, why, what-if, path) per learner.
Learners: the seeded synthetic default's rows (clean ones and its own junk) plus 5 % explicitly
junk ones. Prints one table; ratios are against the baseline of the same run.

With ``--drift-cost``, instead: the cost of drift tracking (issue 14). Two servers, drift on and
drift off (``LEARNSEG_DRIFT``), take turns on (b) and (d), in ``--rounds`` rounds whose order
alternates (on off, off on, ...), half of them on a second pair of servers started in the other
order (the server started first measured 5-10 % slower in an A/A run); the table gives each
one's learners/s and learners per CPU-second and the ratio on / off (target: >= 0.95). Over
HTTP on shared cores that ratio moves by +-7 % from run to run, so the table then gives the same
comparison in process, in CPU time, alternated: each route's whole work (validation,
placement, metrics, the counting, the JSON) with and without drift, and the counting itself per
learner (``DriftMonitor.observe_one`` / ``observe_placement``).
``--aa`` gives both servers drift on: what the same comparison shows with no difference at all
(the harness's own bias).

Each endpoint's ``--duration`` is split into ``--rounds`` interleaved pieces (a b c d a b c d),
and after each piece the server is left to finish what it had queued before the next starts.
Besides requests/s, the table gives the server's share of a core and learners per CPU-second of
the server: on cores shared with other jobs, the ratio of those is the steadier one.

    .venv/bin/python bench/serve.py [--model-dir models] [--duration 10] [--connections 32]
    .venv/bin/python bench/serve.py --drift-cost [--aa] [--duration 40] [--rounds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import httpx
import orjson
from _load import (
    BenchServer,
    LoadResult,
    LoadSpec,
    Tool,
    batch_bodies,
    cpu_seconds,
    learner_mix,
    merge_results,
    missing_model,
    pick_tool,
    run_loads,
    single_bodies,
    wait_idle,
)
from _server import BATCH_CEILING, LEARNER_CEILING

from service.batch import assign_batch_body
from service.config import ServiceSettings
from service.metrics import ServiceMetrics
from service.render import render_batch
from service.schemas import Learner, learner_columns, parse_batch
from service.segmenter import Segmenter

# Targets of issue 4.
SINGLE_RATIO_TARGET = 0.8  # (b) / (a), requests/s
BATCH_RATIO_TARGET = 0.5  # (d) / (c), learners/s
BATCH_RATE_TARGET = 100_000  # (d), learners/s
ASSIGN_TARGET_US = 25.0  # Segmenter.assign, per learner
# Target of issue 14: drift tracking costs at most 5 % of /segment and /segment/batch.
DRIFT_RATIO_TARGET = 0.95
# Target of issue 24: /segment/explain answers at least half the requests/s of /segment.
EXPLAIN_RATIO_TARGET = 0.5


@dataclass(frozen=True)
class Row:
    what: str
    req_s: float | None = None
    learners_s: float | None = None
    us_per_learner: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu: float | None = None  # server CPU, % of one core
    per_cpu_s: float | None = None  # learners per CPU-second of the server
    ratio: str = ""
    cpu_ratio: str = ""
    target: str = ""
    met: bool | None = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models"))
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per endpoint.")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="Interleaved rounds the duration is split into (default: 2, so 5 s pieces; "
        "shorter pieces miscount batches, whose latency is near a second).",
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="Seconds before each one.")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--tool", choices=get_args(Tool), default="auto")
    parser.add_argument("--log-level", default="info", help="The server's (default: info).")
    parser.add_argument("--skip-http", action="store_true", help="In-process rows only.")
    parser.add_argument(
        "--drift-cost",
        action="store_true",
        help="Measure drift tracking instead: drift on against drift off, (b) and (d).",
    )
    parser.add_argument(
        "--aa",
        action="store_true",
        help="With --drift-cost: both servers with drift on (an A/A run: the harness's own bias).",
    )
    args = parser.parse_args()
    problem = missing_model(args.model_dir)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2

    learners = learner_mix(1000 + 4 * args.batch_size, seed=7)
    singles = single_bodies(learners[:1000])
    batches = batch_bodies(learners[1000:], args.batch_size)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()

    rows: list[Row] = []
    failures = 0
    tool = pick_tool(args.tool)
    if args.drift_cost:
        if not args.skip_http:
            rows, failures = _measure_drift_cost(args, tool, singles, batches)
        rows += _measure_drift_in_process(args.model_dir, singles, batches[0])
    elif not args.skip_http:
        http_rows, failures = _measure_http(args, tool, singles, batches)
        rows += http_rows
    if not args.drift_cost:
        rows += _measure_in_process(args.model_dir, singles, batches[0])

    segmenter = Segmenter.load(args.model_dir)
    warned = sum(bool(segmenter.assign(x).warnings) for x in _raws(singles))
    print(
        f"{dt.date.today()}  model {segmenter.version} (k={segmenter.k})  "
        f"load: {'' if args.skip_http else f'{tool}, '}{args.connections} connections, "
        f"{args.duration:g} s per endpoint in {args.rounds} interleaved rounds after "
        f"{args.warmup:g} s warm-up; server: 1 uvicorn "
        f"worker, {_server_stack()}, log level {args.log_level}"
    )
    print(
        f"learners: {len(learners):,} from generate_learners(seed=7), "
        f"{warned / len(singles):.0%} of the single bodies get a warning; "
        f"1-min load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}; "
        f"{time.perf_counter() - started:.0f} s; in-process rows: CPU time, best of 7"
    )
    print()
    _print_table(rows)
    if failures:
        print(f"\n{failures} requests failed: the figures above are not valid.", file=sys.stderr)
        return 1
    return 0


def _measure_http(
    args: argparse.Namespace, tool: str, singles: list[bytes], batches: list[bytes]
) -> tuple[list[Row], int]:
    n, conns = args.batch_size, args.connections
    specs = [
        LoadSpec("(a) ceiling: parse 1 learner", LEARNER_CEILING, singles, conns),
        LoadSpec("(b) POST /segment", "/segment", singles, conns),
        LoadSpec(f"(c) ceiling: parse {n:,} learners", BATCH_CEILING, batches, conns, n),
        LoadSpec(f"(d) POST /segment/batch ({n:,})", "/segment/batch", batches, conns, n),
        LoadSpec("(e) POST /segment/explain", "/segment/explain", singles, conns),
    ]
    runs: list[list[LoadResult]] = [[] for _ in specs]
    cpu = [0.0] * len(specs)  # server CPU seconds, until idle again after each piece
    busy = [0.0] * len(specs)  # server CPU seconds while the load ran
    piece = args.duration / args.rounds
    with BenchServer(args.model_dir, log_level=args.log_level) as server:
        for spec in specs:
            _check_once(server.url, spec)
            if args.warmup > 0:
                run_loads(server.url, [spec], args.warmup, args.tool)
            wait_idle(server.pid)
        # Rounds: (a) (b) (c) (d), (a) (b) (c) (d), ...: a colleague's job that starts or stops
        # mid-run then weighs on every endpoint alike instead of on one of them.
        for _ in range(args.rounds):
            for k, spec in enumerate(specs):
                cpu0 = cpu_seconds(server.pid)
                runs[k] += run_loads(server.url, [spec], piece, args.tool)
                busy[k] += cpu_seconds(server.pid) - cpu0
                wait_idle(server.pid)  # the requests still queued belong to this endpoint
                cpu[k] += cpu_seconds(server.pid) - cpu0
    (a, b, c, d, e) = [merge_results(r) for r in runs]
    # Per CPU-second of the server: the CPU is read once the server is idle again, so it covers
    # the requests in flight when each piece ended too (one per connection, answered to a
    # closed socket): they are counted with the completed ones.
    served = [r.requests + r.spec.connections * args.rounds for r in (a, b, c, d, e)]
    per_cpu = [n * r.spec.items / t for n, r, t in zip(served, (a, b, c, d, e), cpu, strict=True)]
    single = b.rate / a.rate
    single_cpu = per_cpu[1] / per_cpu[0]
    batch = d.learners_rate / c.learners_rate
    batch_cpu = per_cpu[3] / per_cpu[2]
    explain = e.rate / b.rate
    explain_cpu = per_cpu[4] / per_cpu[1]
    rows = [
        _http_row(a, busy[0], per_cpu[0]),
        _http_row(
            b,
            busy[1],
            per_cpu[1],
            (single, single_cpu, "(a)"),
            f">= {SINGLE_RATIO_TARGET} x (a)",
            single >= SINGLE_RATIO_TARGET,
        ),
        _http_row(c, busy[2], per_cpu[2]),
        _http_row(
            d,
            busy[3],
            per_cpu[3],
            (batch, batch_cpu, "(c)"),
            f">= {BATCH_RATIO_TARGET} x (c), >= {BATCH_RATE_TARGET:,}/s",
            batch >= BATCH_RATIO_TARGET and d.learners_rate >= BATCH_RATE_TARGET,
        ),
        _http_row(
            e,
            busy[4],
            per_cpu[4],
            (explain, explain_cpu, "(b)"),
            f">= {EXPLAIN_RATIO_TARGET} x (b)",
            explain >= EXPLAIN_RATIO_TARGET,
        ),
    ]
    return rows, sum(r.failures for r in (a, b, c, d, e))


def _measure_drift_cost(
    args: argparse.Namespace, tool: str, singles: list[bytes], batches: list[bytes]
) -> tuple[list[Row], int]:
    """(b) and (d) on two servers, drift on and drift off, taking turns; ratios on / off."""
    n, conns = args.batch_size, args.connections
    specs = [
        LoadSpec("(b) POST /segment", "/segment", singles, conns),
        LoadSpec(f"(d) POST /segment/batch ({n:,})", "/segment/batch", batches, conns, n),
    ]
    modes = ("on", "off")
    runs: dict[tuple[int, str], list[LoadResult]] = {(k, m): [] for k in range(2) for m in modes}
    cpu = dict.fromkeys(runs, 0.0)
    piece = args.duration / args.rounds
    settings = {"on": "on", "off": "on" if args.aa else "off"}  # A/A: "off" counts too
    # The server started first measured 5-10 % slower in an A/A run (both with drift on), so
    # the rounds are split between two pairs of servers started in either order.
    halves = (args.rounds // 2, args.rounds - args.rounds // 2)
    for first, rounds in zip(modes, halves, strict=True):
        if rounds:
            second = "off" if first == "on" else "on"
            started = _drift_pair(args, specs, (first, second), settings, rounds, piece, runs, cpu)
            if not started:
                raise RuntimeError("The drift-on server counted nothing, or drift-off counts.")
    rows: list[Row] = []
    failures = 0
    for k, spec in enumerate(specs):
        merged = {m: merge_results(runs[k, m]) for m in modes}
        served = {m: merged[m].requests + conns * args.rounds for m in modes}
        per_cpu = {m: served[m] * spec.items / cpu[k, m] for m in modes}
        ratio = merged["on"].learners_rate / merged["off"].learners_rate
        cpu_ratio = per_cpu["on"] / per_cpu["off"]
        for mode in ("off", "on"):
            result = merged[mode]
            failures += result.failures
            rows.append(
                Row(
                    what=f"{spec.name}, drift {mode}" + (" (A/A: on too)" if args.aa else ""),
                    req_s=result.rate,
                    learners_s=result.learners_rate,
                    us_per_learner=1e6 / result.learners_rate if result.learners_rate else None,
                    p50_ms=result.p50_ms,
                    p99_ms=result.p99_ms,
                    cpu=cpu[k, mode] / result.seconds * 100,
                    per_cpu_s=per_cpu[mode],
                    ratio="1.00 (baseline)" if mode == "off" else f"{ratio:.3f} x drift off",
                    cpu_ratio="1.00" if mode == "off" else f"{cpu_ratio:.3f}",
                    target="" if mode == "off" else f">= {DRIFT_RATIO_TARGET} x drift off",
                    met=None if mode == "off" else min(ratio, cpu_ratio) >= DRIFT_RATIO_TARGET,
                )
            )
    return rows, failures


def _drift_pair(
    args: argparse.Namespace,
    specs: list[LoadSpec],
    order: tuple[str, str],
    settings: dict[str, str],
    rounds: int,
    piece: float,
    runs: dict[tuple[int, str], list[LoadResult]],
    cpu: dict[tuple[int, str], float],
) -> bool:
    """`rounds` rounds on a pair of servers started in `order`; False when drift misbehaves."""
    level = args.log_level
    with (
        BenchServer(
            args.model_dir, log_level=level, server_args=["--drift", settings[order[0]]]
        ) as first,
        BenchServer(
            args.model_dir, log_level=level, server_args=["--drift", settings[order[1]]]
        ) as second,
    ):
        servers = dict(zip(order, (first, second), strict=True))
        for server in (first, second):
            for spec in specs:
                _check_once(server.url, spec)
                if args.warmup > 0:
                    run_loads(server.url, [spec], args.warmup, args.tool)
            wait_idle(server.pid)
        for r in range(rounds):
            turn = order if r % 2 == 0 else order[::-1]
            for k, spec in enumerate(specs):
                for mode in turn:
                    server = servers[mode]
                    cpu0 = cpu_seconds(server.pid)
                    runs[k, mode] += run_loads(server.url, [spec], piece, args.tool)
                    wait_idle(server.pid)
                    cpu[k, mode] += cpu_seconds(server.pid) - cpu0
        counted = httpx.get(servers["on"].url + "/model/drift", timeout=10).json()
        off_status = httpx.get(servers["off"].url + "/model/drift", timeout=10).status_code
        return bool(counted["since_start"]["count"] > 0 and (off_status == 404) != args.aa)


def _measure_drift_in_process(model_dir: Path, singles: list[bytes], batch: bytes) -> list[Row]:
    """The counting alone, per learner, against the placement it follows (CPU time)."""
    segmenter = Segmenter.load(model_dir, drift_window=100_000)
    monitor = segmenter.drift
    if monitor is None:
        raise RuntimeError(f"The model in {model_dir} has no drift reference: retrain it.")
    assignments = [segmenter.assign(raw) for raw in _raws(singles)]
    columns = learner_columns(parse_batch(batch))
    placed = segmenter.place(columns)
    n = len(placed.nearest)

    def observe_one() -> None:
        for a in assignments:
            monitor.observe_one(a.features.values(), a.segment_id)

    raws = _raws(singles)
    assign_us = _best_us(lambda: [segmenter.assign(raw) for raw in raws], len(raws))
    place_us = _best_us(lambda: segmenter.place(columns), n)
    one_us = _best_us(observe_one, len(assignments))
    many_us = _best_us(lambda: monitor.observe_placement(placed), n)
    # The routes' whole work with and without the counting, alternated, best of 9 each.
    plain = Segmenter.load(model_dir)
    metrics = ServiceMetrics()
    loop = asyncio.new_event_loop()
    gc.set_threshold(ServiceSettings().gc_threshold, *gc.get_threshold()[1:])

    def single_route(model: Segmenter) -> Callable[[], None]:
        def run() -> None:
            for body in singles:
                assignment = model.assign(Learner.model_validate_json(body).raw())
                metrics.observe_assignment(assignment)
                if model.drift is not None:
                    model.drift.observe_one(assignment.features.values(), assignment.segment_id)
                orjson.dumps(assignment.to_dict())

        return run

    def batch_route(model: Segmenter) -> Callable[[], None]:
        def run() -> None:
            loop.run_until_complete(
                assign_batch_body(batch, model, metrics, max_batch=10_000, chunk=1_000)
            )

        return run

    route_rows = []
    for what, make, count in (
        ("/segment work (parse, assign, metrics, JSON)", single_route, len(singles)),
        (f"/segment/batch work: assign_batch_body ({n:,})", batch_route, n),
    ):
        best = {"on": math.inf, "off": math.inf}
        for r in range(9):
            for mode, model in (("on", segmenter), ("off", plain))[:: 1 if r % 2 else -1]:
                best[mode] = min(best[mode], _best_us(make(model), count, repeat=1))
        for mode in ("off", "on"):
            route_rows.append(
                Row(
                    what=f"in process: {what}, drift {mode}",
                    us_per_learner=best[mode],
                    ratio="1.00"
                    if mode == "off"
                    else f"{best['off'] / best['on']:.3f} x drift off (per CPU-s)",
                    target="" if mode == "off" else f">= {DRIFT_RATIO_TARGET} x drift off",
                    met=None if mode == "off" else best["off"] / best["on"] >= DRIFT_RATIO_TARGET,
                )
            )
    return [
        *route_rows,
        Row(what="in process: Segmenter.assign", us_per_learner=assign_us, ratio="1.00"),
        Row(
            what="in process: DriftMonitor.observe_one",
            us_per_learner=one_us,
            ratio=f"{one_us / assign_us:.3f} x assign",
        ),
        Row(what=f"in process: Segmenter.place ({n:,})", us_per_learner=place_us, ratio="1.00"),
        Row(
            what=f"in process: DriftMonitor.observe_placement ({n:,})",
            us_per_learner=many_us,
            ratio=f"{many_us / place_us:.3f} x place",
        ),
    ]


def _check_once(url: str, spec: LoadSpec) -> None:
    """One request before the load: the endpoint answers 200 with the expected shape."""
    response = httpx.post(
        url + spec.path,
        content=spec.bodies[0],
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    body = response.json()
    expected = {
        LEARNER_CEILING: "ctc",
        "/segment": "segment_id",
        BATCH_CEILING: "learners",
        "/segment/batch": "results",
        "/segment/explain": "what_if",
    }[spec.path]
    if response.status_code != 200 or expected not in body:
        raise RuntimeError(f"{spec.path} answered {response.status_code}: {response.text[:300]}")


def _http_row(
    result: LoadResult,
    cpu_s: float,
    per_cpu_s: float,
    ratios: tuple[float, float, str] | None = None,
    target: str = "",
    met: bool | None = None,
) -> Row:
    """A table row; `ratios` is (by rate, by server CPU, name of the baseline) or None for one."""
    if ratios is None:
        ratio, cpu_ratio = "1.00 (baseline)", "1.00"
    else:
        ratio, cpu_ratio = f"{ratios[0]:.2f} x {ratios[2]}", f"{ratios[1]:.2f}"
    return Row(
        what=result.spec.name,
        req_s=result.rate,
        learners_s=result.learners_rate,
        us_per_learner=1e6 / result.learners_rate if result.learners_rate else None,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu=cpu_s / result.seconds * 100,
        per_cpu_s=per_cpu_s,
        ratio=ratio,
        cpu_ratio=cpu_ratio,
        target=target,
        met=met,
    )


def _raws(singles: Sequence[bytes]) -> list[dict[str, Any]]:
    """What ``/segment`` hands the Segmenter: the validated learner's raw fields."""
    return [Learner.model_validate_json(body).raw() for body in singles]


def _best_us(run: Callable[[], object], count: int, repeat: int = 7) -> float:
    """Best of `repeat` runs of `run`, in CPU µs per item (`count` items per run).

    CPU time of this process, not wall time: a colleague's job on the shared cores then delays
    the run without changing the figure.
    """
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best / count * 1e6


def _measure_in_process(model_dir: Path, singles: list[bytes], batch: bytes) -> list[Row]:
    segmenter = Segmenter.load(model_dir)
    metrics = ServiceMetrics()
    raws = _raws(singles)
    items = parse_batch(batch)
    columns = learner_columns(items)
    placed = segmenter.place(columns)
    n = len(items)
    # The garbage-collector threshold the service sets at start-up (service.main).
    gc.set_threshold(ServiceSettings().gc_threshold, *gc.get_threshold()[1:])

    def validate() -> None:
        for body in singles:
            Learner.model_validate_json(body)

    def assign() -> None:
        for raw in raws:
            segmenter.assign(raw)

    loop = asyncio.new_event_loop()

    def batch_work() -> None:
        loop.run_until_complete(
            assign_batch_body(batch, segmenter, metrics, max_batch=10_000, chunk=1_000)
        )

    def assign_render() -> None:
        for raw in raws:
            orjson.dumps(segmenter.assign(raw).to_dict())

    def explain_render() -> None:
        for raw in raws:
            orjson.dumps(segmenter.explain(raw))

    def render_dicts() -> None:
        # What render_batch writes, the plain way: an Assignment and a dict per learner.
        assignments = segmenter.assignments(placed)
        orjson.dumps({"results": [{"index": i, **a.to_dict()} for i, a in enumerate(assignments)]})

    base = _best_us(validate, len(singles))
    timings = [
        ("validate 1 learner (Learner.model_validate_json)", base, None),
        ("Segmenter.assign (cleaning + features)", _best_us(assign, len(raws)), ASSIGN_TARGET_US),
        ("Segmenter.assign + to_dict + orjson", _best_us(assign_render, len(raws)), None),
        (
            "Segmenter.explain + orjson (mean; p99: bench/explain.py)",
            _best_us(explain_render, len(raws), repeat=3),
            None,
        ),
        (f"parse_batch ({n:,})", _best_us(lambda: parse_batch(batch), n), None),
        (f"Segmenter.place ({n:,})", _best_us(lambda: segmenter.place(columns), n), None),
        (
            f"render_batch ({n:,})",
            _best_us(lambda: render_batch(segmenter, [(placed, range(n))], {}), n),
            None,
        ),
        (f"the same, as orjson.dumps of the result dicts ({n:,})", _best_us(render_dicts, n), None),
        (f"batch route work: assign_batch_body ({n:,})", _best_us(batch_work, n), None),
    ]
    rows = []
    for k, (what, us, target) in enumerate(timings):
        rows.append(
            Row(
                what=f"in process: {what}",
                learners_s=1e6 / us,
                us_per_learner=us,
                ratio="1.00 (baseline)" if k == 0 else f"{us / base:.1f} x validate",
                cpu_ratio="",
                target="" if target is None else f"<= {target:g} µs",
                met=None if target is None else us <= target,
            )
        )
    return rows


def _server_stack() -> str:
    """uvicorn's event loop and HTTP parser here ("auto" picks uvloop/httptools when present)."""
    from importlib.util import find_spec

    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    http = "httptools" if find_spec("httptools") else "h11"
    return f"{loop} + {http}"


def _print_table(rows: Sequence[Row]) -> None:
    def num(value: float | None, fmt: str) -> str:
        return "" if value is None else format(value, fmt)

    header = (
        "what",
        "requests/s",
        "learners/s",
        "µs/learner",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "learners/CPU-s",
        "ratio",
        "ratio per CPU-s",
        "target",
        "met",
    )
    print("| " + " | ".join(header) + " |")
    print("|---" + "|---:" * 9 + "|---|---|")
    for row in rows:
        cells = (
            row.what,
            num(row.req_s, ",.0f"),
            num(row.learners_s, ",.0f"),
            num(row.us_per_learner, ".1f"),
            num(row.p50_ms, ".1f"),
            num(row.p99_ms, ".1f"),
            "" if row.cpu is None else f"{row.cpu:.0f} %",
            num(row.per_cpu_s, ",.0f"),
            row.ratio,
            row.cpu_ratio,
            row.target,
            "" if row.met is None else ("yes" if row.met else "NO"),
        )
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
