"""The store's weekly KPI board: the figures a store manager checks every week (:func:`kpi_board`).

Every figure is taken for the week ending on the as-of date T and for the week before, in
the as-of convention of ``winback score``: T is the day after the last day of data, so

* this week = ``[T − 7, T)`` and last week = ``[T − 14, T − 7)`` (``kpi.week_days`` = 7);
* an event dated T itself is not counted (point in time: a figure as of T uses only events
  before T).

Each figure has this week's and last week's value, the change (this − last) and the %
change (change ÷ last; None when last week is 0 or either value is missing, and None for
shares and rates, whose change is in percentage points). Figures are per dealer
(``customers.dealer_id`` for service figures, ``leads.dealer_id`` for leads), plus an
all-stores row (dealer :data:`ALL_STORES`) when the data has several dealers; per-person
figures (advisors, consultants) are per dealer only.

The sections (the rows of :attr:`KpiBoard.figures` by ``section``; docs/report.md has each
definition with its window and denominator):

* ``service``: repair orders per day, average invoice and total revenue of the visits in
  the week;
* ``mix``: share of the week's visits by ``visit_type``;
* ``stages``: customers with a visit before T by lapse stage at T and at T − 7 (days since
  the last visit; ``score.segments.stage_bounds``), as counts and shares — by lapse only:
  the CRM's ``pre_churn`` needs the churn model;
* ``winback``: outreach rows whose response window ``(contact, contact + window]`` ends in
  the last ``kpi.winback_days`` (30) days, against the 30 days before (not the week: a
  store's campaigns are monthly, so most weeks close no window), share with a visit in the
  window, treatment vs control and the difference;
* ``leads`` and ``loss_reasons``: leads whose ``status_date`` falls in the week, won ÷
  (won + lost), and the lost leads' primary reason (the first code of ``lost_reasons``);
* ``advisors`` (``service_visits.advisor_id``) and ``consultants`` (``leads.consultant_id``).

A section whose table or column is absent has no rows and is named in
:attr:`KpiBoard.not_collected` with what is missing: "not collected", never 0. The frames
carry no personal data: only ids, dates, amounts and codes are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.contract import CODE_SEPARATOR
from features.vocabulary import ACTIVE, DEEP, EARLY, LOST

#: The dealer of the all-stores rows.
ALL_STORES = "(all)"
#: The item of rows whose advisor, consultant, visit type or loss reason is blank.
NOT_RECORDED = "(not recorded)"
#: The dealer where the data names none (the contract's default of ``dealer_id``).
DEFAULT_DEALER = "default"
#: The board's sections, in the order the report shows them.
SECTIONS = (
    "service",
    "mix",
    "stages",
    "winback",
    "leads",
    "loss_reasons",
    "advisors",
    "consultants",
)
#: The lapse stages the board counts, in drifting order.
LAPSE_STAGES = (ACTIVE, EARLY, DEEP, LOST)
#: The columns of :attr:`KpiBoard.figures`.
COLUMNS = (
    "section",
    "dealer_id",
    "item",
    "figure",
    "this_week",
    "last_week",
    "change",
    "pct_change",
    "n_this_week",
    "n_last_week",
)
#: Figures that are shares or rates: their change is in points, with no % change.
SHARE_FIGURES = frozenset({"share", "rate", "conversion"})
#: A week ``[start, end)``; the board's two weeks, this week first.
Window = tuple[pd.Timestamp, pd.Timestamp]
Weeks = tuple[Window, Window]
#: A week's figures: (item, figure) -> (value, its count: orders, customers, contacts, leads).
Cells = dict[tuple[str, str], tuple[float | None, int | None]]
#: The figures of one store's rows of one week.
Measure = Callable[[pd.DataFrame], Cells]

#: The outreach groups, and the row of their difference (treatment − control).
GROUPS = ("treatment", "control")
DIFFERENCE = "difference"


@dataclass(frozen=True)
class KpiConfig:
    """The ``kpi:`` params block.

    Attributes:
        week_days: Days in a week of the board (this week = ``[T − week_days, T)``).
        top_people: Advisors and consultants the report lists (most repair orders / closed
            leads this week first); the board itself keeps everyone.
        winback_days: The win-back rate's period: contacts whose response window ended in
            ``[T − winback_days, T)``, against the ``winback_days`` before. Longer than a
            week because stores run campaigns monthly or less often, so in most weeks no
            contact's window ends and a weekly rate would be empty.
    """

    week_days: int = 7
    top_people: int = 10
    winback_days: int = 30

    def __post_init__(self) -> None:
        for name in ("week_days", "top_people", "winback_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"kpi.{name} must be a whole number >= 1, got {value!r}")


@dataclass(frozen=True)
class KpiBoard:
    """The week's figures as of T.

    Attributes:
        as_of: T: this week ends the day before.
        week_days: Days in a week of the board.
        figures: One row per section, dealer, item and figure (:data:`COLUMNS`).
        not_collected: Section -> the table or column it needs that the data lacks.
        dealers: The dealers, sorted (the all-stores row is added when there are several).
        window_days: The win-back response window (days after the contact).
        stage_bounds: Days since the last visit where early, deep and lost start.
        winback_days: The win-back rate's period (:attr:`KpiConfig.winback_days`).
    """

    as_of: pd.Timestamp
    week_days: int
    figures: pd.DataFrame
    not_collected: dict[str, str]
    dealers: tuple[str, ...]
    window_days: int = 60
    stage_bounds: tuple[int, ...] = (90, 180, 365)
    winback_days: int = 30

    @property
    def stores(self) -> tuple[str, ...]:
        """The dealers of the store sections: all stores first when there are several."""
        return ((ALL_STORES,) if len(self.dealers) > 1 else ()) + self.dealers

    def weeks(self) -> Weeks:
        """This week and last week as ``[start, end)`` pairs."""
        return _weeks(self.as_of, self.week_days)

    def value(
        self,
        section: str,
        figure: str,
        item: str = "",
        dealer: str | None = None,
        column: str = "this_week",
    ) -> Any:
        """One value of :attr:`figures` (dealer None: the only dealer, else all stores).

        Raises:
            KeyError: No such row.
        """
        dealer = dealer or (ALL_STORES if len(self.dealers) > 1 else self.dealers[0])
        f = self.figures
        hit = f[
            (f["section"] == section)
            & (f["dealer_id"] == dealer)
            & (f["item"] == item)
            & (f["figure"] == figure)
        ]
        if len(hit) != 1:
            raise KeyError(f"no KPI row {section}/{dealer}/{item}/{figure}")
        value = hit[column].iloc[0]
        return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def default_as_of(visits: pd.DataFrame) -> pd.Timestamp:
    """The day after the last service visit (``winback score``'s default convention).

    Raises:
        ValueError: No visit.
    """
    if visits.empty:
        raise ValueError("service_visits has no rows: give the as-of date")
    return pd.Timestamp(visits["visit_date"].max()).normalize() + pd.Timedelta(days=1)


def _weeks(as_of: pd.Timestamp, days: int) -> Weeks:
    week = pd.Timedelta(days=days)
    return (as_of - week, as_of), (as_of - 2 * week, as_of - week)


def _row(
    section: str,
    dealer: str,
    item: str,
    figure: str,
    this: tuple[float | None, int | None],
    last: tuple[float | None, int | None],
) -> dict[str, Any]:
    """One board row; change and % change follow from the two weeks' values."""
    (a, n_a), (b, n_b) = this, last
    change = None if a is None or b is None else a - b
    pct = None
    if change is not None and figure not in SHARE_FIGURES and b != 0:
        pct = change / b
    return dict(
        zip(COLUMNS, (section, dealer, item, figure, a, b, change, pct, n_a, n_b), strict=True)
    )


def _stores(frame: pd.DataFrame, dealers: tuple[str, ...]) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each dealer's rows, and all rows as :data:`ALL_STORES` when there are several."""
    if len(dealers) > 1:
        yield ALL_STORES, frame
    for dealer in dealers:
        yield dealer, frame[frame["dealer_id"] == dealer]


def _in(frame: pd.DataFrame, column: str, window: Window) -> pd.DataFrame:
    start, end = window
    return frame[(frame[column] >= start) & (frame[column] < end)]


def _share(count: float, n: int) -> float | None:
    return count / n if n else None


def _mean(total: float, n: int) -> float | None:
    return total / n if n else None


def _labels(values: pd.Series) -> pd.Series:
    """Ids or codes as text, blanks as :data:`NOT_RECORDED`."""
    text = values.astype("object").where(values.notna(), None)
    text = text.map(lambda x: NOT_RECORDED if x is None or str(x).strip() == "" else str(x))
    return text.astype("object")


def _ranked(values: pd.Series) -> list[str]:
    """Items by count over both weeks (most first), then by name; blanks last."""
    counts = values.value_counts()
    items = sorted(counts.index, key=lambda x: (x == NOT_RECORDED, -counts[x], x))
    return [str(x) for x in items]


def _weekly(
    section: str,
    frame: pd.DataFrame,
    column: str,
    board_weeks: Weeks,
    dealers: tuple[str, ...],
    measure: Measure,
) -> list[dict[str, Any]]:
    """Rows of ``section``: ``measure`` of each store's rows of this week and last week."""
    rows = []
    for dealer, rows_of in _stores(frame, dealers):
        this, last = (measure(_in(rows_of, column, w)) for w in board_weeks)
        for item, figure in this:
            rows.append(_row(section, dealer, item, figure, this[item, figure], last[item, figure]))
    return rows


def _service(days: int) -> Measure:
    def measure(w: pd.DataFrame) -> Cells:
        n, total = len(w), float(w["amount"].sum())
        return {
            ("", "orders_per_day"): (n / days, n),
            ("", "avg_invoice"): (_mean(total, n), n),
            ("", "revenue"): (total, n),
        }

    return measure


def _shares(column: str, items: list[str]) -> Measure:
    def measure(w: pd.DataFrame) -> Cells:
        counts, n = w[column].value_counts(), len(w)
        return {(i, "share"): (_share(float(counts.get(i, 0)), n), n) for i in items}

    return measure


def _counts(column: str, items: list[str]) -> Measure:
    def measure(w: pd.DataFrame) -> Cells:
        counts, n = w[column].value_counts(), len(w)
        return {(i, "count"): (float(counts.get(i, 0)), n) for i in items}

    return measure


def _stage_rows(
    customers: pd.DataFrame,
    visits: pd.DataFrame,
    as_of: pd.Timestamp,
    days: int,
    bounds: tuple[int, ...],
    dealers: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Customers by lapse stage at T (this week) and at T − days (last week)."""
    b1, b2, b3 = (int(b) for b in bounds)
    stages = []
    for when in (as_of, as_of - pd.Timedelta(days=days)):
        last = visits[visits["visit_date"] < when].groupby("customer_id")["visit_date"].max()
        lapse = (when - last).dt.days
        stage = pd.cut(lapse, [0, b1, b2, b3, float("inf")], right=False, labels=LAPSE_STAGES)
        stages.append(customers.merge(stage.rename("stage").reset_index(), on="customer_id"))
    rows = []
    for dealer, _ in _stores(customers, dealers):
        now, before = (s if dealer == ALL_STORES else s[s["dealer_id"] == dealer] for s in stages)
        counts = [s["stage"].value_counts() for s in (now, before)]
        n = (len(now), len(before))
        for stage in LAPSE_STAGES:
            c = [float(k.get(stage, 0)) for k in counts]
            rows.append(_row("stages", dealer, stage, "customers", (c[0], n[0]), (c[1], n[1])))
            shares = [(_share(c[i], n[i]), n[i]) for i in (0, 1)]
            rows.append(_row("stages", dealer, stage, "share", shares[0], shares[1]))
    return rows


def _winback_rows(
    outreach: pd.DataFrame,
    visits: pd.DataFrame,
    board_weeks: Weeks,
    window: int,
    dealers: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Win-back rate of the contacts whose response window ends in the period, by group."""
    span = pd.Timedelta(days=window)
    o = outreach.reset_index(drop=True).assign(window_end=lambda d: d["contact_date"] + span)
    earliest = board_weeks[1][0]
    o = o[(o["window_end"] >= earliest) & (o["window_end"] < board_weeks[0][1])]
    pairs = o.reset_index().merge(visits[["customer_id", "visit_date"]], on="customer_id")
    hit = (pairs["visit_date"] > pairs["contact_date"]) & (
        pairs["visit_date"] <= pairs["window_end"]
    )
    o = o.assign(returned=o.index.isin(pairs.loc[hit, "index"]))

    def measure(w: pd.DataFrame) -> Cells:
        out: Cells = {}
        for group in GROUPS:
            g = w[w["group"] == group]
            out[group, "rate"] = (_share(float(g["returned"].sum()), len(g)), len(g))
        t, c = out["treatment", "rate"][0], out["control", "rate"][0]
        out[DIFFERENCE, "rate"] = (None if t is None or c is None else t - c, None)
        return out

    return _weekly("winback", o, "window_end", board_weeks, dealers, measure)


def _lead_measure(w: pd.DataFrame) -> Cells:
    won, lost = int((w["status"] == "won").sum()), int((w["status"] == "lost").sum())
    return {
        ("", "won"): (float(won), won + lost),
        ("", "lost"): (float(lost), won + lost),
        ("", "conversion"): (_share(won, won + lost), won + lost),
    }


def _people_rows(
    section: str,
    frame: pd.DataFrame,
    column: str,
    board_weeks: Weeks,
    measure: Measure,
) -> list[dict[str, Any]]:
    """Per (dealer, person) rows of the people in either week."""
    both = _in(frame, column, (board_weeks[1][0], board_weeks[0][1]))
    keys = both[["dealer_id", "person"]].drop_duplicates().sort_values(["dealer_id", "person"])
    weeks = [_in(frame, column, w) for w in board_weeks]
    rows = []
    for dealer, person in keys.itertuples(index=False):
        this, last = (
            measure(w[(w["dealer_id"] == dealer) & (w["person"] == person)]) for w in weeks
        )
        for (_, figure), value in this.items():
            rows.append(_row(section, dealer, person, figure, value, last["", figure]))
    return rows


def _orders_measure(w: pd.DataFrame) -> Cells:
    n, total = len(w), float(w["amount"].sum())
    return {
        ("", "orders"): (float(n), n),
        ("", "revenue"): (total, n),
        ("", "avg_invoice"): (_mean(total, n), n),
    }


def _with_dealer(frame: pd.DataFrame) -> pd.DataFrame:
    if "dealer_id" not in frame.columns:
        return frame.assign(dealer_id=DEFAULT_DEALER)
    return frame.assign(dealer_id=_labels(frame["dealer_id"]).replace(NOT_RECORDED, DEFAULT_DEALER))


def kpi_board(
    tables: Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp | str | None = None,
    config: KpiConfig | None = None,
    *,
    stage_bounds: tuple[int, ...] = (90, 180, 365),
    response_window_days: int = 60,
) -> KpiBoard:
    """The KPI board of a store's tables as of T.

    Args:
        tables: Valid rows by table name: ``customers`` and ``service_visits`` at least;
            ``outreach`` and ``leads`` when collected. A column absent from a frame is not
            collected (the caller drops the optional columns its files did not have).
        as_of: T (None: the day after the last service visit, :func:`default_as_of`).
        config: The ``kpi:`` settings.
        stage_bounds: Days since the last visit where early, deep and lost start
            (``score.segments.stage_bounds``).
        response_window_days: The win-back window (``featurize.response_window_days``).

    Returns:
        The board: this week's and last week's figures per dealer and section.

    Raises:
        ValueError: No service visit and no as-of date.
    """
    cfg = config or KpiConfig()
    customers = _with_dealer(
        tables["customers"][[c for c in ("customer_id", "dealer_id") if c in tables["customers"]]]
    )
    visits = tables["service_visits"]
    when = default_as_of(visits) if as_of is None else pd.Timestamp(as_of).normalize()
    board_weeks = _weeks(when, cfg.week_days)
    keep = [
        c
        for c in ("customer_id", "visit_date", "amount", "visit_type", "advisor_id")
        if c in visits
    ]
    visits = visits[keep].merge(customers, on="customer_id", how="inner")
    leads = tables.get("leads")
    if leads is not None:
        leads = _with_dealer(leads)
    dealer_ids = set(customers["dealer_id"]) | (set() if leads is None else set(leads["dealer_id"]))
    dealers = tuple(sorted(str(d) for d in dealer_ids)) or (DEFAULT_DEALER,)
    both = _in(visits, "visit_date", (board_weeks[1][0], board_weeks[0][1]))
    missing: dict[str, str] = {}

    rows = _weekly("service", visits, "visit_date", board_weeks, dealers, _service(cfg.week_days))
    if "visit_type" in visits.columns:
        typed = visits.assign(visit_type=_labels(visits["visit_type"]))
        items = _ranked(_labels(both["visit_type"]))
        rows += _weekly(
            "mix", typed, "visit_date", board_weeks, dealers, _shares("visit_type", items)
        )
    else:
        missing["mix"] = "service_visits.visit_type"
    rows += _stage_rows(customers, visits, when, cfg.week_days, stage_bounds, dealers)
    outreach = tables.get("outreach")
    if outreach is not None:
        o = outreach[["customer_id", "contact_date", "group"]].merge(customers, on="customer_id")
        periods = _weeks(when, cfg.winback_days)
        rows += _winback_rows(o, visits, periods, response_window_days, dealers)
    else:
        missing["winback"] = "outreach"
    rows += _lead_rows(leads, board_weeks, dealers, missing)
    if "advisor_id" in visits.columns:
        people = visits.assign(person=_labels(visits["advisor_id"]))
        rows += _people_rows("advisors", people, "visit_date", board_weeks, _orders_measure)
    else:
        missing["advisors"] = "service_visits.advisor_id"
    # object columns: a figure that does not exist (an average of no invoice) stays None
    figures = pd.DataFrame(
        {c: pd.Series([r[c] for r in rows], dtype="object") for c in COLUMNS}, columns=COLUMNS
    )
    return KpiBoard(
        when,
        cfg.week_days,
        figures,
        missing,
        dealers,
        response_window_days,
        tuple(int(b) for b in stage_bounds),
        cfg.winback_days,
    )


def _lead_rows(
    leads: pd.DataFrame | None,
    board_weeks: Weeks,
    dealers: tuple[str, ...],
    missing: dict[str, str],
) -> list[dict[str, Any]]:
    """Lead conversion, loss reasons and consultants (``missing`` gets what is absent)."""
    if leads is None:
        missing.update(leads="leads", loss_reasons="leads", consultants="leads")
        return []
    closed = leads[leads["status"].isin(("won", "lost"))]
    rows = _weekly("leads", closed, "status_date", board_weeks, dealers, _lead_measure)
    lost = closed[closed["status"] == "lost"]
    if "lost_reasons" in lost.columns:
        first = (
            lost["lost_reasons"]
            .astype("object")
            .map(
                lambda x: (
                    None if x is None or pd.isna(x) else str(x).split(CODE_SEPARATOR)[0].strip()
                )
            )
        )
        lost = lost.assign(reason=_labels(first))
        both = _in(lost, "status_date", (board_weeks[1][0], board_weeks[0][1]))
        counts = _counts("reason", _ranked(both["reason"]))
        rows += _weekly("loss_reasons", lost, "status_date", board_weeks, dealers, counts)
    else:
        missing["loss_reasons"] = "leads.lost_reasons"
    if "consultant_id" in closed.columns:
        people = closed.assign(person=_labels(closed["consultant_id"]))
        rows += _people_rows("consultants", people, "status_date", board_weeks, _lead_measure)
    else:
        missing["consultants"] = "leads.consultant_id"
    return rows
