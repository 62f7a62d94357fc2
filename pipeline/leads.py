"""Stage ``leads``: grade, route and model lost sales leads; diagnose why leads are lost.

Usage:
    ``python -m pipeline.leads DATA_DIR --out out/leads --params params.yaml`` (the DVC stage;
    also ``winback leads run``) and ``winback leads trigger EVENT_ID DATA_DIR --out FILE`` (or
    ``--event-file F`` for an event not in the data yet): the lost leads a market event
    concerns, prioritised, as a CRM task file.

The stage writes to OUT: ``graded.parquet`` (every lost lead: grade, route, model
probability, label; no names or phones), ``metrics.json`` (the model vs the rule grading on
the later loss months, for DVC), ``model/`` (the LightGBM booster), ``diagnostics/*.csv``,
``figures/*.png``, ``plots/`` (ROC points for ``dvc plots``), ``report.md`` and ``run.json``
(the MLflow run and the ``winback-leads`` version).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipeline.common import (
    date_option,
    load_params,
    max_invalid_share,
    read_settings,
    setup_logging,
)

if TYPE_CHECKING:
    import pandas as pd

    from features.contract import DataSet
    from features.mapping import ReadSettings
    from models.leads.config import LeadsConfig
    from models.leads.model import LeadsResult
    from models.lgbm import CalibratedBooster

logger = logging.getLogger(__name__)

MODEL_DIR = "model"


def _json(obj: Any, path: Path) -> None:
    from models.evaluate import jsonable

    path.write_text(json.dumps(jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def decide(result: LeadsResult, version: str | None, config: LeadsConfig) -> dict[str, Any]:
    """Champion/challenger for ``winback-leads`` on the candidate's out-of-time test leads.

    The current champion (if any) is loaded from the registry and scored on exactly the test
    rows the candidate was scored on (ROC-AUC); the candidate should get the ``champion`` alias
    only if it wins by more than ``config.min_improvement``
    (:func:`models.tracking.decide_promotion`). Nothing is written to the registry here.

    Returns:
        JSON-able decision (:func:`models.tracking.challenge`).
    """
    from models import tracking
    from models.leads.model import REGISTERED_NAME, TARGET
    from models.metrics import ranking_report
    from models.tracking import challenge

    test = result.test
    current = tracking.load_champion(REGISTERED_NAME)
    champ_version, champion = current if current is not None else (None, None)
    if champ_version is not None and champ_version == version:
        champion = None  # re-evaluating the champion itself: nothing to compare

    def score(model: CalibratedBooster) -> float:
        return ranking_report(test[TARGET].to_numpy(), model.predict_proba(test))["roc_auc"]

    # as for the churn and win-back models: an experiment never moves the champion alias
    hold = (
        "dvc exp run: the champion alias is not moved in an experiment"
        if tracking.in_experiment()
        else None
    )

    def decide(name, v, candidate, champion_score):
        return tracking.decide_promotion(
            name,
            v,
            candidate,
            champion_score,
            min_delta=config.min_improvement,
            metric="roc_auc",
            hold=hold,
        )

    candidate = float(result.metrics["test"]["model"]["roc_auc"])
    return challenge(
        REGISTERED_NAME, version, candidate, champion, champ_version, score, decide, "roc_auc"
    )


def _read(data_dir: Path, max_invalid: float, reading: ReadSettings) -> DataSet:
    """The data directory, validated; a contract violation exits 1 with its message."""
    from features.contract import ContractError
    from features.reading import read_data_dir

    try:
        return read_data_dir(data_dir, None, max_invalid, reading=reading)
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc


def main(
    data_dir: Annotated[Path, typer.Argument(help="Directory with the contract tables + leads.")],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/leads"),
    params: Annotated[
        Path | None, typer.Option(help="params.yaml to read the 'leads' block from.")
    ] = None,
    promote: Annotated[
        bool,
        typer.Option(
            help="Apply the champion/challenger decision at once (the DVC graph leaves that to "
            "the promote stage: --no-promote)."
        ),
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Grade, route and model the lost leads of DATA_DIR; write diagnostics and a report.

    Trains LightGBM P(buys from us within 90 days of the loss) on earlier loss months and
    compares it with the playbook's rule grading on later months (OUT/metrics.json); logs to
    MLflow and registers `winback-leads`. Exits 1 when DATA_DIR breaks the contract or has no
    leads.
    """
    # LightGBM and MLflow load when the command runs, not for --help
    import mlflow
    import pandas as pd

    from models import tracking
    from models.headline import LEADS as LEADS_HEADLINE
    from models.headline import write_headline
    from models.leads.config import LeadsConfig
    from models.leads.model import REGISTERED_NAME, run_leads
    from models.leads.tracking import log_run
    from models.reporting.leads import lead_figures, lead_report

    setup_logging(verbose)
    block = load_params("leads", params)
    if block.get("as_of") is not None:
        block["as_of"] = f"{date_option(block['as_of'], 'leads.as_of'):%Y-%m-%d}"
    config = LeadsConfig.from_params(block)
    max_invalid, reading = max_invalid_share(params), read_settings(params)
    from models.reporting.figures import check_lang

    lang = check_lang(load_params("report", params)["lang"])
    t0 = time.perf_counter()
    data = _read(data_dir, max_invalid, reading)
    truth_file = data_dir / "truth" / "leads.parquet"
    truth = pd.read_parquet(truth_file) if truth_file.is_file() else None
    try:
        result = run_leads(data, config, truth)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    del data  # names and phones are not needed past this point
    out.mkdir(parents=True, exist_ok=True)
    result.model.save(out / MODEL_DIR)
    write_graded(result, out)
    lead_figures(result, out / "figures", lang)
    write_roc_points(result, out / "plots" / "roc")
    # The report is logged to the run, so it is written before the run exists, then again
    # with the run id.
    (out / "report.md").write_text(lead_report(result, config, None), encoding="utf-8")
    run_id, version = log_run(result, config, block, out / MODEL_DIR, out / "report.md")
    (out / "report.md").write_text(lead_report(result, config, run_id), encoding="utf-8")
    decision = decide(result, version, config) if config.register else None
    _json({} if decision is None else {REGISTERED_NAME: decision}, out / "promotion.json")
    if decision is not None and promote:
        tracking.apply_decisions([decision])
    metrics = {
        **result.metrics,
        "promotion": decision,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    _json(metrics, out / "metrics.json")
    write_headline(out, metrics, LEADS_HEADLINE)
    _json(result.train_info, out / "train_info.json")
    _json(
        {"run_id": run_id, "registered_model": REGISTERED_NAME, "version": version,
         "tracking_uri": mlflow.get_tracking_uri()},
        out / "run.json",
    )  # fmt: skip
    tm = result.metrics["test"]
    typer.echo(
        f"leads: {result.metrics['lost_leads']} lost leads graded and routed; test "
        f"{tm['start']}..{tm['end']}: model ROC-AUC {tm['model']['roc_auc']:.3f} vs rules "
        f"{tm['rules']['roc_auc']:.3f} (PR-AUC {tm['model']['pr_auc']:.3f} vs "
        f"{tm['rules']['pr_auc']:.3f}); MLflow run {run_id}"
        + (f", {REGISTERED_NAME} v{version}" if version else "")
        + (
            f" ({'promoted to champion' if decision['promoted'] else 'not promoted'}: "
            f"{decision['reason']})"
            if decision
            else ""
        )
        + f"; report {out / 'report.md'}"
    )


def write_graded(result: Any, out: Path) -> None:
    """graded.parquet and the diagnostics CSVs, atomic and formula-neutralised (free text)."""
    from features.files import write_table

    write_table(result.graded, out / "graded.parquet")
    for name, df in result.diagnostics.items():
        by = df.reset_index() if name.startswith("reasons_by") else df
        write_table(by, out / "diagnostics" / f"{name}.csv")


def write_roc_points(result: LeadsResult, out_dir: Path) -> None:
    """The model's and the rule grade's ROC points on the test leads (``dvc plots``)."""
    from models.evaluate import roc_points
    from models.leads.model import TARGET
    from models.leads.rules import GRADE_SCORE

    t = result.test
    for name, score in (
        ("model", t["p"]),
        ("rules", result.graded.loc[t.index, "grade"].map(GRADE_SCORE)),
    ):
        out_dir.mkdir(parents=True, exist_ok=True)
        roc_points(t[TARGET], score).to_csv(out_dir / f"{name}.csv", index=False)


# --- triggers ------------------------------------------------------------------------------


def write_tasks(tasks: pd.DataFrame, path: Path) -> Path:
    """Write the task file like the CRM export: atomic, formulas neutralised, due times kept."""
    from features.files import write_table

    return write_table(tasks, path, date_format="%Y-%m-%d %H:%M")


def read_event_file(path: Path) -> dict[str, Any]:
    """One market event from a CSV/Parquet file with the market_events columns.

    Raises:
        ValueError: Not exactly one row, a missing column, a bad date or an unknown type,
            with a message naming the file, column and rule
            (:func:`models.leads.rules.event_from_frame`).
    """
    import pandas as pd

    from models.leads.rules import event_from_frame

    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    return event_from_frame(df, str(path))


def trigger(
    args: Annotated[
        list[str],
        typer.Argument(
            help="EVENT_ID DATA_DIR (an event in market_events), or DATA_DIR with --event-file.",
            show_default=False,
        ),  # fmt: skip
    ],
    out: Annotated[Path, typer.Option(help="CRM task file to write (.csv or .parquet).")],
    event_file: Annotated[
        Path | None, typer.Option(help="A one-row CSV/Parquet event not yet in the data.")
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="Lead model directory (e.g. out/leads/model) to order by P(buy)."),
    ] = None,
    params: Annotated[
        Path | None, typer.Option(help="params.yaml to read the 'leads' block from.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """List the lost leads a market event concerns, prioritised, as a CRM task file.

    A lead is concerned when the event matches its model, region and competitor model, can
    fix one of its loss reasons, and the lead is still lost and in its buying window on the
    event date. One row per lead, in priority order (grade, then P(buy) with --model, then
    the nearest expected purchase date). Leads with do_not_contact = yes are left out and
    counted. Names and phones go only into OUT.
    """
    import pandas as pd

    from models.leads.config import LeadsConfig
    from models.leads.features import lead_features, lost_leads
    from models.leads.rules import concerned_leads, find_event, task_file
    from models.lgbm import CalibratedBooster

    setup_logging(verbose)
    config = LeadsConfig.from_params(load_params("leads", params))
    max_invalid = max_invalid_share(params)
    reading = read_settings(params)
    expected = 1 if event_file is not None else 2
    if len(args) != expected:
        raise typer.BadParameter(
            "give EVENT_ID DATA_DIR, or DATA_DIR with --event-file", param_hint="ARGS"
        )
    data_dir = Path(args[-1])
    data = _read(data_dir, max_invalid, reading)
    try:
        if event_file is not None:
            event = read_event_file(event_file)
        else:
            event = find_event(data.table("market_events"), args[0], str(data_dir))
        if not data.has("leads"):
            raise ValueError(f"{data_dir}: no leads table")
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    lost = lost_leads(data.tables["leads"])
    score = None
    if model is not None:
        booster = CalibratedBooster.load(model)
        feats = lead_features(
            lost, config.rules, data.table("market_events"), data.table("lead_contacts")
        )
        score = pd.Series(booster.predict_proba(feats), index=lost.index)
    concerned = concerned_leads(event, lost, config.rules, score)
    tasks = task_file(concerned, event)
    write_tasks(tasks, out)
    typer.echo(
        f"event {event.get('event_id') or '(from file)'} ({event['event_type']}, "
        f"{pd.Timestamp(event['event_date']).date()}): {len(tasks)} lost lead(s) concerned "
        f"(grades {tasks['grade'].value_counts().to_dict()}); tasks written to {out}"
    )
    if n_blocked := concerned.attrs.get("do_not_contact", 0):
        typer.echo(f"{n_blocked} concerned lead(s) left out: do not contact (leads.do_not_contact)")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
