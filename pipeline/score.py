"""Stage ``score`` / ``winback score``: the CRM batch export, one row per customer.

Usage:
    ``winback score DATA_DIR --out FILE [--as-of DATE | --through DATE] [--model DIR|champion]
    [--budget B] [--params params.yaml] [--metrics FILE]`` (also ``python -m pipeline.score``;
    the DVC stage scores the simulator through ``simulate.end_date``). No date: the day after
    the last valid event (:func:`pipeline.common.scoring_now`); no model: the registry's
    champions, else ``out/train`` (:func:`models.store.load_scoring_models`, never a pickle).

For every customer in ``customers`` (exactly one row each, none dropped): churn risk from the
churn model, the playbook formula risk and band (the baseline), value tier, annual value, CLV,
stage and segment, the recommended win-back action with its owner, channel, cost cap,
P(return | action), uplift, expected cost and value and priority rank inside the budget
(:mod:`models.segments`, :mod:`models.policy`), the top three reasons for the risk in English
and Chinese (exact TreeSHAP, :mod:`models.treeshap`, :func:`models.explain.top_reasons`), the model version, and a
``status`` with a ``status_reason``:

* ``scored`` — everything computed.
* ``churn_only`` — the model has no win-back (uplift) model (trained without an outreach log):
  churn, baseline and segment columns only; no action is recommended.
* ``no_history`` — no valid service visit before the as-of date (never visited, only visits on
  or after the as-of date, or every visit row set aside by validation): nothing to score; the
  reason says which. Such customers are never contacted by the policy.

A customer with ``customers.do_not_contact`` = ``yes`` keeps one row and is scored, but gets
action ``none``, no owner, channel or rank and no budget; the reason says
"do not contact (customers.do_not_contact)" and the budget goes to the next customers.

Conventions:

* **As-of day**: features use events strictly before ``--as-of`` T (``day < T``); an event on
  T itself is the future. ``--through D`` is the same as ``--as-of D+1`` (every event up to
  and including D): the DVC stage scores the simulator ``--through simulate.end_date``, the
  day convention of the ``policy`` stage (whose truth is the state at the end of that day), so
  the export's selection is the allocation the policy stage evaluates. The ``as_of`` column
  always holds T.
* **Row order**: customers selected inside the budget first, by ``priority_rank`` (1 = contact
  first), then everyone else by ``customer_id``. The same data, models, params and budget give
  a byte-identical file.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from tqdm import tqdm

from features.baseline import baseline_scores
from features.build import build_features
from features.checks import last_event, stale_as_of_warning
from features.config import FeaturizeConfig
from features.contract import ACTION_SET_ASIDE, ContractError, DataSet, do_not_contact
from features.files import write_table
from features.reading import read_data_dir
from models import tracking
from models.actions import ActionError, resolve_for_model, row_roles
from models.explain import top_reasons
from models.lgbm import CalibratedBooster, FeatureMismatchError
from models.policy import DO_NOT_CONTACT_REASON, recommend, same_coupon_cost
from models.reporting.score import matrix_text, plot_matrix
from models.segments import ScoreConfig, segment
from models.store import ModelStoreError, ScoringModels, load_scoring_models
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
from pipeline.engine import DEFAULT_PARTITIONS, EngineOption, PartitionsOption, SchedulerOption

logger = logging.getLogger(__name__)

STATUS_SCORED = "scored"
STATUS_CHURN_ONLY = "churn_only"
STATUS_NO_HISTORY = "no_history"
NO_ACTION = "none"
SAME_COUPON = "same_coupon"
K_REASONS = 3
# rows per contributions call (a progress-bar step; each call self-checks a few rows)
CHUNK_ROWS = 50_000

#: The export's columns, in order (reason_j_en / reason_j_zh for j = 1..3).
OUTPUT_COLUMNS = [
    "customer_id",
    "dealer_id",
    "name",
    "phone",
    "as_of",
    "churn_risk",
    "baseline_risk",
    "risk_band",
    "value_tier",
    "annual_value",
    "clv",
    "stage",
    "segment",
    "recommended_action",
    "owner",
    "channel",
    "cost_cap",
    "p_return",
    "uplift",
    "expected_cost",
    "expected_value",
    "priority_rank",
    *[f"reason_{j}_{lang}" for j in range(1, K_REASONS + 1) for lang in ("en", "zh")],
    "rule_explanation",
    "model_version",
    "model_data_through",
    "status",
    "status_reason",
]
#: Columns that carry personal data: only ever written to the export file itself.
PII_COLUMNS = ("name", "phone")
#: Columns rounded in the file (probabilities to 6 decimals, money to 2) after ranking. The
#: cost cap and expected cost stay exact, so the file's sums and caps are the policy's own.
PROB_COLUMNS = ("churn_risk", "p_return", "uplift")
MONEY_COLUMNS = ("annual_value", "clv", "expected_value")
SEGMENT_OUT = ("value_tier", "annual_value", "clv", "stage", "segment")
STAGE_ORDER = ("active", "pre_churn", "early", "deep", "lost", "no_history")


#: The models named by ``--model`` cannot be found or loaded (one message, exit status 1).
ModelLoadError = ModelStoreError


def load_models(model: str | Path | None = None) -> ScoringModels:
    """Load the models to score with (:func:`models.store.load_scoring_models`).

    Args:
        model: A train output directory, ``"champion"`` (the registry's champion versions at
            ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``), or None: the champions if
            the registry has them, else ``out/train``. Never unpickles anything.

    Raises:
        ModelLoadError: No model where ``model`` points, or its files are damaged or not the
            registered ones.
    """
    return load_scoring_models(model, tracking.tracking_uri())


def history_status(
    data: DataSet, features: pd.DataFrame, as_of: pd.Timestamp
) -> tuple[pd.Series, pd.Series]:
    """Which customers can be scored, and why not.

    A customer is scorable when they have at least one valid service visit before ``as_of``.

    Args:
        data: The validated data set.
        features: :func:`features.build.build_features` output (``customer_id`` column).
        as_of: The as-of date.

    Returns:
        ``(scorable, reason)`` aligned with ``features``: a bool series, and for the others a
        text saying why (empty string for scorable customers).
    """
    t = pd.Timestamp(as_of).normalize()
    ids = features["customer_id"].astype("str")
    visits = data.service_visits
    day = visits["visit_date"].dt.normalize()
    before = visits.loc[day < t].groupby("customer_id").size()
    first_after = visits.loc[day >= t].groupby("customer_id")["visit_date"].min()
    rejects = data.rejects
    rejected = (
        rejects.loc[
            (rejects["table"] == "service_visits") & (rejects["action"] == ACTION_SET_ASIDE)
        ]
        .drop_duplicates(["row_number"])
        .groupby("customer_id")
        .size()
    )
    # reindex, not map: a map over an empty datetime series does not stay datetime
    n_before = pd.Series(before.reindex(ids).fillna(0).to_numpy("int64"), index=ids.index)
    scorable = n_before > 0
    first = pd.Series(first_after.reindex(ids).to_numpy("datetime64[ns]"), index=ids.index)
    n_rejected = pd.Series(rejected.reindex(ids).fillna(0).to_numpy("int64"), index=ids.index)
    when = f"{t:%Y-%m-%d}"
    reason = np.where(
        first.notna(),
        "no service visit before "
        + when
        + "; first visit on "
        + first.dt.strftime("%Y-%m-%d").fillna("")
        + " (on or after the as-of date)",
        np.where(
            n_rejected > 0,
            "no valid service visit before "
            + when
            + ": "
            + n_rejected.astype("str")
            + " visit row(s) set aside by validation (see the rejects)",
            "no service visit on record",
        ),
    )
    reason = pd.Series(np.where(scorable, "", reason), index=features.index, dtype="str")
    return pd.Series(scorable.to_numpy(), index=features.index), reason


@dataclass
class ScoreResult:
    """One scoring run.

    Attributes:
        scores: The export rows in :data:`OUTPUT_COLUMNS` order and the file's row order.
        budget: The budget the policy was given (None = no global budget).
        budget_used: Expected cost of the selected contacts.
        notes: What was skipped and why (no PII).
    """

    scores: pd.DataFrame
    budget: float | None
    budget_used: float
    notes: list[str]


def _contributions(model: CalibratedBooster, rows: pd.DataFrame, progress: bool) -> pd.DataFrame:
    """TreeSHAP values (the fast engine) in chunks (a progress bar helps on big files)."""
    starts = range(0, len(rows), CHUNK_ROWS)
    parts = [
        model.contributions(rows.iloc[i : i + CHUNK_ROWS])
        for i in tqdm(starts, desc="reasons", unit="chunk", disable=not progress or None)
    ]
    return pd.concat(parts)


def _reason_columns(reasons: pd.DataFrame | None, index: pd.Index) -> pd.DataFrame:
    cols = [f"reason_{j}_{lang}" for j in range(1, K_REASONS + 1) for lang in ("en", "zh")]
    out = pd.DataFrame({c: pd.Series(pd.NA, index=index, dtype="str") for c in cols})
    if reasons is not None and len(reasons):
        out.loc[reasons.index, cols] = reasons[cols].astype("str").where(reasons[cols].notna())
    return out


def _personal(customers: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """dealer_id, name, phone and do_not_contact for each id of ``ids`` (aligned with it)."""
    cust = customers.set_index("customer_id")
    out = pd.DataFrame(index=ids.index)
    for col in ("dealer_id", *PII_COLUMNS, "do_not_contact"):
        values = cust[col] if col in cust.columns else pd.Series(dtype="str")
        out[col] = ids.map(values).astype("str").where(ids.map(values).notna())
    return out


@dataclass
class CustomerScores:
    """The per-customer part of scoring: everything but the global budget and row order.

    Computed by :func:`score_each` on a whole data set, or on each partition of customers and
    glued by :func:`pipeline.engine.combine_scores` (the Dask engine); :func:`finish_scores`
    turns it into the export. Every frame is indexed like ``features``; ``reasons`` and
    ``uplift`` only hold the scorable rows.
    """

    features: pd.DataFrame
    scorable: pd.Series
    why: pd.Series
    churn: pd.Series
    reasons: pd.DataFrame | None
    segments: pd.DataFrame
    uplift: pd.DataFrame | None
    personal: pd.DataFrame


def score_each(
    data: DataSet,
    as_of: str | pd.Timestamp,
    models: ScoringModels,
    featurize: FeaturizeConfig,
    config: Any,
    progress: bool = False,
) -> CustomerScores:
    """Features, churn risk, reasons, segments and uplift of every customer (no budget step).

    Args: as :func:`score_customers`.

    Raises:
        models.lgbm.FeatureMismatchError: The feature frame does not fit a model.
    """
    t = pd.Timestamp(as_of).normalize()
    feats = build_features(data, t, featurize)
    scorable, why = history_status(data, feats, t)
    churn = pd.Series(np.nan, index=feats.index, name="churn_risk")
    reasons = None
    rows = feats.loc[scorable]
    if len(rows):
        contrib = _contributions(models.churn, rows, progress)
        # the contributions sum to the raw score: no second pass over the trees
        churn.loc[rows.index] = models.churn.predict_proba_from_contributions(rows, contrib)
        reasons = top_reasons(models.churn, rows, k=K_REASONS, contributions=contrib)
    ids = feats["customer_id"].astype("str")
    acquisition = None
    if "acquisition_cost" in data.customers.columns:
        acq = data.customers.set_index("customer_id")["acquisition_cost"]
        acquisition = ids.map(acq).astype("float64")
    seg = segment(feats, churn, config, acquisition_cost=acquisition, featurize_config=featurize)
    uplift = None
    if models.recovery is not None and len(rows):
        uplift = models.recovery.predict(rows)
    return CustomerScores(
        feats, scorable, why, churn, reasons, seg, uplift, _personal(data.customers, ids)
    )


def score_customers(
    data: DataSet,
    as_of: str | pd.Timestamp,
    models: ScoringModels,
    featurize: FeaturizeConfig,
    config: ScoreConfig,
    budget: float | str | None = None,
    progress: bool = False,
    coupon_action: str | None = None,
) -> ScoreResult:
    """Score every customer of ``data`` as of ``as_of``: one export row each.

    Args:
        data: The validated data set (``customers`` defines the rows).
        as_of: The as-of date; features use events strictly before it.
        models: The churn and (optional) uplift models.
        featurize: Feature settings (must match the models' training).
        config: The ``score:`` params block as :class:`models.segments.ScoreConfig`.
        budget: Global win-back budget (CNY); ``"same_coupon"`` = what the same coupon to
            every lapsed customer would cost (today's spend, the ``policy`` stage's default
            budget); None = no global budget, only the per-customer cost caps.
        progress: Show a progress bar over the SHAP reasons (the slow part).
        coupon_action: The coupon of the ``"same_coupon"`` budget (``policy.coupon_action``;
            None = the store's one coupon action, else its cheapest).

    Returns:
        The export rows and the budget used.

    Raises:
        models.lgbm.FeatureMismatchError: The feature frame does not fit a model.
        models.actions.ActionError: The params do not fit the win-back model's actions.
    """
    config = resolve_for_model(config, models.recovery, data.tables.get("outreach"))
    each = score_each(data, as_of, models, featurize, config, progress)
    return finish_scores(each, models, featurize, config, budget, coupon_action)


def finish_scores(
    each: CustomerScores,
    models: ScoringModels,
    featurize: FeaturizeConfig,
    config: ScoreConfig,
    budget: float | str | None = None,
    coupon_action: str | None = None,
) -> ScoreResult:
    """The global step: baselines, the budgeted policy, statuses, the export's rows and order.

    Args:
        each: :func:`score_each` output (for all customers).
        models, featurize, config, budget, coupon_action: As :func:`score_customers`.

    Returns:
        The export rows and the budget used.
    """
    feats, scorable, why, churn = each.features, each.scorable, each.why, each.churn
    seg, reasons = each.segments, each.reasons
    config = resolve_for_model(config, models.recovery)  # already resolved: the same config
    notes: list[str] = list(config.notes) if models.recovery is not None else []
    base = baseline_scores(feats, featurize)
    rows = feats.loc[scorable]
    ids = feats["customer_id"].astype("str")
    blocked = do_not_contact(each.personal)
    policy = pd.DataFrame(index=feats.index)
    if models.recovery is None:
        notes.append("no win-back (uplift) model: churn, baseline and segment columns only")
    elif len(rows):
        uplift = each.uplift
        if isinstance(budget, str):
            budget = same_coupon_cost(
                rows, seg.loc[rows.index], uplift, config, coupon_action, blocked[rows.index]
            )
        rec = recommend(rows, seg.loc[rows.index], uplift, config, budget, blocked[rows.index])
        policy = rec.reindex(feats.index)
    status = pd.Series(
        np.where(
            ~scorable,
            STATUS_NO_HISTORY,
            STATUS_SCORED if models.recovery is not None else STATUS_CHURN_ONLY,
        ),
        index=feats.index,
        dtype="str",
    )
    if models.recovery is None:
        reason = why.where(~scorable, "no win-back model: churn columns only")
    else:
        has_action = _column(policy, "recommended_action").fillna(NO_ACTION) != NO_ACTION
        chosen = _column(policy, "selected", False).fillna(False).astype(bool)
        stage = _column(seg, "stage").astype("str")
        eligible = stage.isin(config.policy.eligible_stages)
        reason = why.where(
            ~scorable,
            pd.Series(
                np.select(
                    [blocked, chosen, has_action, ~eligible],
                    [
                        DO_NOT_CONTACT_REASON,
                        "",
                        "recommended action does not fit in the budget",
                        "stage " + stage + " is not a win-back target",
                    ],
                    "no action has a positive expected value within the cost cap",
                ),
                index=feats.index,
            ),
        )

    out = pd.concat(
        [
            pd.DataFrame({"customer_id": ids}),
            each.personal,
            pd.DataFrame(
                {
                    "as_of": feats["as_of"],
                    "churn_risk": churn,
                    "baseline_risk": base["formula_risk"],
                    "risk_band": base["risk_band"].astype("str").where(base["risk_band"].notna()),
                }
            ),
            pd.DataFrame({c: _column(seg, c) for c in SEGMENT_OUT}),
        ],
        axis=1,
    )
    action = _column(policy, "recommended_action")
    selected = _column(policy, "selected", False).fillna(False).astype(bool)
    out["recommended_action"] = action.where(action.notna(), NO_ACTION if models.recovery else None)
    out.loc[~scorable, "recommended_action"] = NO_ACTION if models.recovery else None
    for c in ("owner", "channel", "cost_cap"):
        out[c] = _column(seg, c)
    out["owner"], out["channel"] = row_roles(
        out["owner"], out["channel"], out["recommended_action"], config
    )
    out.loc[blocked, ["owner", "channel", "cost_cap"]] = np.nan  # no contact route at all
    for c in ("p_return", "uplift", "expected_cost", "expected_value"):
        out[c] = _column(policy, c).astype("float64")
    rank = _column(policy, "priority_rank").astype("float64").where(selected)
    out["priority_rank"] = rank.astype("Int64")
    out = pd.concat([out, _reason_columns(reasons, feats.index)], axis=1)
    rules = _column(seg, "rule_explanation")
    out["rule_explanation"] = rules.where(rules.astype("str") != "")
    out["model_version"] = models.version
    # the latest snapshot the scoring (churn) model learned from: how fresh the scores are
    out["model_data_through"] = models.churn.meta.get("trained_through")
    out["status"] = status
    out["status_reason"] = reason.replace("", pd.NA)
    budget_used = float(out.loc[selected, "expected_cost"].sum())
    out = order_rows(out)
    for c in PROB_COLUMNS:
        out[c] = out[c].astype("float64").round(6)
    for c in (*MONEY_COLUMNS, "baseline_risk"):
        out[c] = out[c].astype("float64").round(2)
    if isinstance(budget, str):  # no uplift model: no policy, so no budget to resolve
        budget = None
    return ScoreResult(out[OUTPUT_COLUMNS], budget, budget_used, notes)


def _column(frame: pd.DataFrame, name: str, default: Any = np.nan) -> pd.Series:
    """``frame[name]``, or a column of ``default`` on the frame's index when it is absent."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index)


def order_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """Selected contacts by priority rank, then everyone else by customer_id; fresh index."""
    key = scores["priority_rank"].astype("float64").fillna(np.inf)
    return (
        scores.assign(_key=key)
        .sort_values(["_key", "customer_id"], kind="stable")
        .drop(columns="_key")
        .reset_index(drop=True)
    )


def _tier_order(scores: pd.DataFrame) -> list[str]:
    # Highest value first: tier names come from params, their order from the values.
    tiers = scores.groupby("value_tier", dropna=True)["annual_value"].mean()
    return list(tiers.sort_values(ascending=False, kind="stable").index)


def value_stage_matrix(scores: pd.DataFrame) -> pd.DataFrame:
    """The value tier × stage matrix of a score frame (long format, one row per cell).

    Returns:
        Columns value_tier, stage, customers, contacted (selected inside the budget),
        expected_returns (sum of P(return | action) of the contacted), expected_incremental
        (sum of their uplift) and budget_used (sum of their expected cost); tiers from high
        to low value, stages in life-cycle order.
    """
    sel = scores["priority_rank"].notna()
    frame = pd.DataFrame(
        {
            "value_tier": scores["value_tier"].fillna("n/a").astype("str"),
            "stage": scores["stage"].fillna("n/a").astype("str"),
            "customers": 1,
            "contacted": sel.astype("int64"),
            "expected_returns": scores["p_return"].where(sel, 0.0).fillna(0.0),
            "expected_incremental": scores["uplift"].where(sel, 0.0).fillna(0.0),
            "budget_used": scores["expected_cost"].where(sel, 0.0).fillna(0.0),
        }
    )
    cells = frame.groupby(["value_tier", "stage"], sort=False).sum().reset_index()
    tiers = _tier_order(scores)
    tiers += sorted(set(cells["value_tier"]) - set(tiers))
    stages = [s for s in STAGE_ORDER if s in set(cells["stage"])]
    stages += sorted(set(cells["stage"]) - set(stages))
    cells["_t"] = cells["value_tier"].map({t: i for i, t in enumerate(tiers)})
    cells["_s"] = cells["stage"].map({s: i for i, s in enumerate(stages)})
    cells = cells.sort_values(["_t", "_s"]).drop(columns=["_t", "_s"]).reset_index(drop=True)
    for c in ("expected_returns", "expected_incremental", "budget_used"):
        cells[c] = cells[c].round(2)
    return cells


def score_metrics(result: ScoreResult) -> dict[str, Any]:
    """Counts for DVC metrics: customers by status and stage, contacts, budget, returns."""
    s = result.scores
    sel = s["priority_rank"].notna()
    return {
        "customers": len(s),
        "as_of": None if s.empty else pd.Timestamp(s["as_of"].iloc[0]).strftime("%Y-%m-%d"),
        "by_status": {k: int(v) for k, v in s["status"].value_counts().sort_index().items()},
        "by_stage": {
            k: int(v) for k, v in s["stage"].fillna("n/a").value_counts().sort_index().items()
        },
        "contacted": int(sel.sum()),
        "by_action": {
            k: int(v)
            for k, v in s.loc[sel, "recommended_action"].value_counts().sort_index().items()
        },
        "model_data_through": None if s.empty else s["model_data_through"].iloc[0],
        "budget": None if result.budget is None else round(float(result.budget), 2),
        "budget_used": round(result.budget_used, 2),
        "expected_returns": round(float(s.loc[sel, "p_return"].sum()), 2),
        "expected_incremental_returns": round(float(s.loc[sel, "uplift"].sum()), 2),
        "expected_value": round(float(s.loc[sel, "expected_value"].sum()), 2),
    }


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
        Path | None, typer.Option(help="params.yaml ('score', 'featurize', 'validate' blocks).")
    ] = None,
    metrics: Annotated[
        Path | None, typer.Option(help="Also write a JSON of counts here (DVC metrics).")
    ] = None,
    engine: EngineOption = "pandas",
    scheduler: SchedulerOption = None,
    partitions: PartitionsOption = DEFAULT_PARTITIONS,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Score every customer as of a date into a CRM file: one row per customer.

    Churn risk, the playbook baseline, value tier, CLV, stage and segment, the recommended
    win-back action inside the budget with owner, channel, cost cap, P(return), uplift,
    expected value and priority, the top 3 reasons (English and Chinese), model version and a
    status for customers that cannot be scored. Names and phones appear in this file only.
    Prints the value × stage matrix and saves it as OUT_matrix.csv / OUT_matrix.png.
    """
    setup_logging(verbose)
    if out.suffix not in {".csv", ".parquet"}:
        raise typer.BadParameter(f"--out must end in .csv or .parquet, got {out.name}")
    if as_of is not None and through is not None:
        typer.echo("error: give --as-of DATE or --through DATE, not both", err=True)
        raise typer.Exit(code=1)
    when = date_option(as_of, "--as-of")
    if through is not None:
        when = date_option(through, "--through") + pd.Timedelta(days=1)
    if when is None and engine == "dask":
        typer.echo("error: --engine dask needs --as-of DATE or --through DATE", err=True)
        raise typer.Exit(code=1)
    amount: float | str | None = budget
    if budget is not None and budget != SAME_COUPON:
        try:
            amount = budget_amount(budget)
        except ValueError as exc:
            raise typer.BadParameter(
                f"--budget must be a finite number >= 0 or '{SAME_COUPON}', got {budget!r}"
            ) from exc
    writable_output(out)
    writable_output(metrics, "--metrics")
    coupon_action = load_params("policy", params).get("coupon_action")
    featurize = FeaturizeConfig.from_params(load_params("featurize", params))
    max_invalid = max_invalid_share(params)
    reading = read_settings(params)
    config = ScoreConfig.from_params(load_params("score", params))
    t0 = time.perf_counter()
    try:
        models = load_models(model)
    except ModelLoadError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"models: {models.version} (from {models.source})")
    try:
        if engine == "dask":
            from pipeline.engine import dask_client, score_customers_dask

            with dask_client(scheduler) as client:
                result = score_customers_dask(
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
                )
        else:
            today = pd.Timestamp.today().normalize()
            # without a date: cut at today (future rows set aside), score the day after
            data = read_data_dir(
                data_dir, today if when is None else None, max_invalid, reading=reading
            )
            if when is None:
                when, last, aside = scoring_now(data, today)
                typer.echo(now_text(when, last, aside, today))
            elif warning := stale_as_of_warning(when, last_event(data)):
                typer.echo(warning, err=True)
            result = score_customers(
                data, when, models, featurize, config, amount, True, coupon_action
            )
            del data  # the raw tables carry names and phones; nothing below needs them
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
    write_table(result.scores, out)
    cells = value_stage_matrix(result.scores)
    matrix_csv, matrix_png = side_files(out)
    write_table(cells, matrix_csv)
    plot_matrix(cells, matrix_png, f"Value × stage as of {when:%Y-%m-%d}")
    info = score_metrics(result)
    if metrics is not None:
        metrics.parent.mkdir(parents=True, exist_ok=True)
        metrics.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    logger.info("scored %d customers in %.1f s", len(result.scores), time.perf_counter() - t0)
    for note in result.notes:
        typer.echo(f"note: {note}")
    budget_text = "no global budget" if result.budget is None else f"budget ¥{result.budget:,.0f}"
    typer.echo(f"\n{matrix_text(cells)}\n")
    typer.echo(
        f"{info['customers']} customers as of {when:%Y-%m-%d} ({models.version}); status "
        + ", ".join(f"{k} {v}" for k, v in info["by_status"].items())
        + f"; {info['contacted']} contacts, {budget_text}, used ¥{info['budget_used']:,.0f}, "
        f"expected returns {info['expected_returns']:.1f} "
        f"(incremental {info['expected_incremental_returns']:.1f}); written to {out}, "
        f"matrix in {matrix_png}"
    )


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
