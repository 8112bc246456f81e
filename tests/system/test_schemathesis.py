"""schemathesis against the service's own OpenAPI schema: no 5xx, every response as documented.

Every operation of the schema, without and with API keys configured, gets up to
``MAX_EXAMPLES`` generated requests (valid and invalid: schemathesis' positive and negative
modes, plus its coverage phase of boundary values); each response goes through all of
schemathesis' checks (no 5xx, status code, content type, headers and body as documented,
invalid data refused with a 4xx, valid data accepted, API keys enforced). A stateful run follows
the schema's links (a placement to its segment's profiles, readiness to a reload).

The pytest tests send their requests to the ASGI app in-process (its lifespan runs, so the
model is loaded and verified as under uvicorn). The schema is the app's ``openapi()``, loaded
at collection (the pytest plugin parametrizes one test per operation);
``test_the_schema_is_the_one_served`` proves it is what ``GET /openapi.json`` serves. (Not
``schemathesis.pytest.from_fixture``, which would load it from a fixture: schemathesis 4.32
sets ``Node._nodeid`` there, which pytest 9.2 no longer has.) One more
test runs schemathesis' own CLI against a real ``python -m service`` (uvicorn, API keys on):
every phase (examples, coverage, fuzzing, stateful) over real sockets. The figures (cases per
operation) are printed at the end of the run.

    .venv/bin/python -m pytest tests/system/test_schemathesis.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import BaseSchema
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance
from starlette.types import Receive, Scope, Send

from service.config import ServiceSettings
from service.main import create_app
from tests.helpers import REPO, TestClient, live_service, service_settings

KEY = "schemathesis-key-5d1c"
#: Generated requests per operation and variant (the coverage phase adds its boundary cases);
#: CI keeps the default, a deeper run sets SCHEMATHESIS_MAX_EXAMPLES (400 takes ~3.5 minutes).
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
#: Stateful scenarios, and steps in each.
STATEFUL_SCENARIOS = 15
STATEFUL_STEPS = 6
_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,  # the first batch of a fresh app warms caches
    suppress_health_check=list(HealthCheck),
)
#: Cases sent, by "variant METHOD /path", and those that failed a check: the figures
#: docs/reliability.md quotes.
TALLY: Counter[str] = Counter()
FAILED: Counter[str] = Counter()


def _settings(model_dir: Path, *, keys: bool) -> ServiceSettings:
    # The keyed variant holds an admin key: it may use every route, reload included. Its wrong-
    # key limit is off: schemathesis sends every operation requests with generated (wrong) keys
    # and expects each refused with a 401, where the limit would answer 429 after 20 (its own
    # tests: tests/service/test_security.py, tests/system/test_security.py).
    return service_settings(
        model_dir, admin_keys=(KEY,) if keys else (), auth_fail_burst=0 if keys else 20
    )


class AppSlot:
    """An ASGI app forwarding to the app a fixture puts in it.

    The schemas are loaded at collection (the plugin needs them to parametrize), the app needs
    the session's trained model: schemathesis is given the slot, the fixture fills it. Its
    lifespan (loading the model) runs on the first request, as under uvicorn.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the app fixture has not filled the slot"
        await self.app(scope, receive, send)


def _openapi(keys: bool) -> dict[str, Any]:
    """The schema of an app with (or without) keys; it does not depend on the model."""
    unused = Path("model-folder-not-read-for-the-schema")
    return create_app(_settings(unused, keys=keys)).openapi()


def _load_schema(keys: bool, slot: AppSlot) -> BaseSchema:
    schema = schemathesis.openapi.from_dict(_openapi(keys))
    schema.app = slot
    return schema


OPEN_APP, KEYED_APP = AppSlot(), AppSlot()
OPEN_SCHEMA = _load_schema(False, OPEN_APP)
KEYED_SCHEMA = _load_schema(True, KEYED_APP)


@pytest.fixture(scope="module")
def open_app(service_model_dir: Path) -> AppSlot:
    OPEN_APP.app = create_app(_settings(service_model_dir, keys=False))
    return OPEN_APP


@pytest.fixture(scope="module")
def keyed_app(service_model_dir: Path) -> AppSlot:
    KEYED_APP.app = create_app(_settings(service_model_dir, keys=True))
    return KEYED_APP


@pytest.fixture(scope="module", autouse=True)
def _report_figures(figures: list[str]) -> Iterator[None]:
    yield
    for variant in ("open", "keys", "stateful"):
        seen = {label: n for label, n in TALLY.items() if label.startswith(f"{variant} ")}
        if seen:
            failed = sum(n for label, n in FAILED.items() if label in seen)
            per_operation = ", ".join(
                f"{label[len(variant) + 1 :]} {n}" for label, n in seen.items()
            )
            figures.append(
                f"schemathesis {variant}: {sum(seen.values())} cases over {len(seen)} "
                f"operations, {failed} failed ({per_operation})"
            )


def _check_reload_conflict(case: Any, response: Any) -> None:
    """POST /admin/reload: a valid request gets a 400 only when query and body name two versions.

    OpenAPI cannot say "give the version once", so schemathesis' positive-data check (a valid
    request must not get a 4xx other than 401/403/404/409) is replaced by this exact rule.
    (Invalid requests may get a 400: FastAPI answers one for a body it cannot decode.)
    """
    if response.status_code != 400 or case.meta is None or case.meta.generation.mode.is_negative:
        return
    body_version = case.body.get("version") if isinstance(case.body, dict) else None
    query_version = (case.query or {}).get("version")
    assert query_version is not None and body_version not in (None, query_version), response.text
    assert response.json()["detail"].startswith("Two versions were asked for")


def _call(case: Any, variant: str, headers: dict[str, str]) -> None:
    label = f"{variant} {case.operation.label}"
    TALLY[label] += 1
    # The document is the same with or without keys: a service without keys documents the keys
    # it would ask for and serves without them, so "API keys enforced" is checked with keys.
    excluded = [ignored_auth] if variant == "open" else []
    try:
        if case.operation.label == "POST /v1/admin/reload":
            response = case.call_and_validate(
                headers=headers, excluded_checks=[*excluded, positive_data_acceptance]
            )
            _check_reload_conflict(case, response)
        else:
            case.call_and_validate(headers=headers, excluded_checks=excluded)
    except Exception:
        FAILED[label] += 1
        raise


@OPEN_SCHEMA.parametrize()
@_SETTINGS
def test_api_without_keys(case: Any, open_app: AppSlot) -> None:
    _call(case, "open", {})


@KEYED_SCHEMA.parametrize()
@_SETTINGS
def test_api_with_keys(case: Any, keyed_app: AppSlot) -> None:
    _call(case, "keys", {"X-API-Key": KEY})


@pytest.mark.parametrize("keys", [False, True], ids=["open", "keys"])
def test_the_schema_is_the_one_served(service_model_dir: Path, keys: bool) -> None:
    with TestClient(create_app(_settings(service_model_dir, keys=keys))) as client:
        served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == _openapi(keys)  # what the module-level schemas were loaded from
    schema = KEYED_SCHEMA if keys else OPEN_SCHEMA
    assert len(list(schema.get_all_operations())) == 12  # /segment/explain made it 12


def test_stateful_links(open_app: AppSlot) -> None:
    """Follow the schema's links: placements lead to existing profiles; ready to a reload."""
    machine = OPEN_SCHEMA.as_state_machine()

    class Workflow(machine):  # type: ignore[valid-type,misc]
        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            label = f"stateful {case.operation.label}"
            TALLY[label] += 1
            excluded: list[Any] = [ignored_auth]  # the open app: see _call
            try:
                if case.operation.label == "POST /v1/admin/reload":
                    excluded.append(positive_data_acceptance)
                    _check_reload_conflict(case, response)
                case.validate_response(
                    response, excluded_checks=excluded, transport_kwargs=kwargs or None
                )
            except Exception:
                FAILED[label] += 1
                raise

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    followed = [label for label in TALLY if label.startswith("stateful ")]
    assert "stateful GET /v1/segments/{segment_id}" in followed


def test_schemathesis_cli_against_a_live_server(
    service_model_dir: Path, tmp_path: Path, figures: list[str]
) -> None:
    """schemathesis run (all phases, all checks) against uvicorn on 127.0.0.1, keys on."""
    env = {"LEARNSEG_API_KEYS": KEY, "LEARNSEG_AUTH_FAIL_BURST": "0"}
    with live_service(service_model_dir, tmp_path / "service.log", env=env) as service:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(REPO / "tests" / "system" / "schemathesis.toml"),
                "--no-color",
                "run",
                f"{service.url}/openapi.json",
                "--header",
                f"X-API-Key: {KEY}",
                "--checks",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--request-timeout",
                "30",
                "--generation-database",
                "none",
            ],
            cwd=tmp_path,  # its crash cache goes there, not into the repository
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert service.process.poll() is None
    summary = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert result.returncode == 0 and summary, result.stdout[-4000:]
    assert "Operations:       12 selected / 12 total" in result.stdout
    assert "Traceback" not in service.output()
    figures.append(
        f"schemathesis CLI vs live uvicorn (keys on): {summary[1]} cases generated, "
        f"{summary[2]} passed, 0 failed; phases examples, coverage, fuzzing, stateful"
    )
