"""The learnseg training CLI: ``python -m training COMMAND``.

Commands print for people (Rich tables) or, with ``--json``, one JSON object for tools. Every
error a user can cause (a missing file, a bad URL, a table without a ``ctc`` column) ends with one
clear sentence on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from training.config import DEFAULT_ROWS, SettingError, TrainingSettings
from training.runtime.artifacts import MANIFEST_FILE, PROFILES_JSON, REPORT_HTML

__all__ = ["app", "main"]

app = typer.Typer(
    name="training",
    help="learnseg training: make, inspect and segment the learner table; place whole tables "
    "and measure their drift.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Docstrings are wrapped at 100 columns in the source: markdown joins their lines into
    # paragraphs, which the terminal then wraps at its own width.
    rich_markup_mode="markdown",
)
console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


class UserError(Exception):
    """An error the user can fix; its message is shown as is."""


@contextmanager
def _step(label: str, *, quiet: bool = False) -> Iterator[None]:
    """Show a spinner while a step runs, then its duration."""
    start = time.perf_counter()
    if quiet:
        yield
        return
    with err_console.status(f"{label}..."):
        yield
    err_console.print(f"[green]✓[/] {label} ({time.perf_counter() - start:.1f} s)")


def _run(action: Callable[[], T], *, options: Mapping[str, str] | None = None) -> T:
    """Run a command body; turn the errors a user can cause into one sentence and exit 2.

    ``options`` maps the settings the command was given on the command line to their options
    (``{"previous": "--previous"}``): a refused setting is named as the user wrote it.
    """
    from training.data.load import DataError

    try:
        return action()
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (:class:`Stopped`)
        stopped = isinstance(exc, Stopped)
        how = "stopped by SIGTERM" if stopped else "interrupted"
        err_console.print(
            f"[bold red]{how}:[/] the command ended before it finished; nothing half-written was "
            "published.",
            soft_wrap=True,
        )
        raise typer.Exit(code=143 if stopped else 130) from None
    except (UserError, DataError) as exc:
        _fail(str(exc))
    except ValidationError as exc:
        _fail(_setting_message(exc, options or {}))


def _setting_message(exc: ValidationError, options: Mapping[str, str]) -> str:
    """The first refused setting in one sentence: the settings' own, or ``setting X: why.``."""
    first = exc.errors()[0]
    error = first.get("ctx", {}).get("error")
    if isinstance(error, SettingError):
        return error.sentence(options)
    where = ".".join(str(p) for p in first["loc"])
    return f"setting {where}: {first['msg']}."


def _fail(message: str) -> NoReturn:
    """Print one sentence on stderr (never wrapped, never read as markup) and exit 2."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code=2)


def _settings(**overrides: Any) -> TrainingSettings:
    return TrainingSettings(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Where to write the table (.csv, .csv.gz, .parquet).")],
    rows: Annotated[int, typer.Option(min=100, help="Rows to generate.")] = DEFAULT_ROWS,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
) -> None:
    """Write the embedded default: a seeded, realistic raw learner table in the real schema."""
    from training.data.synth import generate_learners, write_learners

    def body() -> None:
        if out.suffix.lower() not in {".csv", ".gz", ".parquet", ".pq"}:
            raise UserError(f"Cannot write '{out}': use a .csv, .csv.gz or .parquet file name.")
        with _step(f"Generating {rows:,} rows (seed {seed})"):
            frame = generate_learners(rows=rows, seed=seed)
        with _step(f"Writing {out}"):
            try:
                write_learners(frame, out)
            except OSError as exc:
                raise UserError(f"Cannot write '{out}': {exc.strerror or exc}.") from None
        console.print(f"Wrote {len(frame):,} rows to {out}")

    _run(body)


def _load_source(source: str | None, settings: TrainingSettings) -> Any:
    """The raw table from a path/URL, or the embedded default when ``source`` is None."""
    from training.run import load_raw

    label = source or f"the embedded default ({settings.synth_rows:,} rows)"
    with _step(f"Loading {label}"):
        return load_raw(settings.model_copy(update={"data": source}))[0]


@app.command()
def inspect(
    source: Annotated[
        str | None,
        typer.Argument(help="Path or http(s) URL of a CSV/Parquet table; default: embedded."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    top: Annotated[int, typer.Option(min=1, help="How many top titles/companies.")] = 10,
) -> None:
    """Data-quality summary of a raw learner table: nulls, junk per rule, learners, figures."""

    def body() -> None:
        from training.data.inspect import summarize_table

        settings = _settings()
        raw = _load_source(source, settings)
        with _step("Cleaning and computing features", quiet=as_json):
            summary = summarize_table(raw, settings, top=top)
        if as_json:
            typer.echo(json.dumps(summary, indent=2))
        else:
            _print_summary(summary)

    _run(body)


def _print_summary(summary: dict[str, Any]) -> None:
    dup = summary["duplicates"]
    head = Table(title="Raw table", show_header=False)
    head.add_row("rows", f"{summary['rows']:,}")
    head.add_row("learners (distinct email_hash)", f"{summary['learners_raw']:,}")
    head.add_row("exact duplicate rows", f"{dup['exact_rows']:,}")
    head.add_row("emails seen more than once", f"{dup['emails_seen_more_than_once']:,}")
    head.add_row("max rows per email", str(dup["max_rows_per_email"]))
    for column, count in summary["nulls"].items():
        head.add_row(f"nulls: {column}", f"{count:,}")
    console.print(head)

    rules = Table(title="Cleaning rules (in run order)")
    rules.add_column("rule")
    rules.add_column("rows", justify="right")
    rules.add_column("what it does")
    for rule in summary["cleaning"]["rules"]:
        rules.add_row(rule["name"], f"{rule['count']:,}", rule["description"])
    console.print(rules)

    tops = Table(title="Top job titles and companies (raw)")
    tops.add_column("job_position")
    tops.add_column("rows", justify="right")
    tops.add_column("company_hash")
    tops.add_column("rows", justify="right")
    titles = list(summary["top_job_positions"].items())
    companies = list(summary["top_companies"].items())
    for i in range(max(len(titles), len(companies))):
        t = titles[i] if i < len(titles) else ("", "")
        c = companies[i] if i < len(companies) else ("", "")
        tops.add_row(
            str(t[0]),
            f"{t[1]:,}" if t[1] != "" else "",
            str(c[0]),
            f"{c[1]:,}" if c[1] != "" else "",
        )
    console.print(tops)

    cleaned = summary["cleaned"]
    figures = Table(
        title=f"After cleaning: {cleaned['learners']:,} learners "
        f"(reference year {cleaned['reference_year']})"
    )
    figures.add_column("")
    for key in cleaned["ctc"]:
        figures.add_column(key, justify="right")
    figures.add_row(
        "years of experience", *(f"{v:g}" for v in cleaned["years_experience"].values())
    )
    figures.add_row("CTC (INR)", *(f"{v:,.0f}" for v in cleaned["ctc"].values()))
    console.print(figures)


@app.command()
def train(
    data: Annotated[
        str | None, typer.Option(help="Path or http(s) URL of the table; default: embedded.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Model folder (default: models).")] = None,
    k: Annotated[int | None, typer.Option(min=2, help="Fixed number of segments.")] = None,
    k_min: Annotated[int | None, typer.Option(min=2, help="Smallest k of the sweep.")] = None,
    k_max: Annotated[int | None, typer.Option(min=3, help="Largest k of the sweep.")] = None,
    hierarchical: Annotated[
        str | None, typer.Option(help="Hierarchical reference: two-stage (default) or exact.")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed of every random step.")] = None,
    previous: Annotated[
        Path | None,
        typer.Option(help="Model folder whose segment ids to keep (default: the latest model)."),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Number segments by size (0 = largest) instead of keeping the latest model's ids.",
        ),
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option(help="sklearn (default) or spark (needs the spark extra and Java 17)."),
    ] = None,
    master: Annotated[
        str | None,
        typer.Option(help="Spark master with --engine spark: local[*] (default), spark://..."),
    ] = None,
) -> None:
    """Train the segmentation model and publish it under models/VERSION (and models/LATEST).

    With --engine spark, --data may also be a folder, a glob or an object-store path
    (s3a://bucket/learners/*.parquet).
    """
    given = {  # setting: (its option, the value given; None = not given)
        "data": ("--data", data),
        "model_dir": ("--out", out),
        "k": ("--k", k),
        "k_min": ("--k-min", k_min),
        "k_max": ("--k-max", k_max),
        "hierarchical": ("--hierarchical", hierarchical),
        "seed": ("--seed", seed),
        "previous": ("--previous", previous),
        "fresh": ("--fresh", fresh or None),
        "engine": ("--engine", engine),
        "spark_master": ("--master", master),
    }
    options = {name: option for name, (option, value) in given.items() if value is not None}

    def body() -> None:
        settings = _settings(**{name: value for name, (_, value) in given.items()})
        _check_engine_options(settings, master=master, hierarchical=hierarchical)
        train_model = _training_run(settings)
        start = time.perf_counter()
        result = _train_with_progress(train_model, settings)
        _print_training(result, time.perf_counter() - start)

    _run(body, options=options)


def _check_engine_options(
    settings: TrainingSettings, *, master: str | None, hierarchical: str | None
) -> None:
    """Refuse an option the chosen engine would ignore."""
    if settings.engine != "spark" and master is not None:
        raise UserError("--master applies to --engine spark.")
    if settings.engine == "spark" and hierarchical is not None:
        raise UserError(
            "--hierarchical applies to the sklearn engine; the Spark engine's hierarchical "
            "reference is bisecting K-Means."
        )


def _training_run(settings: TrainingSettings) -> Callable[..., Any]:
    """The training run of the chosen engine (Spark's only once Spark and Java are found)."""
    if settings.engine != "spark":
        from training.run import run

        return run
    from training.spark.session import SparkUnavailable, check_spark

    try:
        check_spark()
    except SparkUnavailable as exc:
        raise UserError(str(exc)) from None
    from training.spark.run import run as run_spark  # imports pyspark: only once found

    return run_spark


def _train_with_progress(train_model: Callable[..., Any], settings: TrainingSettings) -> Any:
    """Run a training run with a spinner on stderr, and each step's time once it is done."""
    from training.runtime.artifacts import ArtifactError

    last: list[tuple[str, float]] = []

    def progress(label: str) -> None:
        now = time.perf_counter()
        if last:
            err_console.print(f"[green]✓[/] {last[-1][0]} ({now - last[-1][1]:.1f} s)")
        last.append((label, now))
        status.update(f"{label}...")

    with err_console.status("Starting...") as status:
        try:
            result = train_model(settings, progress=progress)
        except (ArtifactError, ValueError) as exc:
            raise UserError(str(exc)) from None
    if last:
        err_console.print(f"[green]✓[/] {last[-1][0]} ({time.perf_counter() - last[-1][1]:.1f} s)")
    return result


def _print_training(result: Any, seconds: float) -> None:
    sweep = result.metrics["sweep"]
    comparison = result.metrics["comparison"]
    i = sweep["ks"].index(result.k) if result.k in sweep["ks"] else None
    table = Table(title=f"Trained model {result.version}", show_header=False)
    table.add_column()
    table.add_column(overflow="fold")  # a long path wraps whole, never cut to "..."
    table.add_row("raw rows / learners", f"{result.rows:,} / {result.learners:,}")
    table.add_row("segments (k)", f"{result.k}: {result.k_choice.reason}")
    if i is not None:
        table.add_row("silhouette (sample)", f"{sweep['silhouette'][i]:.3f}")
        table.add_row(
            "stability (bootstrap ARI, p10)",
            f"{sweep['stability'][i]:.3f} ({sweep['stability_p10'][i]:.3f})",
        )
        table.add_row("least stable segment (Jaccard)", f"{min(sweep['jaccard'][i]):.3f}")
        table.add_row("Davies-Bouldin", f"{sweep['davies_bouldin'][i]:.3f}")
    table.add_row("K-Means vs Ward", _agreement_words(comparison))
    manifest = json.loads((result.folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    ids, churn = manifest.get("ids"), manifest.get("churn")
    if ids:
        table.add_row("segment ids", ids["reason"])
    if churn and "moved" in churn:
        table.add_row(
            f"moved since {churn['previous_version']}",
            f"{churn['moved']:,} of {churn['placed']:,} rows ({churn['share_moved']:.2%})",
        )
    table.add_row("artifacts", str(result.folder))
    table.add_row("report", str(result.folder / REPORT_HTML))
    table.add_row("total time", f"{seconds:.1f} s")
    console.print(table)
    for warning in result.k_choice.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)


def _agreement_words(comparison: dict[str, Any]) -> str:
    """The methods' agreement in the report's words (median and range over reference seeds)."""
    from training.insights.trust import agreement_figure

    return f"{agreement_figure(comparison)[0]}; NMI {comparison['nmi']:.2f}"


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="A model folder, e.g. models/20261128-180000.")],
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Also write report.pdf (needs Chromium).")
    ] = False,
    chromium: Annotated[
        str | None,
        typer.Option(help="Chromium executable for --pdf; default: chromium on PATH."),
    ] = None,
) -> None:
    """Rebuild the plots that need only JSON and report.html of a model, after verifying it.

    With --pdf, headless Chromium also prints the page to report.pdf in the same folder.
    """
    from training.report import REBUILT_FILES, ReportError, plot_from_json, render_report
    from training.report.pdf import REPORT_PDF, find_chromium, write_pdf
    from training.runtime.artifacts import ArtifactError, verify_model
    from training.store.staging import finalize_manifest

    def body() -> None:
        if chromium is not None and not pdf:
            raise UserError("--chromium applies to --pdf.")
        try:
            # No Chromium: say so before anything in the folder changes.
            executable = find_chromium(chromium) if pdf else None
            manifest = verify_model(
                folder, check_versions=False, rebuildable=(*REBUILT_FILES, REPORT_PDF)
            )
        except (ArtifactError, ReportError) as exc:
            raise UserError(str(exc)) from None
        profiles = json.loads((folder / PROFILES_JSON).read_text(encoding="utf-8"))
        fields = {k: v for k, v in manifest.items() if k != "files"}
        written = []
        try:
            written.append(render_report(folder))  # first: it refuses a model it cannot describe
            plot_from_json(folder, manifest, profiles)
            if executable is not None:
                with _step(f"Printing {REPORT_PDF} with {executable}"):
                    written.append(write_pdf(folder, chromium=executable))
        except ReportError as exc:
            raise UserError(str(exc)) from None
        finally:  # the manifest lists what the folder holds now, whatever was rebuilt
            finalize_manifest(folder, fields)
        for path in written:
            console.print(f"Wrote {path}")

    _run(body)


# ------------------------------------------------------------------------- assign and drift
class _RowsPerSecond(ProgressColumn):
    """Rows done and their rate (rich's own speed columns count bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        rate = f"{speed:,.0f} rows/s" if speed else "- rows/s"
        return Text(f"{int(task.completed):,} rows, {rate}")


@contextmanager
def _row_progress() -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar on stderr with rows/s; yields the callback the runs report to."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _RowsPerSecond(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def report(label: str, rows: int, total: int | None) -> None:
            task = tasks.get(label)
            if task is None:
                task = tasks[label] = bar.add_task(label, total=total)
            bar.update(task, advance=rows, total=total)

        yield report


def _placement_model(path: Path) -> Any:
    from training.runtime.artifacts import ArtifactError
    from training.runtime.loader import load_model

    try:
        return load_model(path)
    except ArtifactError as exc:
        raise UserError(str(exc)) from None


_EXPLAIN_OPTION = typer.Option(
    "--explain",
    help="Add what-if columns (local engine, rows): the smallest pay change up and down and the "
    "company tier that move each learner to another segment, and that segment (see README).",
)


def _check_explain(explain: bool, engine: str, per_learner: bool) -> None:
    if explain and (engine == "spark" or per_learner):
        raise UserError(
            "--explain runs on the local engine, on rows: drop --engine spark or --per-learner."
        )


@app.command()
def assign(
    model: Annotated[
        Path, typer.Option(help="A model version folder, or a models folder (its LATEST).")
    ],
    data: Annotated[
        str,
        typer.Option(
            help="Path or http(s) URL of the table: CSV, CSV.gz or Parquet (with --engine "
            "spark also a folder, a glob or an object-store path)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Where the answers go: .parquet/.pq or .csv/.csv.gz (--engine spark: Parquet); "
            "written under a temporary name and renamed when complete."
        ),
    ],
    per_learner: Annotated[
        bool,
        typer.Option(
            "--per-learner",
            help="First collapse the rows of each email with the training rules (one row per "
            "learner, with its record count).",
        ),
    ] = False,
    engine: Annotated[str, typer.Option(help="local (default) or spark.")] = "local",
    master: Annotated[
        str | None, typer.Option(help="Spark master with --engine spark (default local[*]).")
    ] = None,
    chunk_rows: Annotated[
        int | None, typer.Option(min=1, help="Rows placed at once (local engine).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes placing chunks side by side (local; default 1)."),
    ] = None,
    explain: Annotated[bool, _EXPLAIN_OPTION] = False,
) -> None:
    """Place every row of a learner table as the service would; rows out = rows in.

    Each output row holds the input's row number (from 0, as the API's batch index), its
    learner_id when the table has that column, and email_hash, the segment, its name, the
    macro-segment, the distance, the relative margin and confidence, the warnings and the
    model version, or the error that keeps the row from being placed.
    """

    def body() -> None:
        from training.batch.assign import assign_table
        from training.batch.writing import OutputError, output_format

        if engine not in ("local", "spark"):
            raise UserError(f"--engine must be local or spark, not {engine!r}.")
        if engine != "spark" and master is not None:
            raise UserError("--master applies to --engine spark.")
        _check_explain(explain, engine, per_learner)
        try:
            kind = output_format(out)
        except OutputError as exc:
            raise UserError(str(exc)) from None
        placing = _placement_model(model)
        settings = _settings(
            assign_chunk_rows=chunk_rows, assign_workers=workers, spark_master=master
        )
        if engine == "spark":
            _check_spark_assign(kind, out, per_learner)
            summary = _assign_on_spark(placing, data, out, settings)
        else:
            with _row_progress() as progress:
                try:
                    summary = assign_table(
                        data,
                        out,
                        placing,
                        chunk_rows=settings.assign_chunk_rows,
                        per_learner=per_learner,
                        workers=settings.assign_workers,
                        cache_dir=settings.cache_dir,
                        progress=progress,
                        explain=explain,
                    )
                except OutputError as exc:
                    raise UserError(str(exc)) from None
                except OSError as exc:
                    raise UserError(f"Cannot write '{out}': {exc.strerror or exc}.") from None
        table = Table(title=f"Assigned with model {summary.model_version}", show_header=False)
        table.add_row("rows read", f"{summary.rows_in:,}")
        written = "rows written (learners)" if per_learner else "rows written"
        table.add_row(written, f"{summary.rows_out:,}")
        table.add_row("placed", f"{summary.placed:,}")
        table.add_row("cannot be placed (see the error column)", f"{summary.errors:,}")
        table.add_row("time", f"{summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s)")
        table.add_row("output", str(summary.out))
        console.print(table)

    _run(body)


def _check_spark_assign(kind: str, out: Path, per_learner: bool) -> None:
    if kind != "parquet":
        raise UserError(f"--engine spark writes Parquet: name --out {out} .parquet.")
    if per_learner:
        raise UserError(
            "--per-learner runs on the local engine; drop --engine spark or --per-learner."
        )


def _assign_on_spark(placing: Any, data: str, out: Path, settings: TrainingSettings) -> Any:
    from training.spark.session import SparkUnavailable, check_spark

    try:
        check_spark()
    except SparkUnavailable as exc:
        raise UserError(str(exc)) from None
    from training.batch.writing import OutputError
    from training.spark.assign import run as assign_spark  # imports pyspark: only once found

    with _step(f"Assigning {data} on Spark ({settings.spark_master})"):
        try:
            return assign_spark(placing, data, out, settings)
        except OutputError as exc:
            raise UserError(str(exc)) from None


@app.command()
def diff(
    old: Annotated[
        Path,
        typer.Option(help="The previous model: a version folder, or a models folder (LATEST)."),
    ],
    new: Annotated[
        Path, typer.Option(help="The new model: a version folder, or a models folder (LATEST).")
    ],
    data: Annotated[
        str, typer.Option(help="Path or http(s) URL of the table: CSV, CSV.gz or Parquet.")
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Where the moves go: .parquet/.pq or .csv/.csv.gz, one row per input row; "
            "written under a temporary name and renamed when complete."
        ),
    ],
    summary_json: Annotated[
        Path | None,
        typer.Option(
            help="Where the summary (JSON) goes; default beside --out: moves.parquet -> "
            "moves.summary.json."
        ),
    ] = None,
    chunk_rows: Annotated[int | None, typer.Option(min=1, help="Rows placed at once.")] = None,
) -> None:
    """Who moves from one model to another: every row placed by both, each end to end.

    Each output row holds the input's row number (from 0; its learner_id when the table has
    one) and email_hash, the segment, track, course and confidence under both models, whether it
    moved, was renamed or changed course, why it moved (reason: input_changed, with the input
    whose value changed most and its old and new values; or segments_moved), and both
    versions; or the error that keeps it from being placed. The from x to counts, renames and
    course changes are printed and written as JSON.
    """

    def body() -> Any:
        from training.batch.diff import diff_table
        from training.batch.writing import OutputError, output_format

        try:
            output_format(out)
        except OutputError as exc:
            raise UserError(str(exc)) from None
        before = _placement_model(old)
        after = _placement_model(new)
        settings = _settings(assign_chunk_rows=chunk_rows)
        with _row_progress() as progress:
            try:
                return diff_table(
                    data,
                    out,
                    before,
                    after,
                    summary_json=summary_json,
                    chunk_rows=settings.assign_chunk_rows,
                    cache_dir=settings.cache_dir,
                    progress=progress,
                )
            except OutputError as exc:
                raise UserError(str(exc)) from None
            except OSError as exc:
                raise UserError(f"Cannot write '{out}': {exc.strerror or exc}.") from None

    _print_diff(_run(body))


def _print_diff(summary: Any) -> None:
    moves = summary.moves
    before = sorted({a for a, _ in moves} | set(summary.old_names))
    after = sorted({b for _, b in moves} | set(summary.new_names))
    table = Table(
        title=f"Learners from {summary.old_version} (rows) to {summary.new_version} (columns)",
        caption="Columns are the new model's segment ids (its names in the JSON summary); the "
        "diagonal stayed.",
    )
    table.add_column("from segment")
    for b in after:
        table.add_column(f"to {b}", justify="right")
    for a in before:
        cells = [
            f"[bold]{moves.get((a, b), 0):,}[/]" if a == b else f"{moves.get((a, b), 0):,}"
            for b in after
        ]
        table.add_row(f"{a} {summary.old_names.get(a, '')}".strip(), *cells)
    console.print(table)
    facts = Table(show_header=False)
    facts.add_row("rows read", f"{summary.rows:,}")
    facts.add_row("placed by both", f"{summary.placed:,}")
    facts.add_row("cannot be placed (see the error column)", f"{summary.rows - summary.placed:,}")
    facts.add_row("moved", f"{summary.moved:,} ({summary.share_moved:.2%} of those placed)")
    top = sorted(summary.changed_inputs.items(), key=lambda kv: -kv[1])[:3]
    if top:
        facts.add_row("inputs behind the moves", ", ".join(f"{k} {n:,}" for k, n in top))
    facts.add_row("moved, no input changed", f"{summary.reasons.get('segments_moved', 0):,}")
    for i, was, now, n in summary.renames:
        facts.add_row(f"renamed segment {i}", f"{was} -> {now} ({n:,} stayed)")
    facts.add_row("course changed", f"{summary.course_changed:,}")
    facts.add_row("time", f"{summary.seconds:.1f} s")
    facts.add_row("moves", str(summary.out))
    facts.add_row("summary", str(summary.summary_json))
    console.print(facts)


@app.command()
def drift(
    model: Annotated[
        Path, typer.Option(help="A model version folder, or a models folder (its LATEST).")
    ],
    data: Annotated[
        str, typer.Option(help="Path or http(s) URL of the new table (CSV, CSV.gz, Parquet).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """PSI per feature and segment shares of a new table against the model's training data.

    The figures the service's GET /model/drift gives for the same learners. Exit code 1 when
    any feature's PSI is major (0.25 or more), for cron jobs and pipelines.
    """
    from training.runtime.drift import MAJOR

    def body() -> dict[str, Any]:
        from training.batch.drift import drift_table
        from training.runtime.artifacts import ArtifactError

        placing = _placement_model(model)
        settings = _settings()
        with _row_progress() if not as_json else _no_progress() as progress:
            try:
                return drift_table(
                    data,
                    placing,
                    chunk_rows=settings.assign_chunk_rows,
                    cache_dir=settings.cache_dir,
                    progress=progress,
                )
            except ArtifactError as exc:
                raise UserError(str(exc)) from None

    report = _run(body)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_drift(report)
    if any(feature["verdict"] == MAJOR for feature in report["features"]):
        raise typer.Exit(code=1)


@contextmanager
def _no_progress() -> Iterator[Callable[[str, int, int | None], None]]:
    yield lambda label, rows, total: None


def _print_drift(report: dict[str, Any]) -> None:
    features = Table(
        title=f"Drift of {report['count']:,} placed rows against model {report['model_version']} "
        f"({report['errors']:,} of {report['rows']:,} rows cannot be placed)"
    )
    features.add_column("feature")
    features.add_column("PSI", justify="right")
    features.add_column("verdict")
    for feature in report["features"]:
        psi = feature["psi"]
        shown = "-" if psi is None else f"{psi:.4f}"
        features.add_row(feature["feature"], shown, feature["verdict"])
    console.print(features)
    segments = Table(title="Segment shares")
    segments.add_column("segment")
    segments.add_column("training", justify="right")
    segments.add_column("this table", justify="right")
    for segment in report["segments"]:
        served = segment["served_share"]
        segments.add_row(
            str(segment["segment_id"]),
            f"{segment['training_share']:.1%}",
            "-" if served is None else f"{served:.1%}",
        )
    console.print(segments)
    console.print(
        f"verdict: {report['verdict']} (PSI below 0.1 stable, 0.1-0.25 moderate, 0.25+ major)"
    )


class Stopped(KeyboardInterrupt):
    """SIGTERM (a job or pod stopped), read as Ctrl-C is: the command stops the same way (a
    training run's workers end with it, its staging folder is removed, nothing is published)."""


def _stop(signum: int, frame: object) -> None:
    raise Stopped


def main() -> None:
    """Entry point of ``python -m training`` and the ``learnseg-train`` script."""
    signal.signal(signal.SIGTERM, _stop)
    app()


if __name__ == "__main__":
    main()
