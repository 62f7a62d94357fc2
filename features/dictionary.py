"""The feature dictionary: every feature's meaning, unit and labels, as data.

Used for documentation, model reports and the customer-facing reason texts (and how a
duration or a missing value reads in them: :func:`duration_text`, :data:`MISSING_EN`). The order here
is the column order of :func:`features.build.build_features`. Windows are "the last N days
before T" = ``[T - N, T)``; "lifetime" = every event before T.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class FeatureSpec:
    """One feature.

    Attributes:
        name: Column name (snake_case).
        family: Feature family (recency, frequency, monetary, app, appointments, ...).
        signal: Source table; features of an absent optional table are NaN.
        meaning: What it measures, precisely (English).
        unit: Unit (days, visits, CNY, share 0-1, flag 0/1, score 0-10, ...).
        label_en: Short English label for reports and reason texts.
        label_zh: Short Chinese label for reports and reason texts.
        kind: ``numeric``, ``flag`` (0/1) or ``categorical`` (pandas category).
    """

    name: str
    family: str
    signal: str
    meaning: str
    unit: str
    label_en: str
    label_zh: str
    kind: str = "numeric"


_V, _A, _P = "service_visits", "app_sessions", "appointments"
_S, _C, _Q, _O, _CU = "surveys", "complaints", "consultations", "outreach", "customers"

FEATURES: tuple[FeatureSpec, ...] = (
    # recency
    FeatureSpec("days_since_last_visit", "recency", _V, "Days from the last service visit to T.",
                "days", "Time since last service visit", "距上次到店保养时长"),
    FeatureSpec("days_since_last_paid_visit", "recency", _V,
                "Days from the last visit with amount > 0 to T.", "days",
                "Time since last paid visit", "距上次付费到店时长"),
    FeatureSpec("median_visit_interval_days", "recency", _V,
                "Median gap between the customer's distinct visit days before T "
                "(needs two visit days).", "days", "Typical visit interval",
                "平时到店间隔（中位数）"),
    FeatureSpec("recency_interval_ratio", "recency", _V,
                "days_since_last_visit / median_visit_interval_days: above 1 means overdue "
                "by the customer's own rhythm.", "ratio",
                "Time since last visit vs own usual interval", "距上次到店 / 平时间隔"),
    FeatureSpec("days_since_last_maintenance", "recency", _V,
                "Days from the last maintenance visit (visit_type 'maintenance') to T.", "days",
                "Time since last maintenance", "距上次保养时长"),
    FeatureSpec("maintenance_interval_days", "recency", _V,
                "Median gap between the customer's distinct maintenance visit days before T "
                "(needs two maintenance visits).", "days", "Typical maintenance interval",
                "平时保养间隔（中位数）"),
    FeatureSpec("days_until_service_due", "recency", _V,
                "maintenance_interval_days - days_since_last_maintenance (without two "
                "maintenance visits: median_visit_interval_days - days_since_last_visit); "
                "negative = overdue by that many days.", "days",
                "Time until the next service is due", "距下次保养到期时长"),
    # frequency
    FeatureSpec("visits_90d", "frequency", _V, "Service visits in the last 90 days.", "visits",
                "Visits in last 90 days", "近90天到店次数"),
    FeatureSpec("visits_180d", "frequency", _V, "Service visits in the last 180 days.",
                "visits", "Visits in last 180 days", "近180天到店次数"),
    FeatureSpec("visits_365d", "frequency", _V, "Service visits in the last 365 days.",
                "visits", "Visits in last 365 days", "近一年到店次数"),
    FeatureSpec("visits_lifetime", "frequency", _V, "Service visits before T.", "visits",
                "Visits in total", "累计到店次数"),
    # monetary
    FeatureSpec("spend_90d", "monetary", _V, "Invoice total in the last 90 days.", "CNY",
                "Spend in last 90 days", "近90天消费金额"),
    FeatureSpec("spend_180d", "monetary", _V, "Invoice total in the last 180 days.", "CNY",
                "Spend in last 180 days", "近180天消费金额"),
    FeatureSpec("spend_365d", "monetary", _V, "Invoice total in the last 365 days.", "CNY",
                "Spend in last 365 days", "近一年消费金额"),
    FeatureSpec("spend_lifetime", "monetary", _V, "Invoice total before T.", "CNY",
                "Spend in total", "累计消费金额"),
    FeatureSpec("spend_recurring_lifetime", "monetary", _V,
                "Invoice total before T without one-off spend: maintenance and warranty "
                "invoices in full; a one-off kind (featurize.one_off_types) or an untyped "
                "invoice up to max(one_off_own_multiple x the customer's median invoice on "
                "earlier days, one_off_floor_cny) (docs/policy.md, Annual value).", "CNY",
                "Recurring spend in total", "累计常规消费金额"),
    FeatureSpec("spend_one_off_lifetime", "monetary", _V,
                "spend_lifetime - spend_recurring_lifetime: the part of one-off invoices "
                "(accidents, big repairs) above the outlier cap.", "CNY",
                "One-off spend in total", "累计一次性消费金额"),
    FeatureSpec("max_invoice_share", "monetary", _V,
                "Largest invoice before T / spend_lifetime (NaN without spend): near 1 = one "
                "invoice is most of the customer's spend.", "share 0-1",
                "Largest invoice's share of spend", "最大单笔消费占比"),
    FeatureSpec("maintenance_share", "frequency", _V,
                "Share of visits with a known type that were maintenance (lifetime).",
                "share 0-1", "Share of maintenance visits", "保养到店占比"),
    FeatureSpec("repair_share", "frequency", _V,
                "Share of visits with a known type that were repair (lifetime).", "share 0-1",
                "Share of repair visits", "维修到店占比"),
    FeatureSpec("visits_trend_180d", "frequency", _V,
                "Visits in [T-180, T) minus visits in [T-360, T-180).", "visits",
                "Change in visits, last vs previous half-year", "近半年到店次数变化"),
    FeatureSpec("spend_trend_180d", "monetary", _V,
                "Spend in [T-180, T) minus spend in [T-360, T-180).", "CNY",
                "Change in spend, last vs previous half-year", "近半年消费金额变化"),
    FeatureSpec("mileage_km_per_day", "usage", _V,
                "(last - first odometer reading) / days between them, readings before T "
                "(needs two readings on different days).", "km/day", "Kilometres driven per day",
                "日均行驶里程"),
    FeatureSpec("wait_minutes_last", "satisfaction", _V,
                "Waiting time at the last visit that recorded one.", "minutes",
                "Waiting time at last visit", "上次到店等待时长"),
    FeatureSpec("wait_minutes_mean_365d", "satisfaction", _V,
                "Mean waiting time over visits in the last 365 days.", "minutes",
                "Average waiting time (last year)", "近一年平均等待时长"),
    FeatureSpec("tenure_days", "customer", _V, "Days from the first service visit to T.",
                "days", "Customer tenure", "客户在店时长"),
    FeatureSpec("observed_history_days", "customer", _V,
                "Days of the store's service history before T (from the first visit in the "
                "data), capped at 365: below 365, tenure and every 365-day window are cut short "
                "by the start of the data, not by the customer.", "days",
                "Store history observed before the date", "可观察的门店历史时长"),
    # app
    FeatureSpec("app_sessions_30d", "app", _A, "App sessions in the last 30 days.", "sessions",
                "App sessions in last 30 days", "近30天App登录次数"),
    FeatureSpec("app_sessions_90d", "app", _A, "App sessions in the last 90 days.", "sessions",
                "App sessions in last 90 days", "近90天App登录次数"),
    FeatureSpec("days_since_last_app_session", "app", _A, "Days from the last app session to T.",
                "days", "Time since last app session", "距上次App登录时长"),
    FeatureSpec("app_inactive", "app", _A,
                "1 if at most 1 app session in the last 30 days (the playbook's 'app "
                "inactive').", "flag 0/1", "App inactive (0-1 sessions last month)",
                "App不活跃（近一月登录0-1次）", "flag"),
    # appointments
    FeatureSpec("appointments_365d", "appointments", _P,
                "Appointments resolved (max(booked, scheduled) date) in the last 365 days.",
                "appointments", "Appointments in last year", "近一年预约次数"),
    FeatureSpec("cancellations_365d", "appointments", _P,
                "Cancelled appointments among appointments_365d.", "appointments",
                "Cancelled appointments (last year)", "近一年取消预约次数"),
    FeatureSpec("no_shows_365d", "appointments", _P,
                "No-show appointments among appointments_365d.", "appointments",
                "Missed appointments (last year)", "近一年爽约次数"),
    FeatureSpec("cancellation_rate_365d", "appointments", _P,
                "cancellations_365d / appointments_365d (NaN without appointments).",
                "share 0-1", "Appointment cancellation rate", "预约取消率"),
    FeatureSpec("no_show_rate_365d", "appointments", _P,
                "no_shows_365d / appointments_365d (NaN without appointments).", "share 0-1",
                "Appointment no-show rate", "预约爽约率"),
    FeatureSpec("days_since_last_booking", "appointments", _P,
                "Days from the last booking (booked_date) to T.", "days",
                "Time since last booking", "距上次预约时长"),
    FeatureSpec("upcoming_appointment", "appointments", _P,
                "1 if an appointment was booked before T for a date on or after T.",
                "flag 0/1", "Has an upcoming appointment", "已有待到店预约", "flag"),
    # satisfaction
    FeatureSpec("survey_score_last", "satisfaction", _S, "Score of the last survey before T.",
                "score 0-10", "Last satisfaction score", "最近一次满意度评分"),
    FeatureSpec("survey_score_mean_365d", "satisfaction", _S,
                "Mean survey score in the last 365 days.", "score 0-10",
                "Average satisfaction (last year)", "近一年平均满意度"),
    FeatureSpec("survey_score_min_365d", "satisfaction", _S,
                "Lowest survey score in the last 365 days.", "score 0-10",
                "Lowest satisfaction (last year)", "近一年最低满意度"),
    FeatureSpec("survey_score_mean", "satisfaction", _S, "Mean of all survey scores before T.",
                "score 0-10", "Average satisfaction (all time)", "历史平均满意度"),
    FeatureSpec("survey_score_trend", "satisfaction", _S,
                "Last survey score minus the one before it.", "score points",
                "Change in satisfaction", "满意度变化"),
    FeatureSpec("complaints_365d", "satisfaction", _C, "Complaints in the last 365 days.",
                "complaints", "Complaints in last year", "近一年投诉次数"),
    FeatureSpec("price_complaints_365d", "satisfaction", _C,
                "Complaints in the last 365 days whose category names price/cost "
                "(NaN if the file has no category column).", "complaints",
                "Price complaints in last year", "近一年价格类投诉次数"),
    FeatureSpec("service_complaints_365d", "satisfaction", _C,
                "complaints_365d - price_complaints_365d: complaints about waits, repairs or "
                "staff (NaN if the file has no category column).", "complaints",
                "Service complaints in last year", "近一年服务类投诉次数"),
    FeatureSpec("days_since_last_complaint", "satisfaction", _C,
                "Days from the last complaint to T.", "days", "Time since last complaint",
                "距上次投诉时长"),
    # consultations
    FeatureSpec("consultations_90d", "consultations", _Q,
                "Consultations (calls, chats with an advisor) in the last 90 days.",
                "consultations", "Consultations in last 90 days", "近90天咨询次数"),
    FeatureSpec("no_consultation_quarter", "consultations", _Q,
                "1 if no consultation in the last 90 days (the playbook's 'no consultation "
                "this quarter').", "flag 0/1", "No consultation this quarter", "本季度无咨询",
                "flag"),
    # outreach
    FeatureSpec("contacts_365d", "outreach", _O,
                "Win-back contacts received (treatment rows) in the last 365 days.",
                "contacts", "Win-back contacts in last year", "近一年召回触达次数"),
    FeatureSpec("days_since_last_contact", "outreach", _O,
                "Days from the last win-back contact (treatment rows) to T.", "days",
                "Time since last win-back contact", "距上次召回触达时长"),
    # contactability: outreach.outcome (docs/data_contract.md, outreach); NaN when the
    # outreach table or its outcome column is not supplied
    FeatureSpec("reported_gone", "contactability", _O,
                "1 if an earlier contact's outcome was car_sold or moved (the owner said the "
                "car is sold or they moved away).", "flag 0/1", "Reported car sold or moved",
                "曾告知已卖车或搬走", "flag"),
    FeatureSpec("dead_number", "contactability", _O,
                "1 if an earlier contact's outcome was wrong_number (number dead or wrong).",
                "flag 0/1", "Phone number not working", "电话号码无效", "flag"),
    FeatureSpec("unreachable_contacts_365d", "contactability", _O,
                "Contacts in the last 365 days with outcome no_answer or wrong_number.",
                "contacts", "Unanswered contacts in last year", "近一年未接通次数"),
    FeatureSpec("declined_contacts_365d", "contactability", _O,
                "Contacts in the last 365 days with outcome declined.", "contacts",
                "Declined contacts in last year", "近一年拒绝沟通次数"),
    FeatureSpec("last_contact_reached", "contactability", _O,
                "1 if the last earlier contact with a recorded outcome reached the person "
                "(outcome reached), 0 if it did not; NaN without one.", "flag 0/1",
                "Last contact reached the customer", "上次触达已联系上", "flag"),
    # customer
    FeatureSpec("vehicle_age_days", "customer", _CU,
                "Days from the vehicle purchase date to T (NaN if unknown or not before T).",
                "days", "Vehicle age", "车龄"),
    FeatureSpec("referrals", "customer", _CU,
                "Customers this one referred (static attribute: the export has no dates, so "
                "it may include referrals made after T).", "customers", "Referrals made",
                "推荐新客户数"),
    FeatureSpec("vehicle_model", "customer", _CU, "Vehicle model.", "category",
                "Vehicle model", "车型", "categorical"),
    FeatureSpec("region", "customer", _CU, "City or sales region.", "category", "Region",
                "地区", "categorical"),
    FeatureSpec("dealer_id", "customer", _CU, "Store (4S shop) of the customer.", "category",
                "Dealer", "经销店", "categorical"),
)  # fmt: skip

#: How a value that was never recorded reads in reason texts and figures.
MISSING_EN = "not recorded"
MISSING_ZH = "无记录"

#: Days per month and per year, for durations read in months or years.
DAYS_PER_MONTH = 365.25 / 12
DAYS_PER_YEAR = 365.25


def _trimmed(x: float, decimals: int, signed: bool) -> str:
    text = f"{x:{'+' if signed else ''},.{decimals}f}"
    if decimals and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", "+0"} else text


def duration_text(days: float, signed: bool = False) -> tuple[str, str]:
    """A number of days as a person says it, in English and Chinese.

    Under 90 days in days ("45 days", "45天"), under two years in months with one decimal
    ("7 months", "3.1个月"), else in years ("9 years", "2.5年"): nobody thinks of a car's age
    as 3,283 days.

    Args:
        days: The duration (negative = that many days overdue, for a due date).
        signed: Show a ``+`` on positive values.

    Returns:
        ``(english, chinese)``.
    """
    a = abs(days)
    if a < 90:
        body, units = _trimmed(days, 0, signed), (" days", " day", "天")
    elif a < 2 * DAYS_PER_YEAR:
        body, units = _trimmed(days / DAYS_PER_MONTH, 1, signed), (" months", " month", "个月")
    else:
        body, units = _trimmed(days / DAYS_PER_YEAR, 1, signed), (" years", " year", "年")
    one = body.lstrip("+-") == "1"
    return body + (units[1] if one else units[0]), body + units[2]


CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "categorical")


def feature_names() -> list[str]:
    """Feature column names in output order (without the keys customer_id, as_of)."""
    return [f.name for f in FEATURES]


def feature_dictionary() -> pd.DataFrame:
    """The feature dictionary as a frame (one row per feature, string columns)."""
    df = pd.DataFrame([asdict(f) for f in FEATURES])
    return df.astype("str")
