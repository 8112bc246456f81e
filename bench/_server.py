"""The service app plus two bench-only "ceiling" routes, served by uvicorn on 127.0.0.1.

Started by ``bench/serve.py`` and ``bench/soak.py`` (never by the service itself)::

    .venv/bin/python bench/_server.py --model-dir models --port 8765 [--log-level info]

The app is ``service.main.create_app(settings)`` exactly as ``python -m service`` builds it (one
worker, same middleware, same uvicorn options), with two routes added that do everything their
service twin does except the model's work:

- ``POST /bench/learner``: the ``/segment`` parsing (``require_json_body``, then
  ``parse_learner`` on the raw body, in an ``async def`` route) and the learner sent back;
- ``POST /bench/batch-parse``: the ``/segment/batch`` parsing (raw body, then, in the batch's
  turn (``batch_turn``), ``parse_batch`` and the ``max_batch`` check) and a tiny
  ``{"learners": n, "valid": m}`` answer.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, get_args

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from service.api.common import JSONBytes
from service.batch import batch_turn, check_batch_size
from service.config import LogLevel, ServiceSettings
from service.deps import SettingsDep, require_json_body
from service.logs import log_config
from service.main import create_app
from service.schemas import Learner, parse_batch, parse_learner

LEARNER_CEILING = "/bench/learner"
BATCH_CEILING = "/bench/batch-parse"


def build_app(settings: ServiceSettings) -> FastAPI:
    """``create_app(settings)`` with the two ceiling routes added, through an included router
    as the service's own routes are (FastAPI routes those differently from app-level ones)."""
    app = create_app(settings)
    bench = APIRouter(include_in_schema=False)

    @bench.post(LEARNER_CEILING, dependencies=[Depends(require_json_body)])
    async def echo_learner(request: Request) -> Response:
        learner = parse_learner(await request.body())
        return JSONBytes(learner.raw())

    @bench.post(BATCH_CEILING, dependencies=[Depends(require_json_body)])
    async def parse_only(request: Request, settings: SettingsDep) -> Response:
        body = await request.body()
        async with batch_turn(request):
            content = _count_body(body, max_batch=settings.max_batch)
        return JSONBytes(content)

    app.include_router(bench)
    return app


def _count_body(body: bytes, *, max_batch: int) -> dict[str, Any]:
    """The validation half of ``service.batch.assign_batch_body``: parse, check, count."""
    items = parse_batch(body)
    check_batch_size(items, max_batch)
    return {"learners": len(items), "valid": sum(isinstance(item, Learner) for item in items)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", choices=get_args(LogLevel), default="info")
    parser.add_argument(
        "--drift", choices=["on", "off"], default="on", help="Drift tracking (default: on)."
    )
    args = parser.parse_args()
    # Every setting explicit, so no LEARNSEG_* variable of the caller changes what is measured.
    settings = ServiceSettings(
        model_dir=args.model_dir,
        model_version=None,
        api_keys=(),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        max_batch=10_000,
        max_body_bytes=None,
        batch_chunk=1_000,
        gc_threshold=50_000,
        docs=True,
        explorer=True,
        log_level=args.log_level,
        drift=args.drift == "on",
        drift_window=100_000,
    )
    # The same uvicorn options as `python -m service` with one worker.
    uvicorn.run(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        workers=1,
        log_config=log_config(settings.log_level),
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
