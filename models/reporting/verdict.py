"""The report's verdict in plain words: what beats the playbook, and what is not good enough yet.

Every number comes from the stages' metrics files (``out/evaluate/metrics.json``,
``out/policy/metrics.json``); a key a run did not write leaves its sentence out instead of
guessing. Nothing here computes a metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.reporting.i18n import POLICY_LABELS, label, text

GOOD, NOT_YET, INFO = "good", "not_yet", "info"


@dataclass(frozen=True)
class VerdictLine:
    """One sentence of the verdict.

    Attributes:
        status: ``good`` (beats the playbook), ``not_yet`` (not good enough yet) or ``info``.
        text: The sentence in the report's language, numbers filled in.
    """

    status: str
    text: str


def number(x: Any) -> float | None:
    """``x`` as a finite float, else None (missing, text, NaN, a boolean)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def money(x: float, lang: str) -> str:
    """CNY as the report shows it: ``¥20,457`` (``20,457 元`` in Chinese)."""
    return f"{x:,.0f} 元" if lang == "zh" else f"¥{x:,.0f}"


def _get(d: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(d, Mapping):
            return None
        d = d.get(key)
    return d


def churn_lines(metrics: Mapping[str, Any] | None, lang: str, level: str) -> list[VerdictLine]:
    """The churn model vs the playbook formula (ROC-AUC, its gain interval, calibration)."""
    if not metrics:
        return [VerdictLine(NOT_YET, text("v_no_evaluation", lang))]
    churn = _get(metrics, "churn") or {}
    model, formula = (
        number(_get(churn, "model", "roc_auc")),
        number(_get(churn, "formula", "roc_auc")),
    )
    lines: list[VerdictLine] = []
    if model is not None and formula is not None:
        gain = _get(churn, "roc_auc_gain_interval") or {}
        diff, low, high = (number(gain.get(k)) for k in ("difference", "low", "high"))
        n = f"{int(churn['n']):,}" if number(churn.get("n")) is not None else "?"
        if diff is not None and low is not None and high is not None:
            key, status = ("v_churn_beats", GOOD) if low > 0 else ("v_churn_not", NOT_YET)
            values = {"diff": f"{diff:+.3f}", "low": f"{low:+.3f}", "high": f"{high:+.3f}"}
            line = text(key, lang, n=n, model=f"{model:.3f}", formula=f"{formula:.3f}",
                        level=level, **values)  # fmt: skip
            lines.append(VerdictLine(status, line))
        else:
            plain = text("v_churn_plain", lang, n=n, model=f"{model:.3f}", formula=f"{formula:.3f}")
            lines.append(VerdictLine(INFO, plain))
    ece = number(_get(churn, "model", "ece"))
    if ece is not None:
        lines.append(VerdictLine(INFO, text("v_calibration", lang, ece=f"{ece:.3f}")))
    scheme = _get(churn, "scheme_text")
    if isinstance(scheme, str) and scheme:
        lines.append(VerdictLine(INFO, text("v_scheme", lang, text=scheme)))
    return lines


def uplift_lines(metrics: Mapping[str, Any] | None, lang: str, level: str) -> list[VerdictLine]:
    """The uplift model's Qini vs the playbook scorecard, with its bootstrap interval."""
    d = _get(metrics, "recovery", "qini_difference", "scorecard")
    if not isinstance(d, Mapping):
        return []
    diff, low, high = (number(d.get(k)) for k in ("difference", "low", "high"))
    if diff is None or low is None or high is None:
        return []
    values = {"diff": f"{diff:+.4f}", "low": f"{low:+.4f}", "high": f"{high:+.4f}", "level": level}
    if low > 0:
        return [VerdictLine(GOOD, text("v_qini_beats", lang, **values))]
    if high < 0:
        return [VerdictLine(NOT_YET, text("v_qini_worse", lang, **values))]
    return [VerdictLine(NOT_YET, text("v_qini_noise", lang, **values))]


def share_of_oracle(policy: Mapping[str, Any]) -> float | None:
    """The model policy's share of the oracle's net value, wherever the policy stage put it.

    Read from ``policies.model.share_of_oracle``, else a top-level ``share_of_oracle`` (a
    number, or a mapping by policy); None when the run has no oracle.
    """
    own = number(_get(policy, "policies", "model", "share_of_oracle"))
    if own is not None:
        return own
    top = policy.get("share_of_oracle")
    return number(top.get("model")) if isinstance(top, Mapping) else number(top)


def policy_lines(policy: Mapping[str, Any] | None, lang: str) -> list[VerdictLine]:
    """The model policy vs the same coupon and the playbook matrix by net value (truth)."""
    if not policy:
        return [VerdictLine(INFO, text("v_no_policy", lang))]
    policies = _get(policy, "policies") or {}
    names = ("model", "same_coupon", "playbook_matrix")
    net = {p: number(_get(policies, p, "net_value")) for p in names}
    lines: list[VerdictLine] = []
    budget = number(policy.get("budget"))
    if all(v is not None for v in net.values()) and budget is not None:
        lines.append(
            VerdictLine(
                INFO,
                text(
                    "v_policy",
                    lang,
                    budget=money(budget, lang),
                    model=money(net["model"], lang),
                    coupon=money(net["same_coupon"], lang),
                    playbook=money(net["playbook_matrix"], lang),
                ),
            )
        )
        behind = [p for p in names[1:] if net[p] >= net["model"]]
        if behind:
            joiner = text("or", lang) if lang == "zh" else f" {text('or', lang)} "
            who = joiner.join(label(POLICY_LABELS, p, lang) for p in behind)
            cost = number(_get(policies, "model", "cost"))
            spent = "–" if cost is None else money(cost, lang)
            line = text("v_policy_behind", lang, who=who, cost=spent, budget=money(budget, lang))
            lines.append(VerdictLine(NOT_YET, line))
        else:
            lines.append(VerdictLine(GOOD, text("v_policy_beats", lang)))
    vpc = {p: number(_get(policies, p, "value_per_cost")) for p in names}
    if all(v is not None for v in vpc.values()):
        lines.append(
            VerdictLine(
                INFO,
                text(
                    "v_value_per_cost",
                    lang,
                    model=f"{vpc['model']:.2f}",
                    coupon=f"{vpc['same_coupon']:.2f}",
                    playbook=f"{vpc['playbook_matrix']:.2f}",
                ),
            )
        )
    target = _get(policy, "target") or {}
    got = number(_get(policy, "net_value_ratio", "vs_same_coupon"))
    goal, met = number(target.get("net_vs_same_coupon")), target.get("met_net_vs_same_coupon")
    if got is not None and goal is not None and isinstance(met, bool):
        who = label(POLICY_LABELS, "same_coupon", lang)
        values = {"who": who, "ratio": f"{got:.2f}", "goal": f"{goal:g}"}
        lines.append(VerdictLine(GOOD if met else NOT_YET, text("v_target", lang, **values)))
    share = share_of_oracle(policy)
    if share is not None:
        goal, met = number(target.get("share_of_oracle")), target.get("met_share_of_oracle")
        if goal is not None and isinstance(met, bool):
            values = {"share": f"{share:.0%}", "goal": f"{goal:.0%}"}
            line = text("v_oracle_goal", lang, **values)
            lines.append(VerdictLine(GOOD if met else NOT_YET, line))
        else:
            lines.append(VerdictLine(INFO, text("v_oracle", lang, share=f"{share:.0%}")))
    ceiling = number(_get(policy, "share_of_oracle", "ceiling"))
    of_ceiling = number(policy.get("share_of_ceiling"))
    vs_coupon = number(policy.get("ceiling_net_vs_same_coupon"))
    if ceiling is not None and of_ceiling is not None and vs_coupon is not None:
        values = {
            "ceiling": f"{ceiling:.0%}",
            "vs_coupon": f"{vs_coupon:.2f}",
            "share": f"{of_ceiling:.0%}",
        }
        lines.append(VerdictLine(INFO, text("v_ceiling", lang, **values)))
    return lines


def verdict(
    evaluation: Mapping[str, Any] | None,
    policy: Mapping[str, Any] | None,
    lang: str,
    level: float = 0.95,
) -> list[VerdictLine]:
    """The verdict, in the order a reviewer asks: churn model, uplift model, policy.

    Args:
        evaluation: The evaluate stage's ``metrics.json``; None without one.
        policy: The policy stage's ``metrics.json``; None without one.
        lang: ``zh`` or ``en``.
        level: Coverage of the evaluate stage's bootstrap intervals (for the wording).

    Returns:
        The sentences; the ``not_yet`` ones say what is not good enough yet.
    """
    shown = f"{level:.0%}"
    return [
        *churn_lines(evaluation, lang, shown),
        *uplift_lines(evaluation, lang, shown),
        *policy_lines(policy, lang),
    ]
