"""Service settings: every knob of the segment service, with its default.

Settings come from arguments (the ``python -m service`` flags pass theirs this way, so flags
win), then environment variables prefixed ``LEARNSEG_`` (``LEARNSEG_MODEL_DIR``,
``LEARNSEG_API_KEYS``, ...), then the defaults below. Nothing reads the environment at import
time: :func:`get_settings` does, when it is called. The training settings share the prefix, so
both ignore the variables they do not know (``extra="ignore"``).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from training.runtime.artifacts import LATEST_FILE

__all__ = [
    "LogLevel",
    "ServiceSettings",
    "get_settings",
]

LogLevel = Literal["debug", "info", "warning", "error", "critical"]

# Per learner, a generous bound on its JSON (three strings of at most 200/200/128 characters,
# three numbers, the keys); the request-body limit follows the batch limit from it.
_BYTES_PER_LEARNER = 4096
_BODY_OVERHEAD = 1 << 20
# A browser origin: scheme://host[:port], nothing after it.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\[\]:-]+/?")


class ServiceSettings(BaseSettings):
    """Every knob of the segment service, with its default."""

    model_config = SettingsConfigDict(env_prefix="LEARNSEG_", extra="ignore")

    model_dir: Path = Field(
        default=Path("models"), description=f"Folder of versioned models ({LATEST_FILE} names one)."
    )
    model_version: str | None = Field(
        default=None,
        description=f"Version to serve at start-up; None = the one {LATEST_FILE} names.",
    )
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        repr=False,
        description="Comma-separated client keys, each `name:key` (the name goes into the "
        "access log as key_id, the key never does) or a bare key (named client-1, client-2, "
        "... by position); none at all (and no keys file) = no authentication (development "
        "only).",
    )
    admin_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        repr=False,
        description="Comma-separated admin keys (`name:key`, or bare: admin-1, ...): they may "
        "also reload the model; none = reloading over HTTP is off.",
    )
    metrics_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        repr=False,
        description="Comma-separated metrics keys (`name:key`, or bare: metrics-1, ...): they "
        "read GET /metrics and nothing else (a scraper's credential); client and admin keys "
        "read /metrics too.",
    )
    api_keys_file: Path | None = Field(
        default=None,
        description="A file of client keys, one `name:key` a line (blank lines and # comments "
        "ignored), added to api_keys; re-read when it changes, so keys rotate without a "
        "restart. Set, it turns authentication on even while it holds no key.",
    )
    admin_keys_file: Path | None = Field(
        default=None, description="A file of admin keys, read like api_keys_file."
    )
    metrics_keys_file: Path | None = Field(
        default=None, description="A file of metrics keys, read like api_keys_file."
    )
    keys_check_seconds: float = Field(
        default=2.0,
        ge=0.0,
        le=3600.0,
        description="How often (at most) a request looks whether a keys file changed (its "
        "size, modification time or inode); 0 = at every request.",
    )
    auth_fail_burst: int = Field(
        default=20,
        ge=0,
        le=1_000_000,
        description="Requests with a wrong key one client address may send before it is "
        "answered 429 with Retry-After (a token bucket per address and worker; a valid key is "
        "never throttled, a request without any key is a plain 401); 0 turns the limit off.",
    )
    auth_fail_per_second: float = Field(
        default=1.0,
        gt=0.0,
        le=1_000_000.0,
        description="Wrong-key requests a second the bucket of an address refills with, up to "
        "auth_fail_burst.",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated origins a browser may call the API from "
        "(https://admin.example.com; * = any); empty = no CORS headers, and a preflight "
        "(OPTIONS) is a 405.",
    )
    allow_anonymous: bool = Field(
        default=False,
        description="Serve without any key on an interface other than loopback (refused "
        "otherwise: anyone who can reach the port could read and place learners).",
    )
    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port to listen on.")
    workers: int = Field(default=1, ge=1, le=64, description="Worker processes (uvicorn).")
    max_batch: int = Field(
        default=10_000, ge=1, le=1_000_000, description="Most learners in one batch request."
    )
    max_body_bytes: int | None = Field(
        default=None,
        ge=1024,
        description="Largest request body in bytes; None = 4 KiB per batch learner + 1 MiB.",
    )
    batch_chunk: int = Field(
        default=1_000,
        ge=1,
        le=1_000_000,
        description="Learners a batch places between two turns of the event loop: batches run "
        "one at a time on the loop, and other requests wait at most about one chunk (~5 ms).",
    )
    gc_threshold: int = Field(
        default=50_000,
        ge=0,
        description="Allocations between two runs of Python's youngest garbage collection "
        "(gc.set_threshold); 0 leaves Python's default (700), which runs it dozens of times "
        "per batch request for objects reference counting frees anyway.",
    )
    drain_seconds: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description="On SIGTERM, how long to wait for requests in flight (readiness answers "
        "503 meanwhile) before shutting down; keep it under the orchestrator's grace period.",
    )
    docs: bool = Field(default=True, description="Serve /docs and /openapi.json.")
    explorer: bool = Field(
        default=True, description="Serve the segment explorer page at / (a static page)."
    )
    log_level: LogLevel = Field(default="info", description="Level of the service's logs.")

    # --- versions and rollouts ------------------------------------------------------------------
    keep_versions: int = Field(
        default=2,
        ge=1,
        le=20,
        description="Verified model versions kept loaded (the served one included): a request "
        "may pin any of them with ?version=, so a run started on one version ends on it "
        "across a reload.",
    )
    follow_latest: bool = Field(
        default=True,
        description=f"Serve the version models/{LATEST_FILE} names as it changes (checked every "
        "poll_seconds; the new model is verified before it is served).",
    )
    poll_seconds: float = Field(
        default=5.0,
        ge=0.0,
        le=3600.0,
        description=f"How often each worker looks at models/{LATEST_FILE} and the reload signal; 0 "
        "turns the polling off (then only POST /admin/reload switches, in one worker).",
    )
    reload_signal: Path | None = Field(
        default=None,
        description="A file through which POST /admin/reload reaches every worker of the "
        "process; python -m service sets one when it starts more than one worker.",
    )

    # --- drift ----------------------------------------------------------------------------------
    drift: bool = Field(
        default=True,
        description="Count placements against the model's training bins (GET /model/drift, "
        "learnseg_feature_psi); false turns the counting off.",
    )
    drift_window: int = Field(
        default=100_000,
        ge=10,
        le=100_000_000,
        description="Latest placements the drift window covers (counted in 10 blocks, so "
        "between 90 % and 100 % of it); counts since start are kept besides.",
    )

    @field_validator("api_keys", "admin_keys", "metrics_keys", "cors_origins", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return tuple(item.strip() for item in value if isinstance(item, str) and item.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    "each origin is a scheme and a host, with a port if any and no path "
                    "(https://admin.example.com), or *"
                )
        return tuple(origin.rstrip("/") for origin in value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def anonymous(self) -> bool:
        """True when no client or admin key nor keys file is configured: every route is open
        (metrics keys alone change nothing)."""
        return not (self.api_keys or self.admin_keys or self.api_keys_file or self.admin_keys_file)

    @property
    def loopback_only(self) -> bool:
        """True when the service listens on a loopback interface only."""
        return _is_loopback(self.host)

    @property
    def body_limit(self) -> int:
        """The request-body limit in bytes (explicit, or derived from ``max_batch``)."""
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        return self.max_batch * _BYTES_PER_LEARNER + _BODY_OVERHEAD


def get_settings(**overrides: Any) -> ServiceSettings:
    """Read the settings now: `overrides` (None values are skipped), then the environment."""
    return ServiceSettings(**{key: value for key, value in overrides.items() if value is not None})


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
