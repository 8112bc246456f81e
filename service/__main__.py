"""Run the segment service: ``python -m service [--model-dir DIR] [--host H] [--port P] ...``.

Flags win over ``LEARNSEG_*`` environment variables, which win over the defaults. Logs are JSON
lines on stdout (uvicorn's access log is off: the service writes its own). A bad setting, or a
keys file that cannot be read, ends with one sentence on stderr and exit code 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from service.config import LogLevel, ServiceSettings, get_settings
from training.runtime.artifacts import LATEST_FILE

__all__ = [
    "build_parser",
    "main",
    "settings_from_args",
]

# Flag -> setting name; a given flag is also exported as LEARNSEG_<NAME> for worker processes.
_FLAGS = {
    "model_dir": "LEARNSEG_MODEL_DIR",
    "model_version": "LEARNSEG_MODEL_VERSION",
    "host": "LEARNSEG_HOST",
    "port": "LEARNSEG_PORT",
    "workers": "LEARNSEG_WORKERS",
    "log_level": "LEARNSEG_LOG_LEVEL",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Serve learner segments over HTTP (FastAPI + uvicorn). Flags override "
        "LEARNSEG_* environment variables (LEARNSEG_API_KEYS, LEARNSEG_MAX_BATCH, "
        "LEARNSEG_DOCS, ... are environment-only).",
    )
    parser.add_argument("--model-dir", type=Path, help="Model folder (default: models).")
    parser.add_argument("--model-version", help=f"Version to serve (default: {LATEST_FILE}).")
    parser.add_argument("--host", help="Interface to listen on (default: 127.0.0.1).")
    parser.add_argument("--port", type=int, help="Port (default: 8000).")
    parser.add_argument("--workers", type=int, help="Worker processes (default: 1).")
    parser.add_argument(
        "--log-level", choices=get_args(LogLevel), help="Log level (default: info)."
    )
    return parser


def settings_from_args(argv: Sequence[str] | None = None) -> ServiceSettings:
    """Parse the flags and read the settings (flags first, then the environment)."""
    args = build_parser().parse_args(argv)
    return get_settings(**{name: getattr(args, name) for name in _FLAGS})


def main(argv: Sequence[str] | None = None) -> None:
    try:
        settings = settings_from_args(argv)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        print(f"error: setting {where}: {first['msg']}.", file=sys.stderr)
        raise SystemExit(2) from None

    from service.security import KeyFileError, KeyRing

    try:
        KeyRing(settings)  # a keys file that cannot be read stops the start here, in one sentence
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    if settings.anonymous and not settings.loopback_only and not settings.allow_anonymous:
        print(
            f"error: refusing to serve on {settings.host} without any key: set LEARNSEG_API_KEYS "
            "(and LEARNSEG_ADMIN_KEYS to reload), listen on 127.0.0.1, or set "
            "LEARNSEG_ALLOW_ANONYMOUS=true to serve anyone who can reach the port.",
            file=sys.stderr,
        )
        raise SystemExit(2)

    import uvicorn
    from fastapi import FastAPI

    from service.logs import log_config
    from service.main import create_app

    app: str | FastAPI = "service.main:create_app"
    if settings.workers == 1:
        app = create_app(settings)
    else:
        # Each worker process builds its own app from the environment: pass the flags on in it.
        for name, variable in _FLAGS.items():
            value = getattr(settings, name)
            if value is not None:
                os.environ[variable] = str(value)
        if settings.reload_signal is None:
            # A reload over HTTP reaches one worker; it tells the others through this file.
            signal_dir = Path(tempfile.mkdtemp(prefix="learnseg-"))
            atexit.register(shutil.rmtree, signal_dir, ignore_errors=True)
            os.environ["LEARNSEG_RELOAD_SIGNAL"] = str(signal_dir / "reload-signal.json")
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config(settings.log_level),
        "log_level": settings.log_level,
        "access_log": False,
        "server_header": False,
    }
    # Each worker drains on SIGTERM before uvicorn stops it (service.lifecycle, from the
    # lifespan); with several, uvicorn's supervisor passes the signal on to every one at once.
    if isinstance(app, FastAPI):
        uvicorn.run(app, **options)
    else:
        uvicorn.run(app, factory=True, workers=settings.workers, **options)


if __name__ == "__main__":
    main()
