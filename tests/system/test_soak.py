"""A short soak of the real server: 64 connections on /segment and /segment/batch, memory watched.

Runs ``bench/soak.py`` (10 s of load after a 1 s warm-up, 3 s RSS windows; about 20 s in all)
against the session's small model, in a child process on 127.0.0.1 with wrk when installed, else
the script's asyncio client. The full soak is ``bench/soak.py`` with its defaults (60 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

SOAK = REPO / "bench" / "soak.py"


def test_short_soak_has_no_failures_and_flat_memory(service_model_dir: Path) -> None:
    command = [
        sys.executable,
        str(SOAK),
        "--model-dir",
        str(service_model_dir),
        "--duration",
        "10",
        "--window",
        "3",
        "--warmup",
        "1",
        "--connections",
        "64",
        "--learners",
        "4000",
        "--json",
    ]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    print(done.stdout)
    print(done.stderr, file=sys.stderr)
    line = next((x for x in done.stdout.splitlines() if x.startswith("SOAKJSON ")), None)
    assert line is not None, f"soak.py printed no figures (exit {done.returncode})"
    figures = json.loads(line.removeprefix("SOAKJSON "))

    assert figures["failures"] == 0, figures
    for route in ("/segment", "/segment/batch"):
        assert figures["endpoints"][route]["requests"] > 0, figures
    assert figures["rss_growth_pct"] < 10, figures
    assert done.returncode == 0, figures
