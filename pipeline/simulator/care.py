"""The care data of the simulated store: insurance, birthdays, plates, advisors, care messages.

What the care stage and the KPI board read (docs/data_contract.md, care data): each
customer's insurance expiry, birthday and licence plate, the service advisor of every visit,
and a log of the care messages the store already sent (maintenance reminders, insurance
renewal reminders, birthday greetings). All of it is drawn **after** the simulation, from a
generator of its own (``SeedSequence([seed, CARE_STREAM])``), and from the finished tables
only: the simulated owners never see these messages, so every other table and the truth are
the same with or without the care data, and the log carries no effect to measure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.simulator.config import SimulationConfig
from pipeline.simulator.names import VEHICLE_MODELS

#: Spawn key of the care stream: SeedSequence([seed, CARE_STREAM]) meets neither the
#: after-sales generator (PCG64(seed)) nor the outcome and showroom streams.
CARE_STREAM = 0xCA7E
#: Share of visits taken by the customer's regular advisor (the others: another advisor of
#: the same dealer, e.g. on the regular one's day off).
REGULAR_ADVISOR_SHARE = 0.85
BIRTHDAY_MISSING = 0.15
INSURANCE_MISSING = 0.10
#: Share of customers whose recorded policy is an older one (renewed elsewhere since): the
#: recorded expiry is the first one after the end date minus up to a year, so may be past.
INSURANCE_STALE = 0.15
PLATE_MISSING = 0.03
#: Plate prefixes (province + city letter) by region code, cycled: a Guangdong store group.
PLATE_PREFIXES = ("粤B", "粤A", "粤S", "粤E", "粤C", "粤L", "粤T", "粤K")
#: Letters of a Chinese plate (no I or O: they read as 1 and 0).
PLATE_LETTERS = tuple("ABCDEFGHJKLMNPQRSTUVWXYZ")
#: Share of customers in the store's care programme (only they get care messages).
ENROLLED_SHARE = 0.6
#: A maintenance reminder goes out this many days (plus up to two weeks) after a maintenance
#: visit not followed by another visit, with probability MAINTENANCE_SEND.
REMINDER_AFTER_DAYS, MAINTENANCE_SEND = 150, 0.7
#: Insurance reminders: 15 to 30 days before each expiry, with probability INSURANCE_SEND.
INSURANCE_SEND = 0.5
#: Birthday greetings: to premium-model owners mostly.
BIRTHDAY_SEND_PREMIUM, BIRTHDAY_SEND_OTHER = 0.8, 0.1
TRIGGERS = ("maintenance_due", "insurance_expiry", "birthday")
CARE_CHANNELS = ("sms", "phone", "wechat")
#: P(channel) per trigger, in CARE_CHANNELS order.
CHANNEL_PROBS = {
    "maintenance_due": (0.6, 0.1, 0.3),
    "insurance_expiry": (0.2, 0.6, 0.2),
    "birthday": (0.4, 0.0, 0.6),
}


def care_tables(
    config: SimulationConfig, customers: pd.DataFrame, visits: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The customers and service_visits tables with their care columns, and care_contacts.

    The draws, in this order: per customer the regular advisor, the birthday, the insurance
    record and the plate; per visit its advisor; then the care messages. Same seed and tables,
    same bytes.

    Args:
        config: The simulation settings (``seed``, ``end_date``, ``years``,
            ``care_advisors_per_dealer``).
        customers: The simulated customers table (``dealer_id``, ``region``,
            ``vehicle_model``, ``vehicle_purchase_date``).
        visits: The simulated service_visits table, sorted by (customer_id, visit_date).

    Returns:
        ``{"customers": ..., "service_visits": ..., "care_contacts": ...}``: the two tables
        with ``insurance_expiry_date``, ``birthday``, ``plate`` and ``advisor_id`` appended
        (every other column unchanged), and the care message log.
    """
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([config.seed, CARE_STREAM])))
    n = len(customers)
    end = _days(pd.Series([pd.Timestamp(config.end_date).normalize()]))[0]
    start = (
        _days(pd.Series([pd.Timestamp(config.end_date) - pd.DateOffset(years=config.years)]))[0] + 1
    )
    purchase = _days(customers["vehicle_purchase_date"])
    n_adv = max(1, int(config.care_advisors_per_dealer))
    regular = rng.integers(0, n_adv, n)
    birth_doy, birthday = _birthdays(rng, n)
    expiry = _insurance_expiry(rng, purchase, end)
    plate = _plates(rng, customers["region"])

    dealer_codes, dealers = pd.factorize(customers["dealer_id"], sort=True)
    vocab = [f"{d}-A{a + 1:02d}" for d in dealers for a in range(n_adv)]
    cust = pd.Index(customers["customer_id"]).get_indexer(visits["customer_id"])
    own = rng.random(len(visits)) < REGULAR_ADVISOR_SHARE
    other = (regular[cust] + rng.integers(1, max(n_adv, 2), len(visits))) % n_adv
    advisor = np.where(own | (n_adv == 1), regular[cust], other)

    out_customers = customers.copy()
    out_customers["insurance_expiry_date"] = _dates(expiry)
    out_customers["birthday"] = birthday
    out_customers["plate"] = plate
    out_visits = visits.copy()
    out_visits["advisor_id"] = _take(vocab, dealer_codes[cust] * n_adv + advisor)
    doy = np.where(birthday.isna().to_numpy(), -1, birth_doy)
    contacts = _care_contacts(rng, customers, visits, cust, doy, expiry, purchase, start, end)
    return {"customers": out_customers, "service_visits": out_visits, "care_contacts": contacts}


#: ``MM-DD`` of each day of a leap year (day 59 is 29 February).
_LEAP_DAYS = tuple(pd.date_range("2000-01-01", "2000-12-31", freq="D").strftime("%m-%d").tolist())


def _birthdays(rng: np.random.Generator, n: int) -> tuple[np.ndarray, pd.Series]:
    """A uniform day of a leap year (so 29 February occurs) and its ``MM-DD``, some missing."""
    doy = rng.integers(0, 366, n)
    missing = rng.random(n) < BIRTHDAY_MISSING
    return doy, _take(_LEAP_DAYS, doy).where(~missing)


def _insurance_expiry(rng: np.random.Generator, purchase: np.ndarray, end: int) -> np.ndarray:
    """Day number of the recorded policy end per customer (-1: not recorded).

    A yearly policy starting near the purchase day (a week of jitter either way); the
    recorded one is the first ending after the end date, or for a stale record after the end
    date minus up to a year.
    """
    n = purchase.size
    phase = purchase + rng.integers(-7, 8, n)
    stale = rng.random(n) < INSURANCE_STALE
    ref = end - np.where(stale, rng.integers(0, 365, n), 0)
    k = np.maximum(np.floor_divide(ref - phase, 365) + 1, 1)
    expiry = phase + 365 * k
    return np.where(rng.random(n) < INSURANCE_MISSING, -1, expiry)


def _plates(rng: np.random.Generator, region: pd.Series) -> pd.Series:
    """Fake plates like ``粤B3K7Q2``: the region's prefix, five digits or letters, few letters."""
    n = len(region)
    codes = pd.to_numeric(region.str.lstrip("R"), errors="coerce").fillna(1).astype(int) - 1
    letter = rng.random((n, 5)) < 0.25
    digits = rng.integers(0, 10, (n, 5))
    letters = 10 + rng.integers(0, len(PLATE_LETTERS), (n, 5))
    chars = np.where(letter, letters, digits)  # codes into symbols: the digits, then letters
    symbols = pa.array([str(d) for d in range(10)] + list(PLATE_LETTERS), type=pa.large_string())
    prefixes = pa.array(list(PLATE_PREFIXES), type=pa.large_string())
    parts = [prefixes.take(pa.array(codes.to_numpy() % len(PLATE_PREFIXES)))]
    parts += [symbols.take(pa.array(chars[:, j])) for j in range(5)]
    text = pc.binary_join_element_wise(*parts, pa.scalar("", type=pa.large_string()))
    missing = rng.random(n) < PLATE_MISSING
    return pd.Series(pd.array(text, dtype="str")).where(~missing)


def _care_contacts(
    rng: np.random.Generator,
    customers: pd.DataFrame,
    visits: pd.DataFrame,
    cust: np.ndarray,
    birth_doy: np.ndarray,
    expiry: np.ndarray,
    purchase: np.ndarray,
    start: int,
    end: int,
) -> pd.DataFrame:
    """The care messages sent inside the emitted window, sorted by (customer_id, date)."""
    n = len(customers)
    enrolled = rng.random(n) < ENROLLED_SHARE
    rows = [  # (customer positions, day numbers, trigger)
        _maintenance_reminders(rng, visits, cust, enrolled, end),
        _insurance_reminders(rng, expiry, enrolled, purchase, end),
        _birthday_greetings(rng, customers, birth_doy, enrolled, purchase, start, end),
    ]
    idx = np.concatenate([r[0] for r in rows])
    day = np.concatenate([r[1] for r in rows])
    trig = np.concatenate([np.full(r[0].size, j) for j, r in enumerate(rows)])
    keep = (day >= np.maximum(start, purchase[idx])) & (day <= end)
    idx, day, trig = idx[keep], day[keep], trig[keep]
    channel = np.zeros(idx.size, dtype=np.int64)
    u = rng.random(idx.size)
    for j, name in enumerate(TRIGGERS):
        cum = np.cumsum(CHANNEL_PROBS[name])
        channel[trig == j] = np.searchsorted(cum, u[trig == j] * cum[-1], side="right")
    order = np.lexsort((trig, day, idx))
    frame = pd.DataFrame(
        {
            "customer_id": _take(customers["customer_id"].tolist(), idx[order]),
            "contact_date": _dates(day[order]),
            "trigger": _take(TRIGGERS, trig[order]),
            "channel": _take(CARE_CHANNELS, np.minimum(channel[order], len(CARE_CHANNELS) - 1)),
        }
    )
    return frame.drop_duplicates(ignore_index=True)


def _maintenance_reminders(
    rng: np.random.Generator,
    visits: pd.DataFrame,
    cust: np.ndarray,
    enrolled: np.ndarray,
    end: int,
) -> tuple[np.ndarray, np.ndarray]:
    """A reminder ~5 months after a maintenance visit that no other visit followed by then."""
    day = _days(visits["visit_date"])
    nxt = np.full(day.size, np.iinfo(np.int64).max)
    same = cust[1:] == cust[:-1]  # visits are sorted by customer, then date
    nxt[:-1] = np.where(same, day[1:], nxt[:-1])
    due = day + REMINDER_AFTER_DAYS + rng.integers(0, 15, day.size)
    send = rng.random(day.size) < MAINTENANCE_SEND
    maint = visits["visit_type"].eq("maintenance").to_numpy()
    pick = maint & send & enrolled[cust] & (due < nxt) & (due <= end)
    return cust[pick], due[pick]


def _insurance_reminders(
    rng: np.random.Generator,
    expiry: np.ndarray,
    enrolled: np.ndarray,
    purchase: np.ndarray,
    end: int,
) -> tuple[np.ndarray, np.ndarray]:
    """A reminder 15 to 30 days before each yearly expiry, for recorded policies."""
    n = expiry.size
    years = int(np.ceil((end - purchase.min()) / 365)) + 1 if n else 0
    idx, day = [], []
    for back in range(years):
        anniv = expiry - 365 * back
        lead = rng.integers(15, 31, n)
        send = rng.random(n) < INSURANCE_SEND
        pick = (expiry >= 0) & enrolled & send & (anniv > purchase + 180)
        idx.append(np.flatnonzero(pick))
        day.append((anniv - lead)[pick])
    return _joined(idx, day)


def _birthday_greetings(
    rng: np.random.Generator,
    customers: pd.DataFrame,
    birth_doy: np.ndarray,
    enrolled: np.ndarray,
    purchase: np.ndarray,
    start: int,
    end: int,
) -> tuple[np.ndarray, np.ndarray]:
    """A greeting on the birthday each year (29 February: on the 28th in other years).

    ``birth_doy`` is the day of a leap year (0 = 1 January, 59 = 29 February), -1 unknown.
    """
    premium_models = [m[0] for m in VEHICLE_MODELS if m[1] == 2]
    premium = customers["vehicle_model"].isin(premium_models).to_numpy()
    p = np.where(premium, BIRTHDAY_SEND_PREMIUM, BIRTHDAY_SEND_OTHER)
    epoch = pd.Timestamp("1970-01-01")
    first, last = epoch + pd.Timedelta(days=int(start)), epoch + pd.Timedelta(days=int(end))
    idx, day = [], []
    for year in range(first.year, last.year + 1):
        jan1 = int((pd.Timestamp(f"{year}-01-01") - epoch).days)
        # from 29 February on, a day of a leap year is one day later than in another year
        shift = 0 if pd.Timestamp(f"{year}-01-01").is_leap_year else (birth_doy >= 59)
        when = jan1 + birth_doy - shift
        pick = (birth_doy >= 0) & enrolled & (rng.random(birth_doy.size) < p) & (when >= purchase)
        idx.append(np.flatnonzero(pick))
        day.append(when[pick])
    return _joined(idx, day)


def _joined(idx: list[np.ndarray], day: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not idx:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(idx).astype(np.int64), np.concatenate(day).astype(np.int64)


def _days(dates: pd.Series) -> np.ndarray:
    """Day numbers since 1970-01-01 of a date column (no missing values)."""
    return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def _dates(day: np.ndarray) -> pd.Series:
    """A ``datetime64[s]`` column of day numbers; negative = missing."""
    day = np.asarray(day, dtype=np.int64)
    s = pd.Series(np.where(day < 0, 0, day).astype("datetime64[D]").astype("datetime64[s]"))
    return s.where(day >= 0)


def _take(names: list[str] | tuple[str, ...], codes: np.ndarray) -> pd.Series:
    """A ``str`` column of ``names[codes]``, built in Arrow (no Python string per row)."""
    vocab = pa.array(np.asarray(names, dtype=object), type=pa.large_string())
    return pd.Series(pd.array(vocab.take(pa.array(np.asarray(codes, dtype=np.int64))), dtype="str"))
