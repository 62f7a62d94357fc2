"""Stage ``policy``: the model policy vs the two policies stores run today, on the simulator's truth.

Usage: ``python -m pipeline.policy DATA_DIR TRAIN_DIR --out out/policy [--params params.yaml]``
(the DVC stage; ``winback policy`` is the same code). DATA_DIR must hold
``truth/response.parquet`` (a simulator output): the true P(return within the response window)
of every customer under every arm at the simulation's end date.

Day convention: the truth is the state at the **end** of its ``as_of`` day (the simulator's
last day, whose visits are in the data), so features are built as of the next day — events up
to and including ``as_of``. Churn risk and uplift come from TRAIN_DIR's saved models; segments
and the three policies follow ``score:`` (the money model) and ``policy:`` (budget, sweep).

Writes to OUT:

* ``metrics.json`` — the three policies and the **oracle** (the same money model fed the
  truth: the limit no store can pass) at the default budget; the headline is **net value**
  (incremental value − cost): the model's relative to the same coupon's and its share of the
  oracle's, and whether the goals (1.3× same coupon, 70% of the oracle at the default budget
  and at the sweep's smallest share) are met; value per CNY of cost comes second;
* ``comparison.csv`` — the table at the default budget (also printed);
* ``sweep.csv`` and ``plots/sweep/<policy>.csv`` — every policy at each budget share (plot data
  for ``dvc plots``), ``figures/budget_sweep.png``;
* ``allocations.parquet`` — per customer: stage, segment and each policy's action and whether it
  was selected at the default budget (no names or phones).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from features.config import FeaturizeConfig, config_from_params
from pipeline.common import load_params, max_invalid_share, read_settings, setup_logging

if TYPE_CHECKING:
    import pandas as pd

    from features.contract import DataSet
    from models.lgbm import CalibratedBooster
    from models.segments import ScoreConfig

logger = logging.getLogger(__name__)

TRUTH_FILE = Path("truth") / "response.parquet"
SWEEP_METRICS = (
    "net_value",
    "incremental_value",
    "cost",
    "value_per_cost",
    "incremental_returns",
    "roi",
)


@dataclass(frozen=True)
class PolicyConfig:
    """The ``policy:`` block of params.yaml.

    Attributes:
        budget: Total expected cost (CNY) of each policy; None = what the same coupon to every
            lapsed customer costs (what a store spends today).
        sweep: Budget shares of that default to compare the policies at as well.
        coupon_action: The action of the same-coupon comparator; None = the store's one
            coupon action, else its cheapest action (:func:`models.actions.default_coupon_action`).
        playbook_pre_churn: How the playbook comparator finds pre-churn customers:
            ``formula`` (the playbook's own risk formula at or above ``pre_churn_low``, as a
            store without a model would) or ``model`` (the segments' model-based stage).
        target_net_vs_same_coupon: The goal ratio of net value (incremental value − cost),
            model / same coupon, at the default budget.
        target_share_of_oracle: The goal share of the oracle's net value for the model
            policy, at the default budget and at the smallest budget share of the sweep.
        ceiling: The ``policy.ceiling`` block (:class:`models.ceiling.CeilingConfig`): the
            observable ceiling, a second reference read from the truth.
    """

    budget: float | None = None
    sweep: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    coupon_action: str | None = None
    playbook_pre_churn: str = "formula"
    target_net_vs_same_coupon: float = 1.3
    target_share_of_oracle: float = 0.7
    ceiling: Any = None

    def __post_init__(self) -> None:
        if self.playbook_pre_churn not in {"formula", "model"}:
            raise ValueError(
                f"policy.playbook_pre_churn must be 'formula' or 'model', "
                f"not {self.playbook_pre_churn!r}"
            )
        if any(s <= 0 for s in self.sweep):
            raise ValueError(f"policy.sweep shares must be > 0, got {list(self.sweep)}")
        if self.budget is not None and self.budget < 0:
            raise ValueError(f"policy.budget must be >= 0, got {self.budget}")
        from models.ceiling import CeilingConfig

        # parsed here so a typo in policy.ceiling fails before any work is done
        object.__setattr__(self, "ceiling", CeilingConfig.from_params(self.ceiling))

    @classmethod
    def from_params(cls, block: dict[str, Any] | None) -> PolicyConfig:
        """Build from the ``policy:`` block (unknown keys fail loudly)."""
        return config_from_params(cls, block, "policy")


@dataclass
class Comparison:
    """What the stage computes (pure data; written by :func:`write_outputs`).

    Attributes:
        table: :func:`models.policy.evaluate_on_truth` at the default budget.
        sweep: The same for every budget share (column ``budget_share``).
        allocations: Per customer: stage, segment, each policy's action and selection.
        metrics: JSON-able summary (DVC metrics).
    """

    table: pd.DataFrame
    sweep: pd.DataFrame
    allocations: pd.DataFrame
    metrics: dict[str, Any]


def read_truth(data_dir: Path) -> pd.DataFrame:
    """The simulator's response truth of DATA_DIR.

    Raises:
        FileNotFoundError: DATA_DIR has no ``truth/response.parquet`` (not a simulator output).
    """
    import pandas as pd

    path = Path(data_dir) / TRUTH_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the policy stage evaluates on the simulator's truth, so DATA_DIR "
            "must be a `winback simulate` output (real store data has no truth; use "
            "`winback score` to score it and `winback monitor` to measure the effect)"
        )
    truth = pd.read_parquet(path)
    need = {"customer_id", "as_of", "p_return_control"}
    missing = sorted(need - set(truth.columns))
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    if truth["as_of"].nunique() != 1:
        raise ValueError(f"{path}: expected one as_of date, got {truth['as_of'].nunique()}")
    return truth


def compare(
    features: pd.DataFrame,
    segments: pd.DataFrame,
    uplift: pd.DataFrame,
    truth: pd.DataFrame,
    config: ScoreConfig,
    policy_config: PolicyConfig,
    pre_churn: pd.Series | None = None,
    model_features: list[str] | None = None,
) -> Comparison:
    """The three policies at the default budget and across the sweep, valued on the truth.

    Args:
        features: Feature rows (``customer_id``, ``days_since_last_visit``, ...).
        segments: :func:`models.segments.segment` output (same index).
        uplift: The uplift model's predictions (same index).
        truth: The response truth (one row per customer).
        config: The ``score`` settings.
        policy_config: The ``policy`` settings.
        pre_churn: The playbook comparator's pre-churn flag (None: the segments' stage).
        model_features: The features the uplift model reads: with them (and
            ``policy.ceiling.enabled``) the observable ceiling (:mod:`models.ceiling`) is a
            second reference next to the oracle.

    Returns:
        The comparison tables and metrics.
    """
    import pandas as pd

    from models import policy as pol
    from models.evaluate import jsonable

    pc = policy_config
    default = pol.same_coupon_cost(features, segments, uplift, config, pc.coupon_action)
    budget = default if pc.budget is None else float(pc.budget)
    logger.info("default budget (same coupon to every lapsed customer): %.0f CNY", default)
    # the oracle: the same money model fed the truth (a reference, never a model input)
    oracle = pol.truth_probabilities(truth, features, list(config.policy.allowed_actions or ()))
    references = {pol.ORACLE: oracle}
    if model_features and pc.ceiling.enabled:
        from models.ceiling import CEILING, observable_ceiling

        references[CEILING] = observable_ceiling(features, oracle, model_features, pc.ceiling)

    def run(b: float) -> dict[str, pd.DataFrame]:
        return pol.run_policies(
            features, segments, uplift, config, b, pre_churn, pc.coupon_action, references
        )

    runs = run(budget)
    table = pol.evaluate_on_truth(runs, truth, config)
    parts = []
    for share in sorted(set(pc.sweep)):
        part = pol.evaluate_on_truth(run(default * share), truth, config)
        parts.append(part.assign(budget_share=share))
    sweep = pd.concat(parts, ignore_index=True)
    sweep = sweep[["budget_share", *[c for c in sweep.columns if c != "budget_share"]]]
    alloc = pd.DataFrame(
        {
            "customer_id": features["customer_id"].astype("str"),
            "stage": segments["stage"],
            "segment": segments["segment"],
            "annual_value": segments["annual_value"],
            "cost_cap": segments["cost_cap"],
        }
    )
    for name, frame in runs.items():
        alloc[f"{name}_action"] = frame["recommended_action"].where(frame["selected"], "none")
    metrics = _metrics(table, sweep, pc)
    metrics = {
        "as_of": str(pd.Timestamp(truth["as_of"].iloc[0]).date()),
        "customers": len(features),
        "default_budget": default,
        "budget": budget,
        "stages": segments["stage"].value_counts().sort_index().to_dict(),
        **metrics,
    }
    return Comparison(table=table, sweep=sweep, allocations=alloc, metrics=jsonable(metrics))


def _metrics(table: pd.DataFrame, sweep: pd.DataFrame, pc: PolicyConfig) -> dict[str, Any]:
    """Net value first (model vs comparators, share of the oracle), value per CNY second."""
    from models import policy as pol

    by = table.set_index("policy")
    net, vpc = by["net_value"], by["value_per_cost"]
    low = min(pc.sweep)
    low_net = sweep.loc[sweep["budget_share"] == low].set_index("policy")["net_value"]
    from models.ceiling import CEILING

    names = [*pol.POLICIES, *([CEILING] if CEILING in by.index else [])]
    share = {p: _ratio(net[p], net[pol.ORACLE]) for p in names}
    share_low = _ratio(low_net[pol.MODEL], low_net[pol.ORACLE])
    vs_coupon = _ratio(net[pol.MODEL], net[pol.SAME_COUPON])
    ceiling = {}
    if CEILING in by.index:
        # what the features allow, and how much of it the model reaches
        ceiling = {
            "share_of_ceiling": _ratio(net[pol.MODEL], net[CEILING]),
            "share_of_ceiling_at_low_budget": _ratio(low_net[pol.MODEL], low_net[CEILING]),
            "ceiling_net_vs_same_coupon": _ratio(net[CEILING], net[pol.SAME_COUPON]),
        }
    return {
        "policies": {rec.pop("policy"): rec for rec in table.to_dict(orient="records")},
        "share_of_oracle": share,
        "low_budget_share": low,
        "share_of_oracle_at_low_budget": share_low,
        **ceiling,
        "net_value_ratio": {
            "vs_same_coupon": vs_coupon,
            "vs_playbook": _ratio(net[pol.MODEL], net[pol.PLAYBOOK]),
        },
        "value_per_cost_ratio": {
            "vs_same_coupon": _ratio(vpc[pol.MODEL], vpc[pol.SAME_COUPON]),
            "vs_playbook": _ratio(vpc[pol.MODEL], vpc[pol.PLAYBOOK]),
        },
        "target": {
            "net_vs_same_coupon": pc.target_net_vs_same_coupon,
            "share_of_oracle": pc.target_share_of_oracle,
            "met_net_vs_same_coupon": bool(vs_coupon >= pc.target_net_vs_same_coupon),
            "met_share_of_oracle": bool(share[pol.MODEL] >= pc.target_share_of_oracle),
            "met_share_of_oracle_at_low_budget": bool(share_low >= pc.target_share_of_oracle),
        },
        "sweep": {
            f"{s:g}": {
                r["policy"]: {k: r[k] for k in SWEEP_METRICS}
                for r in sweep.loc[sweep["budget_share"] == s].to_dict(orient="records")
            }
            for s in sorted(set(pc.sweep))
        },
    }


def headline(metrics: dict[str, Any]) -> str:
    """The verdict in one paragraph: net value against the comparators and the oracle."""
    from models import policy as pol

    t = metrics["target"]
    share, share_low = metrics["share_of_oracle"], metrics["share_of_oracle_at_low_budget"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.0%}"

    def times(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f}x"

    def met(flag: bool) -> str:
        return "met" if flag else "NOT met"

    r = metrics["net_value_ratio"]
    ceiling = ""
    if "share_of_ceiling" in metrics:
        ceiling = (
            f" The observable ceiling (the same policy fed noise-free fits of the truth from the "
            f"model's own features) reaches {pct(share.get('ceiling'))} of the oracle's and "
            f"{times(metrics['ceiling_net_vs_same_coupon'])} the same coupon's; the model "
            f"reaches {pct(metrics['share_of_ceiling'])} of the ceiling."
        )
    return (
        f"model net value {metrics['policies'][pol.MODEL]['net_value']:,.0f} CNY: "
        f"{times(r['vs_same_coupon'])} the same coupon's (target "
        f"{t['net_vs_same_coupon']}x: {met(t['met_net_vs_same_coupon'])}), "
        f"{times(r['vs_playbook'])} the playbook matrix's; {pct(share[pol.MODEL])} of the "
        f"oracle's (target {t['share_of_oracle']:.0%}: {met(t['met_share_of_oracle'])}; "
        f"same coupon {pct(share[pol.SAME_COUPON])}, playbook {pct(share[pol.PLAYBOOK])}); "
        f"at budget share {metrics['low_budget_share']:g}: {pct(share_low)} of the oracle's "
        f"({met(t['met_share_of_oracle_at_low_budget'])}). Value per CNY (second): "
        f"{times(metrics['value_per_cost_ratio']['vs_same_coupon'])} the same coupon's." + ceiling
    )


def _ratio(a: float, b: float) -> float:
    import numpy as np

    return float(a / b) if b and np.isfinite(b) and b > 0 and np.isfinite(a) else float("nan")


def write_outputs(comparison: Comparison, out: Path, lang: str = "zh") -> list[Path]:
    """Write metrics.json, comparison.csv, sweep.csv, plot data, the figure (in ``lang``) and
    allocations."""
    from models.reporting.policy import sweep_figure

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "metrics.json", out / "comparison.csv", out / "sweep.csv"]
    written[0].write_text(json.dumps(comparison.metrics, indent=2, ensure_ascii=False) + "\n")
    comparison.table.to_csv(written[1], index=False, float_format="%.6g")
    comparison.sweep.to_csv(written[2], index=False, float_format="%.6g")
    plots = out / "plots" / "sweep"
    plots.mkdir(parents=True, exist_ok=True)
    for name, part in comparison.sweep.groupby("policy", sort=False):
        path = plots / f"{name}.csv"
        part.to_csv(path, index=False, float_format="%.6g")
        written.append(path)
    written.append(sweep_figure(comparison.sweep, out / "figures" / "budget_sweep.png", lang))
    path = out / "allocations.parquet"
    comparison.allocations.to_parquet(path, index=False)
    written.append(path)
    # the few numbers DVC compares between experiments (headline.json, `dvc metrics diff`)
    from models.headline import POLICY, write_headline

    written.append(write_headline(out, comparison.metrics, POLICY))
    return written


def score_inputs(
    data: DataSet,
    as_of: pd.Timestamp,
    churn_model: CalibratedBooster,
    uplift_model: Any,
    config: ScoreConfig,
    featurize_config: FeaturizeConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series]:
    """Features as of ``as_of``, churn risk, segments, uplift and the formula's pre-churn flag.

    Returns:
        ``(features, segments, uplift, formula_pre_churn)``, one row per customer.

    Raises:
        models.lgbm.FeatureMismatchError: A model cannot score the features.
    """
    import pandas as pd

    from features.baseline import baseline_scores
    from features.build import build_features
    from models.segments import segment

    features = build_features(data, as_of, featurize_config)
    risk = churn_model.predict_proba(features)
    cust = data.customers.set_index(data.customers["customer_id"].astype("str"))
    acq = None
    if "acquisition_cost" in cust.columns:
        acq = pd.to_numeric(cust["acquisition_cost"], errors="coerce").reindex(
            features["customer_id"].astype("str")
        )
        acq = acq.to_numpy(dtype="float64")
    segments = segment(features, risk, config, acq, featurize_config=featurize_config)
    uplift = uplift_model.predict(features)
    band = baseline_scores(features, featurize_config)["risk_band"]
    formula_pre_churn = band.isin(["pre_churn", "high"]).fillna(False).astype(bool)
    return features, segments, uplift, formula_pre_churn


def main(
    data_dir: Annotated[
        Path, typer.Argument(help="A simulator output (contract tables + truth/response.parquet).")
    ],
    train_dir: Annotated[Path, typer.Argument(help="Train outputs (churn/, recovery/).")],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/policy"),
    params: Annotated[
        Path | None,
        typer.Option(help="params.yaml ('score', 'policy', 'featurize', 'validate' blocks)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Compare the model policy with the same-coupon and playbook-matrix policies on the truth.

    All three get the same budget (default: what the same coupon to every lapsed customer
    costs) and are valued with the simulator's true response probabilities: expected and
    incremental returns, incremental value, cost, ROI, incremental value per unit of cost;
    also at each budget share of the sweep. Writes OUT/metrics.json, OUT/comparison.csv,
    OUT/sweep.csv, OUT/plots/, OUT/figures/budget_sweep.png and OUT/allocations.parquet.
    """
    import pandas as pd

    from features.contract import ContractError
    from features.reading import read_data_dir
    from models.actions import ActionError, default_coupon_action, resolve_for_model
    from models.artifacts import CHURN_DIR, RECOVERY_DIR
    from models.lgbm import CalibratedBooster, FeatureMismatchError
    from models.recovery import UpliftModel
    from models.reporting.figures import check_lang
    from models.segments import ScoreConfig

    setup_logging(verbose)
    try:
        score_cfg = ScoreConfig.from_params(load_params("score", params))
        policy_cfg = PolicyConfig.from_params(load_params("policy", params))
        fcfg = FeaturizeConfig.from_params(load_params("featurize", params))
        max_invalid = max_invalid_share(params)
        reading = read_settings(params)
        lang = check_lang(load_params("report", params)["lang"])
        truth = read_truth(data_dir)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    truth_day = pd.Timestamp(truth["as_of"].iloc[0]).normalize()
    try:
        data = read_data_dir(data_dir, truth_day, max_invalid, reading=reading)
    except ContractError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    try:
        churn_model = CalibratedBooster.load(train_dir / CHURN_DIR)
        uplift_model = UpliftModel.load(train_dir / RECOVERY_DIR)
    except FileNotFoundError as exc:
        typer.echo(
            f"error: {exc} (the policy stage needs both the churn and the uplift model)", err=True
        )
        raise typer.Exit(code=1) from exc
    try:
        # the store's actions: the model's, with the costs of its outreach log (docs/policy.md)
        score_cfg = resolve_for_model(score_cfg, uplift_model, data.tables.get("outreach"))
        default_coupon_action(score_cfg, policy_cfg.coupon_action)
    except ActionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    for note in score_cfg.notes:
        typer.echo(f"note: {note}")
    as_of = truth_day + pd.Timedelta(days=1)
    try:
        features, segments, uplift, formula_flag = score_inputs(
            data, as_of, churn_model, uplift_model, score_cfg, fcfg
        )
    except (FeatureMismatchError, ValueError) as exc:
        typer.echo(f"error: the saved models cannot score {data_dir}: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    pre_churn = formula_flag if policy_cfg.playbook_pre_churn == "formula" else None
    result = compare(
        features, segments, uplift, truth, score_cfg, policy_cfg, pre_churn, uplift_model.features
    )
    write_outputs(result, out, lang)
    m = result.metrics
    with pd.option_context("display.width", 160, "display.float_format", "{:,.3f}".format):
        cols = [
            "policy",
            "contacts",
            "incremental_returns",
            "incremental_value",
            "cost",
            "net_value",
            "value_per_cost",
        ]
        typer.echo(
            f"policies at equal budget {m['budget']:,.0f} CNY (truth as of {m['as_of']}, "
            f"features as of {as_of:%Y-%m-%d}); net value = incremental value - cost:"
        )
        typer.echo(result.table[cols].to_string(index=False))
        typer.echo("\nbudget sweep (share of the same-coupon cost):")
        typer.echo(
            result.sweep[["budget_share", *cols]]
            .sort_values(["budget_share", "policy"])
            .to_string(index=False)
        )
    typer.echo("\n" + headline(m))
    typer.echo(f"written to {out}")


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
