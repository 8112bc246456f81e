"""The training CLI (python -m training): synth, inspect, train and report, their output and their
one-sentence errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from training.__main__ import app
from training.config import TrainingSettings
from training.data.inspect import summarize_table
from training.run import TrainingResult
from training.runtime import artifacts

runner = CliRunner()


def test_inspect_json_is_the_summary(real_rows_path: Path, real_raw: pd.DataFrame) -> None:
    result = runner.invoke(app, ["inspect", str(real_rows_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == summarize_table(real_raw, TrainingSettings())


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
    assert both.exit_code == 2 and "choose one" in both.stderr
    missing = runner.invoke(app, ["train", "--data", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_train_names_a_refused_setting_as_it_was_given(
    tmp_path: Path, no_learnseg_env: pytest.MonkeyPatch
) -> None:
    out = ["--out", str(tmp_path)]
    bad = runner.invoke(app, ["train", "--hierarchical", "fast", *out])
    assert bad.stderr == "error: --hierarchical must be two-stage or exact, not 'fast'.\n"
    bad = runner.invoke(app, ["train", "--k-min", "5", "--k-max", "5", *out])
    assert bad.stderr == "error: --k-min (5) must be smaller than --k-max (5).\n"
    model = tmp_path / "m"
    model.mkdir()
    (model / artifacts.KERNEL_JSON).write_text("{}")
    both = runner.invoke(app, ["train", "--previous", str(model), "--fresh", *out])
    assert both.stderr == (
        "error: --previous keeps a model's segment ids and --fresh drops them: choose one.\n"
    )
    no_learnseg_env.setenv("LEARNSEG_HIERARCHICAL", "fast")  # not an option: named as a setting
    bad = runner.invoke(app, ["train", *out])
    assert bad.exit_code == 2
    assert bad.stderr == "error: hierarchical must be two-stage or exact, not 'fast'.\n"


def test_the_train_summary_quotes_the_methods_agreement_as_the_report_does() -> None:
    """The CLI's K-Means vs Ward line is the report's figure: the median ARI over the
    reference's seeds with the range when there are several, two decimals."""
    from training.__main__ import _agreement_words

    spread = {
        "ari": 0.6912,
        "nmi": 0.7777,
        "ari_by_seed": [0.6912, 0.7944, 0.7201],
        "ari_median": 0.7201,
        "ari_min": 0.6912,
        "ari_max": 0.7944,
    }
    assert _agreement_words(spread) == (
        "ARI 0.72 (median of 3 seeds of the reference, range 0.69-0.79); NMI 0.78"
    )
    assert _agreement_words({"ari": 0.6912, "nmi": 0.7777}) == "ARI 0.69; NMI 0.78"
