"""Stage ``score`` / ``winback score``: the CRM batch export, one row per customer.

Usage:
    ``winback score DATA_DIR --out FILE [--as-of DATE | --through DATE] [--model DIR|champion]
    [--budget B] [--params params.yaml] [--metrics FILE] [--engine pandas|dask]`` (also
    ``python -m pipeline.score``; the DVC stage scores the simulator through
    ``simulate.end_date``). No date: the day after the last valid event
    (:func:`pipeline.common.scoring_now`); no model: the registry's champions, else
    ``out/train`` (:func:`models.store.load_scoring_models`, never a pickle).

What every row holds, the statuses, do-not-contact customers, the contact cooldown, the
randomized holdout and the row order are the scoring library's (:mod:`models.scoring`,
:mod:`models.crm`; the columns are docs/crm_schema.md, settings the ``crm:`` params block);
``--engine dask`` runs it on partitions of customers (:mod:`models.engine`) and gives the same
rows.

Conventions:

* **As-of day**: features use events strictly before ``--as-of`` T (``day < T``); an event on
  T itself is the future. ``--through D`` is the same as ``--as-of D+1`` (every event up to
  and including D): the DVC stage scores the simulator ``--through simulate.end_date``, the
  day convention of the ``policy`` stage (whose truth is the state at the end of that day), so
  the export's selection is the allocation the policy stage evaluates. The ``as_of`` column
  always holds T.
* **Repeatable**: the same data, models, params and budget give a byte-identical file.
* **The file** is written by :func:`features.files.write_table`: atomically, CSV (UTF-8 with
  BOM, for Excel) or Parquet by suffix, text cells that would start a spreadsheet formula
  prefixed with ``'`` — including phone numbers in ``+86…`` form (see ``features/files.py``).
* **Personal data**: ``name`` and ``phone`` are copied from ``customers`` into this file only;
  they are never logged, printed, or written to the matrix, heatmap or metrics files.

Also written next to the output: ``<stem>_matrix.csv`` and ``<stem>_matrix.png`` (the value ×
stage matrix: customers, contacts, expected returns, budget used) and, with ``--metrics``, a
small JSON of counts for DVC.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from models.artifacts import DEFAULT_PARTITIONS
from pipeline.common import (
    budget_amount,
    date_option,
    load_params,
    max_invalid_share,
    now_text,
    read_settings,
    scoring_now,
    setup_logging,
    writable_output,
)
from pipeline.engine import EngineOption, PartitionsOption, SchedulerOption

if TYPE_CHECKING:
    import pandas as pd

    from features.config import FeaturizeConfig
    from features.mapping import ReadSettings
    from models.crm import CrmConfig
    from models.scoring import ScoreResult
    from models.segments import ScoreConfig
    from models.store import ScoringModels

logger = logging.getLogger(__name__)


def side_files(out: Path) -> tuple[Path, Path]:
    """The matrix CSV and heatmap PNG written next to the export ``out``."""
    return out.with_name(f"{out.stem}_matrix.csv"), out.with_name(f"{out.stem}_matrix.png")


def main(
    data_dir: Annotated[Path, typer.Argument(help="Directory with the contract tables.")],
    out: Annotated[Path, typer.Option(help="Export file, .csv or .parquet.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            help="As-of date T (YYYY-MM-DD): features use events before T. Default (without "
            "--through too): the day after the last valid event, at most tomorrow."
        ),
    ] = None,
    through: Annotated[
        str | None,
        typer.Option(
            help="Instead of --as-of: use every event up to and including this date "
            "(the same as --as-of the day after; the simulator's end_date is scored this way)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="A train output directory (with churn/ and recovery/) or 'champion' (the "
            "MLflow registry's champion versions, hash-checked, never unpickled). Default: "
            "the champions if the registry has them, else out/train."
        ),
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(
            help="Global win-back budget: CNY of expected cost, or 'same_coupon' (what the same "
            "coupon to every lapsed customer costs: the policy stage's default). Default: no "
            "budget, only the per-customer cost caps."
        ),
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option(help="params.yaml ('score', 'crm', 'featurize', 'validate' blocks)."),
    ] = None,
    metrics: Annotated[
        Path | None,
        typer.Option(
            help="Also write a JSON of counts here, and headline.json (DVC metrics) beside it."
        ),
    ] = None,
    engine: EngineOption = "pandas",
    scheduler: SchedulerOption = None,
    partitions: PartitionsOption = DEFAULT_PARTITIONS,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Score every customer as of a date into a CRM file: one row per customer.

    Churn risk and band, baseline, value, stage, segment, the recommended action inside the
    budget with owner, channel and priority (no one in the contact cooldown; a randomized
    control group held out), money columns, top 3 reasons, Chinese labels, model version and a
    status with its reason (schema: docs/crm_schema.md). Names and phones appear in this file only.
    Prints the value × stage matrix and saves it as OUT_matrix.csv / OUT_matrix.png.
    """
    # models, Dask and matplotlib load when the command runs, not for --help
    from features.config import FeaturizeConfig
    from features.contract import ContractError
    from models.actions import ActionError
    from models.crm import CrmConfig
    from models.lgbm import FeatureMismatchError
    from models.reporting.score import matrix_text
    from models.scoring import ModelLoadError, load_models
    from models.segments import ScoreConfig

    setup_logging(verbose)
    if out.suffix not in {".csv", ".parquet"}:
        raise typer.BadParameter(f"--out must end in .csv or .parquet, got {out.name}")
    when = _as_of(as_of, through, engine)
    amount = _budget(budget)
    writable_output(out)
    writable_output(metrics, "--metrics")
    coupon_action = load_params("policy", params).get("coupon_action")
    featurize = FeaturizeConfig.from_params(load_params("featurize", params))
    max_invalid = max_invalid_share(params)
    reading = read_settings(params)
    config = ScoreConfig.from_params(load_params("score", params))
    crm = CrmConfig.from_params(load_params("crm", params))
    from models.reporting.figures import check_lang

    lang = check_lang(load_params("report", params)["lang"])
    t0 = time.perf_counter()
    try:
        models = load_models(model)
    except ModelLoadError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"models: {models.version} (from {models.source})")
    try:
        # the same inputs either way; the Dask engine also takes its cluster and partitions
        inputs = (data_dir, when, models, featurize, config, amount, coupon_action, max_invalid)
        inputs += (crm,)
        if engine == "dask":
            result = _score_dask(*inputs, reading, scheduler, partitions)
        else:
            result, when = _score_pandas(*inputs, reading)
    except (ContractError, ActionError) as exc:
        typer.echo(str(exc) if isinstance(exc, ContractError) else f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    except FeatureMismatchError as exc:
        typer.echo(
            f"error: the model ({models.source}) does not fit the features built from "
            f"{data_dir}: {exc}",
            err=True,
        )
        raise typer.Exit(code=1) from exc
    cells, info, matrix_png = _write(result, out, metrics, when, lang)
    logger.info("scored %d customers in %.1f s", len(result.scores), time.perf_counter() - t0)
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"\n{matrix_text(cells)}\n")
    typer.echo(_summary(info, result, when, models.version, out, matrix_png))


def _summary(
    info: dict, result: ScoreResult, when: pd.Timestamp, version: str, out: Path, png: Path
) -> str:
    """The closing line: customers by status, contacts, budget, expected returns, files."""
    budget_text = "no global budget" if result.budget is None else f"budget ¥{result.budget:,.0f}"
    return (
        f"{info['customers']} customers as of {when:%Y-%m-%d} ({version}); status "
        + ", ".join(f"{k} {v}" for k, v in info["by_status"].items())
        + f"; {info['contacted']} contacts, {budget_text}, used ¥{info['budget_used']:,.0f}, "
        f"expected returns {info['expected_returns']:.1f} "
        f"(incremental {info['expected_incremental_returns']:.1f}); written to {out}, "
        f"matrix in {png}"
    )


def _as_of(as_of: str | None, through: str | None, engine: str) -> pd.Timestamp | None:
    """The as-of date of ``--as-of`` / ``--through``; None = the day after the last event."""
    import pandas as pd

    if as_of is not None and through is not None:
        typer.echo("error: give --as-of DATE or --through DATE, not both", err=True)
        raise typer.Exit(code=1)
    when = date_option(as_of, "--as-of")
    if through is not None:
        when = date_option(through, "--through") + pd.Timedelta(days=1)
    if when is None and engine == "dask":
        typer.echo("error: --engine dask needs --as-of DATE or --through DATE", err=True)
        raise typer.Exit(code=1)
    return when


def _budget(budget: str | None) -> float | str | None:
    """``--budget``: CNY, :data:`models.scoring.SAME_COUPON`, or None (caps only)."""
    from models.scoring import SAME_COUPON

    if budget is None or budget == SAME_COUPON:
        return budget
    try:
        return budget_amount(budget)
    except ValueError as exc:
        raise typer.BadParameter(
            f"--budget must be a finite number >= 0 or '{SAME_COUPON}', got {budget!r}"
        ) from exc


def _score_pandas(
    data_dir: Path,
    when: pd.Timestamp | None,
    models: ScoringModels,
    featurize: FeaturizeConfig,
    config: ScoreConfig,
    amount: float | str | None,
    coupon_action: str | None,
    max_invalid: float,
    crm: CrmConfig,
    reading: ReadSettings,
) -> tuple[ScoreResult, pd.Timestamp]:
    """Read DATA_DIR and score it in this process; also returns the as-of date used."""
    import pandas as pd

    from features.checks import last_event, stale_as_of_warning
    from features.reading import read_data_dir
    from models.scoring import score_customers

    today = pd.Timestamp.today().normalize()
    # without a date: cut at today (future rows set aside), score the day after
    data = read_data_dir(data_dir, today if when is None else None, max_invalid, reading=reading)
    if when is None:
        when, last, aside = scoring_now(data, today)
        typer.echo(now_text(when, last, aside, today))
    elif warning := stale_as_of_warning(when, last_event(data)):
        typer.echo(warning, err=True)
    result = score_customers(
        data, when, models, featurize, config, amount, True, coupon_action, crm
    )
    # the raw tables (names and phones) are dropped here: the caller only gets the result
    return result, when


def _score_dask(
    data_dir: Path,
    when: pd.Timestamp,
    models: ScoringModels,
    featurize: FeaturizeConfig,
    config: ScoreConfig,
    amount: float | str | None,
    coupon_action: str | None,
    max_invalid: float,
    crm: CrmConfig,
    reading: ReadSettings,
    scheduler: str | None,
    partitions: int,
) -> ScoreResult:
    """Score DATA_DIR's customer partitions in parallel on a Dask cluster (``--engine dask``)."""
    from models.engine import dask_client, score_customers_dask

    with dask_client(scheduler) as client:
        return score_customers_dask(
            data_dir,
            when,
            models.ref,
            featurize,
            config,
            client,
            amount,
            max_invalid,
            partitions,
            coupon_action,
            reading,
            crm,
        )


def _write(
    result: ScoreResult, out: Path, metrics: Path | None, when: pd.Timestamp, lang: str = "zh"
) -> tuple[pd.DataFrame, dict, Path]:
    """The export, the matrix CSV and heatmap next to it, and the metrics JSON."""
    from features.files import write_table
    from models.headline import SCORE as SCORE_HEADLINE
    from models.headline import write_headline
    from models.reporting.score import plot_matrix
    from models.scoring import score_metrics, value_stage_matrix

    write_table(result.scores, out)
    cells = value_stage_matrix(result.scores)
    matrix_csv, matrix_png = side_files(out)
    write_table(cells, matrix_csv)
    from models.reporting.labels import text

    plot_matrix(cells, matrix_png, text("matrix.title_as_of", lang, date=f"{when:%Y-%m-%d}"), lang)
    info = score_metrics(result)
    if metrics is not None:
        metrics.parent.mkdir(parents=True, exist_ok=True)
        metrics.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
        write_headline(metrics.parent, info, SCORE_HEADLINE)
    return cells, info, matrix_png


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
