"""The ``winback`` command: one subcommand per stage, plus ``train`` and ``demo``.

Each stage subcommand is the stage module's own ``main`` (so ``winback validate`` and
``python -m pipeline.validate`` are the same code, and DVC calls the latter). ``train`` and
``demo`` chain those same functions for a data directory or the simulator.

A stage module is imported only when its command runs or shows its ``--help``: ``winback
--help`` reads each command's one-line help from the stage's source, so it loads none of
pandas, LightGBM, MLflow, SHAP, Dask or matplotlib (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import logging
from pathlib import Path
from typing import Annotated

import click
import typer

from pipeline import boundary

logger = logging.getLogger(__name__)

#: command name -> (stage module, function). Order is the order ``winback --help`` lists them.
STAGE_COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("pipeline.simulate", "main"),
    "validate": ("pipeline.validate", "main"),
    "featurize": ("pipeline.featurize", "main"),
    "features": ("pipeline.featurize", "features"),
    "evaluate": ("pipeline.evaluate", "main"),
    "promote": ("pipeline.promote", "main"),
    "explain": ("pipeline.explain", "main"),
    "policy": ("pipeline.policy", "main"),
    "score": ("pipeline.score", "main"),
    "care": ("pipeline.care", "main"),
    "monitor": ("pipeline.monitor", "main"),
    "partition": ("pipeline.engine", "main"),
    "bench": ("pipeline.bench", "main"),
}
LEADS_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pipeline.leads", "main"),
    "trigger": ("pipeline.leads", "trigger"),
}


@functools.cache
def first_doc_line(module: str, function: str) -> str:
    """The first line of ``module.function``'s docstring, read from source without importing.

    Args:
        module: A dotted module name, e.g. ``pipeline.score``.
        function: A top-level function of that module.

    Returns:
        The line, or an empty text when the function has no docstring.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            doc = ast.get_docstring(node) or ""
            return doc.splitlines()[0] if doc else ""
    return ""


def load_command(name: str, module: str, function: str) -> click.Command:
    """Import a stage module and build the click command of its typer function."""
    callback = getattr(importlib.import_module(module), function)
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command(name)(callback)
    return typer.main.get_command(single)


class LazyCommand(click.Command):
    """A listed command whose stage is not imported yet: name and one-line help only."""

    def __init__(self, name: str, module: str, function: str) -> None:
        help_line = first_doc_line(module, function)
        super().__init__(name, help=help_line, short_help=help_line)
        self.target = (module, function)

    def load(self) -> click.Command:
        """The real command (imports the stage module)."""
        return load_command(self.name or "", *self.target)


class LazyGroup(boundary.BoundaryGroup):
    """A :class:`~pipeline.boundary.BoundaryGroup` whose stage commands load on use.

    Listing the commands (``--help``) uses :class:`LazyCommand` placeholders; resolving a
    command to run it, or to show its own ``--help``, imports its stage module.
    """

    lazy: dict[str, tuple[str, str]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        eager = [name for name in super().list_commands(ctx) if name not in self.lazy]
        return [*self.lazy, *eager]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            return LazyCommand(cmd_name, *self.lazy[cmd_name])
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if isinstance(cmd, LazyCommand):
            cmd = cmd.load()
        return name, cmd, rest


class _WinbackGroup(LazyGroup):
    lazy = STAGE_COMMANDS


class _LeadsGroup(LazyGroup):
    lazy = LEADS_COMMANDS


app = typer.Typer(
    name="winback",
    help="Find dealership service customers who are drifting away, and win back the ones worth it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_WinbackGroup,
)


@app.callback()
def _options(
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show the traceback of a failure (debug).")
    ] = False,
) -> None:
    """Find dealership service customers who are drifting away, and win back the ones worth it.

    A failure prints one `error: ...` line and exits with status 1 (2 for a usage error);
    `winback --verbose COMMAND ...` (or WINBACK_VERBOSE=1) also shows its traceback.
    """
    boundary.verbose_flag = verbose


@app.command("report")
def report(
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path(
        "out/report/report.html"
    ),
    evaluate: Annotated[Path | None, typer.Option(help="The evaluate stage's output.")] = None,
    explain: Annotated[Path | None, typer.Option(help="The explain stage's output.")] = None,
    policy: Annotated[Path | None, typer.Option(help="The policy stage's output.")] = None,
    score: Annotated[Path | None, typer.Option(help="A `winback score` file.")] = None,
    monitor: Annotated[Path | None, typer.Option(help="A `winback monitor` output.")] = None,
    train: Annotated[
        Path | None, typer.Option(help="A train output: log the page into its MLflow run.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="A (validated-)data directory: the store KPI board.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The board's as-of date (default: day after last visit)."),
    ] = None,
    through: Annotated[
        str | None, typer.Option(help="Instead of --as-of: the board's last day.")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="zh (default: report.lang) or en.")] = None,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml ('report', 'kpi' blocks).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """One self-contained report.html: verdict, KPI board, charts, lookup, matrix, policy.

    Every run directory is optional (a section without one says so); --data adds the store's
    weekly KPI board. The page opens from disk without internet. Chinese by default, English
    with --lang en.
    """
    from pipeline import report as report_stage

    report_stage.main(
        out=out,
        evaluate=evaluate,
        explain=explain,
        policy=policy,
        score=score,
        monitor=monitor,
        train=train,
        data=data,
        as_of=as_of,
        through=through,
        lang=lang,
        params=params,
        verbose=verbose,
    )


leads_app = typer.Typer(
    help="Lost sales leads: grading, the recovery model, diagnostics and event triggers.",
    no_args_is_help=True,
    cls=_LeadsGroup,
)
app.add_typer(leads_app, name="leads")


def train_chain(data_dir: Path, out: Path, params: Path | None, explain_too: bool = True) -> None:
    """featurize -> train -> evaluate (-> explain), each into OUT/<stage>/."""
    # the stages load here, not at import: `winback --help` stays quick
    from pipeline import evaluate, explain, featurize
    from pipeline import train as train_stage

    featurize.main(data_dir=data_dir, out=out / "featurize", params=params)
    train_stage.main(data_dir=out / "featurize", out=out / "train", params=params)
    evaluate.main(
        featurize_dir=out / "featurize",
        train_dir=out / "train",
        out=out / "evaluate",
        params=params,
    )
    if not explain_too:
        return
    explain.main(
        featurize_dir=out / "featurize",
        train_dir=out / "train",
        evaluation=out / "evaluate",
        out=out / "explain",
        params=params,
    )


@app.command("train")
def train(
    data_dir: Annotated[Path, typer.Argument(help="Directory with the contract tables.")],
    out: Annotated[Path, typer.Option(help="Base output directory (OUT/<stage>/).")] = Path("out"),
    params: Annotated[
        Path | None, typer.Option(help="params.yaml (default: ./params.yaml if present).")
    ] = None,
) -> None:
    """Train, evaluate, explain and register both models on any contract-valid DATA_DIR.

    Runs the featurize, train, evaluate and explain stages (the same code DVC runs) into
    OUT/featurize, OUT/train, OUT/evaluate and OUT/explain. Models are logged to MLflow
    (MLFLOW_TRACKING_URI, else sqlite:///mlflow.db) and registered as winback-churn and
    winback-recovery; a new version becomes `champion` only if it beats the current one on the
    same out-of-time test. A directory without an outreach log trains the churn model alone.
    """
    from pipeline import report as report_stage
    from pipeline.common import setup_logging

    setup_logging()
    train_chain(data_dir, out, params)
    page = report_stage.report_run(out)
    typer.echo(f"\ntrain done: report in {page} (and {out / 'explain' / 'report.md'})")


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Where the demo writes data and outputs.")] = Path(
        "out"
    ),
    customers: Annotated[int, typer.Option(help="Simulated customers.")] = 20_000,
    years: Annotated[int, typer.Option(help="Simulated years of history.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Run the main job end to end on the built-in simulator.

    Simulates a dealership into OUT/simulate, validates it (rejects in OUT/validate),
    featurizes, trains, evaluates and explains as `winback train` does, compares the win-back
    policies on the simulator's truth (OUT/policy) and writes the CRM file for the last day
    (OUT/score/scores.csv), the personal care tasks of the next day (OUT/care/tasks.csv) and
    the report of it all with the store KPI board of that week (OUT/report/report.html,
    Chinese, and report_en.html).
    """
    from pipeline import care as care_stage
    from pipeline import policy as policy_stage
    from pipeline import report as report_stage
    from pipeline import score as score_stage
    from pipeline import simulate, validate
    from pipeline.common import load_params, setup_logging
    from pipeline.simulator import SimulationConfig

    setup_logging()
    data_dir = out / "simulate"
    simulate.main(customers=customers, years=years, seed=seed, out=data_dir)
    validate.main(
        data_dir=data_dir,
        rejects=out / "validate" / "rejects.csv",
        report_file=out / "validate" / "report.json",
    )
    train_chain(data_dir, out, None)
    if (out / "train" / "recovery").is_dir():
        policy_stage.main(data_dir=data_dir, train_dir=out / "train", out=out / "policy")
    else:
        typer.echo("no win-back model (too little outreach data): policy comparison skipped")
    end_date = SimulationConfig.from_params(load_params("simulate")).end_date
    score_stage.main(
        data_dir=data_dir,
        out=out / "score" / "scores.csv",
        through=end_date,
        model=str(out / "train"),
        budget="same_coupon",
    )
    care_stage.main(
        data_dir=data_dir,
        out=out / "care" / "tasks.csv",
        through=end_date,
        scores=out / "score" / "scores.csv",
        metrics=out / "care" / "metrics.json",
    )
    # the store KPI board of the same last simulated day as the CRM file
    page = report_stage.report_run(out, through=end_date)
    report_stage.report_run(out, "en", through=end_date)
    typer.echo(
        f"\ndemo done: outputs in {out}/<stage>/, report {page} (English: report_en.html), "
        f"reviewer notes in {out}/explain/report.md, "
        f"policy comparison in {out}/policy/comparison.csv, CRM file {out}/score/scores.csv, "
        f"care tasks {out}/care/tasks.csv"
    )


if __name__ == "__main__":
    app()
