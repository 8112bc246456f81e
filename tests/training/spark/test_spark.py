"""The Spark engine: the pandas path's rules and features, and the same engine-free artifact.

One module-scoped SparkSession (local[2], 4 shuffle partitions, no UI) and one Spark training run
on 50,000 seeded synthetic rows serve every test. Skipped, with the reason, when pyspark or a
Java 17+ runtime is missing, except the test of the message a user then gets.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

from service.segmenter import Segmenter
from tests.helpers import EXPECTED_FILES, REAL_ROWS, joblib_assign, numpy_assign
from training.__main__ import app
from training.config import TrainingSettings
from training.data.load import DataError, load_learners
from training.data.synth import generate_learners, write_learners
from training.insights import profiles as profiling
from training.insights.figures import group_figures, population_figures
from training.model.pipeline import build_pipeline
from training.prep.features import LearnerData, build_learner_data
from training.run import TrainingResult
from training.runtime import artifacts
from training.runtime.drift import DriftReference, fit_reference
from training.runtime.features import FEATURE_COLUMNS
from training.spark import session as spark_session
from training.spark.session import MIN_JAVA, java_version, quiet_pandas_warning, start_session

pytestmark = [
    pytest.mark.spark,
    # pyspark 4 warns on every pandas conversion that pandas 3 is "not yet fully supported", and
    # its Arrow conversion passes pandas 3's deprecated copy keyword; the parity tests below are
    # what says whether the conversions are right.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

# K: the stable knee of the default inputs (docs/segmentation.md): engines agree where the
# partition itself survives resampling.
ROWS, SEED, K = 50_000, 3, 5


def _unavailable() -> str | None:
    """Why the Spark tests cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install '.[spark]')"

    found = java_version()
    if found is None:
        return f"no Java runtime (the Spark engine needs Java {MIN_JAVA}+)"
    if found[0] < MIN_JAVA:
        return f"Java {found[0]} found; the Spark engine needs Java {MIN_JAVA}+"
    return None


UNAVAILABLE = _unavailable()
HAS_PYSPARK = UNAVAILABLE is None or not UNAVAILABLE.startswith("pyspark")
needs_spark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    settings = TrainingSettings(
        spark_master="local[2]",
        spark_shuffle_partitions=4,
        spark_driver_memory="2g",
        spark_conf={"spark.ui.enabled": "false"},
    )
    with quiet_pandas_warning():
        session = start_session(settings)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def parity_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spark-data") / "learners.parquet"
    write_learners(generate_learners(rows=ROWS, seed=SEED), path)
    return path


@pytest.fixture(scope="module")
def pandas_data(parity_table: Path) -> LearnerData:
    return build_learner_data(load_learners(parity_table, progress=False), TrainingSettings())


@pytest.fixture(scope="module")
def trained(
    spark: Any, parity_table: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainingResult, Any]:
    """One Spark training run at k = 5 (a small sweep around it), with its fitted parts."""
    from training.spark.model import SparkModel
    from training.spark.run import train

    settings = TrainingSettings(
        data=str(parity_table),
        model_dir=tmp_path_factory.mktemp("spark-models"),
        k=K,
        k_min=K,
        k_max=K + 1,
        spark_sweep_n_init=1,
        stability_resamples=2,
        silhouette_sample=3_000,
        n_init=3,
    )
    kept: list[SparkModel] = []
    with quiet_pandas_warning():
        result = train(spark, settings, keep=kept)
    return result, kept[0]


@pytest.fixture(scope="module")
def spark_learners(trained: tuple[TrainingResult, Any]) -> pd.DataFrame:
    """Every learner of the Spark run: cleaned columns, features, Spark's segment."""
    model = trained[1]
    frame: pd.DataFrame = model.scored.select(
        "learner_id", "company", "job_title", "track", "orgyear", "ctc",
        "ctc_updated_year", "ctc_imputed", *FEATURE_COLUMNS, "segment",
    ).toPandas()  # fmt: skip
    return frame


# ------------------------------------------------------------------------- rules and features
@needs_spark
def test_rules_tables_and_report_equal_the_pandas_path(
    trained: tuple[TrainingResult, Any], pandas_data: LearnerData
) -> None:
    data = trained[1].data
    ours, theirs = data.rules.to_dict(), pandas_data.rules.to_dict()
    assert ours.pop("title_map") == theirs.pop("title_map")
    assert ours.pop("tracks") == theirs.pop("tracks")
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-12), key
    ours, theirs = data.tables.to_dict(), pandas_data.tables.to_dict()
    for key, value in theirs.items():
        if isinstance(value, dict):
            assert list(ours[key]) == list(value), key  # same groups, same order
            assert list(ours[key].values()) == pytest.approx(list(value.values()), rel=1e-12)
        else:
            assert ours[key] == pytest.approx(value, rel=1e-12), key
    assert data.report == pandas_data.report
    assert data.raw.count == ROWS


@needs_spark
def test_features_equal_learner_by_learner(
    spark_learners: pd.DataFrame, pandas_data: LearnerData
) -> None:
    history = ["n_records", "ctc_growth"]  # learner columns that are features too
    expected = pandas_data.learners.drop(columns=history).join(pandas_data.features)
    both = expected.merge(spark_learners, on="learner_id", suffixes=("", "_spark"), how="outer")
    assert len(both) == len(expected) == len(spark_learners) == 37_272
    for column in ("company", "job_title", "track"):
        pd.testing.assert_series_equal(
            both[column].fillna("<none>").astype(object),
            both[f"{column}_spark"].fillna("<none>").astype(object),
            check_names=False,
        )
    for column in ("orgyear", "ctc", "ctc_updated_year", *FEATURE_COLUMNS):
        np.testing.assert_allclose(
            both[f"{column}_spark"].to_numpy(np.float64),
            both[column].to_numpy(np.float64),
            rtol=1e-12,
            atol=1e-12,
            err_msg=column,
        )
    assert both["ctc_imputed"].astype(bool).sum() > 0  # the table has implausible CTCs
    assert (both["ctc_imputed"].astype(bool) == both["ctc_imputed_spark"].astype(bool)).all()


# ---------------------------------------------------------------------------- the artifact
@needs_spark
def test_artifact_layout_and_manifest(trained: tuple[TrainingResult, Any]) -> None:
    result = trained[0]
    manifest = artifacts.verify_model(result.folder)
    assert set(manifest["files"]) == EXPECTED_FILES
    assert manifest["engine"] == "spark"
    assert manifest["spark"]["version"] and manifest["spark"]["pyspark"]
    assert manifest["k"] == K and manifest["k_choice"]["source"] == "fixed"
    assert manifest["data"]["rows"] == ROWS and manifest["data"]["learners"] == 37_272
    assert manifest["metrics"]["hierarchical"]["method"] == "bisecting-kmeans"
    report = (result.folder / "report.html").read_text(encoding="utf-8")
    assert "K-Means against the hierarchical (bisecting K-Means) reference" in report
    assert "(Ward) reference" not in report
    assert len(manifest["metrics"]["kmeans"]["seed_costs"]) == 3
    assert manifest["metrics"]["sweep"]["ks"] == [K, K + 1]
    profiles = json.loads((result.folder / "profiles.json").read_text())
    assert sum(s["size"] for s in profiles["segments"]) == 37_272
    assert [s["id"] for s in profiles["segments"]] == list(range(K))


def _shape(value: Any) -> Any:
    """The names and JSON types of a document, recursively (a list: its first item's shape)."""
    if isinstance(value, dict):
        return {key: _shape(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return (
        "number"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else (type(value).__name__)
    )


#: Where the engines differ on purpose: Spark's own section, its K-Means seeds, the two-stage
#: reference's micro-cluster count (None for bisecting K-Means), the data's identity.
_ENGINE_OWN = {("spark",), ("metrics", "kmeans", "seed"), ("metrics", "kmeans", "seed_costs"),
               ("metrics", "kmeans", "iterations"), ("metrics", "hierarchical", "n_micro"),
               ("metrics", "hierarchical", "method")}  # fmt: skip


def _differences(a: Any, b: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if path in _ENGINE_OWN:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        if a and b and all(k.isdigit() for k in (*a, *b)):  # keyed by segment id: k may differ
            return _differences(next(iter(a.values())), next(iter(b.values())), path)
        out = [(*path, k) for k in a.keys() ^ b.keys() if (*path, k) not in _ENGINE_OWN]
        return out + [d for k in a.keys() & b.keys() for d in _differences(a[k], b[k], (*path, k))]
    if isinstance(a, list) and isinstance(b, list):
        return _differences(a[0], b[0], path) if a and b else []
    return [] if a == b or "NoneType" in (a, b) else [path]


@needs_spark
def test_spark_and_local_runs_write_the_same_manifest_fields(
    trained: tuple[TrainingResult, Any], trained_small: TrainingResult
) -> None:
    """Both engines end in the one training-run tail: the same manifest fields, names and types
    (the engine's own section and figures aside), in the same order."""
    spark_doc = artifacts.verify_model(trained[0].folder)
    local_doc = artifacts.verify_model(trained_small.folder)
    assert local_doc["engine"] == "scikit-learn" and spark_doc["engine"] == "spark"
    assert [k for k in spark_doc if k != "spark"] == list(local_doc)
    assert list(spark_doc["metrics"]) == list(local_doc["metrics"])
    assert _differences(_shape(spark_doc), _shape(local_doc)) == []
    assert {k for k in spark_doc["metrics"]["kmeans"]} - set(local_doc["metrics"]["kmeans"]) == {
        "seed", "seed_costs", "iterations"}  # fmt: skip


@needs_spark
def test_profiles_names_and_actions_equal_the_pandas_path(
    trained: tuple[TrainingResult, Any], spark_learners: pd.DataFrame
) -> None:
    """Spark's aggregations give each segment the figures, name and actions pandas gives it."""
    doc = json.loads((trained[0].folder / "profiles.json").read_text())
    profiles = doc["segments"]
    learners = spark_learners.assign(ctc_imputed=spark_learners["ctc_imputed"].astype(bool))
    features = learners[list(FEATURE_COLUMNS)]
    population = population_figures(learners, features)
    ordered = np.sort(learners["ctc"].to_numpy(np.float64))
    figures = {
        p["id"]: group_figures(
            (learners["segment"] == p["id"]).to_numpy(), learners, features, population_ctc=ordered
        )
        for p in profiles
    }
    expected = profiling.profiles_from_figures(
        figures,
        population,
        centers=np.zeros((len(profiles), 1)),
        silhouette={},
        best_match={},
        coarse={p["id"]: p["coarse_segment_id"] for p in profiles},
    )
    shared = (
        "size", "data_quality", "pay_quartile_shares", "experience_shares",
        "company_tier_shares", "peer_flags", "below_experience_share", "ctc_years",
        "top_companies", "known_titles", "dominant_track", "name", "name_words", "actions",
    )  # fmt: skip
    for ours, theirs in zip(profiles, expected, strict=True):
        for key in shared:
            assert ours[key] == theirs[key], (ours["id"], key)
    assert doc["population"] == profiling.population_summary(population)
    # each share is rounded to 4 decimals: off by up to 0.00005 of its segment's learners
    assert sum(p["data_quality"]["ctc_imputed_share"] * p["size"] for p in profiles) == (
        pytest.approx(learners["ctc_imputed"].sum(), abs=0.00005 * len(learners) + 0.5)
    )


@needs_spark
def test_cohorts_equal_the_pandas_path(
    trained: tuple[TrainingResult, Any], spark_learners: pd.DataFrame
) -> None:
    """Spark's group-by gives every cohort (segment x track) the learners, exact median CTC and
    low-confidence count pandas gives the same learners (relative margins by the kernel)."""
    from training.insights.courses import cohort_figures
    from training.runtime.loader import load_model

    folder = trained[0].folder
    kernel = load_model(folder).kernel
    relative = kernel.nearest(spark_learners[list(kernel.features)].to_numpy(np.float64))
    assert relative.relative_margin is not None
    expected = cohort_figures(
        spark_learners["segment"].to_numpy(),
        spark_learners["track"].to_numpy(dtype=object),
        spark_learners["ctc"].to_numpy(np.float64),
        relative.relative_margin < kernel.confidence_threshold,
    )
    profiles = json.loads((folder / "profiles.json").read_text())
    seen = 0
    for segment in profiles["segments"]:
        for row in segment["cohorts"]:
            figures = expected.get((segment["id"], row["track"]))
            if figures is None:
                assert row["learners"] == 0 and row["median_ctc_lpa"] is None
                continue
            seen += figures.learners
            assert row["learners"] == figures.learners, (segment["id"], row["track"])
            assert figures.ctc_median is not None
            assert row["median_ctc_lpa"] == round(figures.ctc_median / 100_000, 2)
            assert row["low_confidence"] == figures.low_confidence
    assert seen == len(spark_learners)


@needs_spark
def test_exported_json_and_joblib_reproduce_spark_predictions(
    trained: tuple[TrainingResult, Any], spark_learners: pd.DataFrame
) -> None:
    folder = trained[0].folder
    doc = json.loads((folder / "segmenter.json").read_text())
    x = spark_learners[doc["features"]].to_numpy(np.float64)
    spark_ids = spark_learners["segment"].to_numpy()
    np.testing.assert_array_equal(numpy_assign(doc, x), spark_ids)
    np.testing.assert_array_equal(joblib_assign(folder, x), spark_ids)


@needs_spark
def test_partition_agrees_with_scikit_learn(
    spark_learners: pd.DataFrame, pandas_data: LearnerData
) -> None:
    features = list(TrainingSettings().cluster_features)
    pipeline = build_pipeline(K, seed=0, n_init=10).fit(pandas_data.features[features])
    sklearn_labels = pd.Series(
        pipeline[-1].labels_, index=pandas_data.learners["learner_id"].to_numpy()
    )
    aligned = sklearn_labels.reindex(spark_learners["learner_id"]).to_numpy()
    assert adjusted_rand_score(aligned, spark_learners["segment"]) >= 0.95


@needs_spark
def test_service_loads_the_spark_model_and_agrees(
    trained: tuple[TrainingResult, Any],
    spark_learners: pd.DataFrame,
    parity_table: Path,
    spark: Any,
) -> None:
    from training.spark.data import featurize

    result, model = trained
    segmenter = Segmenter.load(result.folder.parent)
    assert segmenter.version == result.version
    # Learners with one raw record: their raw row is exactly the record they were trained on.
    raw = load_learners(parity_table, progress=False).drop_duplicates()
    single = spark_learners[spark_learners["n_records"] == 1].set_index("learner_id")
    rows = raw[raw["email_hash"].isin(single.index)].drop_duplicates("email_hash")
    learners = [
        {str(k): (None if pd.isna(v) else v) for k, v in r.items() if k != "email_hash"}
        for r in rows.to_dict(orient="records")
    ]
    expected = single.loc[rows["email_hash"], "segment"].to_numpy()
    assert len(learners) > 20_000
    batch = segmenter.assign_batch(learners)
    np.testing.assert_array_equal([a.segment_id for a in batch], expected)
    # The track Spark's cleaning gave each learner, and the course of its cohort at the
    # learner's own career stage (its years, as Spark computed them).
    assert [a.track for a in batch] == single.loc[rows["email_hash"], "track"].tolist()
    years = single.loc[rows["email_hash"], "years_experience"].tolist()
    assert all(
        a.course == segmenter.cohorts.course_of(a.segment_id, a.track, float(y))
        for a, y in zip(batch, years, strict=True)
    )
    some = slice(0, 500)
    scalar = [segmenter.assign(learner).segment_id for learner in learners[some]]
    np.testing.assert_array_equal(scalar, expected[some])

    if not REAL_ROWS.exists():
        return
    real = load_learners(REAL_ROWS, progress=False)
    with quiet_pandas_warning():
        frame = spark.createDataFrame(real.assign(_i=np.arange(len(real))))
        scored = featurize(frame, model.data.rules, model.data.tables, "_i")
        by_spark = model.predict(scored).orderBy("_i").select("valid", "segment").toPandas()
    assert by_spark["valid"].all() and len(by_spark) == 116
    real_learners = [
        {str(k): (None if pd.isna(v) else v) for k, v in r.items()}
        for r in real.to_dict(orient="records")
    ]
    np.testing.assert_array_equal(
        [a.segment_id for a in segmenter.assign_batch(real_learners)], by_spark["segment"]
    )
    np.testing.assert_array_equal(
        [segmenter.assign(r).segment_id for r in real_learners], by_spark["segment"]
    )


# ----------------------------------------------------------------------------------- loading
@needs_spark
def test_loader_rules_on_a_messy_csv(spark: Any, tmp_path: Path) -> None:
    from training.spark.data import ORDER_COLUMNS, read_learners

    path = tmp_path / "messy.csv"
    path.write_text(
        "Unnamed: 0, CTC ,company_hash,email_hash,Orgyear,job_position,ctc_updated_year\n"
        '0,700000,"acme, inc",a,2016,"Engineer, ""Backend""",2020\n'
        "1, 1.2e6 ,null,b,NA,   ,2019.0\n"
        "2,,  ,c,n/a,Not Available,\n"
        "3,NULL,x,,2015.0,SDE 2,2021\n",
        encoding="utf-8",
    )
    expected = load_learners(path, progress=False)
    with quiet_pandas_warning():
        table = read_learners(spark, str(path), TrainingSettings())
        got = table.rows.orderBy(*ORDER_COLUMNS).drop(*ORDER_COLUMNS).toPandas()
    assert table.count == 4
    pd.testing.assert_frame_equal(
        got.astype(object).where(got.notna(), None),
        expected.astype(object).where(expected.notna(), None),
    )

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "company_hash,email_hash,orgyear,ctc,job_position,ctc_updated_year\n"
        'a,b,2010,"12,00,000",x,2020\na,c,2010,abc,x,2020\n',
        encoding="utf-8",
    )
    with quiet_pandas_warning(), pytest.raises(DataError, match=r"2 values that are not numbers"):
        read_learners(spark, str(bad), TrainingSettings())
    with quiet_pandas_warning(), pytest.raises(DataError, match="does not exist"):
        read_learners(spark, str(tmp_path / "none" / "*.parquet"), TrainingSettings())
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "company_hash,email_hash,orgyear,ctc,job_position,ctc_updated_year\n"
        "a,b,2010,100,x,2020\na,c,2010,100,x,2020,9\n",
        encoding="utf-8",
    )
    with quiet_pandas_warning(), pytest.raises(DataError, match="Malformed CSV record"):
        read_learners(spark, str(extra), TrainingSettings())


# --------------------------------------------------------------------------------------- CLI
@needs_spark
def test_cli_trains_end_to_end_on_a_csv(spark: Any, tmp_path: Path) -> None:
    data = tmp_path / "learners.csv"
    write_learners(generate_learners(rows=4_000, seed=5), data)
    out = tmp_path / "models"
    result = CliRunner().invoke(
        app,
        [
            *("train", "--engine", "spark", "--master", "local[2]"),
            *("--data", str(data), "--out", str(out), "--k", "3", "--k-min", "2", "--k-max", "3"),
        ],
        env={
            "LEARNSEG_SWEEP_N_INIT": "1",
            "LEARNSEG_STABILITY_RESAMPLES": "2",
            "LEARNSEG_N_INIT": "1",
            "LEARNSEG_SILHOUETTE_SAMPLE": "500",
        },
    )
    assert result.exit_code == 0, result.output
    assert "Trained model" in result.stdout
    segmenter = Segmenter.load(out)
    assert segmenter.manifest["engine"] == "spark" and segmenter.k == 3
    assert segmenter.manifest["data"]["rows"] == 4_000


def test_engine_options_are_checked(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["train", "--engine", "dask", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "--engine must be sklearn or spark" in bad.stderr
    bad = runner.invoke(app, ["train", "--master", "local[2]", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "--master applies to --engine spark" in bad.stderr
    bad = runner.invoke(
        app, ["train", "--engine", "spark", "--hierarchical", "exact", "--out", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "bisecting K-Means" in bad.stderr


def test_missing_pyspark_is_one_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    result = CliRunner().invoke(app, ["train", "--engine", "spark", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "Install the spark extra: pip install '.[spark]'" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.skipif(not HAS_PYSPARK, reason="pyspark is not installed")
def test_old_java_is_one_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(
        spark_session, "java_version", lambda: (11, 'openjdk version "11.0.22" 2024-01-16')
    )
    result = CliRunner().invoke(app, ["train", "--engine", "spark", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "needs Java 17 or newer" in result.stderr and "Java 11" in result.stderr
    monkeypatch.setattr(spark_session, "java_version", lambda: None)
    result = CliRunner().invoke(app, ["train", "--engine", "spark", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "found no Java runtime" in result.stderr


# ----------------------------------------------------------------- assign and drift (issue 14)
@needs_spark
def test_drift_reference_equals_the_pandas_engine_s_bins(
    trained: tuple[TrainingResult, Any], spark_learners: pd.DataFrame
) -> None:
    """drift.json of the Spark run: the deciles and bin shares fit_reference gives the same
    learners' features, and the segment shares of Spark's own partition."""
    reference = DriftReference.from_dict(
        json.loads((trained[0].folder / artifacts.DRIFT_JSON).read_text(encoding="utf-8"))
    )
    features = list(reference.features)
    expected = fit_reference(
        features,
        spark_learners[features].to_numpy(np.float64),
        spark_learners["segment"].to_numpy(),
        list(range(K)),
    )
    assert reference.learners == expected.learners == len(spark_learners)
    for ours, theirs in zip(reference.edges, expected.edges, strict=True):
        assert ours == pytest.approx(theirs, rel=1e-12)
    for ours, theirs in zip(reference.shares, expected.shares, strict=True):
        assert ours == pytest.approx(theirs, abs=2 / len(spark_learners))
    assert reference.segment_shares == pytest.approx(expected.segment_shares, rel=1e-12)


@needs_spark
def test_assign_on_spark_equals_the_local_engine(
    spark: Any, trained: tuple[TrainingResult, Any], tmp_path: Path
) -> None:
    """The same rows (synthetic, junk the service refuses, the genuine ones) placed by the
    local engine and by --engine spark (mapInArrow on the runtime kernel): the same answers."""
    from training.batch.assign import assign_table
    from training.runtime.loader import load_model

    rows = pd.concat(
        [
            generate_learners(rows=3_000, seed=21),
            load_learners(REAL_ROWS, progress=False) if REAL_ROWS.exists() else None,
            pd.DataFrame({"ctc": [None, 0.0, -1.0, 3e12], "email_hash": ["j1", None, "j3", "j4"]}),
        ],
        ignore_index=True,
    )
    source = write_learners(rows, tmp_path / "rows.parquet")
    model = trained[0].folder
    placing = load_model(model)
    local = assign_table(source, tmp_path / "local.parquet", placing)
    out = tmp_path / "spark.parquet"
    with quiet_pandas_warning():
        result = CliRunner().invoke(
            app,
            ["assign", "--model", str(model), "--data", str(source), "--out", str(out),
             "--engine", "spark"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "rows read" in result.stdout and f"{len(rows):,}" in result.stdout
    assert out.is_dir() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    expected = pd.read_parquet(tmp_path / "local.parquet")
    got = pd.read_parquet(out).sort_values("row", ignore_index=True)
    assert local.rows_out == len(got) == len(rows) and local.errors == 4
    assert list(got.columns) == list(expected.columns)
    for column in expected.columns:
        left, right = got[column].tolist(), expected[column].tolist()
        if column == "warnings":
            left = [None if w is None else list(w) for w in left]
            right = [None if w is None else list(w) for w in right]
        assert [None if _missing(v) else v for v in left] == [
            None if _missing(v) else v for v in right
        ], column


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
