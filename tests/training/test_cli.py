"""The training CLI (python -m training): synth, inspect, train and report, their output and their
one-sentence errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from training.__main__ import app
from training.run import TrainingResult
from training.runtime import artifacts

runner = CliRunner()


def test_inspect_real_rows_json(real_rows_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(real_rows_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 116
    assert summary["nulls"]["job_position"] == 33
    assert summary["duplicates"]["emails_seen_more_than_once"] == 7
    counts = {rule["name"]: rule["count"] for rule in summary["cleaning"]["rules"]}
    assert counts["orgyear_implausible_imputed"] >= 25
    assert counts["ctc_implausible_imputed"] == 3  # CTC 1,000, 12,600 and 24,000
    cleaned = summary["cleaned"]
    assert cleaned["learners"] == 99
    assert cleaned["reference_year"] == 2022
    assert list(cleaned["years_experience"]) == ["p10", "p25", "p50", "p75", "p90"]
    assert cleaned["ctc"]["p10"] <= cleaned["ctc"]["p50"] <= cleaned["ctc"]["p90"]


def test_synth_then_inspect(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "learners.parquet"
    made = runner.invoke(app, ["synth", "--rows", "3000", "--seed", "4", "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert len(pd.read_parquet(out)) == 3000
    shown = runner.invoke(app, ["inspect", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "Cleaning rules" in shown.stdout and "orgyear_implausible_imputed" in shown.stdout


def test_inspect_missing_file_is_one_sentence(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_inspect_missing_column_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "company_hash,email_hash,orgyear,job_position,ctc_updated_year\na,b,2010,x,2020\n"
    )
    result = runner.invoke(app, ["inspect", str(bad)])
    assert result.exit_code == 2
    assert "'ctc'" in result.stderr and "Traceback" not in result.output


def test_synth_refuses_unknown_suffix(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "--rows", "200", "--out", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2
    assert "use a .csv, .csv.gz or .parquet file name" in result.stderr


def test_bad_setting_is_one_sentence(monkeypatch) -> None:
    monkeypatch.setenv("LEARNSEG_ORGYEAR_MIN", "not-a-year")
    result = runner.invoke(app, ["inspect", "whatever.csv"])
    assert result.exit_code == 2
    assert "orgyear_min" in result.stderr and "Traceback" not in result.output


def test_report_command_rebuilds_and_manifest_still_verifies(
    trained_small: TrainingResult, tmp_path: Path
) -> None:
    copy = tmp_path / trained_small.version
    subprocess.run(["cp", "-r", str(trained_small.folder), str(copy)], check=True)
    (copy / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    page = (copy / "report.html").read_text()
    assert "Who are our learners?" in page and "plots/elbow.png" in page
    assert "K-Means against the hierarchical (Ward) reference" in page
    artifacts.verify_model(copy)


def test_report_refuses_a_tampered_model(trained_small: TrainingResult, tmp_path: Path) -> None:
    copy = tmp_path / trained_small.version
    subprocess.run(["cp", "-r", str(trained_small.folder), str(copy)], check=True)
    (copy / "profiles.json").write_text("{}")
    result = CliRunner().invoke(app, ["report", str(copy)])
    assert result.exit_code == 2
    assert "profiles.json does not match" in result.stderr


def test_train_cli_summary_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["train", "--hierarchical", "fast", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "two-stage or exact" in bad.stderr
    bad = runner.invoke(app, ["train", "--previous", str(tmp_path), "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "not a model folder" in bad.stderr
    model = tmp_path / "m"
    (model).mkdir()
    (model / "segmenter.json").write_text("{}")
    both = runner.invoke(
        app, ["train", "--previous", str(model), "--fresh", "--out", str(tmp_path)]
    )
    assert both.exit_code == 2 and "use one" in both.stderr
    missing = runner.invoke(app, ["train", "--data", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
