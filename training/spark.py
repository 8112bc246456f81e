"""Scale-out training on Apache Spark: ``python -m training train --engine spark``.

The same model as :func:`training.pipeline.run`, computed with Spark so that the learner table
need not fit in one process's memory, and published through the same
:func:`training.pipeline.publish_model`: the same artifact layout, the same engine-free
``segmenter.json`` (the service loads it unchanged), a ``segmenter.joblib`` holding the
equivalent fitted scikit-learn pipeline, plots and report; the manifest records
``engine: "spark"`` and the Spark version.

Steps (``training.spark_data`` and ``training.spark_model`` hold the Spark code):

1. load CSV or Parquet (a file, a folder or a glob) with the loader's schema and NA rules;
2. clean and compute features with the pandas path's own rules (fit with Spark aggregations,
   apply with ``mapInPandas``);
3. clip to the 1-99 % quantiles and standardise (Spark aggregations), assemble vectors;
4. elbow sweep with Spark ML ``KMeans`` (``trainingCost`` per k, the best of ``sweep_n_init``
   seeds; Davies-Bouldin and Calinski-Harabasz from aggregations over all learners; silhouette
   with ``ClusteringEvaluator`` on the evaluation sample; bootstrap stability), the same knee
   and :func:`~training.clustering.choose_k`;
5. final K-Means: ``n_init`` seeds, the lowest ``trainingCost`` kept (Spark has no ``n_init``);
6. hierarchical reference: ``BisectingKMeans``, compared with K-Means by ARI/NMI on the sample;
7. coarse groups and profiles from Spark aggregations, then the shared profile, name and
   recommendation code; artifacts.

pyspark is imported only here and in the modules above, and only once :func:`check_spark` has
found it and a Java 17+ runtime: the core package and the service never need it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from training.config import TrainingSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from training.pipeline import TrainingResult

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

MIN_JAVA = 17
INSTALL_HINT = "Install the spark extra: pip install '.[spark]'"


class SparkUnavailable(Exception):  # noqa: N818 - reads as a state, like FileNotFoundError
    """pyspark or a suitable Java runtime is missing; the message is one sentence."""


def java_version() -> tuple[int, str] | None:
    """Major version and first ``java -version`` line of the JVM Spark would start, or None.

    Spark starts ``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is set, else ``java`` on the PATH.
    """
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java is None or not Path(java).is_file():
        return None
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = (done.stderr or "") + (done.stdout or "")
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if found is None:
        return None
    major = int(found.group(1))
    if major == 1 and found.group(2):  # "1.8.0_392" is Java 8
        major = int(found.group(2))
    return major, text.strip().splitlines()[0]


def check_spark() -> str:
    """Return the pyspark version, or raise :class:`SparkUnavailable` saying what is missing."""
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailable(f"{INSTALL_HINT} (the Spark engine needs pyspark).") from None
    found = java_version()
    if found is None:
        raise SparkUnavailable(
            f"The Spark engine needs Java {MIN_JAVA} or newer and found no Java runtime: "
            "install a JDK 17 and put it on the PATH or set JAVA_HOME."
        )
    if found[0] < MIN_JAVA:
        raise SparkUnavailable(
            f"The Spark engine needs Java {MIN_JAVA} or newer, but `java -version` reports "
            f"Java {found[0]} ({found[1]}): install a JDK 17 and set JAVA_HOME to it."
        )
    return str(pyspark.__version__)


@contextmanager
def quiet_pandas_warning() -> Iterator[None]:
    """Silence what pyspark 4 says about pandas 3 while converting (the tests check the values).

    Its notice that pandas 3 is "not yet fully supported", and pandas 3's deprecation of the
    ``copy`` keyword that pyspark's Arrow conversion still passes.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        warnings.filterwarnings("ignore", message="The copy keyword is deprecated")
        yield


def start_session(settings: TrainingSettings) -> SparkSession:
    """A SparkSession for ``settings.spark_master`` (local: this Python runs the workers).

    On a cluster the executors need this package: it is shipped to them as a zip
    (``addPyFile``); numpy, pandas and pyarrow must be installed there.
    """
    check_spark()
    from pyspark.sql import SparkSession

    local = settings.spark_master.startswith("local")
    if local:
        # Workers must run this interpreter (with numpy, pandas, pyarrow), not "python3".
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = {
        "spark.app.name": "learnseg-train",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.log.level": "ERROR",
    }
    if settings.spark_shuffle_partitions is not None:
        conf["spark.sql.shuffle.partitions"] = str(settings.spark_shuffle_partitions)
    conf |= settings.spark_conf
    builder = SparkSession.builder.master(settings.spark_master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if local and settings.spark_shuffle_partitions is None:
        # Spark's 200 shuffle partitions turn every small aggregation into 200 tasks.
        parallelism = spark.sparkContext.defaultParallelism
        spark.conf.set("spark.sql.shuffle.partitions", str(2 * parallelism))
    if not local:
        spark.sparkContext.addPyFile(str(_package_zip()))
    return spark


def _package_zip() -> Path:
    """This ``training`` package as a zip, for the executors of a cluster."""
    package = Path(__file__).resolve().parent
    out = Path(tempfile.mkdtemp(prefix="learnseg-")) / "training.zip"
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(package.rglob("*.py")):
            archive.write(path, Path("training") / path.relative_to(package))
    return out


def run(
    settings: TrainingSettings,
    *,
    spark: SparkSession | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Train on Spark and publish the model under ``settings.model_dir``.

    Parameters
    ----------
    settings : TrainingSettings
        Every knob; ``settings.data`` names the table (file, folder, glob, URL; None = the
        embedded default), ``settings.spark_master`` the cluster.
    spark : SparkSession, optional
        A session to use and leave running. By default the active session of this process is
        used the same way, or else one is started for the run (``spark_*`` settings) and
        stopped at its end.
    progress : callable, optional
        Called with a short label as each step starts.

    Raises
    ------
    SparkUnavailable
        pyspark or Java 17+ is missing.
    training.data.DataError
        The table cannot be read or is not a learner table.
    """
    check_spark()
    from pyspark.sql import SparkSession

    from training.spark_model import train

    with quiet_pandas_warning():
        running = spark if spark is not None else SparkSession.getActiveSession()
        session = running if running is not None else start_session(settings)
        try:
            return train(session, settings, progress=progress)
        finally:
            if running is None:
                session.stop()
