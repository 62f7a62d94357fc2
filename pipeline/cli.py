"""The ``winback`` command: one subcommand per stage, plus ``train`` and ``demo``.

Each stage subcommand is the stage module's own ``main`` (so ``winback validate`` and
``python -m pipeline.validate`` are the same code, and DVC calls the latter). ``train`` and
``demo`` chain those same functions for a data directory or the simulator.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from pipeline import (
    bench,
    boundary,
    engine,
    evaluate,
    explain,
    featurize,
    leads,
    promote,
    simulate,
    validate,
)
from pipeline import monitor as monitor_stage
from pipeline import policy as policy_stage
from pipeline import score as score_stage
from pipeline import train as train_stage
from pipeline.common import load_params, setup_logging

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="winback",
    help="Find dealership service customers who are drifting away, and win back the ones worth it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=boundary.BoundaryGroup,
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


app.command("simulate")(simulate.main)
app.command("validate")(validate.main)
app.command("featurize")(featurize.main)
app.command("features")(featurize.features)
app.command("evaluate")(evaluate.main)
app.command("promote")(promote.main)
app.command("explain")(explain.main)
app.command("policy")(policy_stage.main)
app.command("score")(score_stage.main)
app.command("monitor")(monitor_stage.main)
app.command("partition")(engine.main)
app.command("bench")(bench.main)


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
    lang: Annotated[str | None, typer.Option(help="zh (default: report.lang) or en.")] = None,
    params: Annotated[Path | None, typer.Option(help="params.yaml ('report' block).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """One self-contained report.html: verdict, charts, customer lookup, matrix, policy.

    Every run directory is optional (a section without one says so); the page opens from
    disk without internet. Chinese by default, English with --lang en.
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
        lang=lang,
        params=params,
        verbose=verbose,
    )


leads_app = typer.Typer(
    help="Lost sales leads: grading, the recovery model, diagnostics and event triggers.",
    no_args_is_help=True,
)
leads_app.command("run")(leads.main)
leads_app.command("trigger")(leads.trigger)
app.add_typer(leads_app, name="leads")


def train_chain(data_dir: Path, out: Path, params: Path | None, explain_too: bool = True) -> None:
    """featurize -> train -> evaluate (-> explain), each into OUT/<stage>/."""
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
    (OUT/score/scores.csv) and the report of it all (OUT/report/report.html, Chinese, and
    report_en.html).
    """
    from pipeline import report as report_stage

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
    score_stage.main(
        data_dir=data_dir,
        out=out / "score" / "scores.csv",
        through=simulate.SimulationConfig.from_params(load_params("simulate")).end_date,
        model=str(out / "train"),
        budget="same_coupon",
    )
    page = report_stage.report_run(out)
    report_stage.report_run(out, "en")
    typer.echo(
        f"\ndemo done: outputs in {out}/<stage>/, report {page} (English: report_en.html), "
        f"reviewer notes in {out}/explain/report.md, "
        f"policy comparison in {out}/policy/comparison.csv, CRM file {out}/score/scores.csv"
    )


if __name__ == "__main__":
    app()
