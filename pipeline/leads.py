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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import typer

from features.contract import (
    LOST_REASONS,
    MARKET_EVENT_TYPES,
    PII_COLUMNS,
    ContractError,
    DataSet,
    read_data_dir,
)
from features.leads import (
    UNRECORDED,
    LeadRules,
    competitor_destinations,
    concerned_leads,
    data_end,
    grade_leads,
    grade_rule_text,
    incomplete_records,
    lead_features,
    lead_labels,
    lost_leads,
    reasons_by,
    route_leads,
)
from models import tracking
from models.churn import ModelConfig
from models.evaluate import jsonable, roc_points
from models.leads import (
    LEAD_SPLIT,
    OUTPUT,
    REGISTERED_NAME,
    TARGET,
    LeadPyfunc,
    evaluate_vs_rules,
    train_lead_model,
)
from models.lgbm import CalibratedBooster
from models.metrics import ranking_report
from models.store import record_model_dir
from pipeline.common import (
    date_option,
    load_params,
    max_invalid_share,
    read_settings,
    setup_logging,
)
from pipeline.export import write_table

logger = logging.getLogger(__name__)

MODEL_DIR = "model"
#: The CRM task file's columns (name and phone only here, never in logs or reports).
TASK_COLUMNS = [
    "priority", "event_id", "event_type", "event_date", "lead_id", "name", "phone", "dealer_id",
    "region", "consultant_id", "owner", "action", "due_date", "model_interest", "lost_date",
    "lost_reasons", "matched_reasons", "grade", "p_buy", "expected_purchase_date",
]  # fmt: skip


@dataclass(frozen=True)
class LeadsConfig:
    """The ``leads:`` block of params.yaml.

    Attributes:
        rules: Grading, routing and trigger rules (:class:`features.leads.LeadRules`).
        model: LightGBM settings (:class:`models.churn.ModelConfig` fields; the split is by
            loss month with a gap of one label window).
        min_leads: Diagnostics: consultants with fewer lost leads are not flagged.
        max_incomplete_share: Diagnostics: flag consultants above this incomplete share.
        register: Register the model as ``winback-leads`` in MLflow.
        min_improvement: A new version becomes the ``champion`` only if its test ROC-AUC beats
            the current champion's, on the same test leads, by more than this.
        experiment: MLflow experiment.
        as_of: Export date (labels need ``lost_date + window <= as_of``); None = the latest
            date in the leads table.
    """

    rules: LeadRules = field(default_factory=LeadRules)
    model: ModelConfig = field(default_factory=ModelConfig)
    min_leads: int = 20
    max_incomplete_share: float = 0.2
    register: bool = True
    min_improvement: float = 0.0
    experiment: str = tracking.EXPERIMENT
    as_of: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> LeadsConfig:
        """Build from the ``leads`` block; unknown keys are errors."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown leads params: {', '.join(unknown)}")
        rules = LeadRules.from_params(params.pop("rules", None))
        model = dict(params.pop("model", None) or {})
        model.setdefault("exclude", [])
        model.setdefault("calibrate", True)
        return cls(
            rules=rules,
            model=ModelConfig.from_params(model, {**LEAD_SPLIT, "gap_days": rules.window_days + 1}),
            **params,
        )


@dataclass
class LeadsResult:
    """What the stage computed (frames carry no names or phones)."""

    graded: pd.DataFrame
    metrics: dict[str, Any]
    model: CalibratedBooster
    train_info: dict[str, Any]
    diagnostics: dict[str, pd.DataFrame]
    test: pd.DataFrame


def _drop_pii(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in PII_COLUMNS if c in df.columns])


def run_leads(data: DataSet, config: LeadsConfig, truth: pd.DataFrame | None = None) -> LeadsResult:
    """Grade, route, model and diagnose the lost leads of a validated data set.

    Args:
        data: A validated data set with a ``leads`` table.
        config: The ``leads`` settings.
        truth: The simulator's ``truth/leads.parquet`` (for the oracle reference), if any.

    Returns:
        The graded table, metrics, model, training info, diagnostics and test rows.

    Raises:
        ValueError: No leads table, or no lost leads.
    """
    if not data.has("leads"):
        raise ValueError(
            f"{data.source}: no leads table (leads.parquet or leads.csv); the leads stage "
            "needs one (see docs/data_contract.md)"
        )
    rules = config.rules
    leads = _drop_pii(data.tables["leads"])
    lost = lost_leads(leads)
    if lost.empty:
        raise ValueError(f"{data.source}: the leads table has no lost leads (no lost_date)")
    end = data_end(leads, config.as_of)
    feats = lead_features(lost, rules, data.table("market_events"), data.table("lead_contacts"))
    labels = lead_labels(lost, end, rules.window_days)
    grade = grade_leads(lost, rules)
    routes = route_leads(lost, rules)
    table = feats.join(labels)
    labelled = table[table["labelled"]]
    features = [f for f in rules.feature_names() if f not in set(config.model.exclude)]
    model, info, split = train_lead_model(labelled, features, config.model)
    p_all = model.predict_proba(feats)
    p_test = model.predict_proba(split.test)
    p_true = None
    if truth is not None and "p_buy_90d" in truth.columns:
        p_true = lost["lead_id"].map(truth.set_index("lead_id")["p_buy_90d"])
    evaluation = evaluate_vs_rules(split.test, p_test, grade, p_true)
    graded = lost[
        ["lead_id", "dealer_id", "region", "consultant_id", "model_interest", "lost_date"]
    ].copy()
    graded["lost_reasons"] = lost["lost_reasons"]
    graded["grade"] = grade
    graded = graded.join(routes)
    graded[OUTPUT] = p_all
    graded["labelled"] = labels["labelled"]
    graded[TARGET] = labels[TARGET].where(labels["labelled"])
    graded["slice"] = "unlabelled"
    for name in ("train", "valid", "calib", "test"):
        graded.loc[split[name].index, "slice"] = name
    graded.loc[graded["labelled"] & graded["slice"].eq("unlabelled"), "slice"] = "gap"
    metrics = {
        "data_end": end.strftime("%Y-%m-%d"),
        "lost_leads": int(len(lost)),
        "labelled": int(labels["labelled"].sum()),
        "lost_share_of_decided": float(
            leads["status"].eq("lost").sum() / max(int(leads["status"].ne("open").sum()), 1)
        ),
        "grades": grade.value_counts().reindex(["high", "mid", "low"], fill_value=0).to_dict(),
        "routes": routes["route"].value_counts().sort_index().to_dict(),
        "test": {
            "start": info["split"]["test_start"],
            "end": info["split"]["test_end"],
            **evaluation,
        },
    }
    diagnostics = {
        "reasons_by_model": reasons_by(lost, "model_interest"),
        "reasons_by_consultant": reasons_by(lost, "consultant_id"),
        "reasons_by_month": reasons_by(lost, "month"),
        "reasons_by_region": reasons_by(lost, "region"),
        "competitor_destinations": competitor_destinations(lost),
        "incomplete_records": incomplete_records(
            lost, config.min_leads, config.max_incomplete_share
        ),
    }
    return LeadsResult(graded, metrics, model, info, diagnostics, split.test.assign(p=p_test))


# --- figures and report ----------------------------------------------------------------------


def _shares(table: pd.DataFrame) -> pd.DataFrame:
    reasons = [c for c in (*LOST_REASONS, UNRECORDED) if c in table.columns]
    return table[reasons].div(table["lost_leads"], axis=0)


def figures(result: LeadsResult, out_dir: Path) -> list[Path]:
    """Charts a sales manager reads at a glance (PNG)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    d = result.diagnostics
    paths = []
    cmap = plt.get_cmap("tab10")
    for key, title in (
        ("reasons_by_model", "Why leads are lost, by model (share of lost leads)"),
        ("reasons_by_region", "Why leads are lost, by region"),
    ):
        s = _shares(d[key])
        fig, ax = plt.subplots(figsize=(9, 4.5))
        s.plot.barh(stacked=True, ax=ax, color=[cmap(i % 10) for i in range(s.shape[1])])
        ax.set_xlabel("share of lost leads (a lead may have two reasons)")
        ax.set_title(title)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        paths.append(_save(fig, out_dir / f"{key}.png"))
    s = _shares(d["reasons_by_month"])
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = np.arange(len(s))  # positions, not date-like strings (matplotlib would parse them)
    for i, c in enumerate(s.columns):
        ax.plot(x, s[c].to_numpy(), label=c, color=cmap(i % 10))
    ax.set_xticks(x, s.index.tolist())
    ax.set_ylabel("share of lost leads")
    ax.set_title("Loss reasons by month")
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    paths.append(_save(fig, out_dir / "reasons_by_month.png"))
    comp = d["competitor_destinations"]
    if len(comp):
        top = (
            comp.groupby("competitor_model")
            .agg(leads=("leads", "sum"), bought=("bought", "sum"))
            .sort_values("leads")
            .tail(15)
        )
        fig, ax = plt.subplots(figsize=(8, 5))
        y = np.arange(len(top))
        ax.barh(y, top["leads"], color="#9ecae1", label="lost to / compared with")
        ax.barh(y, top["bought"], color="#3182bd", label="bought it")
        ax.set_yticks(y, top.index.tolist())
        ax.set_xlabel("lost leads")
        ax.set_title("Where lost leads went (competitor models)")
        ax.legend()
        paths.append(_save(fig, out_dir / "competitor_destinations.png"))
    inc = d["incomplete_records"].sort_values("incomplete_share").tail(25)
    fig, ax = plt.subplots(figsize=(8, 6))
    colors = np.where(inc["flagged"], "#d62728", "#7f7f7f")
    y = np.arange(len(inc))
    ax.barh(y, inc["incomplete_share"], color=colors)
    ax.set_yticks(y, inc["consultant_id"].tolist())
    ax.set_xlabel("share of incomplete loss records (red: flagged)")
    ax.set_title("Consultants' loss records")
    paths.append(_save(fig, out_dir / "incomplete_records.png"))
    t = result.test
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, score in (
        ("model", t["p"]),
        ("rule grade", result.graded.loc[t.index, "grade"].map({"high": 2, "mid": 1, "low": 0})),
    ):
        pts = roc_points(t[TARGET], score)
        ax.plot(pts["fpr"], pts["tpr"], label=label)
    ax.plot([0, 1], [0, 1], ls=":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Who buys within 90 days: later loss months")
    ax.legend()
    paths.append(_save(fig, out_dir / "model_vs_rules_roc.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(result: LeadsResult, config: LeadsConfig, run_id: str | None) -> str:
    """The Markdown report: model vs rules, grading rule, routes, diagnostics, figures."""
    m = result.metrics
    t = m["test"]
    lines = [
        "# Lost sales leads",
        "",
        f"Data up to {m['data_end']}: {m['lost_leads']} lost leads ({m['labelled']} with a "
        f"fully observed {config.rules.window_days}-day window); lost share of decided leads "
        f"{m['lost_share_of_decided']:.1%}.",
        "",
        f"## Who buys from us within {config.rules.window_days} days of the loss",
        "",
        f"Out of time: loss months {t['start']} .. {t['end']} ({t['model']['n']} leads, "
        f"{t['model']['positive_rate']:.1%} bought). Same rows for both.",
        "",
        "| score | ROC-AUC | PR-AUC | top-decile lift |",
        "|---|---|---|---|",
    ]
    rows = [("LightGBM model", t["model"]), ("playbook rule grade", t["rules"])]
    if "oracle" in t:
        rows.append(("true probability (simulator, reference)", t["oracle"]))
    for name, r in rows:
        lines.append(
            f"| {name} | {r['roc_auc']:.3f} | {r['pr_auc']:.3f} | {r['top_decile_lift']:.2f} |"
        )
    lines += [
        "",
        f"Model minus rules: ROC-AUC {t['delta_roc_auc']:+.3f}, PR-AUC {t['delta_pr_auc']:+.3f}"
        + (f"; MLflow run `{run_id}`." if run_id else "."),
        "",
        "Observed purchase rate by rule grade (test months): "
        + ", ".join(f"{g} {v['bought_rate']:.1%} (n={v['n']})" for g, v in t["by_grade"].items()),
        "",
        "![ROC](figures/model_vs_rules_roc.png)",
        "",
        "## The grading rule (first match wins)",
        "",
        *grade_rule_text(config.rules),
        "",
        f"Grades of all lost leads: {m['grades']}.",
        "",
        "## Routes",
        "",
        "| route (reason) | action | owner | due | waits for | lost leads |",
        "|---|---|---|---|---|---|",
    ]
    for key, r in config.rules.routes.items():
        due = "on the event" if r.get("due_hours") is None else f"{r['due_hours']} h"
        lines.append(
            f"| {key} | {r['action']} | {r['owner']} | {due} | "
            f"{', '.join(r.get('wait_for') or []) or '-'} | {m['routes'].get(key, 0)} |"
        )
    d = result.diagnostics
    inc = d["incomplete_records"]
    flagged = inc[inc["flagged"]]
    comp = d["competitor_destinations"]
    lines += [
        "",
        "## Why leads are lost",
        "",
        "![by model](figures/reasons_by_model.png)",
        "",
        "![by region](figures/reasons_by_region.png)",
        "",
        "![by month](figures/reasons_by_month.png)",
        "",
        "Tables: `diagnostics/reasons_by_{model,consultant,month,region}.csv`.",
        "",
        "## Where lost leads went",
        "",
        "![competitors](figures/competitor_destinations.png)",
        "",
    ]
    if len(comp):
        lines += [
            "| our model | competitor | leads | bought | median price |",
            "|---|---|---|---|---|",
        ]
        for r in comp.sort_values("leads", ascending=False).head(10).itertuples():
            price = "-" if pd.isna(r.median_price) else f"{r.median_price:,.0f}"
            lines.append(
                f"| {r.model_interest} | {r.competitor_model} | {r.leads} | {r.bought} | {price} |"
            )
    lines += [
        "",
        "## Consultants with incomplete loss records",
        "",
        f"{len(flagged)} of {len(inc)} consultants flagged (at least {config.min_leads} lost "
        f"leads and more than {config.max_incomplete_share:.0%} incomplete: no reason, "
        "'other' without a note, or 'competitor' without the model).",
        "",
        "![records](figures/incomplete_records.png)",
        "",
    ]
    if len(flagged):
        lines += ["| consultant | dealer | lost leads | incomplete |", "|---|---|---|---|"]
        for r in flagged.itertuples():
            lines.append(
                f"| {r.consultant_id} | {r.dealer_id} | {r.lost_leads} | {r.incomplete_share:.0%} |"
            )
    return "\n".join(lines) + "\n"


def _json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def _log_mlflow(
    result: LeadsResult, config: LeadsConfig, block: dict, out: Path
) -> tuple[str, str | None]:
    tracking.setup(experiment=config.experiment)
    with mlflow.start_run(run_name="leads") as run:
        mlflow.log_params(tracking.flatten({"leads": block}))
        mlflow.log_metrics(tracking.numeric_metrics({"leads": result.metrics["test"]}))
        mlflow.log_dict(jsonable(result.train_info), "leads/train_info.json")
        mlflow.log_dict(jsonable(result.metrics), "leads/metrics.json")
        mlflow.log_artifact(str(out / "report.md"), artifact_path="leads")
        example = tracking.input_example(result.test, result.model.features)
        output = pd.DataFrame({OUTPUT: result.model.predict_proba(example)})
        info = mlflow.pyfunc.log_model(
            name="leads",
            python_model=LeadPyfunc(),
            artifacts={"model_dir": str(out / MODEL_DIR)},
            signature=mlflow.models.infer_signature(example, output),
            input_example=example,
            registered_model_name=REGISTERED_NAME if config.register else None,
            pip_requirements=_requirements(),
        )
        version = info.registered_model_version
        if version is not None:  # what the hash-checked loader (models.store) checks
            record_model_dir(
                REGISTERED_NAME,
                str(version),
                out / MODEL_DIR,
                info.flavors["python_function"]["artifacts"]["model_dir"]["path"],
                mlflow.get_tracking_uri(),
            )
        return run.info.run_id, None if version is None else str(version)


def promote(result: LeadsResult, version: str | None, config: LeadsConfig) -> dict[str, Any]:
    """Champion/challenger for ``winback-leads`` on the candidate's out-of-time test leads.

    The current champion (if any) is loaded from the registry and scored on exactly the test
    rows the candidate was scored on (ROC-AUC); the candidate gets the ``champion`` alias only
    if it wins by more than ``config.min_improvement`` (:func:`models.tracking.promote_if_better`).

    Returns:
        JSON-able decision (:func:`pipeline.evaluate.challenge`).
    """
    from models.tracking import challenge

    test = result.test
    current = tracking.load_champion(REGISTERED_NAME)
    champ_version, champion = current if current is not None else (None, None)
    if champ_version is not None and champ_version == version:
        champion = None  # re-evaluating the champion itself: nothing to compare

    def score(model: CalibratedBooster) -> float:
        return ranking_report(test[TARGET].to_numpy(), model.predict_proba(test))["roc_auc"]

    def decide(name, v, candidate, champion_score):
        return tracking.promote_if_better(
            name, v, candidate, champion_score, min_delta=config.min_improvement, metric="roc_auc"
        )

    candidate = float(result.metrics["test"]["model"]["roc_auc"])
    return challenge(
        REGISTERED_NAME, version, candidate, champion, champ_version, score, decide, "roc_auc"
    )


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("mlflow", "lightgbm", "scikit-learn", "pandas")]


def main(
    data_dir: Annotated[Path, typer.Argument(help="Directory with the contract tables + leads.")],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/leads"),
    params: Annotated[
        Path | None, typer.Option(help="params.yaml to read the 'leads' block from.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Grade, route and model the lost leads of DATA_DIR; write diagnostics and a report.

    Trains LightGBM P(buys from us within 90 days of the loss) on earlier loss months and
    compares it with the playbook's rule grading on later months (OUT/metrics.json); logs to
    MLflow and registers `winback-leads`. Exits 1 when DATA_DIR breaks the contract or has no
    leads.
    """
    setup_logging(verbose)
    block = load_params("leads", params)
    if block.get("as_of") is not None:
        block["as_of"] = f"{date_option(block['as_of'], 'leads.as_of'):%Y-%m-%d}"
    config = LeadsConfig.from_params(block)
    max_invalid = max_invalid_share(params)
    reading = read_settings(params)
    t0 = time.perf_counter()
    try:
        data = read_data_dir(data_dir, None, max_invalid, reading=reading)
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
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
    figures(result, out / "figures")
    t = result.test
    for name, score in (
        ("model", t["p"]),
        ("rules", result.graded.loc[t.index, "grade"].map({"high": 2, "mid": 1, "low": 0})),
    ):
        (out / "plots" / "roc").mkdir(parents=True, exist_ok=True)
        roc_points(t[TARGET], score).to_csv(out / "plots" / "roc" / f"{name}.csv", index=False)
    (out / "report.md").write_text(report(result, config, None), encoding="utf-8")
    run_id, version = _log_mlflow(result, config, block, out)
    (out / "report.md").write_text(report(result, config, run_id), encoding="utf-8")
    decision = promote(result, version, config) if config.register else None
    metrics = {
        **result.metrics,
        "promotion": decision,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    _json(metrics, out / "metrics.json")
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
    write_table(result.graded, out / "graded.parquet")
    for name, df in result.diagnostics.items():
        by = df.reset_index() if name.startswith("reasons_by") else df
        write_table(by, out / "diagnostics" / f"{name}.csv")


# --- triggers ------------------------------------------------------------------------------


def task_file(concerned: pd.DataFrame, event: dict[str, Any]) -> pd.DataFrame:
    """The CRM task rows for one event: one per concerned lead, in priority order."""
    t = pd.Timestamp(event["event_date"])
    df = concerned.copy()
    df["event_id"] = str(event.get("event_id") or "")
    df["event_type"] = str(event["event_type"])
    df["event_date"] = t
    # Alert routes act on the event: within a day of it; others keep their own due time.
    hours = df["due_hours"].fillna(24.0).clip(upper=24.0)
    df["due_date"] = t + pd.to_timedelta(hours, unit="h")
    for c in TASK_COLUMNS:
        if c not in df.columns:
            df[c] = pd.NA
    return df[TASK_COLUMNS]


def write_tasks(tasks: pd.DataFrame, path: Path) -> Path:
    """Write the task file like the CRM export: atomic, formulas neutralised, due times kept."""
    return write_table(tasks, path, date_format="%Y-%m-%d %H:%M")


def read_event_file(path: Path) -> dict[str, Any]:
    """One market event from a CSV/Parquet file with the market_events columns.

    Raises:
        ValueError: Not exactly one row, a missing column, a bad date or an unknown type,
            with a message naming the file, column and rule.
    """
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    df.columns = [str(c).strip().lower() for c in df.columns]
    if len(df) != 1:
        raise ValueError(f"{path}: expected exactly one event row, found {len(df)}")
    for col in ("event_date", "event_type"):
        if col not in df.columns:
            raise ValueError(f"{path}, column '{col}': required column missing")
    row = {k: (None if pd.isna(v) else v) for k, v in df.iloc[0].to_dict().items()}
    for k in ("model", "region", "competitor_model", "event_type"):
        if isinstance(row.get(k), str):
            row[k] = row[k].strip() or None
    try:
        row["event_date"] = pd.Timestamp(row["event_date"])
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{path}, column 'event_date': not a date ({row['event_date']!r})"
        ) from exc
    etype = str(row["event_type"]).lower()
    if etype not in MARKET_EVENT_TYPES:
        raise ValueError(
            f"{path}, column 'event_type': not in allowed values ({row['event_type']!r}; "
            f"allowed: {', '.join(MARKET_EVENT_TYPES)})"
        )
    row["event_type"] = etype
    return row


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
    try:
        data = read_data_dir(data_dir, None, max_invalid, reading=reading)
        if event_file is not None:
            event = read_event_file(event_file)
        else:
            events = data.table("market_events")
            if events is None:
                raise ValueError(f"{data_dir}: no market_events table; use --event-file")
            row = events[events["event_id"] == args[0]]
            if row.empty:
                raise ValueError(f"{data_dir}: no market event with event_id {args[0]!r}")
            event = row.iloc[0].to_dict()
        if not data.has("leads"):
            raise ValueError(f"{data_dir}: no leads table")
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
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
