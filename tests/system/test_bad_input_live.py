"""A barrage of bad requests against a real ``python -m service``: clear 4xx, never a 5xx.

tests/service/test_schemas.py checks each bad body in-process (the exact 422 locations and
sentences). Here the same kinds of input go over real sockets to uvicorn, from several threads
at once, together with what only a real server sees: bodies over the byte limit with and
without Content-Length (chunked), a client hanging up mid-body, bytes that are not HTTP, a
Content-Length that is not a number. Afterwards the process still runs, /health/live answers
200, a good /segment is placed, and the log holds no traceback and no error line.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import LEARNERS, LiveService, live_service

MAX_BATCH = 100  # the server's limit here: the body limit follows (100 x 4 KiB + 1 MiB)
BODY_LIMIT = MAX_BATCH * 4096 + (1 << 20)
ROUNDS = 4
THREADS = 4
DEADLINE_SECONDS = 90.0
JSON = {"content-type": "application/json"}
SECRET = "secret-company-hash-7e1f"


@dataclass(frozen=True)
class Shot:
    """One bad request and the statuses it may get (None: the server closed the connection)."""

    name: str
    send: Callable[[LiveService, httpx.Client], int | None]
    expected: frozenset[int | None]


def _post(path: str, body: bytes, headers: dict[str, str] | None = None) -> Callable[..., int]:
    def send(service: LiveService, client: httpx.Client) -> int:
        return client.post(service.url + path, content=body, headers=headers or {}).status_code

    return send


def _request(method: str, path: str) -> Callable[..., int]:
    def send(service: LiveService, client: httpx.Client) -> int:
        return client.request(method, service.url + path).status_code

    return send


def _chunked(path: str, size: int) -> Callable[..., int]:
    """A body with no Content-Length (chunked transfer), larger than the limit."""

    def chunks() -> Iterator[bytes]:
        yield b'{"learners": ['
        piece = json.dumps({"ctc": 1e6, "company_hash": "x" * 150}).encode() + b","
        for _ in range(size // len(piece) + 1):
            yield piece
        yield b'{"ctc": 1}]}'

    def send(service: LiveService, client: httpx.Client) -> int:
        return client.post(service.url + path, content=chunks(), headers=JSON).status_code

    return send


def _raw(data: bytes) -> Callable[..., int | None]:
    """Bytes straight onto a socket, then half-close; the status of the answer, if any."""

    def send(service: LiveService, client: httpx.Client) -> int | None:
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            answer = sock.recv(64)
        if not answer:
            return None
        return int(answer.split(b" ", 2)[1])

    return send


def _learner(**fields: object) -> bytes:
    return json.dumps({"company_hash": SECRET, **fields}).encode()


def _status(*codes: int | None) -> frozenset[int | None]:
    return frozenset(codes)


SHOTS = [
    Shot("malformed JSON", _post("/segment", b'{"ctc": 5,', JSON), _status(422)),
    Shot("NaN", _post("/segment", b'{"ctc": NaN}', JSON), _status(422)),
    Shot("5000 digits", _post("/segment", b'{"ctc": 1' + b"0" * 5000 + b"}", JSON), _status(422)),
    Shot(
        "deep nesting",
        _post("/segment", b'{"ctc": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON),
        _status(422),
    ),
    Shot("not UTF-8", _post("/segment", b'{"ctc": "\xff\xfe"}', JSON), _status(422)),
    Shot("array body", _post("/segment", b'[{"ctc": 5}]', JSON), _status(422)),
    Shot("empty body", _post("/segment", b"", JSON), _status(422)),
    Shot("negative ctc", _post("/segment", _learner(ctc=-1), JSON), _status(422)),
    Shot("unknown field", _post("/segment", _learner(ctc=5, x=1), JSON), _status(422)),
    Shot(
        "text/plain",
        _post("/segment", _learner(ctc=5), {"content-type": "text/plain"}),
        _status(415),
    ),
    Shot(
        "form",
        _post("/segment", b"ctc=5", {"content-type": "application/x-www-form-urlencoded"}),
        _status(415),
    ),
    Shot(
        "multipart",
        _post(
            "/segment",
            b"--b\r\n\r\nx\r\n--b--",
            {"content-type": "multipart/form-data; boundary=b"},
        ),
        _status(415),
    ),
    Shot("no content type", _post("/segment", _learner(ctc=5)), _status(415)),
    Shot(
        "body over the limit",
        _post("/segment/batch", b" " * (BODY_LIMIT + 1), JSON),
        _status(413),
    ),
    Shot("chunked body over the limit", _chunked("/segment/batch", BODY_LIMIT), _status(413)),
    Shot(
        "batch over max_batch",
        _post(
            "/segment/batch",
            json.dumps({"learners": [{"ctc": 1e6}] * (MAX_BATCH + 1)}).encode(),
            JSON,
        ),
        _status(413),
    ),
    Shot(
        "batch of invalid items",
        _post("/segment/batch", json.dumps({"learners": [{"ctc": -1}] * MAX_BATCH}).encode(), JSON),
        _status(200),
    ),
    Shot("batch not a list", _post("/segment/batch", b'{"learners": {}}', JSON), _status(422)),
    Shot("batch wrong envelope", _post("/segment/batch", b"[]", JSON), _status(422)),
    # anonymous service: reloading over HTTP is off (403); a body FastAPI cannot decode is
    # refused first (400), before any dependency runs
    Shot("reload undecodable", _post("/admin/reload", b"\x00" * 5, JSON), _status(400, 403)),
    Shot("reload traversal", _post("/admin/reload?version=..%2F..%2Fetc", b"", JSON), _status(403)),
    Shot("wrong method", _request("PATCH", "/segment"), _status(405)),
    Shot("bad query", _request("GET", "/segments?level=%FF"), _status(422)),
    Shot("huge segment id", _request("GET", "/segments/" + "9" * 40), _status(404, 422)),
    Shot("plot traversal", _request("GET", "/plots/..%2F..%2Fmanifest.png"), _status(404)),
    Shot("not HTTP", _raw(b"GARBAGE\r\n\r\n"), _status(400, None)),
    Shot(
        "Content-Length not a number",
        _raw(b"POST /segment HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}"),
        _status(400, None),
    ),
    Shot(
        "hang-up mid-body",
        _raw(
            b"POST /segment HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"ctc": 5'
        ),
        _status(None),
    ),
]


@pytest.fixture(scope="module")
def service(
    service_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    log = tmp_path_factory.mktemp("bad-input") / "service.log"
    with live_service(service_model_dir, log, env={"LEARNSEG_MAX_BATCH": str(MAX_BATCH)}) as live:
        yield live


def test_a_barrage_of_bad_requests_leaves_the_server_serving(
    service: LiveService, figures: list[str]
) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    got: Counter[tuple[str, int | None]] = Counter()

    def fire(shot: Shot) -> tuple[str, int | None]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the barrage took more than {DEADLINE_SECONDS:.0f} s")
        with httpx.Client(timeout=30.0) as client:
            return shot.name, shot.send(service, client)

    with ThreadPoolExecutor(THREADS) as pool:
        for outcome in pool.map(fire, SHOTS * ROUNDS):
            got[outcome] += 1

    unexpected = {
        (name, status): n
        for (name, status), n in got.items()
        if status not in next(s.expected for s in SHOTS if s.name == name)
    }
    assert not unexpected, unexpected
    assert service.process.poll() is None
    live = httpx.get(service.url + "/health/live", timeout=10)
    assert live.status_code == 200
    good = httpx.post(service.url + "/segment", json=LEARNERS[0], timeout=10)
    assert good.status_code == 200 and good.json()["segment_name"]
    assert good.json()["track"] == "backend" and good.json()["course_name"]  # "Backend Engineer"

    output = service.output()
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert "Traceback" not in output
    assert not [r for r in records if r["level"] in ("error", "critical")]
    access = [r for r in records if r["logger"] == "service.access"]
    assert not [r for r in access if r["status"] >= 500 and r["status"] != 499]
    assert SECRET not in output
    sent = sum(got.values())
    by_status = Counter(status for (_, status), n in got.items() for _ in range(n))
    summary = ", ".join(
        f"{status or 'closed'}: {n}" for status, n in sorted(by_status.items(), key=str)
    )
    figures.append(
        f"bad input (live uvicorn): {sent} bad requests of {len(SHOTS)} kinds from {THREADS} "
        f"threads, 0 unexpected answers, 0 5xx ({summary}); afterwards /health/live 200 and "
        "/segment 200"
    )


def test_a_client_hanging_up_is_not_a_server_error(service: LiveService) -> None:
    """A body cut short is logged as one info line (status 499), with no traceback."""
    hang_up = next(s for s in SHOTS if s.name == "hang-up mid-body")
    with httpx.Client() as client:
        assert hang_up.send(service, client) is None
    time.sleep(0.2)  # the server logs after the connection is gone
    records = [json.loads(line) for line in service.output().splitlines() if line.startswith("{")]
    closed = [r for r in records if r["logger"] == "service.access" and r["status"] == 499]
    assert closed and closed[-1]["path"] == "/segment"
    metrics = httpx.get(service.url + "/metrics", timeout=10).text
    assert 'learnseg_requests_total{method="POST",route="/segment",status="499"}' in metrics
    assert 'status="500"' not in metrics
