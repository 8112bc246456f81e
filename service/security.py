"""API keys: their three roles, their names, the files they are read from, and the limit on
wrong keys.

**Roles.** Client keys (``LEARNSEG_API_KEYS``) place learners and read profiles, the model and
the metrics; admin keys (``LEARNSEG_ADMIN_KEYS``) may do all that and also reload the model;
metrics keys (``LEARNSEG_METRICS_KEYS``) read ``GET /metrics`` and nothing else, so the
credential a scraper holds opens no learner data. A key is sent as ``X-API-Key: <key>`` or
``Authorization: Bearer <key>``. When any client or admin key (or keys file) is configured,
every route but ``/health/live``, ``/health/ready`` and the docs needs one; the docs stay open
because they hold no data (turn them off with ``LEARNSEG_DOCS=false``), health stays open for
probes. ``POST /admin/reload`` always needs an admin key: without admin keys reloading over
HTTP is off (403). With no client or admin key at all the service is anonymous, which it
refuses on a non-loopback interface unless ``LEARNSEG_ALLOW_ANONYMOUS=true``
(``service.__main__``).

**Names.** Every key has a name, given as ``name:key`` (``lms-backend:6f1c...``); a bare key is
named by its role and position (``client-1``, ``admin-2``, ``metrics-1``). The name of the key
a request used goes into its access-log line as ``key_id``; the key itself never reaches a log
line, a metric or an answer. Names are unique across roles.

**Files.** ``LEARNSEG_API_KEYS_FILE`` (and ``_ADMIN_``, ``_METRICS_``) name files of
``name:key`` lines (blank lines and ``#`` comments ignored; a line without a name is refused,
so every key in a file has one). :class:`KeyRing` looks at most every ``keys_check_seconds``
whether a file changed (size, modification time, inode: a Kubernetes Secret volume swaps a
symlink) and re-reads it, so keys rotate without a restart. A file that cannot be read or holds
a bad line stops the start with one sentence; at a re-read the keys read before stay in force
and a warning says why (the line's number, never its text).

**Comparison.** A given key's SHA-256 is compared with every configured key's in constant time
(``hmac.compare_digest`` on equal-length digests, no early exit), so timing tells nothing about
which key, or how much of one, matched; only digests are kept.

**Wrong keys.** A request with a key that matches none counts against its client address in a
token bucket (:class:`WrongKeyLimiter`: ``auth_fail_burst`` tokens, refilled at
``auth_fail_per_second``); once the bucket is empty, wrong keys from that address are answered
429 with ``Retry-After`` instead of 401. A valid key is checked first and never throttled, and a
request without any key is a plain 401. The bucket is per worker process and per address as the
server sees it (behind a proxy, the proxy's, unless uvicorn is told to trust its
``X-Forwarded-For``). Keys are long random strings: their length, not this limit, is what makes
guessing hopeless; the limit keeps a misconfigured or hostile client from flooding the service
and its logs with 401s.

The checks are ``async def`` dependencies: they take microseconds, and a plain ``def`` would
cost a hop to the threadpool per request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.config import ServiceSettings
from service.middleware import KEY_ID_KEY

__all__ = [
    "METRICS_ONLY",
    "NOT_ADMIN",
    "RELOAD_OFF",
    "ROLES",
    "SHORT_KEY",
    "UNAUTHORIZED",
    "KeyFileError",
    "KeyRing",
    "NamedKey",
    "Role",
    "WrongKeyLimiter",
    "is_placeholder",
    "parse_keys",
    "read_key_file",
    "require_admin_key",
    "require_api_key",
    "require_metrics_key",
    "too_many_wrong_keys",
]

log = logging.getLogger(__name__)

Role = Literal["client", "admin", "metrics"]
#: The roles, weakest first: a secret configured in two roles counts as the stronger.
ROLES: tuple[Role, ...] = ("metrics", "client", "admin")

UNAUTHORIZED = (
    "Missing or invalid API key: send it in the X-API-Key header or as Authorization: Bearer <key>."
)
RELOAD_OFF = "Reloading over HTTP is off: set LEARNSEG_ADMIN_KEYS and send an admin key to use it."
NOT_ADMIN = "This key may place learners and read profiles; reloading the model needs an admin key."
METRICS_ONLY = (
    "This key may read /metrics only; placing learners and reading profiles needs a client key."
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Client addresses the wrong-key limiter remembers at most (the least recently seen go first).
_MAX_CLIENTS = 10_000

_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A client key (LEARNSEG_API_KEYS) or an admin key (LEARNSEG_ADMIN_KEYS); on "
    "GET /metrics a metrics key (LEARNSEG_METRICS_KEYS) too.",
)
_bearer = HTTPBearer(auto_error=False, description="A key of any role, as a bearer token.")


class KeyFileError(Exception):
    """A keys file that cannot be read or holds a bad line (one sentence, never a key)."""


@dataclass(frozen=True)
class NamedKey:
    """A configured key: its name (logged as ``key_id``), its role and its SHA-256."""

    name: str
    role: Role
    #: Not part of its identity, and out of reprs and tracebacks.
    digest: bytes = field(default=b"", compare=False, repr=False)


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


#: Keys of the shipped examples (deploy/kubernetes/secret.example.yaml, the docs): a service
#: configured with one would accept a key anyone can read in the repository.
_PLACEHOLDER_MARK = "replace-me"
_EXAMPLE_KEYS = frozenset({"<key>", "...", "<client key>", "<admin key>", "<metrics key>"})


def is_placeholder(secret: str) -> bool:
    """Whether a key is a placeholder of the examples (contains ``replace-me``, or is one)."""
    text = secret.strip().lower()
    return _PLACEHOLDER_MARK in text or text in _EXAMPLE_KEYS


#: Keys shorter than this are accepted with a warning: what stops a guess is the key's length.
SHORT_KEY = 16


def _refuse_placeholder(secret: str, name: str, role: Role, where: str) -> None:
    if is_placeholder(secret):
        raise KeyFileError(
            f"The {role} key {name} {where} is a placeholder of the examples: set a real key "
            "(openssl rand -hex 24) before starting the service."
        )
    if len(secret.strip()) < SHORT_KEY:
        log.warning(
            "The %s key %s %s has fewer than %d characters: a short key can be guessed; use "
            "openssl rand -hex 24.",
            role,
            name,
            where,
            SHORT_KEY,
        )


def parse_keys(entries: Iterable[str], role: Role) -> list[NamedKey]:
    """The keys of a setting: ``name:key`` entries, or bare keys named ``<role>-<position>``.

    Raises :class:`KeyFileError` for a placeholder key of the examples."""
    keys = []
    for position, entry in enumerate(entries, 1):
        name, separator, secret = entry.partition(":")
        if not (separator and _NAME.fullmatch(name) and secret.strip()):
            name, secret = f"{role}-{position}", entry
        _refuse_placeholder(secret, name, role, "in the settings")
        keys.append(NamedKey(name, role, _digest(secret.strip().encode("utf-8"))))
    return keys


def read_key_file(path: Path, role: Role) -> list[NamedKey]:
    """The ``name:key`` lines of a keys file; :class:`KeyFileError` names a bad line (or a
    placeholder key of the examples) by number."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise KeyFileError(f"The {role} keys file {path} cannot be read: {reason}.") from None
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        name, separator, secret = entry.partition(":")
        if not (separator and _NAME.fullmatch(name.strip()) and secret.strip()):
            raise KeyFileError(
                f"Line {number} of the {role} keys file {path} is not `name:key` (a name of "
                "letters, digits, '.', '_' or '-', a colon, then the key)."
            )
        _refuse_placeholder(secret, name.strip(), role, f"on line {number} of {path}")
        keys.append(NamedKey(name.strip(), role, _digest(secret.strip().encode("utf-8"))))
    return keys


def _check_names(keys: Sequence[NamedKey]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key.name in seen:
            raise KeyFileError(
                f"The key name {key.name} is given twice: give every key its own name."
            )
        seen.add(key.name)


_Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> _Stamp:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class KeyRing:
    """Every configured key: those of the settings, and those of the keys files, re-read when
    a file changes (looked at most every ``keys_check_seconds``).

    Raises :class:`KeyFileError` when built from settings whose keys file cannot be read or
    holds a bad line, when a key is a placeholder of the examples (``replace-me...``), or when
    two keys share a name.
    """

    def __init__(
        self, settings: ServiceSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fixed = [
            *parse_keys(settings.metrics_keys, "metrics"),
            *parse_keys(settings.api_keys, "client"),
            *parse_keys(settings.admin_keys, "admin"),
        ]
        files: dict[Role, Path | None] = {
            "metrics": settings.metrics_keys_file,
            "client": settings.api_keys_file,
            "admin": settings.admin_keys_file,
        }
        self._files = {role: path for role, path in files.items() if path is not None}
        self._stamps: dict[Role, _Stamp] = {}
        self._from_files: dict[Role, list[NamedKey]] = {}
        self._check_seconds = settings.keys_check_seconds
        self._clock = clock
        self._next_check = clock() + self._check_seconds
        for role, path in self._files.items():
            self._stamps[role] = _stamp(path)
            self._from_files[role] = read_key_file(path, role)
        self._keys = self._combine(self._from_files)
        _check_names(self._keys)

    def _combine(self, from_files: dict[Role, list[NamedKey]]) -> tuple[NamedKey, ...]:
        return (*self._fixed, *(key for role in ROLES for key in from_files.get(role, [])))

    @property
    def keys(self) -> tuple[NamedKey, ...]:
        """The keys in force now (after looking at the files, when it is time)."""
        if self._files and self._clock() >= self._next_check:
            self.refresh()
        return self._keys

    def has(self, role: Role) -> bool:
        """Whether a key of `role` is configured now."""
        return any(key.role == role for key in self.keys)

    def refresh(self) -> bool:
        """Re-read the keys files that changed; True when the keys in force changed. A file
        that cannot be read or holds a bad line leaves the keys read before (logged once)."""
        self._next_check = self._clock() + self._check_seconds
        from_files = dict(self._from_files)
        changed = False
        for role, path in self._files.items():
            stamp = _stamp(path)
            if stamp == self._stamps.get(role):
                continue
            self._stamps[role] = stamp
            try:
                from_files[role] = read_key_file(path, role)
            except KeyFileError as exc:
                log.warning("%s The keys read before stay in force.", exc)
                continue
            changed = True
        if not changed:
            return False
        keys = self._combine(from_files)
        try:
            _check_names(keys)
        except KeyFileError as exc:
            log.warning("%s The keys read before stay in force.", exc)
            return False
        self._from_files, self._keys = from_files, keys
        counts = ", ".join(f"{role} {sum(k.role == role for k in keys)}" for role in ROLES)
        log.info("Keys files re-read: %s key(s) in force.", counts)
        return True

    def match(self, given: bytes) -> NamedKey | None:
        """The configured key equal to `given` (the strongest role, should a secret be in
        two), compared in constant time with every key; None when none is."""
        digest = _digest(given)
        found: NamedKey | None = None
        for key in self.keys:  # every key, always: no early exit
            if hmac.compare_digest(digest, key.digest) and (
                found is None or ROLES.index(key.role) > ROLES.index(found.role)
            ):
                found = key
        return found


class WrongKeyLimiter:
    """A token bucket per client address for requests with a wrong key.

    Every address starts with ``burst`` tokens; each wrong key takes one, and the bucket refills
    at ``per_second`` up to ``burst``. ``burst`` 0 turns the limit off. The least recently seen
    addresses are forgotten beyond ``max_clients`` (a forgotten bucket starts full again).
    """

    def __init__(
        self,
        burst: int,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = _MAX_CLIENTS,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wrong_key(self, client: str) -> int | None:
        """Count one wrong key from `client`: None while its bucket has a token (the request is
        a 401), else the whole seconds until it has one again (the request is a 429)."""
        if self.burst <= 0:
            return None
        now = self._clock()
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.per_second)
        wait = None
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = max(1, math.ceil((1.0 - tokens) / self.per_second))
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


def too_many_wrong_keys(seconds: int) -> str:
    return (
        "Too many requests with a wrong API key came from this address: send a valid key, or "
        f"wait {seconds} s."
    )


def _given_key(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> bytes | None:
    given = api_key if api_key else (bearer.credentials if bearer else None)
    # Header values arrive decoded as latin-1: encoding back gives the bytes as sent.
    return given.encode("latin-1", "replace") if given else None


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=UNAUTHORIZED,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _authenticate(
    request: Request, api_key: str | None, bearer: HTTPAuthorizationCredentials | None
) -> NamedKey:
    """The key of the request; 401 without a valid one, 429 once its address sent too many
    wrong ones. Its name goes into the request's scope (the access log's ``key_id``)."""
    state = request.app.state
    given = _given_key(api_key, bearer)
    if given is None:
        raise _unauthorized()
    key: NamedKey | None = state.keys.match(given)
    if key is None:
        address = request.client.host if request.client is not None else "unknown"
        wait = state.wrong_keys.wrong_key(address)
        if wait is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=too_many_wrong_keys(wait),
                headers={"Retry-After": str(wait)},
            )
        raise _unauthorized()
    request.scope[KEY_ID_KEY] = key.name
    return key


async def require_api_key(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """401 unless the request carries a client or an admin key (403 for a metrics key)."""
    if _authenticate(request, api_key, bearer).role == "metrics":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=METRICS_ONLY)


async def require_metrics_key(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """401 unless the request carries a key of any role (``GET /metrics``)."""
    _authenticate(request, api_key, bearer)


async def require_admin_key(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """403 when reloading is off (no admin key configured) or the key is not an admin key; 401
    without a valid key."""
    if not request.app.state.keys.has("admin"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=RELOAD_OFF)
    role = _authenticate(request, api_key, bearer).role
    if role == "metrics":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=METRICS_ONLY)
    if role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=NOT_ADMIN)
