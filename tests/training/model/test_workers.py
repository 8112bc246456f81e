"""The run's worker processes (training.model.workers.FitWorkers): results as inline, errors
handed back, and no worker left behind when the run that started them is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from training.model.kmeans import distinct_rows, limit_threads
from training.model.sweep import fit_all_rows
from training.model.workers import FitWorkers

REPO = Path(__file__).resolve().parents[3]


def test_workers_give_what_the_inline_call_gives() -> None:
    data = distinct_rows(np.random.default_rng(0).normal(size=(600, 3)).round(1))
    inline = FitWorkers(1)
    assert not inline.in_processes
    with limit_threads(1):  # as the workers: one thread each, so the same floats
        expected = inline.submit(fit_all_rows, data, 3, 0, 2).result()
    with FitWorkers(2) as workers:
        assert workers.in_processes
        got = workers.submit(fit_all_rows, data, 3, 0, 2).result()
    assert np.array_equal(got.model.labels_, expected.model.labels_)
    assert (got.inertia, got.davies_bouldin, got.calinski_harabasz) == (
        expected.inertia,
        expected.davies_bouldin,
        expected.calinski_harabasz,
    )
    assert np.array_equal(got.model.cluster_centers_, expected.model.cluster_centers_)


def test_an_error_in_a_worker_reaches_the_caller() -> None:
    with FitWorkers(2) as workers, pytest.raises(ValueError, match="clusters"):
        workers.submit(fit_all_rows, distinct_rows(np.eye(3)), 9, 0, 1).result()
    with pytest.raises(ValueError, match="clusters"):
        FitWorkers(1).submit(fit_all_rows, distinct_rows(np.eye(3)), 9, 0, 1).result()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_end_when_the_run_is_killed() -> None:
    """A run killed outright (no clean-up) takes its workers with it: they watch it."""
    script = (
        "import os, sys, time\n"
        "from training.model.workers import FitWorkers\n"
        "workers = FitWorkers(2)\n"
        "pids = {workers.submit(os.getpid).result() for _ in range(8)}\n"
        "print(' '.join(map(str, pids)), flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    ) as run:
        assert run.stdout is not None
        pids = [int(p) for p in run.stdout.readline().split()]
        assert pids and all(_alive(p) for p in pids)
        run.send_signal(signal.SIGKILL)
        run.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


@pytest.mark.parametrize("guarded", [True, False])
def test_a_script_without_a_main_guard_fits_in_its_own_process(
    tmp_path: Path, guarded: bool
) -> None:
    """Workers import the training script again: one that trains at its top level would train
    again in each, so it fits in its own process (with a warning saying how to use the workers)."""
    body = (
        "from training.model.workers import FitWorkers\n"
        "with FitWorkers(2) as workers:\n"
        "    print('processes' if workers.in_processes else 'inline', flush=True)\n"
    )
    if guarded:
        indented = "".join(f"    {line}\n" for line in body.splitlines())
        body = 'if __name__ == "__main__":\n' + indented
    script = tmp_path / "train_it.py"
    script.write_text(body, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        check=True,
    )
    assert done.stdout.strip() == ("processes" if guarded else "inline")
    assert ("without an `if __name__" in done.stderr) is not guarded
