"""Check the off-policy estimate (models.offpolicy) against the simulator's truth (not a stage).

Usage::

    python -m pipeline.offpolicy_check FEATURIZE_DIR DATA_DIR TRAIN_DIR --out DIR \\
        [--months 4] [--params params.yaml]

Takes the labelled outreach contacts of the last ``--months`` months of FEATURIZE_DIR's
``recovery.parquet`` (a held-out period with observed response windows), gives every contact
the action of a few policies — the same coupon to all, an advisor call to all, the model's
:func:`models.policy.recommend` (no budget) and a seeded random arm — and values each policy
three ways on those rows: off-policy with IPS and DR (``μ`` = TRAIN_DIR's *evaluation* uplift
model, fitted on contacts before its test period, so it has not seen these outcomes), DR again
with the propensity estimated from the log (:mod:`features.propensity`) instead of the logged
one, and on the truth: DATA_DIR's ``truth/outreach.parquet`` holds every contact's true
P(return) under each arm, valued with :func:`models.policy.evaluate_on_truth` (the same money
model). A last column repeats DR with the true P(return) of the logged arm as the outcome (the
outcome noise removed: what is left is the noise of the arm draws). Writes ``DIR/offpolicy_check.csv``, ``.json`` and ``.md`` and prints the table.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from features.config import FeaturizeConfig
from features.propensity import PROPENSITY, arms, estimate_propensity
from features.reading import read_data_dir
from features.vocabulary import NO_ACTION
from models import policy as pol
from models.actions import default_coupon_action, resolve_for_model
from models.artifacts import CHURN_DIR, RECOVERY_DIR, RECOVERY_FILE
from models.lgbm import CalibratedBooster
from models.offpolicy import OffPolicyConfig, PolicyValue, policy_value
from models.recovery import UpliftModel, labelled_rows
from models.reporting.markdown import md_table
from models.segments import ScoreConfig, segment
from pipeline.common import load_params, max_invalid_share, read_settings, setup_logging

logger = logging.getLogger(__name__)

EVALUATION_DIR = "evaluation"
TRUTH_FILE = Path("truth") / "outreach.parquet"
KEYS = ["customer_id", "contact_date", "action", "group"]


def held_out(recovery: pd.DataFrame, months: int) -> pd.DataFrame:
    """Labelled contacts of the last ``months`` months before the last labelled contact day."""
    rows = labelled_rows(recovery)
    last = rows["contact_date"].max()
    return rows.loc[rows["contact_date"] > last - pd.DateOffset(months=months)]


def truth_of(rows: pd.DataFrame, data_dir: Path) -> pd.DataFrame:
    """The simulator's per-contact truth (``p_return_<arm>``), index as ``rows``."""
    truth = pd.read_parquet(data_dir / TRUTH_FILE)
    truth["contact_date"] = pd.to_datetime(truth["contact_date"]).dt.normalize()
    keys = rows[KEYS].assign(
        customer_id=rows["customer_id"].astype("str"),
        contact_date=pd.to_datetime(rows["contact_date"]).dt.normalize(),
        _row=np.arange(len(rows)),
    )
    found = keys.merge(truth, on=KEYS, how="left", validate="one_to_one").sort_values("_row")
    if found["p_return_control"].isna().any():
        raise ValueError(f"{data_dir / TRUTH_FILE} lacks some held-out contacts")
    return found.set_index(rows.index)


def policies(
    rows: pd.DataFrame,
    segments: pd.DataFrame,
    mu: pd.DataFrame,
    config: ScoreConfig,
    actions: list[str],
    seed: int,
) -> dict[str, pd.Series]:
    """Each checked policy's action per held-out row (``none`` = no contact)."""
    coupon = default_coupon_action(config)
    recommended = pol.recommend(rows, segments, mu, config, budget=None)
    model = recommended["recommended_action"].where(recommended["selected"], NO_ACTION)
    names = np.asarray([NO_ACTION, *actions], dtype=object)
    rng = np.random.default_rng(seed)
    out = {f"{coupon} to all": pd.Series(coupon, index=rows.index)}
    if "advisor_call" in actions:
        out["advisor_call to all"] = pd.Series("advisor_call", index=rows.index)
    out["model recommend()"] = model.astype("str")
    out["random arm"] = pd.Series(names[rng.integers(0, len(names), len(rows))], index=rows.index)
    return out


def truth_value(
    decisions: pd.Series, value: pd.Series, truth: pd.DataFrame, config: ScoreConfig
) -> float:
    """Σ over contacted rows of (p_π − p_control) · V − cost, with the true probabilities."""
    key = pd.Series(np.arange(len(decisions)).astype("str"), index=decisions.index)
    alloc = pd.DataFrame(
        {
            "customer_id": key,
            "recommended_action": decisions.astype("str"),
            "selected": decisions.ne(NO_ACTION),
            "return_value": value,
        }
    )
    p_cols = [c for c in truth.columns if _arm_col(c)]
    t = truth[p_cols].assign(customer_id=key)
    return float(pol.evaluate_on_truth({"policy": alloc}, t, config)["net_value"].iloc[0])


def redraw_check(
    rows: pd.DataFrame,
    truth: pd.DataFrame,
    mu: pd.DataFrame,
    value: pd.Series,
    decisions: dict[str, pd.Series],
    config: ScoreConfig,
    redraws: int,
    seed: int,
) -> pd.DataFrame:
    """Bias and interval coverage of IPS and DR over campaigns drawn again on the same rows.

    Each redraw draws every row's arm again with the campaign tool's probabilities (the logged
    propensity of each arm in the row's simulator value tier) and its return from the true
    P(return | arm), then values each policy: the sampling distribution of the estimates on
    this simulation's customers, values and costs, which one log cannot show.

    Returns:
        One row per policy and estimator: truth, mean estimate, its Monte Carlo standard
        error, the spread of the estimates, the mean standard error the estimator reports and
        the share of redraws whose estimate ± 1.96 standard errors holds the truth.
    """
    if redraws <= 0:
        return pd.DataFrame()
    names = [NO_ACTION, *[c.removeprefix("p_return_") for c in truth.columns if _arm_col(c)]]
    names = [n for n in names if n != "control"]
    logged = arms(rows)
    cells = pd.DataFrame({"tier": truth["value_tier"], "arm": logged, "e": rows[PROPENSITY]})
    probs = cells.groupby(["tier", "arm"])["e"].first().unstack().reindex(columns=names)
    p_arm = probs.fillna(0.0).loc[truth["value_tier"]].to_numpy(dtype="float64")
    p_arm = p_arm / p_arm.sum(axis=1, keepdims=True)
    p_true = truth[[_truth_col(n) for n in names]].to_numpy(dtype="float64")
    rng = np.random.default_rng(seed)
    n, settings = len(rows), OffPolicyConfig(bootstrap_draws=0)
    found: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in decisions}
    for _ in range(redraws):
        k = (rng.random(n)[:, None] > np.cumsum(p_arm, axis=1)).sum(axis=1)
        k = k.clip(max=len(names) - 1)
        arm = np.asarray(names, dtype=object)[k]
        log = rows.assign(
            action=arm,
            group=np.where(arm == NO_ACTION, "control", "treatment"),
            recovered=(rng.random(n) < p_true[np.arange(n), k]).astype("int64"),
            propensity=p_arm[np.arange(n), k],
        )
        for name, dec in decisions.items():
            v = policy_value(log, dec, value, config, mu, settings)
            found[name].append(
                (v.ips.net_value, v.ips.standard_error, v.dr.net_value, v.dr.standard_error)
            )
    out = []
    for name, dec in decisions.items():
        true_value = truth_value(dec, value, truth, config)
        got = np.asarray(found[name])
        for j, est in ((0, "ips"), (2, "dr")):
            x, se = got[:, j], got[:, j + 1]
            out.append(
                {
                    "policy": name,
                    "estimator": est,
                    "truth": true_value,
                    "mean": float(x.mean()),
                    "mean_mc_se": float(x.std(ddof=1) / np.sqrt(len(x))),
                    "spread": float(x.std(ddof=1)),
                    "reported_se": float(se.mean()),
                    "coverage": float(np.mean(np.abs(x - true_value) <= 1.96 * se)),
                }
            )
    return pd.DataFrame(out)


def _arm_col(column: str) -> bool:
    return column.startswith("p_return_") and column != "p_return_assigned"


def _truth_col(arm: str) -> str:
    return "p_return_control" if arm == NO_ACTION else f"p_return_{arm}"


def _row(
    name: str, truth: float, logged: PolicyValue, estimated: PolicyValue, oracle: PolicyValue
) -> dict:
    dr, ips, est = logged.dr, logged.ips, estimated.dr
    return {
        "policy": name,
        "contacts": logged.contacts,
        "matched": logged.matched,
        "truth": truth,
        "ips": ips.net_value,
        "ips_low": ips.low,
        "ips_high": ips.high,
        "dr": dr.net_value,
        "dr_low": dr.low,
        "dr_high": dr.high,
        "dr_se": dr.standard_error,
        "dr_estimated_e": est.net_value,
        "dr_estimated_e_low": est.low,
        "dr_estimated_e_high": est.high,
        "dr_true_outcome": oracle.dr.net_value,
        "dr_true_outcome_se": oracle.dr.standard_error,
    }


def check(
    recovery: pd.DataFrame,
    data_dir: Path,
    train_dir: Path,
    months: int,
    params: Path | None,
    redraws: int = 0,
) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """The comparison table (one row per policy), facts and the :func:`redraw_check` table."""
    score_cfg = ScoreConfig.from_params(load_params("score", params))
    fcfg = FeaturizeConfig.from_params(load_params("featurize", params))
    settings = OffPolicyConfig.from_params(load_params("offpolicy", params))
    models_dir = train_dir / EVALUATION_DIR
    churn = CalibratedBooster.load(models_dir / CHURN_DIR)
    uplift = UpliftModel.load(models_dir / RECOVERY_DIR)
    data = read_data_dir(data_dir, None, max_invalid_share(params), reading=read_settings(params))
    cfg = resolve_for_model(score_cfg, uplift, data.tables.get("outreach"))
    # the rule's estimate over the whole log (the campaigns' cells hold every contact)
    estimated = estimate_propensity(
        recovery, recovery["spend_365d"], fcfg.propensity_min_rows, fcfg.propensity_tier_bounds
    )
    held = held_out(recovery, months)
    rows = held.reset_index(drop=True)
    est_rows = rows.assign(**{PROPENSITY: estimated.loc[held.index].to_numpy()})
    cust = data.customers.set_index(data.customers["customer_id"].astype("str"))
    acq = None
    if "acquisition_cost" in cust.columns:
        acq = cust["acquisition_cost"].astype("float64").reindex(rows["customer_id"].astype("str"))
        acq = acq.to_numpy()
    segments = segment(rows, churn.predict_proba(rows), cfg, acq, featurize_config=fcfg)
    mu = uplift.predict(rows)
    value = pol.return_value(segments, cfg)
    truth = truth_of(rows, data_dir)
    # noise-free diagnostic only a simulation allows: the true P(return) of the logged arm
    # as the outcome leaves only the noise of the arm draws
    oracle_rows = rows.assign(recovered=truth["p_return_assigned"].to_numpy())
    table = []
    checked = policies(rows, segments, mu, cfg, uplift.actions, settings.seed)
    for name, decisions in checked.items():
        logged = policy_value(rows, decisions, value, cfg, mu, settings)
        est = policy_value(est_rows, decisions, value, cfg, mu, settings)
        oracle = policy_value(oracle_rows, decisions, value, cfg, mu, settings)
        true_value = truth_value(decisions, value, truth, cfg)
        table.append(_row(name, true_value, logged, est, oracle))
    facts = {
        "rows": len(rows),
        "customers": int(rows["customer_id"].nunique()),
        "first_contact": f"{rows['contact_date'].min():%Y-%m-%d}",
        "last_contact": f"{rows['contact_date'].max():%Y-%m-%d}",
        "uplift_trained_through": uplift.meta.get("trained_through"),
        "estimated_vs_logged_propensity_mean_abs": float(
            np.mean(np.abs(est_rows[PROPENSITY] - rows[PROPENSITY]))
        ),
        "bootstrap": {
            "draws": settings.bootstrap_draws,
            "level": settings.level,
            "resample": settings.resample,
            "seed": settings.seed,
        },
    }
    redrawn = redraw_check(rows, truth, mu, value, checked, cfg, redraws, settings.seed)
    return pd.DataFrame(table), facts, redrawn


def markdown(table: pd.DataFrame, facts: dict, redrawn: pd.DataFrame) -> str:
    """The table as Markdown: estimates with their intervals next to the truth (CNY)."""

    def cny(x: float) -> str:
        return f"{x:,.0f}"

    rows = [
        [
            r.policy,
            f"{r.contacts:,}",
            cny(r.truth),
            f"{cny(r.ips)} [{cny(r.ips_low)}, {cny(r.ips_high)}]",
            f"{cny(r.dr)} [{cny(r.dr_low)}, {cny(r.dr_high)}]",
            f"{cny(r.dr_estimated_e)} [{cny(r.dr_estimated_e_low)}, {cny(r.dr_estimated_e_high)}]",
            f"{cny(r.dr_true_outcome)} ± {cny(r.dr_true_outcome_se)}",
        ]
        for r in table.itertuples()
    ]
    header = ["policy", "contacts", "truth", "IPS [95%]", "DR [95%]", "DR, estimated e [95%]"]
    header += ["DR, true P as outcome ± SE"]
    head = (
        f"{facts['rows']:,} labelled contacts {facts['first_contact']}..{facts['last_contact']} "
        f"({facts['customers']:,} customers); net value in CNY."
    )
    lines = [head, "", *md_table(header, rows)]
    if len(redrawn):
        lines += ["", f"Over {facts['redraws']} campaigns drawn again on the same rows:", ""]
        lines += md_table(
            [
                "policy",
                "estimator",
                "truth",
                "mean ± MC s.e.",
                "spread",
                "reported s.e.",
                "coverage of ± 1.96 s.e.",
            ],
            [
                [
                    r.policy,
                    r.estimator,
                    cny(r.truth),
                    f"{cny(r.mean)} ± {cny(r.mean_mc_se)}",
                    cny(r.spread),
                    cny(r.reported_se),
                    f"{r.coverage:.0%}",
                ]
                for r in redrawn.itertuples()
            ],
        )
    return "\n".join(lines) + "\n"


def main(
    featurize_dir: Annotated[Path, typer.Argument(help="Featurize output (recovery.parquet).")],
    data_dir: Annotated[
        Path, typer.Argument(help="The simulator output (truth/outreach.parquet).")
    ],
    train_dir: Annotated[Path, typer.Argument(help="Train output (evaluation/churn, recovery).")],
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("out/offpolicy_check"),
    months: Annotated[int, typer.Option(help="Held-out months of labelled contacts.")] = 4,
    redraws: Annotated[
        int, typer.Option(help="Campaigns drawn again on the same rows (bias, coverage).")
    ] = 200,
    params: Annotated[Path | None, typer.Option(help="params.yaml")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Value four policies off-policy (IPS, DR) on held-out contacts and on the truth."""
    setup_logging(verbose)
    recovery = pd.read_parquet(featurize_dir / RECOVERY_FILE)
    if PROPENSITY not in recovery.columns:
        typer.echo(f"error: {featurize_dir / RECOVERY_FILE} has no {PROPENSITY} column", err=True)
        raise typer.Exit(code=1)
    table, facts, redrawn = check(recovery, data_dir, train_dir, months, params, redraws)
    facts["redraws"] = redraws
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "offpolicy_check.csv", index=False)
    (out / "offpolicy_check.json").write_text(
        json.dumps(
            {
                "facts": facts,
                "policies": table.to_dict("records"),
                "redraws": redrawn.to_dict("records"),
            },
            indent=2,
        )
        + "\n"
    )
    redrawn.to_csv(out / "offpolicy_redraws.csv", index=False)
    text = markdown(table, facts, redrawn)
    (out / "offpolicy_check.md").write_text(text, encoding="utf-8")
    typer.echo(text)


if __name__ == "__main__":
    from pipeline.boundary import run

    run(main)
