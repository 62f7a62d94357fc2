"""Customer features as of a date T, from events strictly before T.

Every event table is indexed once (:func:`features.events.prepare`, a
:class:`features.events.FeatureIndex`): rows are sorted by (customer, day) and turned into
integer day numbers, cumulative sums and a few running statistics. A feature of customer *c*
as of day *t* is then a lookup: the events of *c* before *t* are the contiguous block
``[start[c], pos(c, t))`` found by one binary search, a window ``[t - w, t)`` is
``[pos(c, t - w), pos(c, t))``, counts and sums are differences of cumulative sums. Queries are
vectors of (customer, day) pairs, so one call computes all
customers at one snapshot, or every outreach row at its own contact date, without any
per-customer Python loop and without copying the event tables per snapshot.

Conventions (see ``features/dictionary.py`` for every feature):

* Day granularity: event timestamps are floored to the day; "before T" means day < T.
* "Last N days" is the window ``[T - N, T)``.
* An optional table that is absent gives NaN for all its features (counts too): not
  collected is not zero. If the table is present, a customer without events gets count 0
  and NaN for "days since" / rates / means.
* Appointment statuses are known once the appointment has happened: rates use
  appointments resolved before T (``max(booked, scheduled) < T``); "days since last booking"
  and "upcoming appointment" use ``booked_date < T`` only.
* Outreach "contacts received" counts the treatment group only (control rows were picked
  but deliberately not contacted). Contactability features read ``outreach.outcome`` of
  treatment rows before T (a contact's own outcome never describes its own row); without
  that column they are NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeaturizeConfig
from features.contract import DataSet
from features.dictionary import CATEGORICAL_FEATURES, FEATURES, feature_names
from features.events import FeatureIndex, day_number, prepare, to_days

KEYS = ["customer_id", "as_of"]

#: ``observed_history_days`` stops here: the longest window a feature looks back over.
OBSERVED_HISTORY_CAP_DAYS = 365.0


def _since(t: np.ndarray, day: np.ndarray) -> np.ndarray:
    return t - day  # NaN day stays NaN


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _not_collected(f: dict[str, np.ndarray], signal: str, nan: np.ndarray) -> None:
    # A table that is not collected means "unknown", never zero: every feature the dictionary
    # attributes to that signal is missing.
    for spec in FEATURES:
        if spec.signal == signal:
            f[spec.name] = nan


def compute_features(index: FeatureIndex, codes: np.ndarray, t: np.ndarray) -> pd.DataFrame:
    """Features of (customer, day) pairs, each from that customer's events before that day.

    Args:
        index: The prepared data set.
        codes: Customer codes (positions in ``index.customer_ids``).
        t: Day numbers (see :func:`to_days`), one per code or a scalar.

    Returns:
        One row per pair, columns in :func:`features.dictionary.feature_names` order
        (no key columns; the caller adds them).
    """
    codes = np.asarray(codes, dtype=np.int64)
    t = np.broadcast_to(np.asarray(t, dtype=np.int64), codes.shape)
    tf = t.astype("float64")
    m = len(codes)
    f: dict[str, np.ndarray] = {}
    nan = np.full(m, np.nan)

    _visit_features(f, index, codes, t, tf, nan)
    _app_features(f, index, codes, t, tf, nan)
    _appointment_features(f, index, codes, t, tf, nan)
    _satisfaction_features(f, index, codes, t, tf, nan)
    _consultation_features(f, index, codes, t, tf, nan)
    _outreach_features(f, index, codes, t, tf, nan)

    # --- customer ---
    cust = index.customers
    purchase = to_days(cust["vehicle_purchase_date"])[codes]
    known = (purchase != np.iinfo(np.int64).min) & (purchase < t)
    f["vehicle_age_days"] = np.where(known, tf - purchase.astype("float64"), np.nan)
    f["referrals"] = cust["referrals"].to_numpy(dtype="float64")[codes]

    out = pd.DataFrame(f)
    for col in CATEGORICAL_FEATURES:
        values = cust[col].to_numpy(dtype=object)[codes]
        out[col] = pd.Categorical(values, categories=index.categories[col])
    return out[feature_names()]


def _visit_features(
    f: dict[str, np.ndarray],
    index: FeatureIndex,
    codes: np.ndarray,
    t: np.ndarray,
    tf: np.ndarray,
    nan: np.ndarray,
) -> None:
    """Recency, frequency, monetary value, mileage, waits, tenure and the service schedule."""
    ev = index.events
    vis = ev["visits"]
    v0, vt = vis.first(codes), vis.pos(codes, t)
    has = vt > v0
    last_visit = vis.at(vt - 1, has)
    f["days_since_last_visit"] = _since(tf, last_visit)
    pv = ev["paid_visits"]
    p_end = pv.pos(codes, t)
    f["days_since_last_paid_visit"] = _since(tf, pv.at(p_end - 1, p_end > pv.first(codes)))
    gp = ev["gaps"]
    g_end = gp.pos(codes, t)
    med = gp.at(g_end - 1, g_end > gp.first(codes), "median_gap")
    f["median_visit_interval_days"] = med
    f["recency_interval_ratio"] = _ratio(f["days_since_last_visit"], med)
    pos_w = {w: vis.pos(codes, t - w) for w in (90, 180, 360, 365)}
    for w in (90, 180, 365):
        f[f"visits_{w}d"] = vis.count(pos_w[w], vt)
    f["visits_lifetime"] = vis.count(v0, vt)
    for w in (90, 180, 365):
        f[f"spend_{w}d"] = vis.sum(pos_w[w], vt, "amount")
    f["spend_lifetime"] = vis.sum(v0, vt, "amount")
    # Recurring, necessary spend vs one-off invoices (features.events._recurring_part).
    f["spend_recurring_lifetime"] = vis.sum(v0, vt, "recurring")
    f["spend_one_off_lifetime"] = vis.sum(v0, vt, "one_off")
    f["max_invoice_share"] = _ratio(vis.at(vt - 1, has, "max_amount"), f["spend_lifetime"])
    n_typed = vis.count(v0, vt, "typed")
    f["maintenance_share"] = _ratio(vis.sum(v0, vt, "maintenance"), n_typed)
    f["repair_share"] = _ratio(vis.sum(v0, vt, "repair"), n_typed)
    f["visits_trend_180d"] = f["visits_180d"] - vis.count(pos_w[360], pos_w[180])
    f["spend_trend_180d"] = f["spend_180d"] - vis.sum(pos_w[360], pos_w[180], "amount")
    mk = ev["mileage"]
    k0, kt = mk.first(codes), mk.pos(codes, t)
    two = kt - k0 >= 2
    km_days = mk.at(kt - 1, two) - mk.at(k0, two)
    km_diff = mk.at(kt - 1, two, "km") - mk.at(k0, two, "km")
    f["mileage_km_per_day"] = np.where(
        km_days > 0, km_diff / np.where(km_days > 0, km_days, 1), nan
    )
    wt = ev["waits"]
    w0, wend = wt.first(codes), wt.pos(codes, t)
    f["wait_minutes_last"] = wt.at(wend - 1, wend > w0, "wait")
    f["wait_minutes_mean_365d"] = wt.mean(wt.pos(codes, t - 365), wend, "wait")
    f["tenure_days"] = _since(tf, vis.at(v0, has))
    # How much of the store's history the data hold before t: a customer "seen for 4 months"
    # in a data set that starts 4 months before t is not a new customer.
    f["observed_history_days"] = (
        np.clip(tf - index.data_start_day, 0.0, OBSERVED_HISTORY_CAP_DAYS)
        if index.data_start_day is not None
        else nan
    )
    mt = ev["maintenance"]
    m_end = mt.pos(codes, t)
    f["days_since_last_maintenance"] = _since(tf, mt.at(m_end - 1, m_end > mt.first(codes)))
    mg = ev["maintenance_gaps"]
    mg_end = mg.pos(codes, t)
    f["maintenance_interval_days"] = mg.at(mg_end - 1, mg_end > mg.first(codes), "median_gap")
    due = f["maintenance_interval_days"] - f["days_since_last_maintenance"]
    # Without two maintenance visits, fall back to the rhythm of all visits.
    f["days_until_service_due"] = np.where(
        np.isnan(due), f["median_visit_interval_days"] - f["days_since_last_visit"], due
    )


def _app_features(
    f: dict[str, np.ndarray],
    index: FeatureIndex,
    codes: np.ndarray,
    t: np.ndarray,
    tf: np.ndarray,
    nan: np.ndarray,
) -> None:
    """App sessions (missing when the table is not collected)."""
    ev = index.events
    cfg = index.config
    if "app" in ev:
        app = ev["app"]
        a0, aend = app.first(codes), app.pos(codes, t)
        f["app_sessions_30d"] = app.sum(app.pos(codes, t - 30), aend, "sessions")
        f["app_sessions_90d"] = app.sum(app.pos(codes, t - 90), aend, "sessions")
        f["days_since_last_app_session"] = _since(tf, app.at(aend - 1, aend > a0))
        f["app_inactive"] = (f["app_sessions_30d"] <= cfg.app_inactive_max_sessions).astype(float)
    else:
        _not_collected(f, "app_sessions", nan)


def _appointment_features(
    f: dict[str, np.ndarray],
    index: FeatureIndex,
    codes: np.ndarray,
    t: np.ndarray,
    tf: np.ndarray,
    nan: np.ndarray,
) -> None:
    """Bookings, cancellations, no-shows and appointments still to come."""
    ev = index.events
    if "appointments" in ev:
        ap, bk = ev["appointments"], ev["bookings"]
        aend = ap.pos(codes, t)
        astart = ap.pos(codes, t - 365)
        n_app = ap.count(astart, aend)
        f["appointments_365d"] = n_app
        f["cancellations_365d"] = ap.sum(astart, aend, "cancelled")
        f["no_shows_365d"] = ap.sum(astart, aend, "no_show")
        f["cancellation_rate_365d"] = _ratio(f["cancellations_365d"], n_app)
        f["no_show_rate_365d"] = _ratio(f["no_shows_365d"], n_app)
        bend = bk.pos(codes, t)
        f["days_since_last_booking"] = _since(tf, bk.at(bend - 1, bend > bk.first(codes)))
        # booked before T but not yet resolved: an appointment still to come
        f["upcoming_appointment"] = (
            bk.count(bk.first(codes), bend) - ap.count(ap.first(codes), aend) > 0
        ).astype(float)
    else:
        _not_collected(f, "appointments", nan)


def _satisfaction_features(
    f: dict[str, np.ndarray],
    index: FeatureIndex,
    codes: np.ndarray,
    t: np.ndarray,
    tf: np.ndarray,
    nan: np.ndarray,
) -> None:
    """Survey scores and complaints."""
    ev = index.events
    if "surveys" in ev:
        sv = ev["surveys"]
        s0, send = sv.first(codes), sv.pos(codes, t)
        sstart = sv.pos(codes, t - 365)
        f["survey_score_last"] = sv.at(send - 1, send > s0, "score")
        f["survey_score_mean_365d"] = sv.mean(sstart, send, "score")
        f["survey_score_min_365d"] = sv.min(sstart, send, "score")
        f["survey_score_mean"] = sv.mean(s0, send, "score")
        f["survey_score_trend"] = f["survey_score_last"] - sv.at(send - 2, send - 2 >= s0, "score")
    else:
        _not_collected(f, "surveys", nan)
    if "complaints" in ev:
        cp = ev["complaints"]
        c0, cend = cp.first(codes), cp.pos(codes, t)
        cstart = cp.pos(codes, t - 365)
        f["complaints_365d"] = cp.count(cstart, cend)
        price_known = "category" in index.columns_present.get("complaints", ())
        f["price_complaints_365d"] = cp.sum(cstart, cend, "price") if price_known else nan
        f["days_since_last_complaint"] = _since(tf, cp.at(cend - 1, cend > c0))
        f["service_complaints_365d"] = f["complaints_365d"] - f["price_complaints_365d"]
    else:
        _not_collected(f, "complaints", nan)


def _consultation_features(
    f: dict[str, np.ndarray],
    index: FeatureIndex,
    codes: np.ndarray,
    t: np.ndarray,
    tf: np.ndarray,
    nan: np.ndarray,
) -> None:
    """Consultations in the last quarter."""
    ev = index.events
    if "consultations" in ev:
        cs = ev["consultations"]
        f["consultations_90d"] = cs.count(cs.pos(codes, t - 90), cs.pos(codes, t))
        f["no_consultation_quarter"] = (f["consultations_90d"] == 0).astype(float)
    else:
        _not_collected(f, "consultations", nan)


def _outreach_features(
    f: dict[str, np.ndarray],
    index: FeatureIndex,
    codes: np.ndarray,
    t: np.ndarray,
    tf: np.ndarray,
    nan: np.ndarray,
) -> None:
    """Past contacts and what they found (contactability)."""
    ev = index.events
    if "contacts" in ev:
        ct = ev["contacts"]
        cend = ct.pos(codes, t)
        f["contacts_365d"] = ct.count(ct.pos(codes, t - 365), cend)
        f["days_since_last_contact"] = _since(tf, ct.at(cend - 1, cend > ct.first(codes)))
    else:
        _not_collected(f, "outreach", nan)
    if "outcomes" in ev:
        oc = ev["outcomes"]
        o0, oend = oc.first(codes), oc.pos(codes, t)
        ostart = oc.pos(codes, t - 365)
        f["reported_gone"] = (oc.sum(o0, oend, "gone") > 0).astype(float)
        f["dead_number"] = (oc.sum(o0, oend, "dead") > 0).astype(float)
        f["unreachable_contacts_365d"] = oc.sum(ostart, oend, "unreachable")
        f["declined_contacts_365d"] = oc.sum(ostart, oend, "declined")
        f["last_contact_reached"] = oc.at(oend - 1, oend > o0, "reached")
    else:  # no outreach table, or one without the outcome column: not collected
        for spec in FEATURES:
            if spec.family == "contactability":
                f[spec.name] = nan


def build_features(
    data: DataSet | None,
    as_of: str | pd.Timestamp,
    config: FeaturizeConfig | None = None,
    *,
    index: FeatureIndex | None = None,
) -> pd.DataFrame:
    """One feature row per customer as of ``as_of``, from events strictly before it.

    Args:
        data: The validated data set (may be None when ``index`` is given).
        as_of: The as-of date T (time of day is ignored).
        config: Settings; defaults when None.
        index: A :func:`prepare` result to reuse across dates (faster for many dates).

    Returns:
        Columns ``customer_id``, ``as_of`` (datetime64[ns]) and the dictionary's features,
        one row per customer in ``customers``, sorted by ``customer_id``.
    """
    if index is None and data is None:
        raise ValueError("build_features needs a data set or a prepared index")
    idx = index if index is not None else prepare(data, config)  # type: ignore[arg-type]
    t = day_number(as_of)
    feats = compute_features(idx, np.arange(idx.n_customers), t)
    keys = pd.DataFrame(
        {
            "customer_id": pd.Series(idx.customer_ids, dtype="str"),
            "as_of": pd.Series(
                np.full(idx.n_customers, pd.Timestamp(as_of).normalize().to_datetime64())
            ).astype("datetime64[ns]"),
        }
    )
    return pd.concat([keys, feats], axis=1)
