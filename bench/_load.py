"""What the HTTP benchmarks share: a learner mix, the bench server process, and load generators.

- :func:`learner_mix`: seeded raw learners from ``training.data.synth.generate_learners`` (the
  embedded default's own mix of clean rows and junk: typo'd years, tiny CTCs, placeholder
  titles), with a share of explicitly junk learners on top; every one valid for the API schema.
- :class:`BenchServer`: ``bench/_server.py`` (the service app plus the ceiling routes) in a child
  process on 127.0.0.1, ready once ``/health/ready`` answers 200; stopped (SIGINT, then SIGKILL
  after 10 s) when the ``with`` block ends, whatever happens.
- :func:`run_loads`: POST load on one or more endpoints at once for a fixed time, with ``wrk``
  (Debian's package; one thread per endpoint, a Lua script that cycles through the bodies and,
  when asked, checks every response body) or, where wrk is missing, a small asyncio client.
  Both stop by themselves after ``duration`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson

from learnseg_client import Assignment
from service.schemas import Learner

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "_server.py"
Check = Literal["none", "single", "batch"]
Tool = Literal["auto", "wrk", "asyncio"]
_TIMEOUT = 30.0  # seconds before an unanswered request is a failure
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def missing_model(model_dir: Path) -> str | None:
    """The error line for a model folder without LATEST (None when there is a model)."""
    if (model_dir / "LATEST").is_file():
        return None
    return (
        f"error: no model in {model_dir}/: train one first "
        "(.venv/bin/python -m training train --out DIR) and pass --model-dir DIR."
    )


# ----------------------------------------------------------------------------------- learners
def learner_mix(n: int, *, seed: int = 0, junk_share: float = 0.05) -> list[dict[str, Any]]:
    """`n` raw learners as an LMS would send them (JSON-ready dicts, ``email_hash`` included).

    Rows of the seeded synthetic default (its own junk included), with ``junk_share`` of them
    replaced by a junk variant: a CTC of 2, a five-digit typo year, year 0, a placeholder title,
    a company nobody trained on, or only ``ctc``. Missing values are left out of the dict.
    """
    from training.data.synth import generate_learners  # pandas: imported only when needed

    frame = generate_learners(rows=max(100, n), seed=seed).head(n)
    rng = np.random.default_rng(seed)
    learners: list[dict[str, Any]] = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        learner: dict[str, Any] = {"ctc": int(row["ctc"])}
        for name in ("company_hash", "email_hash", "job_position"):
            value = row[name]
            if isinstance(value, str):
                learner[name] = value
        for name in ("orgyear", "ctc_updated_year"):
            value = row[name]
            if not math.isnan(value):
                learner[name] = int(value) if float(value).is_integer() else float(value)
        if rng.random() < junk_share:
            learner = _junk(learner, int(rng.integers(6)), i)
        Learner.model_validate(learner)  # every body is valid for the API: fail loudly if not
        learners.append(learner)
    return learners


def _junk(learner: dict[str, Any], kind: int, i: int) -> dict[str, Any]:
    out = dict(learner)
    if kind == 0:
        out["ctc"] = 2
    elif kind == 1:
        out["orgyear"] = int(f"{int(out.get('orgyear', 2016))}{i % 10}")
    elif kind == 2:
        out["orgyear"] = 0
    elif kind == 3:
        out["job_position"] = "Not Available"
    elif kind == 4:
        out["company_hash"] = f"zz never seen co {i}"
    else:
        out = {"ctc": out["ctc"]}
    return out


def single_bodies(learners: Sequence[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(learner) for learner in learners]


def batch_bodies(learners: Sequence[dict[str, Any]], size: int) -> list[bytes]:
    """Consecutive batches of `size` learners (a short tail is dropped)."""
    return [
        orjson.dumps({"learners": list(learners[start : start + size])})
        for start in range(0, len(learners) - size + 1, size)
    ]


# ------------------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def wait_idle(pid: int, *, timeout: float = 15.0) -> None:
    """Wait until a process stops using CPU (under 10 % of a core over 0.2 s).

    A load generator stops sending when its time is up, but the server still works through the
    requests it had accepted (with 32 batch requests queued, about a second): the next
    measurement must not pay for them.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.2)
        if cpu_seconds(pid) - before < 0.02:
            return


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class BenchServer:
    """``bench/_server.py`` in a child process on 127.0.0.1; use it as a context manager."""

    def __init__(
        self,
        model_dir: Path,
        *,
        log_level: str = "info",
        ready_timeout: float = 120,
        wait: bool = True,
        server_args: Sequence[str] = (),
    ) -> None:
        """`wait=False`: entering only starts the process; call :meth:`wait_ready` before use
        (the caller can prepare its requests while the server imports and loads its model).
        `server_args` go to ``bench/_server.py`` (``--drift off``)."""
        self.wait = wait
        self.server_args = tuple(server_args)
        self.model_dir = model_dir
        self.log_level = log_level
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="learnseg-bench-")
        self.log_path = Path(self._tmp.name) / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def __enter__(self) -> Self:
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    str(SERVER_SCRIPT),
                    "--model-dir",
                    str(self.model_dir),
                    "--port",
                    str(self.port),
                    "--log-level",
                    self.log_level,
                    *self.server_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if not self.wait:
            return self
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            self._tmp.cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._tmp.cleanup()

    def wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.ready_timeout
        last = "none"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"The bench server exited early:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/health/ready", timeout=1.0)
                if response.status_code == 200:
                    return
                # uvicorn answers only once the lifespan has loaded the model: a 503 is final.
                raise RuntimeError(f"The bench server has no model to serve: {response.text[:300]}")
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(
            f"The bench server was not ready in {self.ready_timeout:.0f} s (last connection error: "
            f"{last}):\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_lines(self) -> int:
        with self.log_path.open("rb") as log:
            return sum(1 for _ in log)

    def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------------------- load
@dataclass(frozen=True)
class LoadSpec:
    """POST `bodies` (cycled) to `path` over `connections` connections."""

    name: str
    path: str
    bodies: Sequence[bytes]
    connections: int
    items: int = 1  # learners per request
    check: Check = "none"  # "none": status only; else every body is checked too


@dataclass(frozen=True)
class LoadResult:
    spec: LoadSpec
    tool: str
    requests: int
    seconds: float
    failures: int  # socket errors, timeouts, non-200 answers and (when checked) bad bodies
    hist: dict[int, float]  # latency in µs -> requests (weights: see _weights)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def learners_rate(self) -> float:
        return self.rate * self.spec.items

    def latency_ms(self, percent: float) -> float:
        """The smallest latency that `percent` % of the requests did not exceed, in ms."""
        total = sum(self.hist.values())
        if not total:
            return math.nan
        wanted = percent / 100 * total * (1 - 1e-9)  # no float dust past a grid step
        seen = 0.0
        for us in sorted(self.hist):
            seen += self.hist[us]
            if seen >= wanted:
                return us / 1000
        return max(self.hist) / 1000

    @property
    def p50_ms(self) -> float:
        return self.latency_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.latency_ms(99)

    @property
    def max_ms(self) -> float:
        return max(self.hist) / 1000 if self.hist else math.nan


def merge_results(results: Sequence[LoadResult]) -> LoadResult:
    """Runs of one spec (rounds) as one: counts and seconds added, latency histograms merged."""
    hist: dict[int, float] = {}
    for result in results:
        for us, weight in result.hist.items():
            hist[us] = hist.get(us, 0.0) + weight
    return LoadResult(
        spec=results[0].spec,
        tool=results[0].tool,
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        failures=sum(r.failures for r in results),
        hist=dict(hist),
    )


def pick_tool(tool: Tool) -> str:
    if tool == "auto":
        return "wrk" if shutil.which("wrk") else "asyncio"
    if tool == "wrk" and not shutil.which("wrk"):
        raise SystemExit("error: wrk is missing (apt-get install -y wrk); try --tool asyncio.")
    return tool


def run_loads(
    url: str, specs: Sequence[LoadSpec], duration: float, tool: Tool = "auto"
) -> list[LoadResult]:
    """Run every spec at the same time for `duration` seconds; one result per spec."""
    if pick_tool(tool) == "wrk":
        return _run_wrk(url, specs, duration)
    return asyncio.run(_run_asyncio(url, specs, duration))


# wrk: one process (one thread) per spec. The bodies are read from a file, one per line (orjson
# never writes a raw newline), and pre-formatted as requests once per thread; `request` only
# picks the next one. A check function counts the responses whose status or body is wrong.
_LUA = r"""
local requests = {}
local n = 0
local i = 0
bad = 0
local items = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local headers = {["Content-Type"] = "application/json"}
  for line in io.lines(args[1]) do
    n = n + 1
    requests[n] = wrk.format("POST", args[2], headers, line)
  end
  items = tonumber(args[3])
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return requests[i]
end

local function valid(body)
  if CHECK == "single" then
    return string.sub(body, 1, 14) == '{"segment_id":'
      and string.find(body, '"model_version":"', 1, true) ~= nil
      and string.sub(body, -2) == '"}'
  end
  local _, count = string.gsub(body, '"model_version":', '')
  return string.sub(body, 1, 12) == '{"results":['
    and count == items
    and string.find(body, '"error":', 1, true) == nil
end

CHECK_RESPONSE

function done(summary, latency, requests)
  local bad_total = 0
  for _, thread in ipairs(threads) do
    bad_total = bad_total + (thread:get("bad") or 0)
  end
  -- the latency at every percentile of GRID, so that the runs of several rounds merge
  -- (Debian's wrk 4.1 does not expose the raw histogram to Lua)
  local quantiles = {}
  if summary.requests > 0 then
    for k, p in ipairs(GRID) do
      quantiles[k] = string.format("[%s,%d]", p, latency:percentile(p))
    end
    quantiles[#quantiles + 1] = string.format("[100,%d]", latency.max)
  end
  local e = summary.errors
  io.write(string.format(
    'LOADJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,'
      .. '"status":%d,"timeout":%d,"bad":%d,"quantiles":[%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    bad_total, table.concat(quantiles, ",")))
end
"""
_LUA_CHECK = r"""
function response(status, headers, body)
  if status ~= 200 or not valid(body) then
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("bad response: ", status, " ", string.sub(body, 1, 300), "\n")
    end
  end
end
"""


# Percentiles read from each wrk run: fine where p50 and p99 are taken.
_GRID = (
    [0.5, *range(1, 98)]
    + [round(98 + 0.1 * i, 1) for i in range(20)]
    + [round(99.9 + 0.01 * i, 2) for i in range(10)]
)


def _weights(requests: int, quantiles: Sequence[Sequence[float]]) -> dict[int, float]:
    """A run's latency distribution as weighted points, from its latency at each percentile.

    The requests between two grid percentiles are counted at the upper one's latency (so a
    merged percentile errs high, never low, and by less than one grid step).
    """
    out: dict[int, float] = {}
    previous = 0.0
    for percent, us in quantiles:
        out[int(us)] = out.get(int(us), 0.0) + (percent - previous) / 100 * requests
        previous = percent
    return dict(out)


def _run_wrk(url: str, specs: Sequence[LoadSpec], duration: float) -> list[LoadResult]:
    with tempfile.TemporaryDirectory(prefix="learnseg-wrk-") as tmp:
        procs = []
        for k, spec in enumerate(specs):
            bodies = Path(tmp) / f"bodies-{k}.txt"
            bodies.write_bytes(b"\n".join(spec.bodies) + b"\n")
            script = Path(tmp) / f"load-{k}.lua"
            check = _LUA_CHECK if spec.check != "none" else ""
            grid = ",".join(f"{p:g}" for p in _GRID)
            script.write_text(
                f'CHECK = "{spec.check}"\nGRID = {{{grid}}}\n'
                + _LUA.replace("CHECK_RESPONSE", check)
            )
            command = [
                "wrk",
                "-t1",
                f"-c{spec.connections}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                f"{_TIMEOUT:g}s",
                "--latency",
                "-s",
                str(script),
                url,
                "--",
                str(bodies),
                spec.path,
                str(spec.items),
            ]
            procs.append(
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            )
        results = []
        for spec, proc in zip(specs, procs, strict=True):
            out, err = proc.communicate(timeout=duration + 120)
            line = next((x for x in out.splitlines() if x.startswith("LOADJSON ")), None)
            if proc.returncode != 0 or line is None:
                raise RuntimeError(f"wrk failed on {spec.path}:\n{out}\n{err}")
            if err.strip():
                print(f"[wrk {spec.path}] {err.strip()}", file=sys.stderr)
            got = json.loads(line.removeprefix("LOADJSON "))
            sockets = got["connect"] + got["read"] + got["write"] + got["timeout"]
            answers = got["bad"] if spec.check != "none" else got["status"]
            results.append(
                LoadResult(
                    spec=spec,
                    tool="wrk",
                    requests=got["requests"],
                    seconds=got["duration_us"] / 1e6,
                    failures=sockets + answers,
                    hist=_weights(got["requests"], got["quantiles"]),
                )
            )
        return results


async def _run_asyncio(url: str, specs: Sequence[LoadSpec], duration: float) -> list[LoadResult]:
    """The fallback: one task per keep-alive connection, each sending its next request once
    the previous one is answered, on bare asyncio streams.

    Not httpx: its connection pool cost ~3.7 ms of client CPU per request at 32 connections
    here (about 60 requests/s while the server idled), so it measured itself, not the service.
    Requests still unanswered when the time is up are dropped, as wrk does, unless they have
    waited longer than the 30 s timeout: those count as failures.
    """
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    latencies: list[list[float]] = [[] for _ in specs]
    failures = [0] * len(specs)
    in_flight: dict[int, float] = {}  # connection -> when its unanswered request was sent

    async def connection(k: int, c: int, offset: int) -> None:
        spec = specs[k]
        requests = [_http_request(host, port, spec.path, body) for body in spec.bodies]
        i = offset
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while True:
            sent = time.perf_counter()
            in_flight[c] = sent
            try:
                if stream is None:
                    stream = await asyncio.open_connection(host, port)
                reader, writer = stream
                writer.write(requests[i % len(requests)])
                i += 1
                status, body = await _read_response(reader)
                ok = status == 200 and _valid(spec, body)
            except (OSError, EOFError, ValueError):
                ok = False
                if stream is not None:
                    stream[1].close()
                stream = None
            del in_flight[c]
            latencies[k].append(time.perf_counter() - sent)
            failures[k] += not ok

    tasks = [
        asyncio.create_task(connection(k, len(specs) * c + k, c * 7919))
        for k, spec in enumerate(specs)
        for c in range(spec.connections)
    ]
    start = time.perf_counter()
    await asyncio.wait(tasks, timeout=duration)
    seconds = time.perf_counter() - start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c, sent in in_flight.items():
        if start + seconds - sent > _TIMEOUT:
            failures[c % len(specs)] += 1
    return [
        LoadResult(
            spec=spec,
            tool="asyncio",
            requests=len(latencies[k]),
            seconds=seconds,
            failures=failures[k],
            hist=dict(Counter(round(lat * 1e6) for lat in latencies[k])),
        )
        for k, spec in enumerate(specs)
    ]


def _http_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (Content-Length or chunked)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise EOFError("connection closed") from exc
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        if "content-length" in headers:
            return status, await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
            return status, b"".join(chunks)
    except asyncio.IncompleteReadError as exc:
        raise EOFError("connection closed") from exc
    raise ValueError("a response with neither Content-Length nor chunked encoding")


def _valid(spec: LoadSpec, content: bytes) -> bool:
    """Whether a 200's body is what the spec's route must answer (always True for "none")."""
    if spec.check == "none":
        return True
    try:
        body = orjson.loads(content)
        if spec.check == "single":
            Assignment.from_dict(body)
            return True
        results = body["results"]
        for item in results:
            Assignment.from_dict(item)
        return len(results) == spec.items
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def measure_in_child(script: str, spec: dict[str, Any], what: str) -> dict[str, Any]:
    """Run ``script --child SPEC`` in a fresh process (its own peak RSS, no warm caches) and
    return the figures it prints on its ``BENCHJSON`` line; RuntimeError naming ``what``."""
    done = subprocess.run(
        [sys.executable, script, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCHJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(line.removeprefix("BENCHJSON "))
    return figures
