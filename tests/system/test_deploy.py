"""deploy/: the Kubernetes manifests and the compose file, validated offline against their
schemas (as `make lint` does), shown to fail on a planted mistake, and held to the service: probe
paths it serves, the port the image exposes, keys from a Secret, a read-only model volume."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from service.main import create_app
from tests.helpers import REPO

DEPLOY = REPO / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it is in the dev extra: make install)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def _documents() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            docs[doc["kind"]] = doc
    return docs


def test_manifests_validate_and_a_planted_typo_does_not(tmp_path: Path) -> None:
    tool = _tool("kubernetes-validate")
    assert {p.name for p in MANIFESTS} >= {"deployment.yaml", "service.yaml", "hpa.yaml"}
    ok = _run(tool, "--strict", "--quiet", *map(str, MANIFESTS))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "deployment.yaml"
    text = (DEPLOY / "kubernetes" / "deployment.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("replicas: 2", "replica: 2"), encoding="utf-8")
    bad = _run(tool, "--strict", "--quiet", str(broken))
    assert bad.returncode != 0 and "replica" in bad.stdout + bad.stderr


def test_compose_validates_and_a_planted_mistake_does_not(tmp_path: Path) -> None:
    tool = _tool("check-jsonschema")
    compose = DEPLOY / "compose.yaml"
    ok = _run(tool, "--builtin-schema", "vendor.compose-spec", str(compose))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "compose.yaml"
    text = compose.read_text(encoding="utf-8")
    broken.write_text(text.replace("restart: unless-stopped", "restart: [1, 2]", 1), "utf-8")
    bad = _run(tool, "--builtin-schema", "vendor.compose-spec", str(broken))
    assert bad.returncode != 0


def test_the_deployment_matches_the_service_and_the_image() -> None:
    docs = _documents()
    spec = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    paths = set(create_app().openapi()["paths"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready" in paths
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live" in paths
    exposed = [
        line.split()[1]
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.startswith("EXPOSE")
    ]
    assert [str(p["containerPort"]) for p in container["ports"]] == exposed
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert spec["securityContext"]["runAsUser"] == 10001 and spec["securityContext"]["runAsNonRoot"]
    keys = {e["name"]: e for e in container["env"]}
    assert keys["LEARNSEG_API_KEYS"]["valueFrom"]["secretKeyRef"]["name"] == "learnseg-keys"
    assert docs["Secret"]["metadata"]["name"] == "learnseg-keys"
    assert {m["mountPath"]: m.get("readOnly") for m in container["volumeMounts"]}[
        "/app/models"
    ] is True
    assert container["resources"]["limits"] and container["resources"]["requests"]
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == docs["Deployment"]["metadata"]["name"]
    assert (
        docs["Service"]["spec"]["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    )


def test_compose_mounts_files_that_exist_and_its_prometheus_config_checks(tmp_path: Path) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (DEPLOY / source).exists(), source
    assert compose["services"]["prometheus"]["secrets"] == ["learnseg_api_key"]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; .ci/run installs it)")
    config = tmp_path / "prometheus.yml"
    key = tmp_path / "key"
    key.write_text("a-client-key\n", encoding="utf-8")
    text = (DEPLOY / "prometheus" / "compose-prometheus.yml").read_text(encoding="utf-8")
    config.write_text(text.replace("/run/secrets/learnseg_api_key", str(key)), encoding="utf-8")
    shutil.copy(DEPLOY / "prometheus" / "learnseg-rules.yml", tmp_path / "learnseg-rules.yml")
    checked = _run(promtool, "check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
