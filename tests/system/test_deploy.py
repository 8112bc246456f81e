"""deploy/: the Kubernetes manifests and the compose file, validated offline against their
schemas (as `make lint` does), shown to fail on a planted mistake, and held to the service: probe
paths it serves, the port the image exposes, settings it knows, keys files that a Secret holds
and the service reads, a read-only model volume; and the Prometheus side held to it: every
scrape config (one machine, compose, Kubernetes) is the same job with the metrics key, and
passes promtool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from service.config import ServiceSettings
from service.main import create_app
from service.security import KeyFileError, KeyRing, read_key_file
from tests.helpers import REPO

DEPLOY = REPO / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
BIN = Path(sys.executable).parent
PROMTOOL = shutil.which("promtool")
NO_PROMTOOL = "promtool is not installed (Debian's prometheus package; .ci/run installs it)"


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it is in the dev extra: make install)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def _documents() -> dict[tuple[str, str], dict[str, Any]]:
    docs = {}
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            docs[doc["kind"], doc["metadata"]["name"]] = doc
    return docs


def _container(docs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    (container,) = docs["Deployment", "learnseg"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _job(config: dict[str, Any]) -> dict[str, Any]:
    """The learnseg job of a Prometheus config (itself, not a copy)."""
    jobs: list[dict[str, Any]] = [
        j for j in config["scrape_configs"] if j["job_name"] == "learnseg"
    ]
    assert len(jobs) == 1
    return jobs[0]


def test_manifests_validate_and_a_planted_typo_does_not(tmp_path: Path) -> None:
    tool = _tool("kubernetes-validate")
    assert {p.name for p in MANIFESTS} >= {
        "deployment.yaml",
        "service.yaml",
        "hpa.yaml",
        "secret.example.yaml",
        "prometheus-config.yaml",
        "nightly-cronjob.yaml",
        "nightly-pvc.yaml",
        "prometheus-rbac.yaml",
    }
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
    spec = docs["Deployment", "learnseg"]["spec"]["template"]["spec"]
    container = _container(docs)
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
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["models"]["mountPath"] == "/app/models" and mounts["models"]["readOnly"] is True
    assert container["resources"]["limits"] and container["resources"]["requests"]
    hpa = docs["HorizontalPodAutoscaler", "learnseg"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == docs["Deployment", "learnseg"]["metadata"]["name"]
    assert (
        docs["Service", "learnseg"]["spec"]["selector"]
        == docs["Deployment", "learnseg"]["spec"]["selector"]["matchLabels"]
    )


def test_every_setting_the_deployment_sets_is_one_the_service_has() -> None:
    """A LEARNSEG_ variable the service does not know would be ignored without a word: each one
    of the Deployment names a ServiceSettings field, and its value is a valid setting."""
    container = _container(_documents())
    env = {e["name"]: e for e in container["env"]}
    ours = {name: e for name, e in env.items() if name.startswith("LEARNSEG_")}
    fields = set(ServiceSettings.model_fields)
    assert {name.removeprefix("LEARNSEG_").lower() for name in ours} <= fields
    values = {name.removeprefix("LEARNSEG_").lower(): e["value"] for name, e in ours.items()}
    settings = ServiceSettings(**values)
    assert settings.host == "0.0.0.0" and not settings.anonymous
    assert not any("secretKeyRef" in e.get("valueFrom", {}) for e in env.values())


def test_the_keys_files_are_the_secret_s_and_the_service_reads_them(tmp_path: Path) -> None:
    """The *_KEYS_FILE paths lie in the read-only mount of the learnseg-keys Secret, each names
    one of its keys, and the example's files, written out as Kubernetes does, are keys files the
    service reads: named client, admin and metrics keys."""
    docs = _documents()
    container = _container(docs)
    spec = docs["Deployment", "learnseg"]["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if "secret" in v]
    secret = docs["Secret", volume["secret"]["secretName"]]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    files = {
        e["name"]: Path(e["value"]) for e in container["env"] if e["name"].endswith("_KEYS_FILE")
    }
    assert set(files) == {
        "LEARNSEG_API_KEYS_FILE",
        "LEARNSEG_ADMIN_KEYS_FILE",
        "LEARNSEG_METRICS_KEYS_FILE",
    }
    for path in files.values():
        assert path.parent == Path(mount["mountPath"]) and path.name in secret["stringData"]
        (tmp_path / path.name).write_text(secret["stringData"][path.name], encoding="utf-8")
    settings = ServiceSettings(
        api_keys_file=tmp_path / files["LEARNSEG_API_KEYS_FILE"].name,
        admin_keys_file=tmp_path / files["LEARNSEG_ADMIN_KEYS_FILE"].name,
        metrics_keys_file=tmp_path / files["LEARNSEG_METRICS_KEYS_FILE"].name,
    )
    # As shipped, the example's placeholder keys stop the service; with real keys it reads them.
    with pytest.raises(KeyFileError, match="placeholder of the examples"):
        KeyRing(settings)
    for path in files.values():
        text = (tmp_path / path.name).read_text(encoding="utf-8")
        (tmp_path / path.name).write_text(text.replace("replace-me", "r3al"), encoding="utf-8")
    credential = docs["Secret", "learnseg-metrics-credential"]["stringData"]["metrics-key"]
    credential = credential.replace("replace-me", "r3al")
    keys = KeyRing(settings).keys
    assert [(k.name, k.role) for k in keys] == [
        ("prometheus", "metrics"),
        ("lms-backend", "client"),
        ("nightly-assign", "client"),
        ("ops", "admin"),
    ]
    metrics = read_key_file(tmp_path / "metrics-keys", "metrics")
    assert KeyRing(settings).match(credential.encode()) == metrics[0]  # the same key, bare


def test_no_annotation_invites_a_scrape_without_the_key() -> None:
    template = _documents()["Deployment", "learnseg"]["spec"]["template"]
    annotations = template["metadata"].get("annotations", {})
    assert not any(name.startswith("prometheus.io/") for name in annotations)


def _configs() -> dict[str, dict[str, Any]]:
    docs = _documents()
    in_cluster = docs["ConfigMap", "learnseg-prometheus"]["data"]["prometheus.yml"]
    return {
        "prometheus.yml": yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text()),
        "compose-prometheus.yml": yaml.safe_load(
            (DEPLOY / "prometheus" / "compose-prometheus.yml").read_text()
        ),
        "kubernetes": yaml.safe_load(in_cluster),
    }


def test_every_scrape_config_is_one_job_with_the_metrics_key() -> None:
    """One machine, compose and Kubernetes scrape the same job (the alert rules read
    up{job="learnseg"}) with the same path and a bearer credentials file; no auth line is left
    commented out."""
    configs = _configs()
    jobs = {name: _job(config) for name, config in configs.items()}
    for name, job in jobs.items():
        assert job["metrics_path"] == "/metrics", name
        assert job["authorization"]["type"] == "Bearer", name
        assert set(job) - {"static_configs", "kubernetes_sd_configs", "relabel_configs"} == {
            "job_name",
            "metrics_path",
            "authorization",
        }, name
    credentials = {name: job["authorization"]["credentials_file"] for name, job in jobs.items()}
    assert credentials == {
        "prometheus.yml": "learnseg-metrics-key",  # beside the config file
        "compose-prometheus.yml": "/run/secrets/learnseg_metrics_key",
        "kubernetes": "/etc/prometheus/secrets/learnseg-metrics-credential/metrics-key",
    }
    for name in ("prometheus.yml", "compose-prometheus.yml"):
        text = (DEPLOY / "prometheus" / name).read_text()
        assert "# authorization" not in text and "#   credentials_file" not in text
    assert configs["kubernetes"]["rule_files"] == ["/etc/prometheus/rules/learnseg-rules.yml"]


def test_the_kubernetes_job_finds_the_learnseg_pods() -> None:
    """Its keep rule selects the Deployment's pod label and its container port's name; its
    credentials file is the learnseg-metrics-credential Secret's key, where the Prometheus
    Operator mounts a Secret."""
    docs = _documents()
    job = _job(_configs()["kubernetes"])
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"own_namespace": True}}]
    (keep,) = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert keep["source_labels"] == [
        "__meta_kubernetes_pod_label_app_kubernetes_io_name",
        "__meta_kubernetes_pod_container_port_name",
    ]
    labels = docs["Deployment", "learnseg"]["spec"]["template"]["metadata"]["labels"]
    (port,) = _container(docs)["ports"]
    assert keep["regex"] == f"{labels['app.kubernetes.io/name']};{port['name']}"
    folder, key = Path(job["authorization"]["credentials_file"]).parts[-2:]
    assert folder == "learnseg-metrics-credential" and key in docs["Secret", folder]["stringData"]


def test_prometheus_s_account_may_list_the_pods_of_its_namespace_and_no_more() -> None:
    """The job discovers pods in its own namespace, so a Role (not a ClusterRole) bound to the
    shipped service account is all it needs: get, list and watch on pods."""
    docs = _documents()
    account = docs["ServiceAccount", "learnseg-prometheus"]
    role = docs["Role", "learnseg-prometheus"]
    binding = docs["RoleBinding", "learnseg-prometheus"]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"]}]
    assert not [kind for kind, _ in docs if kind.startswith("Cluster")]
    (sd,) = _job(_configs()["kubernetes"])["kubernetes_sd_configs"]
    assert sd["namespaces"] == {"own_namespace": True}


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
@pytest.mark.parametrize("name", ["prometheus.yml", "compose-prometheus.yml", "kubernetes"])
def test_every_scrape_config_passes_promtool(name: str, tmp_path: Path) -> None:
    """Each config, with its credentials file and rules where it says (written into a temporary
    folder), passes `promtool check config`; without the credentials file it does not.

    Debian's promtool is built without Kubernetes discovery: where it does not know
    ``kubernetes_sd_configs``, the Kubernetes job is checked with a static target in its place
    (its authorization and relabelling still checked)."""
    assert PROMTOOL is not None
    config = yaml.safe_load(yaml.safe_dump(_configs()[name]))
    job = _job(config)
    key = tmp_path / "credential"
    key.write_text("a-metrics-key", encoding="utf-8")
    job["authorization"]["credentials_file"] = str(key)
    shutil.copy(DEPLOY / "prometheus" / "learnseg-rules.yml", tmp_path / "learnseg-rules.yml")
    config["rule_files"] = [str(tmp_path / "learnseg-rules.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = _run(PROMTOOL, "check", "config", str(path))
    if "field kubernetes_sd_configs not found" in checked.stdout + checked.stderr:
        job["static_configs"] = [{"targets": ["10.1.2.3:8000"]}]
        del job["kubernetes_sd_configs"]
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        checked = _run(PROMTOOL, "check", "config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    key.unlink()
    missing = _run(PROMTOOL, "check", "config", str(path))
    assert missing.returncode != 0 and "credential" in missing.stdout + missing.stderr


def test_compose_mounts_files_that_exist_and_hands_prometheus_the_metrics_key() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (DEPLOY / source).exists(), source
    assert compose["services"]["prometheus"]["secrets"] == ["learnseg_metrics_key"]
    assert compose["secrets"]["learnseg_metrics_key"] == {"environment": "LEARNSEG_METRICS_KEY"}
    env = compose["services"]["learnseg"]["environment"]
    assert env["LEARNSEG_METRICS_KEYS"].startswith("prometheus:${LEARNSEG_METRICS_KEY:?")
    assert env["LEARNSEG_API_KEYS"].startswith("lms:${LEARNSEG_API_KEY:?")
    assert {name.removeprefix("LEARNSEG_").lower() for name in env} <= set(
        ServiceSettings.model_fields
    )


# --------------------------------------------------------------------------- the nightly job
def _nightly() -> tuple[dict[str, Any], dict[str, Any]]:
    """The nightly CronJob and its one container."""
    cron = _documents()["CronJob", "learnseg-nightly"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return cron, container


def test_the_nightly_job_writes_the_service_s_models_volume_and_keeps_its_data_on_its_own() -> None:
    """It mounts the Deployment's models claim read-write where the service reads it, and its
    own claim (the table and the outputs, with email_hash and learner_id) that no serving pod
    mounts; runs the nightly image as the service's uid, one run at a time."""
    docs = _documents()
    cron, container = _nightly()
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if
              "persistentVolumeClaim" in v}  # fmt: skip
    served = docs["Deployment", "learnseg"]["spec"]["template"]["spec"]["volumes"]
    assert claims == {"models": "learnseg-models", "nightly": "learnseg-nightly"}
    assert {v["persistentVolumeClaim"]["claimName"] for v in served if
            "persistentVolumeClaim" in v} == {"learnseg-models"}  # fmt: skip
    assert ("PersistentVolumeClaim", "learnseg-models") in docs
    assert ("PersistentVolumeClaim", "learnseg-nightly") in docs
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert mounts["models"]["mountPath"] == env["LEARNSEG_MODEL_DIR"] == "/app/models"
    assert not mounts["models"].get("readOnly")
    for name in ("LEARNERS", "NIGHTLY_OUT"):
        assert env[name].startswith(mounts["nightly"]["mountPath"] + "/"), name
    assert int(env["NIGHTLY_KEEP"]) >= 1
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert pod["securityContext"]["runAsUser"] == 10001 and container["image"].startswith(
        "learnseg-nightly:"
    )


def _run_night(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_the_nightly_script_runs_train_diff_assign_and_its_outputs_agree(tmp_path: Path) -> None:
    """The CronJob's own script, run twice on a small table in a temp models folder (its
    paths from the container's env, moved under tmp): night one trains and assigns; night two
    trains on 90 % of the table, diffs against night one's model, assigns and prunes all but
    the last NIGHTLY_KEEP nights. The moves' new side is the assignments row for row, and the
    moves counted equal the manifest's churn."""
    import pandas as pd

    from training.data.synth import generate_learners

    _, container = _nightly()
    command = container["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    script = command[2]
    env = {e["name"]: e["value"] for e in container["env"]}
    moved = {
        "/app/models": str(tmp_path / "models"),
        "/app/nightly": str(tmp_path / "nightly"),
        "/tmp": str(tmp_path / "tmp"),
    }
    for name, value in env.items():
        for old, new in moved.items():
            value = value.replace(old, new)
        env[name] = value
    table = Path(env["LEARNERS"])
    table.parent.mkdir(parents=True)
    full = generate_learners(rows=4_000, seed=5)
    full.to_parquet(table, index=False)
    run_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEARNSEG_")},
        **env,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        # A small run: the settings the job leaves at their defaults, made fast.
        "LEARNSEG_K_MAX": "6",
        "LEARNSEG_STABILITY_RESAMPLES": "2",
        "LEARNSEG_N_MICRO": "200",
        "LEARNSEG_SILHOUETTE_SAMPLE": "2000",
        # k fixed: with 2 resamples of 3,600 rows the choice of k may differ between the nights,
        # and a model of another k keeps no ids (nothing for the churn to compare)
        "LEARNSEG_K": "5",
    }
    models, out = Path(env["LEARNSEG_MODEL_DIR"]), Path(env["NIGHTLY_OUT"])

    _run_night(script, run_env)
    first = (models / "LATEST").read_text().strip()
    assert sorted(p.name for p in (out / first).iterdir()) == ["assignments.parquet"]

    # Nights older than the last NIGHTLY_KEEP (2 here) are pruned: three planted older ones go.
    for age, name in enumerate(("old-a", "old-b", "old-c"), start=1):
        (out / name).mkdir()
        (out / name / "assignments.parquet").write_bytes(b"x")
        stamp = (out / first).stat().st_mtime - 86_400 * age
        os.utime(out / name, (stamp, stamp))
    full.sample(frac=0.9, random_state=1).to_parquet(table, index=False)
    _run_night(script, {**run_env, "NIGHTLY_KEEP": "2"})
    second = (models / "LATEST").read_text().strip()
    assert second != first
    assert sorted(p.name for p in out.iterdir()) == sorted([first, second])
    assert (out / first / "assignments.parquet").is_file()
    night = out / second
    assert sorted(p.name for p in night.iterdir()) == [
        "assignments.parquet",
        "moves.parquet",
        "moves.summary.json",
    ]
    moves = pd.read_parquet(night / "moves.parquet")
    assigned = pd.read_parquet(night / "assignments.parquet")
    assert len(moves) == len(assigned) == 3_600
    assert moves["row"].tolist() == assigned["row"].tolist() == list(range(3_600))
    for mine, theirs in (("to_segment_id", "segment_id"), ("to_track", "track"),
                         ("to_course", "course"), ("to_confidence", "confidence")):  # fmt: skip
        assert moves[mine].tolist() == assigned[theirs].tolist(), mine
    summary = json.loads((night / "moves.summary.json").read_text())
    assert (summary["old_version"], summary["new_version"]) == (first, second)
    churn = json.loads((models / second / "manifest.json").read_text())["churn"]
    assert (churn["moved"], churn["placed"]) == (summary["moved"], summary["placed"])
    assert summary["moved"] == int(moves["moved"].sum())
