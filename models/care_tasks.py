"""The care task file: one row per customer a trigger concerns, suppressed rows kept.

:func:`care_tasks` runs the triggers of :mod:`models.care` on one feature row per customer
as of T, keeps the first trigger of each customer by ``care.priority`` (the others are
``superseded``: counted, not rows), applies the suppression rules and returns the rows of the
task file with :func:`care_metrics`' counts. docs/care.md documents the columns.

Row order: the tasks first, then the suppressed rows; each by due date, trigger priority
and ``customer_id``. The same data, params and score file give the same rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import do_not_contact
from features.vocabulary import NO_ACTION
from models.care import (
    BIRTHDAY,
    CARE_LABELS_ZH,
    INSURANCE,
    MAINTENANCE,
    OUTPUT_COLUMNS,
    REASONS,
    RHYTHMS,
    STATUS_SUPPRESSED,
    STATUS_TASK,
    TRIGGER_COLUMNS,
    CareConfig,
    birthday_due,
    insurance_due,
    maintenance_due,
    maintenance_intervals,
)
from models.care_interval import SOURCES
from models.cooldown import last_outreach_before
from models.crm import CONTROL, TREATMENT

logger = logging.getLogger(__name__)

#: The score file's columns the care stage reads (no personal data).
SCORE_COLUMNS = ("customer_id", "as_of", "value_tier", "recommended_action", "group")


@dataclass
class CareResult:
    """One care run.

    Attributes:
        tasks: The task file's rows (:data:`models.care.OUTPUT_COLUMNS`, file order).
        metrics: Counts per trigger and per suppression reason (:func:`care_metrics`).
    """

    tasks: pd.DataFrame
    metrics: dict


def _aligned(customers: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """``customers`` rows in the order of ``ids`` (index as ``ids``)."""
    cust = customers.assign(customer_id=customers["customer_id"].astype("str"))
    cust = cust.drop_duplicates("customer_id").set_index("customer_id")
    return cust.reindex(ids.to_numpy()).set_axis(ids.index)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="object")
    values = frame[column]
    return values.astype("str").where(values.notna()).astype("object")


def winback_selected(scores: pd.DataFrame | None, ids: pd.Series) -> pd.Series:
    """Who the score file selects for win-back this week: treatment or control group.

    Both groups count: a treatment customer is being contacted already, and a care message
    to a control customer would be a contact inside the randomized holdout.

    Args:
        scores: The score file's rows (``customer_id``, ``recommended_action``, ``group``), or
            None (no score file: nobody).
        ids: The customers to answer for.

    Returns:
        bool Series aligned with ``ids``.
    """
    if scores is None:
        return pd.Series(False, index=ids.index)
    s = scores.assign(customer_id=scores["customer_id"].astype("str")).set_index("customer_id")
    action = _text(s, "recommended_action")
    group = _text(s, "group")
    picked = (action.notna() & (action != NO_ACTION)) | group.isin([TREATMENT, CONTROL])
    picked = picked[~picked.index.duplicated()]
    return pd.Series(
        picked.reindex(ids.to_numpy()).fillna(False).to_numpy(dtype=bool), index=ids.index
    )


def _tiers(tiers: pd.Series, scores: pd.DataFrame | None, ids: pd.Series) -> pd.Series:
    """The score file's value tier where it has the customer, else the computed one."""
    out = tiers.astype("object")
    if scores is None or "value_tier" not in scores.columns:
        return out
    s = scores.assign(customer_id=scores["customer_id"].astype("str")).drop_duplicates(
        "customer_id"
    )
    given = s.set_index("customer_id")["value_tier"].reindex(ids.to_numpy())
    given = pd.Series(given.to_numpy(dtype=object), index=ids.index)
    return given.where(given.notna(), out)


def _fired(
    features: pd.DataFrame,
    cust: pd.DataFrame,
    tier: pd.Series,
    t: pd.Timestamp,
    config: CareConfig,
    visits: pd.DataFrame | None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Each enabled trigger's ``due_date`` / ``fires`` per row, and the maintenance rhythm
    and interval source."""
    model = _text(cust, "vehicle_model") if "vehicle_model" in cust.columns else None
    out: dict[str, pd.DataFrame] = {}
    ids = features["customer_id"].astype("str")
    km = maintenance_intervals(visits, ids, model, t, config.maintenance_due)
    maint = maintenance_due(features, t, config.maintenance_due, model, km)
    rhythm = maint[["rhythm", "interval_source"]]
    nat = pd.Series(pd.NaT, index=cust.index, dtype="datetime64[ns]")
    for trigger in config.priority:
        if not config.rule(trigger).enabled:
            continue
        if trigger == MAINTENANCE:
            out[trigger] = maint[["due_date", "fires"]]
        elif trigger == INSURANCE:
            column = TRIGGER_COLUMNS[INSURANCE]
            expiry = cust[column] if column in cust else nat
            out[trigger] = insurance_due(expiry, t, config.insurance_expiry)
        elif trigger == BIRTHDAY:
            column = TRIGGER_COLUMNS[BIRTHDAY]
            born = cust[column] if column in cust else pd.Series(pd.NA, index=cust.index)
            out[trigger] = birthday_due(born, tier, model, t, config.birthday)
    return out, rhythm


def _suppression(
    features: pd.DataFrame,
    cust: pd.DataFrame,
    ids: pd.Series,
    t: pd.Timestamp,
    config: CareConfig,
    care_contacts: pd.DataFrame | None,
    scores: pd.DataFrame | None,
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The first suppression reason of each row (code, English, Chinese; "" = none)."""
    gone = _col(features, "reported_gone") > 0
    last = last_outreach_before(care_contacts, ids, t)
    recent = pd.Series(False, index=ids.index)
    if config.min_days_between > 0:
        recent = ((t - last).dt.days < config.min_days_between).fillna(False).astype(bool)
    checks = {
        "do_not_contact": do_not_contact(cust).to_numpy(dtype=bool),
        "reported_gone": gone.to_numpy(dtype=bool),
        "winback_contact": winback_selected(scores, ids).to_numpy(dtype=bool),
        "recent_care_contact": recent.to_numpy(dtype=bool),
    }
    code = pd.Series("", index=ids.index, dtype="object")
    for name in reversed(REASONS):  # the first reason listed wins
        code = code.mask(checks[name], name)
    en = code.map({k: v[0] for k, v in REASONS.items()}).astype("object")
    zh = code.map({k: v[1] for k, v in REASONS.items()}).astype("object")
    is_recent = code == "recent_care_contact"
    if is_recent.any():
        date = last[is_recent].dt.strftime("%Y-%m-%d")
        days = str(config.min_days_between)
        en[is_recent] = [en[is_recent].iloc[0].format(date=d, days=days) for d in date]
        zh[is_recent] = [zh[is_recent].iloc[0].format(date=d, days=days) for d in date]
    return code, en.where(code != ""), zh.where(code != "")


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].astype("float64")
    return pd.Series(np.nan, index=frame.index, dtype="float64")


def _zh(values: pd.Series, kind: str) -> pd.Series:
    table = CARE_LABELS_ZH[kind]
    return values.map(lambda v: table.get(str(v), str(v)) if pd.notna(v) else v).astype("object")


def last_advisor(visits: pd.DataFrame | None, ids: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """Each customer's ``advisor_id`` of their latest visit before T that names one.

    Args:
        visits: ``service_visits`` (``customer_id``, ``visit_date``, optional ``advisor_id``).
        ids: The customers to answer for.
        as_of: T; visits on or after it are the future.

    Returns:
        Text series aligned with ``ids`` (missing without such a visit).
    """
    empty = pd.Series(pd.NA, index=ids.index, dtype="object")
    if visits is None or "advisor_id" not in visits.columns:
        return empty
    day = pd.to_datetime(visits["visit_date"]).dt.normalize()
    rows = visits.loc[(day < pd.Timestamp(as_of).normalize()) & visits["advisor_id"].notna()]
    rows = rows.assign(customer_id=rows["customer_id"].astype("str"), day=day[rows.index])
    # the latest day; several visits that day: the last row of the file
    last = rows.sort_values(["customer_id", "day"], kind="stable").groupby("customer_id").last()
    values = last["advisor_id"].astype("str").reindex(ids.to_numpy())
    return pd.Series(values.to_numpy(dtype=object), index=ids.index)


def care_tasks(
    features: pd.DataFrame,
    customers: pd.DataFrame,
    as_of: str | pd.Timestamp,
    config: CareConfig,
    tiers: pd.Series,
    care_contacts: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    visits: pd.DataFrame | None = None,
) -> CareResult:
    """The care task rows of every customer a trigger concerns as of T.

    Args:
        features: :func:`features.build.build_features` rows as of ``as_of`` (one per
            customer, ``customer_id``; ``reported_gone`` where the outreach log has outcomes).
        customers: The ``customers`` table (``dealer_id``, ``name``, ``phone``, ``plate``,
            ``vehicle_model``, ``insurance_expiry_date``, ``birthday``, ``do_not_contact``;
            each optional).
        as_of: T.
        config: The ``care:`` params.
        tiers: Value tier per row of ``features`` (:func:`models.care.value_tiers`); the
            score file's ``value_tier`` is used instead where it has the customer.
        care_contacts: The ``care_contacts`` log (``customer_id``, ``contact_date``), or None.
        scores: The score file's :data:`SCORE_COLUMNS` rows, or None.
        visits: ``service_visits`` (for ``advisor_id``), or None.

    Returns:
        The task rows and the metrics.
    """
    t = pd.Timestamp(as_of).normalize()
    ids = features["customer_id"].astype("str")
    cust = _aligned(customers, ids)
    tier = _tiers(pd.Series(tiers.to_numpy(dtype=object), index=ids.index), scores, ids)
    fired, rhythm = _fired(features, cust, tier, t, config, visits)
    trigger = pd.Series(pd.NA, index=ids.index, dtype="object")
    due = pd.Series(pd.NaT, index=ids.index, dtype="datetime64[ns]")
    for name, frame in fired.items():  # priority order: the first that fires wins
        take = frame["fires"].to_numpy(dtype=bool) & trigger.isna().to_numpy()
        trigger[take] = name
        due[take] = pd.to_datetime(frame["due_date"])[take]
    code, reason, reason_zh = _suppression(features, cust, ids, t, config, care_contacts, scores)
    rows = trigger.notna()
    status = pd.Series(np.where(code == "", STATUS_TASK, STATUS_SUPPRESSED), index=ids.index)
    cust["advisor_id"] = last_advisor(visits, ids, t)
    # which km interval a maintenance row's due date comes from (empty on other triggers)
    cust["interval_source"] = rhythm["interval_source"].where(trigger == MAINTENANCE)
    out = _task_frame(ids, cust, trigger, due, status, reason, reason_zh, t, config)[rows]
    out = order_tasks(out, config)
    metrics = care_metrics(fired, trigger, status, code, rhythm, t, scores is not None)
    logger.info(
        "care as of %s: %d task(s), %d suppressed, of %d customers",
        f"{t:%Y-%m-%d}",
        metrics["tasks"],
        metrics["suppressed"],
        metrics["customers"],
    )
    return CareResult(out.reset_index(drop=True), metrics)


def _task_frame(
    ids: pd.Series,
    cust: pd.DataFrame,
    trigger: pd.Series,
    due: pd.Series,
    status: pd.Series,
    reason: pd.Series,
    reason_zh: pd.Series,
    t: pd.Timestamp,
    config: CareConfig,
) -> pd.DataFrame:
    """Every column of the task file for every row (the caller keeps the triggered ones)."""
    task = status == STATUS_TASK

    def rule_value(key: str) -> pd.Series:
        table = {name: getattr(config.rule(name), key) for name in config.priority}
        return trigger.map(table).astype("object").where(task & trigger.notna())

    out = pd.DataFrame(index=ids.index)
    out["customer_id"] = ids
    for col in ("dealer_id", "name", "phone", "plate"):
        out[col] = _text(cust, col)
    out["trigger"] = trigger
    out["trigger_zh"] = _zh(trigger, "trigger")
    out["due_date"] = due
    out["interval_source"] = _text(cust, "interval_source")
    out["interval_source_zh"] = _zh(out["interval_source"], "interval_source")
    # a suppressed row keeps its trigger and date, but no one to act and no message
    for col in ("owner", "channel"):
        out[col] = rule_value(col)
        out[f"{col}_zh"] = _zh(out[col], col)
    out["advisor_id"] = _text(cust, "advisor_id")
    out["template"] = rule_value("template")
    out["as_of"] = pd.Series(t, index=ids.index).astype("datetime64[ns]")
    out["status"] = status.astype("object")
    out["status_zh"] = _zh(out["status"], "status")
    out["suppressed_reason"] = reason
    out["suppressed_reason_zh"] = reason_zh
    return out[OUTPUT_COLUMNS]


def order_tasks(rows: pd.DataFrame, config: CareConfig) -> pd.DataFrame:
    """Tasks first, then suppressed rows; each by due date, trigger priority, customer id."""
    rank = {name: i for i, name in enumerate(config.priority)}
    keys = pd.DataFrame(
        {
            "suppressed": (rows["status"] == STATUS_SUPPRESSED).to_numpy(),
            "due": rows["due_date"].to_numpy(),
            "rank": rows["trigger"].map(rank).to_numpy(),
            "id": rows["customer_id"].to_numpy(),
        },
        index=rows.index,
    )
    order = keys.sort_values(["suppressed", "due", "rank", "id"], kind="stable").index
    return rows.loc[order]


def care_metrics(
    fired: dict[str, pd.DataFrame],
    trigger: pd.Series,
    status: pd.Series,
    code: pd.Series,
    rhythm: pd.DataFrame,
    as_of: pd.Timestamp,
    with_scores: bool,
) -> dict:
    """Counts of one run (no personal data): per trigger, per reason, maintenance rhythms.

    Args:
        fired: Each enabled trigger's ``fires`` per customer.
        trigger: The task's trigger per customer (missing: no trigger).
        status: ``task`` / ``suppressed`` per customer (meaningful where ``trigger`` is set).
        code: The suppression reason code per customer ("" = none).
        rhythm: The maintenance ``rhythm`` and ``interval_source`` per customer.
        as_of: T.
        with_scores: Whether a score file was given.

    Returns:
        A JSON-ready dict.
    """
    rows = trigger.notna()
    task = rows & (status == STATUS_TASK)
    by_trigger = {}
    for name in (MAINTENANCE, INSURANCE, BIRTHDAY):
        n_fired = int(fired[name]["fires"].sum()) if name in fired else 0
        mine = rows & (trigger == name)
        by_trigger[name] = {
            "enabled": name in fired,
            "fired": n_fired,
            "rows": int(mine.sum()),
            "tasks": int((mine & task).sum()),
            "suppressed": int((mine & ~task).sum()),
            "superseded": n_fired - int(mine.sum()),
        }
    counts = rhythm["rhythm"].value_counts()
    sources = rhythm["interval_source"].value_counts()
    return {
        "as_of": f"{as_of:%Y-%m-%d}",
        "customers": len(trigger),
        "no_trigger": int((~rows).sum()),
        "rows": int(rows.sum()),
        "tasks": int(task.sum()),
        "suppressed": int((rows & ~task).sum()),
        "by_trigger": by_trigger,
        "by_reason": {name: int((rows & (code == name)).sum()) for name in REASONS},
        "maintenance_rhythm": {r: int(counts.get(r, 0)) for r in RHYTHMS},
        "maintenance_interval_source": {s: int(sources.get(s, 0)) for s in SOURCES},
        "score_file": with_scores,
    }
