"""API keys and roles (service.security): client keys place learners and read; admin keys may also
reload; metrics keys read /metrics only; keys are required everywhere but health and docs when any
is configured; without an admin key reloading is off; without any key the service is open (and
refuses a public interface unless told, see tests/service/test_cli.py). Keys have names (the
access log's key_id), may come from files re-read when they change, and wrong keys from one
address are throttled (429) while valid keys never are."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from service.__main__ import main
from service.logs import JsonFormatter
from service.main import create_app
from service.security import (
    METRICS_ONLY,
    NOT_ADMIN,
    RELOAD_OFF,
    UNAUTHORIZED,
    KeyFileError,
    KeyRing,
    NamedKey,
    WrongKeyLimiter,
    parse_keys,
)
from tests.helpers import LEARNERS, TestClient, service_settings

KEYS = ("key-one-8f2d", "key-two-1c9e")
ADMIN = "admin-key-3b7a"
# Every client route: (method, path, JSON body)
CLIENT_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/segment", LEARNERS[0]),
    ("POST", "/segment/batch", {"learners": LEARNERS}),
    ("GET", "/segments", None),
    ("GET", "/segments?level=coarse", None),
    ("GET", "/segments/0", None),
    ("GET", "/model", None),
    ("GET", "/metrics", None),
]
RELOAD = ("POST", "/admin/reload", None)
PROTECTED = [*CLIENT_ROUTES, RELOAD]
OPEN = ["/health/live", "/health/ready", "/docs", "/openapi.json"]


@pytest.fixture(scope="module")
def client(service_model_dir: Path) -> Iterator[TestClient]:
    # Every route gets seven wrong headers here: the wrong-key limit (tested below) is off.
    settings = service_settings(
        service_model_dir, api_keys=KEYS, admin_keys=(ADMIN,), auth_fail_burst=0
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _call(client: TestClient, method: str, path: str, body: Any, **headers: str) -> Any:
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_protected_routes_need_a_key(client: TestClient, method: str, path: str, body: Any) -> None:
    for headers in (
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {KEYS[0]}"},
        {"Authorization": "Bearer"},
        {"X-API-Key": KEYS[0][:-1]},
        {"X-API-Key": KEYS[0] + "x"},
    ):
        response = _call(client, method, path, body, **headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json() == {"detail": UNAUTHORIZED}
        assert response.headers["www-authenticate"] == "Bearer"
    # each role where it belongs: the admin key everywhere, a client key but for reloading
    assert _call(client, method, path, body, **{"X-API-Key": ADMIN}).status_code == 200
    expected = 403 if (method, path, body) == RELOAD else 200
    assert _call(client, method, path, body, **{"X-API-Key": KEYS[0]}).status_code == expected
    bearer = _call(client, method, path, body, Authorization=f"Bearer {KEYS[1]}")
    assert bearer.status_code == expected
    lower = _call(client, method, path, body, Authorization=f"bearer {KEYS[0]}")
    assert lower.status_code == expected


def test_a_client_key_may_not_reload(client: TestClient) -> None:
    response = _call(client, *RELOAD, **{"X-API-Key": KEYS[0]})
    assert response.status_code == 403
    assert response.json() == {"detail": NOT_ADMIN}
    assert NOT_ADMIN == (
        "This key may place learners and read profiles; reloading the model needs an admin key."
    )
    admin = _call(client, *RELOAD, Authorization=f"Bearer {ADMIN}")
    assert admin.status_code == 200 and admin.json()["version"]


@pytest.mark.parametrize("keys", [(), KEYS], ids=["anonymous", "client keys only"])
def test_without_an_admin_key_reloading_is_off(
    service_model_dir: Path, keys: tuple[str, ...]
) -> None:
    headers = {"X-API-Key": keys[0]} if keys else {}
    app = create_app(service_settings(service_model_dir, api_keys=keys))
    with TestClient(app, headers=headers) as client:
        response = client.post("/admin/reload")
        assert response.status_code == 403
        assert response.json() == {"detail": RELOAD_OFF}
        assert client.get("/model").status_code == 200
    assert RELOAD_OFF == (
        "Reloading over HTTP is off: set LEARNSEG_ADMIN_KEYS and send an admin key to use it."
    )


def test_admin_keys_alone_protect_every_route(service_model_dir: Path) -> None:
    app = create_app(service_settings(service_model_dir, admin_keys=(ADMIN,)))
    with TestClient(app) as client:
        for method, path, body in PROTECTED:
            assert _call(client, method, path, body).status_code == 401, path
            assert _call(client, method, path, body, **{"X-API-Key": ADMIN}).status_code == 200


def test_the_401_text(client: TestClient) -> None:
    response = client.get("/model")
    assert response.json() == {
        "detail": "Missing or invalid API key: send it in the X-API-Key header or as "
        "Authorization: Bearer <key>."
    }


@pytest.mark.parametrize("path", OPEN)
def test_health_and_docs_stay_open(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_key_is_checked_before_the_body(client: TestClient) -> None:
    response = client.post("/segment", content=b"{not json", headers={"content-type": "text/x"})
    assert response.status_code == 401


def test_openapi_declares_both_schemes(client: TestClient) -> None:
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A client key (LEARNSEG_API_KEYS) or an admin key (LEARNSEG_ADMIN_KEYS); "
        "on GET /metrics a metrics key (LEARNSEG_METRICS_KEYS) too.",
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(("method", "path", "body"), CLIENT_ROUTES)
def test_no_keys_no_auth(service_model_dir: Path, method: str, path: str, body: Any) -> None:
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        assert _call(client, method, path, body).status_code == 200


# ------------------------------------------------------------------------------ named keys
def _access(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "service.access"]


def test_each_key_has_a_name_in_the_access_log_never_the_key(
    service_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`name:key` entries are named by their name, bare keys by role and position; the access
    line of a request carries the name of its key (key_id), never the key; a refused request
    carries none."""
    secrets = {
        "lms": "k-lms-4d1e9a",
        "client-2": "k-bare-77c0",
        "ops": "k-ops-2b8f",
        "prom": "m-5e",
    }
    settings = service_settings(
        service_model_dir,
        api_keys=(f"lms:{secrets['lms']}", secrets["client-2"]),
        admin_keys=(f"ops:{secrets['ops']}",),
        metrics_keys=(f"prom:{secrets['prom']}",),
    )
    caplog.set_level(logging.INFO, logger="service.access")
    with TestClient(create_app(settings)) as client:
        for name, key in secrets.items():
            path = "/metrics" if name == "prom" else "/model"
            assert client.get(path, headers={"X-API-Key": key}).status_code == 200, name
        assert client.get("/model", headers={"X-API-Key": "nope"}).status_code == 401
        assert client.get("/health/ready").status_code == 200
    records = _access(caplog)
    assert [getattr(r, "key_id", None) for r in records] == [*secrets, None, None]
    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert '"key_id":"lms"' in text
    for key in secrets.values():
        assert key not in text


def test_a_metrics_key_reads_the_metrics_and_nothing_else(service_model_dir: Path) -> None:
    settings = service_settings(
        service_model_dir, api_keys=KEYS, admin_keys=(ADMIN,), metrics_keys=("prometheus:m-7a",)
    )
    with TestClient(create_app(settings), headers={"X-API-Key": "m-7a"}) as client:
        for path in ("/metrics", "/v1/metrics"):
            response = client.get(path)
            assert response.status_code == 200 and "learnseg_requests_total" in response.text
        for method, path, body in PROTECTED:
            response = _call(client, method, path, body)
            assert response.status_code == 403 if path != "/metrics" else 200, path
            if path != "/metrics":
                assert response.json() == {"detail": METRICS_ONLY}
        # client and admin keys read the metrics too, as before
        assert client.get("/metrics", headers={"X-API-Key": KEYS[0]}).status_code == 200
        assert client.get("/metrics", headers={"X-API-Key": ADMIN}).status_code == 200
        assert client.get("/metrics", headers={"X-API-Key": "m-7b"}).status_code == 401
    assert METRICS_ONLY == (
        "This key may read /metrics only; placing learners and reading profiles needs a client key."
    )


def test_a_secret_given_in_two_roles_counts_as_the_stronger() -> None:
    settings = service_settings(
        Path("unused"),
        api_keys=("a:same", "b:other"),
        admin_keys=("c:same",),
        metrics_keys=("d:m",),
    )
    ring = KeyRing(settings)
    assert ring.match(b"same") == NamedKey("c", "admin")
    assert ring.match(b"other") == NamedKey("b", "client")
    assert ring.match(b"m") == NamedKey("d", "metrics")
    assert ring.match(b"sam") is None and ring.match(b"") is None
    assert "same" not in repr(ring.keys)  # only names and roles show


def test_key_entries_parse_names_and_bare_keys() -> None:
    keys = parse_keys(["lms-backend:k:with:colons", "bare-key", ":no-name", "bad name:x"], "client")
    assert [k.name for k in keys] == ["lms-backend", "client-2", "client-3", "client-4"]
    assert keys[0].digest == hashlib.sha256(b"k:with:colons").digest()
    assert keys[2].digest == hashlib.sha256(b":no-name").digest()  # a bare key, as given


# ----------------------------------------------------------------------------------- key files
def test_keys_files_are_re_read_when_they_change(
    service_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rotating a key in the file takes effect on the next request (keys_check_seconds=0),
    without a restart: the new key is accepted, the old one refused; a file turned bad keeps
    the keys read before, with a warning naming the line, never its text."""
    clients, admins = tmp_path / "api-keys", tmp_path / "admin-keys"
    clients.write_text("# the LMS\nlms:old-key-1f3a\n\nnightly:nightly-9c2e\n", encoding="utf-8")
    admins.write_text("ops:admin-4b7d\n", encoding="utf-8")
    settings = service_settings(
        service_model_dir, api_keys_file=clients, admin_keys_file=admins, keys_check_seconds=0
    )
    caplog.set_level(logging.INFO)
    with TestClient(create_app(settings)) as client:
        for key in ("old-key-1f3a", "nightly-9c2e", "admin-4b7d"):
            assert client.get("/model", headers={"X-API-Key": key}).status_code == 200
        assert client.get("/model", headers={"X-API-Key": "new-key-8d0c"}).status_code == 401

        clients.write_text("lms:new-key-8d0c\nnightly:nightly-9c2e\n", encoding="utf-8")
        assert client.get("/model", headers={"X-API-Key": "new-key-8d0c"}).status_code == 200
        assert client.get("/model", headers={"X-API-Key": "old-key-1f3a"}).status_code == 401

        clients.write_text("lms:new-key-8d0c\nthis line has no name\n", encoding="utf-8")
        assert client.get("/model", headers={"X-API-Key": "new-key-8d0c"}).status_code == 200
        assert client.get("/model", headers={"X-API-Key": "nightly-9c2e"}).status_code == 200

        admins.write_text("", encoding="utf-8")  # no admin key left: reloading turns off
        assert client.get("/model", headers={"X-API-Key": "admin-4b7d"}).status_code == 401
        reload = client.post("/admin/reload", headers={"X-API-Key": "new-key-8d0c"})
        assert reload.status_code == 403 and reload.json() == {"detail": RELOAD_OFF}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        w.startswith(f"Line 2 of the client keys file {clients} is not `name:key`")
        and w.endswith("The keys read before stay in force.")
        for w in warnings
    ), warnings
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Keys files re-read: metrics 0, client 2, admin 1 key(s) in force." in text
    for secret in ("old-key-1f3a", "new-key-8d0c", "nightly-9c2e", "admin-4b7d", "has no name"):
        assert secret not in text


def test_a_keys_file_is_checked_at_most_every_keys_check_seconds(
    service_model_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "keys"
    path.write_text("a:first\n", encoding="utf-8")
    now = [100.0]
    ring = KeyRing(
        service_settings(service_model_dir, api_keys_file=path, keys_check_seconds=5),
        clock=lambda: now[0],
    )
    path.write_text("a:second\n", encoding="utf-8")
    assert ring.match(b"first") is not None  # not looked at yet
    now[0] += 5
    assert ring.match(b"first") is None and ring.match(b"second") == NamedKey("a", "client")


def test_an_empty_keys_file_refuses_every_key(service_model_dir: Path, tmp_path: Path) -> None:
    """A keys file configured turns authentication on even while it holds no key: fail closed."""
    path = tmp_path / "keys"
    path.write_text("# nobody yet\n", encoding="utf-8")
    settings = service_settings(service_model_dir, api_keys_file=path)
    assert not settings.anonymous
    with TestClient(create_app(settings)) as client:
        assert client.get("/model").status_code == 401
        assert client.get("/model", headers={"X-API-Key": "# nobody yet"}).status_code == 401
        assert client.get("/health/ready").status_code == 200


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "The client keys file {path} cannot be read: No such file or directory."),
        (b"lms:k1\nk2\n", "Line 2 of the client keys file {path} is not `name:key`"),
        (b"\xff\xfe", "The client keys file {path} cannot be read: not UTF-8 text."),
        (b"lms:k1\nlms:k2\n", "The key name lms is given twice: give every key its own name."),
    ],
    ids=["missing", "bare key", "not text", "a name twice"],
)
def test_a_bad_keys_file_stops_the_start_in_one_sentence(
    tmp_path: Path,
    content: bytes | None,
    expected: str,
    no_learnseg_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "keys"
    if content is not None:
        path.write_bytes(content)
    sentence = expected.format(path=path)
    with pytest.raises(KeyFileError) as raised:
        create_app(service_settings(tmp_path, api_keys_file=path))
    assert str(raised.value).startswith(sentence)
    no_learnseg_env.setenv("LEARNSEG_API_KEYS_FILE", str(path))
    with pytest.raises(SystemExit) as stopped:
        main(["--model-dir", str(tmp_path)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {sentence}") and err.count("\n") == 1
    assert "k1" not in err and "k2" not in err


# --------------------------------------------------------------------------- wrong-key limit
def test_wrong_keys_from_one_address_get_429_and_valid_keys_never_do(
    service_model_dir: Path,
) -> None:
    """Three wrong keys are 401s, the fourth a 429 with Retry-After; meanwhile the valid key of
    the same address is answered, a request without a key is a plain 401, and another address
    still gets its 401s."""
    settings = service_settings(
        service_model_dir, api_keys=KEYS, auth_fail_burst=3, auth_fail_per_second=0.1
    )
    app = create_app(settings)
    with TestClient(app) as client:
        wrong = [client.get("/model", headers={"X-API-Key": f"guess-{i}"}) for i in range(5)]
        assert [r.status_code for r in wrong] == [401, 401, 401, 429, 429]
        assert wrong[3].headers["Retry-After"] == "10"
        assert wrong[3].json() == {
            "detail": "Too many requests with a wrong API key came from this address: send a "
            "valid key, or wait 10 s."
        }
        for method, path, body in CLIENT_ROUTES:
            assert _call(client, method, path, body, **{"X-API-Key": KEYS[1]}).status_code == 200
        assert client.get("/model").status_code == 401
        bearer = client.get("/model", headers={"Authorization": "Bearer guess"})
        assert bearer.status_code == 429

        async def from_elsewhere() -> int:
            transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as other:
                return (await other.get("/model", headers={"X-API-Key": "guess"})).status_code

        assert anyio.run(from_elsewhere) == 401
        metrics = client.get("/metrics", headers={"X-API-Key": KEYS[0]}).text
        assert 'route="/model",status="429"} 3.0' in metrics


def test_the_wrong_key_bucket_refills_and_forgets_the_oldest_addresses() -> None:
    now = [0.0]
    limiter = WrongKeyLimiter(2, 0.5, clock=lambda: now[0], max_clients=3)
    assert [limiter.wrong_key("a") for _ in range(4)] == [None, None, 2, 2]
    now[0] = 1.0  # half a token back
    assert limiter.wrong_key("a") == 1
    now[0] = 2.0
    assert limiter.wrong_key("a") is None  # one whole token: a 401 again
    for address in ("b", "c", "d"):
        limiter.wrong_key(address)
    assert "a" not in limiter._buckets and len(limiter._buckets) == 3
    assert [WrongKeyLimiter(0, 1.0).wrong_key("a") for _ in range(100)] == [None] * 100


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEARNSEG_API_KEYS", "lms-backend:replace-me-with-a-long-random-key"),
        ("LEARNSEG_ADMIN_KEYS", "ops:REPLACE-ME-with-a-long-random-admin-key"),
        ("LEARNSEG_METRICS_KEYS", "<key>"),
    ],
)
def test_a_placeholder_key_of_the_examples_stops_the_start(
    no_learnseg_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    no_learnseg_env.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        main(["--host", "127.0.0.1"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and err.count(". ") == 0
    assert "placeholder of the examples" in err and value.split(":")[-1] not in err


def test_a_placeholder_in_a_keys_file_is_refused_by_line_and_a_real_key_is_not(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "api-keys"
    keys.write_text("# name:key\nlms:k-real-4d1\nnightly:replace-me-too\n", encoding="utf-8")
    with pytest.raises(KeyFileError, match="client key nightly on line 3") as refused:
        KeyRing(service_settings(tmp_path, api_keys_file=keys))
    assert "replace-me-too" not in str(refused.value)
    keys.write_text("lms:k-real-4d1\nnightly:k-real-9e0\n", encoding="utf-8")
    ring = KeyRing(service_settings(tmp_path, api_keys_file=keys))
    assert [k.name for k in ring.keys] == ["lms", "nightly"]
    with pytest.raises(KeyFileError):
        parse_keys(["replace-me"], "client")


def test_a_short_key_is_accepted_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """What stops a guess is the key's length: a key under SHORT_KEY characters is named in a
    warning (never shown); a long one is accepted silently."""
    from service.security import SHORT_KEY, parse_keys

    with caplog.at_level(logging.WARNING, logger="service.security"):
        keys = parse_keys(["lms:abc", f"ui:{'k' * SHORT_KEY}"], "client")
    assert [k.name for k in keys] == ["lms", "ui"]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "client key lms" in warned[0] and "abc" not in warned[0]
