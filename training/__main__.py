"""The learnseg training CLI: ``python -m training COMMAND``.

Commands print for people (Rich tables) or, with ``--json``, one JSON object for tools. Every
error a user can cause (a missing file, a bad URL, a table without a ``ctc`` column) ends with one
clear sentence on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from training.config import DEFAULT_ROWS, TrainingSettings

app = typer.Typer(
    name="training",
    help="learnseg training: make, inspect and (later) segment the learner table.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


def _run(action: Callable[[], T]) -> T:
    """Run a command body; turn the errors a user can cause into one sentence and exit 2."""
    from training.data import DataError

    try:
        return action()
    except (UserError, DataError) as exc:
        _fail(str(exc))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        _fail(f"setting {where}: {first['msg']}.")


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
    from training.synth import generate_learners, write_learners

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


def load_source(source: str | None, settings: TrainingSettings) -> Any:
    """The raw table from a path/URL, or the embedded default when ``source`` is None."""
    from training.data import load_learners, read_learners_frame
    from training.synth import generate_learners

    if source is None:
        with _step(f"Generating the embedded default ({settings.synth_rows:,} rows)"):
            return read_learners_frame(
                generate_learners(rows=settings.synth_rows, seed=settings.synth_seed),
                origin="embedded default",
            )
    with _step(f"Loading {source}"):
        return load_learners(source, cache_dir=settings.cache_dir)


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
    from training.quality import summarize_table

    def body() -> None:
        settings = _settings()
        raw = load_source(source, settings)
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


def main() -> None:
    """Entry point of ``python -m training`` and the ``learnseg-train`` script."""
    app()


if __name__ == "__main__":
    main()
