"""Personal care triggers: maintenance due, insurance expiry and birthday, as CRM tasks.

The library under ``winback care`` (:mod:`pipeline.care`); docs/care.md explains every rule
and default. Care comes before churn: a reminder that is due by the owner's own rhythm, a
renewal before the policy lapses, a birthday coupon for the customers the store values. The
win-back policy (``winback score``) takes over once a customer has drifted away.

Triggers (each a rule of the ``care:`` params block, :class:`CareConfig`):

* ``maintenance_due`` (:func:`maintenance_due`): the next maintenance falls due the owner's
  km interval (:mod:`models.care_interval`: their own median km between maintenance visits,
  else their model's median at this store, else ``interval_km_by_model``, else
  ``interval_km``) after the last maintenance at the owner's own km/day, at most
  ``max_interval_days`` after it (whichever comes first); without a mileage rhythm, after the
  owner's own median maintenance interval (same cap); without either, no reminder ("no own
  rhythm"). A task when the due date lies in ``[T − overdue_days, T + lead_days]``: a far
  overdue owner is the win-back policy's business, not a reminder's.
* ``insurance_expiry`` (:func:`insurance_due`): ``customers.insurance_expiry_date`` in
  ``[T, T + within_days]``.
* ``birthday`` (:func:`birthday_due`): the next ``customers.birthday`` (``MM-DD``; ``02-29``
  is 28 February in a year without it) in ``[T, T + within_days]``, for the value tiers in
  ``tiers`` or the vehicle models in ``vehicle_models`` (both empty: everyone).

One row per customer with at least one trigger (:func:`care_tasks`): the first trigger by
``care.priority``; the other triggers of that customer are not rows (counted as
``superseded``). A row is ``suppressed`` (kept, with the reason) when the customer must not
get a care message now (:data:`REASONS`, first that applies): do not contact, reported gone
(car sold / moved), in this week's win-back selection (the score file's treatment or control
group: contacting a control customer would spoil the holdout), or a care contact fewer than
``min_days_between`` days before T. Every date is point in time: features, outcomes and care
contacts strictly before T.

Personal data (``name``, ``phone``, ``plate``, the birthday) is copied into the task rows
only; :func:`care_metrics` holds counts and nothing here logs a value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.config import config_from_params
from models.care_interval import (
    SOURCE_LABELS_ZH,
    SOURCE_OWN_DAYS,
    SOURCE_OWN_VISIT_DAYS,
    interval_km,
)
from models.crm import LABELS_ZH
from models.segments import SegmentsConfig, tier_of
from models.value import annual_value

MAINTENANCE, INSURANCE, BIRTHDAY = "maintenance_due", "insurance_expiry", "birthday"
#: The customers column each date trigger reads (optional contract columns).
TRIGGER_COLUMNS = {INSURANCE: "insurance_expiry_date", BIRTHDAY: "birthday"}
#: Every trigger, in the default priority order (the first that fires gives the task).
TRIGGERS = (INSURANCE, MAINTENANCE, BIRTHDAY)
STATUS_TASK, STATUS_SUPPRESSED = "task", "suppressed"
#: Where a maintenance rhythm comes from (the metrics' ``maintenance_rhythm``).
RHYTHM_MILEAGE, RHYTHM_INTERVAL, RHYTHM_NONE = "mileage", "maintenance_interval", "no_own_rhythm"
#: An owner whose visits carry no type: the median gap between all their visits.
RHYTHM_VISITS = "visit_interval"
RHYTHMS = (RHYTHM_MILEAGE, RHYTHM_INTERVAL, RHYTHM_VISITS, RHYTHM_NONE)

#: Suppression reasons in the order they are checked: code -> (English, Chinese); the recent
#: contact reason is completed with the date and the spacing.
REASONS: dict[str, tuple[str, str]] = {
    "do_not_contact": (
        "do not contact (customers.do_not_contact)",
        "客户要求勿联系（customers.do_not_contact）",
    ),
    "reported_gone": (
        "reported gone: car sold or owner moved (outreach outcome before the as-of date)",
        "客户已告知车辆售出或已搬离（评分日期前的触达结果）",
    ),
    "winback_contact": (
        "in this week's win-back selection (score file: treatment or control group)",
        "本周已在挽回名单中（评分文件的干预组或对照组），不再发送关怀信息",
    ),
    "recent_care_contact": (
        "care contact on {date}, fewer than {days} days before the as-of date "
        "(care.min_days_between)",
        "{date}已发送关怀信息，距评分日期不足{days}天（care.min_days_between）",
    ),
}

#: Chinese labels of the task file's values (owners and channels not here come from
#: :data:`models.crm.LABELS_ZH`; a store's own value without a label keeps its name).
CARE_LABELS_ZH: dict[str, dict[str, str]] = {
    "trigger": {MAINTENANCE: "保养到期提醒", INSURANCE: "保险到期续保提醒", BIRTHDAY: "生日关怀"},
    "status": {STATUS_TASK: "待执行", STATUS_SUPPRESSED: "已拦截（不发送）"},
    "owner": {**LABELS_ZH["owner"], "insurance_advisor": "续保专员"},
    "channel": dict(LABELS_ZH["channel"]),
    "interval_source": dict(SOURCE_LABELS_ZH),
}

#: The task file's columns: (name, English label, Chinese label), in file order.
TASK_COLUMNS: list[tuple[str, str, str]] = [
    ("customer_id", "customer id", "客户编号"),
    ("dealer_id", "dealer id", "门店编号"),
    ("name", "name", "姓名"),
    ("phone", "phone", "电话"),
    ("plate", "licence plate", "车牌号"),
    ("trigger", "trigger", "关怀类型"),
    ("trigger_zh", "trigger (Chinese)", "关怀类型（中文）"),
    ("due_date", "due date", "到期日期"),
    ("interval_source", "maintenance interval from", "保养间隔依据"),
    ("interval_source_zh", "maintenance interval from (Chinese)", "保养间隔依据（中文）"),
    ("owner", "owner", "负责人"),
    ("owner_zh", "owner (Chinese)", "负责人（中文）"),
    ("advisor_id", "service advisor of the last visit", "上次到店服务顾问"),
    ("channel", "channel", "渠道"),
    ("channel_zh", "channel (Chinese)", "渠道（中文）"),
    ("template", "message template", "消息模板"),
    ("as_of", "as-of date", "生成日期"),
    ("status", "status", "状态"),
    ("status_zh", "status (Chinese)", "状态（中文）"),
    ("suppressed_reason", "suppressed reason", "拦截原因"),
    ("suppressed_reason_zh", "suppressed reason (Chinese)", "拦截原因（中文）"),
]
OUTPUT_COLUMNS = [c[0] for c in TASK_COLUMNS]
#: Columns with personal data: only ever written to the task file.
PII_COLUMNS = ("name", "phone", "plate")
_BIRTHDAY_RE = r"^(\d{2})-(\d{2})$"


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaintenanceRule:
    """``care.maintenance_due``: a reminder when the next maintenance falls due.

    Attributes:
        enabled: False switches the trigger off.
        owner: Who sends it.
        channel: How.
        template: Message template id the CRM fills (with name and plate).
        interval_km: km between maintenance visits (the usual 4S interval): the last
            fallback (:mod:`models.care_interval`).
        interval_km_by_model: A store's book interval per vehicle model, over
            ``interval_km`` (default none).
        own_km_bounds: ``[low, high]`` km: an owner's gap between maintenance visits outside
            is a data error or a skipped service and is ignored.
        min_own_intervals: Gaps an owner needs for their own km interval.
        min_model_owners: Owners with their own interval a vehicle model needs before their
            median is the model's interval.
        max_interval_days: Due at the latest this many days after the last maintenance.
        overdue_days: A due date up to this many days before T still gets a reminder.
        lead_days: ... and one up to this many days after T.
        visit_rhythm: An owner none of whose visits carries a ``visit_type`` (a plain
            transaction log) and without a mileage rhythm is due by the median gap between
            all their visits (their own rhythm; a typed history keeps maintenance visits
            apart, so there it is not used). False: no reminder for them.
    """

    enabled: bool = True
    owner: str = "service_advisor"
    channel: str = "wechat"
    template: str = "care_maintenance_due"
    interval_km: float = 5000.0
    interval_km_by_model: dict[str, float] = field(default_factory=dict)
    own_km_bounds: tuple[float, float] = (1000.0, 30000.0)
    min_own_intervals: int = 2
    min_model_owners: int = 30
    max_interval_days: int = 365
    overdue_days: int = 30
    lead_days: int = 14
    visit_rhythm: bool = True

    def __post_init__(self) -> None:
        kms = {"interval_km": self.interval_km}
        kms.update({f"interval_km_by_model.{k}": v for k, v in self.interval_km_by_model.items()})
        for key, km in kms.items():
            if isinstance(km, bool) or not isinstance(km, int | float) or not km > 0:
                raise ValueError(f"care.maintenance_due.{key} must be a number > 0, got {km!r}")
        _check_days(
            "care.maintenance_due", self, ("max_interval_days", "overdue_days", "lead_days")
        )
        bounds = tuple(self.own_km_bounds)
        if (
            len(bounds) != 2
            or any(isinstance(b, bool) or not isinstance(b, int | float) for b in bounds)
            or not 0 <= bounds[0] <= bounds[1]
        ):
            raise ValueError(
                "care.maintenance_due.own_km_bounds must be [low, high] km with "
                f"0 <= low <= high, got {list(self.own_km_bounds)!r}"
            )
        object.__setattr__(self, "own_km_bounds", (float(bounds[0]), float(bounds[1])))
        for key in ("min_own_intervals", "min_model_owners"):
            n = getattr(self, key)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(
                    f"care.maintenance_due.{key} must be a whole number >= 1, got {n!r}"
                )
        if self.max_interval_days < 1:
            raise ValueError("care.maintenance_due.max_interval_days must be >= 1")


@dataclass(frozen=True)
class InsuranceRule:
    """``care.insurance_expiry``: the renewal reminder before the policy ends.

    Attributes:
        enabled, owner, channel, template: As :class:`MaintenanceRule`.
        within_days: Expiry dates in ``[T, T + within_days]`` get a reminder.
    """

    enabled: bool = True
    owner: str = "insurance_advisor"
    channel: str = "phone"
    template: str = "care_insurance_renewal"
    within_days: int = 30

    def __post_init__(self) -> None:
        _check_days("care.insurance_expiry", self, ("within_days",))


@dataclass(frozen=True)
class BirthdayRule:
    """``care.birthday``: a personal coupon on the birthday of the customers the store values.

    Attributes:
        enabled, owner, channel, template: As :class:`MaintenanceRule`.
        within_days: Birthdays in ``[T, T + within_days]``.
        tiers: Value tiers that get it ...
        vehicle_models: ... or owners of these models (both empty: every customer).
    """

    enabled: bool = True
    owner: str = "service_advisor"
    channel: str = "wechat"
    template: str = "care_birthday_coupon"
    within_days: int = 7
    tiers: tuple[str, ...] = ("high",)
    vehicle_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_days("care.birthday", self, ("within_days",))


def _check_days(where: str, rule: Any, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = getattr(rule, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{where}.{key} must be a whole number of days >= 0, got {value!r}")


_RULES = {MAINTENANCE: MaintenanceRule, INSURANCE: InsuranceRule, BIRTHDAY: BirthdayRule}


@dataclass(frozen=True)
class CareConfig:
    """The ``care:`` params block: the triggers, their priority and the contact spacing.

    Attributes:
        priority: Every trigger once; a customer with several gets the first one's task.
        min_days_between: No care message to a customer with a care contact fewer than this
            many days before T (0 = off).
        maintenance_due, insurance_expiry, birthday: The rules.
    """

    priority: tuple[str, ...] = TRIGGERS
    min_days_between: int = 30
    maintenance_due: MaintenanceRule = field(default_factory=MaintenanceRule)
    insurance_expiry: InsuranceRule = field(default_factory=InsuranceRule)
    birthday: BirthdayRule = field(default_factory=BirthdayRule)

    def __post_init__(self) -> None:
        if sorted(self.priority) != sorted(TRIGGERS):
            raise ValueError(
                f"care.priority must name every trigger once ({', '.join(TRIGGERS)}), "
                f"got {list(self.priority)}"
            )
        _check_days("care", self, ("min_days_between",))

    def rule(self, trigger: str) -> MaintenanceRule | InsuranceRule | BirthdayRule:
        """The rule of ``trigger``."""
        return getattr(self, trigger)

    @classmethod
    def from_params(cls, block: Mapping[str, Any] | None) -> CareConfig:
        """Build from the ``care:`` params block.

        Raises:
            ValueError: An unknown key (named, with the known ones) or a bad value.
        """
        block = dict(block or {})
        known = sorted(f.name for f in dataclasses.fields(cls))
        unknown = sorted(set(block) - set(known))
        if unknown:
            raise ValueError(
                f"unknown care params: {', '.join(unknown)}; known: {', '.join(known)}"
            )
        rules = {
            name: config_from_params(kind, block.pop(name, None), f"care.{name}")
            for name, kind in _RULES.items()
        }
        if "priority" in block:
            block["priority"] = tuple(block["priority"] or ())
        return cls(**block, **rules)


# --- triggers ---------------------------------------------------------------------------------


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].astype("float64")
    return pd.Series(np.nan, index=frame.index, dtype="float64")


def maintenance_due(
    features: pd.DataFrame,
    as_of: pd.Timestamp,
    rule: MaintenanceRule,
    vehicle_model: pd.Series | None = None,
    km: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The next maintenance date of each customer by their own rhythm, and whether it is due.

    Args:
        features: :func:`features.build.build_features` rows as of ``as_of`` (point in time):
            ``mileage_km_per_day``, ``days_since_last_maintenance``,
            ``maintenance_interval_days``, ``days_since_last_visit``.
        as_of: T.
        rule: The trigger's settings.
        vehicle_model: Model per row (for ``interval_km_by_model``), index as ``features``.
        km: Each row's km interval and its source (:func:`maintenance_intervals`, index as
            ``features``); None: ``interval_km_by_model`` / ``interval_km`` only.

    Returns:
        Index as ``features``: ``due_date`` (NaT without a rhythm or a visit), ``rhythm``
        (:data:`RHYTHM_MILEAGE`, :data:`RHYTHM_INTERVAL`, :data:`RHYTHM_VISITS` or
        :data:`RHYTHM_NONE`),
        ``interval_source`` (the km interval's source with a mileage rhythm,
        ``own_days`` with the own gap in days, missing without a rhythm) and ``fires``
        (due in ``[T − overdue_days, T + lead_days]``).
    """
    t = pd.Timestamp(as_of).normalize()
    km_per_day = _col(features, "mileage_km_per_day")
    if km is None:
        ids = pd.Series(features.index.astype("str"), index=features.index)
        km = maintenance_intervals(None, ids, vehicle_model, t, rule)
    by_km = (km["interval_km"].astype("float64") / km_per_day).where(km_per_day > 0)
    own_interval = _col(features, "maintenance_interval_days").where(lambda s: s > 0)
    # maintenance_share is missing exactly when none of the owner's visits has a type
    untyped = _col(features, "maintenance_share").isna() & bool(rule.visit_rhythm)
    visit_interval = _col(features, "median_visit_interval_days").where(lambda s: s > 0)
    visit_interval = visit_interval.where(untyped)
    interval = by_km.fillna(own_interval).fillna(visit_interval)
    interval = interval.clip(upper=float(rule.max_interval_days))
    rhythm = np.select(
        [by_km.notna(), own_interval.notna(), visit_interval.notna()],
        [RHYTHM_MILEAGE, RHYTHM_INTERVAL, RHYTHM_VISITS],
        default=RHYTHM_NONE,
    )
    source = km["interval_source"].astype("object").where(rhythm == RHYTHM_MILEAGE)
    source = source.mask(rhythm == RHYTHM_INTERVAL, SOURCE_OWN_DAYS)
    source = source.mask(rhythm == RHYTHM_VISITS, SOURCE_OWN_VISIT_DAYS)
    # the last maintenance visit; without one on record (no visit typed maintenance), the
    # last visit is when the car was last serviced
    since = _col(features, "days_since_last_maintenance").fillna(
        _col(features, "days_since_last_visit")
    )
    # whole days, rounded down: a reminder is never late because of a fraction of a day
    due_in = np.floor(interval - since)
    fires = (due_in >= -rule.overdue_days) & (due_in <= rule.lead_days)
    due = t + pd.to_timedelta(due_in, unit="D")
    return pd.DataFrame(
        {
            "due_date": due,
            "rhythm": rhythm,
            "interval_source": source,
            "fires": fires.fillna(False).astype(bool),
        },
        index=features.index,
    )


def maintenance_intervals(
    visits: pd.DataFrame | None,
    ids: pd.Series,
    vehicle_model: pd.Series | None,
    as_of: pd.Timestamp,
    rule: MaintenanceRule,
) -> pd.DataFrame:
    """Each customer's km interval as of T by ``rule`` (:func:`models.care_interval.interval_km`).

    Args:
        visits: ``service_visits`` before and after T (only those before T are read), or None
            (no own or model intervals).
        ids: Customer id per row.
        vehicle_model: Model per row (index as ``ids``), or None.
        as_of: T.
        rule: ``own_km_bounds``, ``min_own_intervals``, ``min_model_owners``,
            ``interval_km_by_model``, ``interval_km``.

    Returns:
        ``interval_km`` and ``interval_source``, index as ``ids``.
    """
    return interval_km(
        visits,
        ids,
        vehicle_model,
        as_of,
        default_km=rule.interval_km,
        km_by_model=rule.interval_km_by_model,
        km_bounds=rule.own_km_bounds,
        min_own_intervals=rule.min_own_intervals,
        min_model_owners=rule.min_model_owners,
    )


def insurance_due(expiry: pd.Series, as_of: pd.Timestamp, rule: InsuranceRule) -> pd.DataFrame:
    """Whether each insurance expiry date lies in ``[T, T + within_days]``.

    Args:
        expiry: ``customers.insurance_expiry_date`` (dates; missing = unknown).
        as_of: T.
        rule: The trigger's settings.

    Returns:
        ``due_date`` (the expiry) and ``fires``, index as ``expiry``.
    """
    t = pd.Timestamp(as_of).normalize()
    day = pd.to_datetime(expiry, errors="coerce").dt.normalize()
    fires = (day >= t) & (day <= t + pd.Timedelta(days=rule.within_days))
    return pd.DataFrame({"due_date": day, "fires": fires.fillna(False).astype(bool)})


def next_birthday(birthday: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """The next occurrence of each ``MM-DD`` birthday on or after T.

    ``02-29`` falls on 28 February in a year without a 29th. Anything that is not a valid
    ``MM-DD`` (validated data never has it) gives NaT.

    Args:
        birthday: Month and day per row, text ``MM-DD``.
        as_of: T.

    Returns:
        datetime64 series, index as ``birthday``.
    """
    t = pd.Timestamp(as_of).normalize()
    parts = (
        birthday.astype("object").where(birthday.notna()).astype("str").str.extract(_BIRTHDAY_RE)
    )
    month = pd.to_numeric(parts[0], errors="coerce")
    day = pd.to_numeric(parts[1], errors="coerce")

    def on(year: int) -> pd.Series:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        d = day.where(~((month == 2) & (day == 29)) | leap, 28)
        frame = pd.DataFrame({"year": year, "month": month, "day": d})
        return pd.to_datetime(frame, errors="coerce")

    this_year = on(t.year)
    return this_year.where(this_year >= t, on(t.year + 1)).rename("next_birthday")


def birthday_due(
    birthday: pd.Series,
    tier: pd.Series,
    vehicle_model: pd.Series | None,
    as_of: pd.Timestamp,
    rule: BirthdayRule,
) -> pd.DataFrame:
    """Whether each customer's next birthday lies in ``[T, T + within_days]`` and they qualify.

    Args:
        birthday: ``customers.birthday`` (``MM-DD``).
        tier: Value tier per row (same index).
        vehicle_model: Vehicle model per row, or None.
        as_of: T.
        rule: The trigger's settings (``tiers`` / ``vehicle_models``: either qualifies).

    Returns:
        ``due_date`` (the next birthday) and ``fires``, index as ``birthday``.
    """
    t = pd.Timestamp(as_of).normalize()
    when = next_birthday(birthday, t)
    soon = (when >= t) & (when <= t + pd.Timedelta(days=rule.within_days))
    if rule.tiers or rule.vehicle_models:
        chosen = tier.astype("object").isin(list(rule.tiers))
        if vehicle_model is not None:
            chosen |= vehicle_model.astype("object").isin(list(rule.vehicle_models))
    else:
        chosen = pd.Series(True, index=birthday.index)
    fires = (soon & chosen).fillna(False).astype(bool)
    return pd.DataFrame({"due_date": when, "fires": fires})


def value_tiers(features: pd.DataFrame, segments: SegmentsConfig | None = None) -> pd.Series:
    """Each customer's value tier by the scoring rule (annual value, :func:`tier_of`).

    Args:
        features: :func:`features.build.build_features` rows.
        segments: ``score.segments`` (basis, referral value, bounds, names).

    Returns:
        Tier names, index as ``features``.
    """
    cfg = segments or SegmentsConfig()
    value = annual_value(features, cfg.annual_value, cfg.referral_value)
    return tier_of(value, cfg)


def maintenance_check(
    features: pd.DataFrame,
    as_of: pd.Timestamp,
    rule: MaintenanceRule,
    true_interval_days: pd.Series,
    vehicle_model: pd.Series | None = None,
    km: pd.DataFrame | None = None,
) -> dict[str, float | int]:
    """How the maintenance reminders of ``rule`` match known true service intervals.

    On a simulator output the true interval of every owner is known
    (``truth/customers.parquet`` ``service_interval_days``). An owner is *truly due* when the
    same rule with the true interval instead of the estimated one puts the due date in the
    window (same anchor, same rounding).

    Args:
        features: Feature rows as of ``as_of`` (as :func:`maintenance_due`).
        as_of: T.
        rule: The rule to check.
        true_interval_days: The true interval per row (index as ``features``).
        vehicle_model, km: As :func:`maintenance_due`.

    Returns:
        ``reminders``, ``truly_due``, ``precision`` (share of reminders truly due), ``recall``
        (share of the truly due reminded), ``median_interval_error_days`` (|estimated − true|
        over the owners with a mileage rhythm) and ``mileage_owners``.
    """
    due = maintenance_due(features, as_of, rule, vehicle_model, km)
    since = _col(features, "days_since_last_maintenance").fillna(
        _col(features, "days_since_last_visit")
    )
    true_interval = true_interval_days.astype("float64")
    true_in = np.floor(true_interval - since)
    truly = ((true_in >= -rule.overdue_days) & (true_in <= rule.lead_days)).to_numpy()
    fires = due["fires"].to_numpy(dtype=bool)
    estimated = (due["due_date"] - pd.Timestamp(as_of).normalize()).dt.days + since
    mileage = (due["rhythm"] == RHYTHM_MILEAGE).to_numpy()
    error = (estimated - true_interval).abs()[mileage]
    hits = int((fires & truly).sum())
    return {
        "reminders": int(fires.sum()),
        "truly_due": int(truly.sum()),
        "precision": round(hits / fires.sum(), 4) if fires.any() else float("nan"),
        "recall": round(hits / truly.sum(), 4) if truly.any() else float("nan"),
        "median_interval_error_days": round(float(error.median()), 1)
        if len(error)
        else float("nan"),
        "mileage_owners": int(mileage.sum()),
    }
