"""Headline metrics: the few numbers a data scientist compares between experiments.

Every stage with results writes its detailed metrics (``metrics.json``: hundreds of values,
per action, per month, per grade) and, next to them, ``headline.json``: a flat mapping of at
most a handful of numbers picked from those metrics. DVC declares only the headline files as
``metrics`` (``dvc metrics diff``, ``dvc exp show``); the detailed files are plain outputs.
All stages together stay within :data:`MAX_HEADLINE_NUMBERS`.

Headline names carry no dot or slash (``churn_roc_auc_model``, ``policy_net_value``): in
``dvc exp show`` they stand apart from the params (``train.seed``) and the code deps
(``models/churn.py``), so ``dvc exp show --drop '.*[./]'`` shows the headline numbers alone.

A headline entry is a dotted path into the stage's metrics (``churn.model.roc_auc``); a
ratio is computed once, by the stage, into its metrics. A path the metrics do not have (an older metrics layout, a
stage run without outreach data) is left out of the file, never written as a guess.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The file name every stage writes its headline numbers to, next to its metrics.
HEADLINE_FILE = "headline.json"
#: All stages' headline numbers together: few enough that `dvc exp show` stays readable.
MAX_HEADLINE_NUMBERS = 30
#: Significant digits kept: a Qini of 0.00574 keeps its digits as a budget of 41539.4 CNY
#: does, and the same run writes the same bytes.
SIGNIFICANT = 6


#: A headline entry: a dotted path into the stage's metrics.
Field = str

#: evaluate: the churn model vs the playbook formula on the same out-of-time rows, and the
#: win-back rankings' Qini on later campaigns.
EVALUATE: dict[str, Field] = {
    "churn_roc_auc_model": "churn.model.roc_auc",
    "churn_roc_auc_formula": "churn.formula.roc_auc",
    "churn_roc_auc_gain": "churn.roc_auc_gain",
    "churn_pr_auc_model": "churn.model.pr_auc",
    "churn_pr_auc_formula": "churn.formula.pr_auc",
    "churn_top_decile_lift_model": "churn.model.top_decile_lift",
    "churn_ece_model": "churn.model.ece",
    "recovery_qini_uplift_model": "recovery.uplift_model.qini",
    "recovery_qini_scorecard": "recovery.scorecard.qini",
}
#: policy: the model's budgeted win-back policy on the simulator's truth, and the others'.
POLICY: dict[str, Field] = {
    "policy_budget": "budget",
    "policy_contacts": "policies.model.contacts",
    "policy_cost": "policies.model.cost",
    "policy_net_value": "policies.model.net_value",
    "policy_value_per_cost": "policies.model.value_per_cost",
    "same_coupon_net_value": "policies.same_coupon.net_value",
    "playbook_net_value": "policies.playbook_matrix.net_value",
    "oracle_net_value": "policies.oracle.net_value",
    "ceiling_net_value": "policies.ceiling.net_value",
    "policy_net_vs_same_coupon": "net_value_ratio.vs_same_coupon",
    "policy_share_of_oracle": "share_of_oracle.model",
    "policy_share_of_oracle_low_budget": "share_of_oracle_at_low_budget",
    "policy_share_of_ceiling": "share_of_ceiling",
}
#: leads: P(buy within 90 days) model vs the rule grades on later loss months.
LEADS: dict[str, Field] = {
    "leads_roc_auc_model": "test.model.roc_auc",
    "leads_roc_auc_rules": "test.rules.roc_auc",
    "leads_pr_auc_model": "test.model.pr_auc",
}
#: score: the CRM export's rows, the customers selected inside the budget and the spend.
SCORE: dict[str, Field] = {
    "score_rows": "customers",
    "score_selected": "contacted",
    "score_budget_used": "budget_used",
    "score_expected_incremental_returns": "expected_incremental_returns",
}
#: Every stage's headline fields, by stage.
STAGES: dict[str, dict[str, Field]] = {
    "evaluate": EVALUATE,
    "policy": POLICY,
    "leads": LEADS,
    "score": SCORE,
}


def _number(value: Any) -> float | int | None:
    """A finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        # numpy scalars carry .item(); anything else is not a headline number
        item = getattr(value, "item", None)
        if item is None:
            return None
        value = item()
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def lookup(metrics: Mapping[str, Any], path: str) -> float | int | None:
    """The number at a dotted ``path`` of nested ``metrics``; None when absent or not a number.

    Args:
        metrics: A stage's metrics (nested mappings).
        path: Keys joined by dots, e.g. ``churn.model.roc_auc``.

    Returns:
        The number, or None.
    """
    node: Any = metrics
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return _number(node)


def headline(metrics: Mapping[str, Any], fields: Mapping[str, Field]) -> dict[str, float | int]:
    """Pick a stage's headline numbers out of its metrics.

    Args:
        metrics: The stage's detailed metrics.
        fields: Headline name -> dotted path (e.g. :data:`EVALUATE`).

    Returns:
        Name -> number in the order of ``fields``; floats to :data:`SIGNIFICANT` digits. Fields
        the metrics lack are left out.

    Raises:
        ValueError: ``fields`` has more than :data:`MAX_HEADLINE_NUMBERS` entries.
    """
    if len(fields) > MAX_HEADLINE_NUMBERS:
        raise ValueError(f"{len(fields)} headline fields, at most {MAX_HEADLINE_NUMBERS}")
    out: dict[str, float | int] = {}
    for name, field in fields.items():
        value = lookup(metrics, field)
        if value is not None:
            out[name] = float(f"{value:.{SIGNIFICANT}g}") if isinstance(value, float) else value
    return out


def write_headline(
    out_dir: str | Path, metrics: Mapping[str, Any], fields: Mapping[str, Field]
) -> Path:
    """Write ``OUT_DIR/headline.json``: :func:`headline` of ``metrics``, atomically.

    Args:
        out_dir: The stage's output directory (where its ``metrics.json`` is).
        metrics: The stage's detailed metrics.
        fields: The stage's headline fields (:data:`STAGES`).

    Returns:
        The file written.
    """
    from features.files import atomic_write

    text = json.dumps(headline(metrics, fields), indent=2) + "\n"
    path = Path(out_dir) / HEADLINE_FILE
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
