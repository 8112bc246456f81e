"""The Spark engine's environment: is pyspark there, which Java would Spark start, a session.

Nothing here imports pyspark at import time (:func:`check_spark` and :func:`start_session` import
it when called), so the CLI can say in one sentence what is missing when it is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from training.config import TrainingSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "INSTALL_HINT",
    "MIN_JAVA",
    "SparkUnavailable",
    "check_spark",
    "java_version",
    "quiet_pandas_warning",
    "start_session",
]

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
    package = Path(__file__).resolve().parents[1]
    out = Path(tempfile.mkdtemp(prefix="learnseg-")) / "training.zip"
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(package.rglob("*.py")):
            archive.write(path, Path("training") / path.relative_to(package))
    return out
