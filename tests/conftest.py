"""Shared fixtures: small, valid contract tables and a writer for data directories.

The factories follow the scikit-survival style (fixtures returning builder functions), so a
test states only what differs from a valid input::

    def test_something(make_tables, write_dir):
        tables = make_tables(surveys=None)              # drop an optional table
        tables["service_visits"].loc[0, "amount"] = "-5"  # break one cell
        data_dir = write_dir(tables, fmt="csv")

Every value in :func:`make_tables` is text, exactly as a CSV export would carry it, so a
test can put any bad value into any cell without fighting dtypes. ``write_dir(...,
fmt="parquet")`` converts the valid columns to their typed form first (dates, numbers), so
the same tables give a realistic typed Parquet directory.

Tests that need "some realistic data" share one simulated store per session, built lazily
and kept read-only: :func:`shared_sim` (the simulate output), :func:`shared_features` (plus
its featurize output) and :func:`shared_models` (plus a trained churn + win-back model pair
and their own MLflow store). A test that changes files works on a :func:`copy_dir` copy.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: The as-of date the default tables are consistent with (every event is on or before it).
AS_OF = "2024-06-30"

#: Customer ids of the default tables; leading zeros on purpose (they must survive CSV).
CUSTOMER_IDS = ("00101", "00102", "00103", "00104", "00105")

#: Distinctive personal data: tests assert these never leak into messages or rejects files.
NAMES = (
    "Zebulon Quixwood",
    "Ottoline Brackenfirth",
    "Percival Yarrowgate",
    "Mirabel Thistlewick",
    "Evander Clovemarsh",
)
PHONES = (
    "+86-139-7771-0001",
    "+86-139-7771-0002",
    "+86-139-7771-0003",
    "+86-139-7771-0004",
    "+86-139-7771-0005",
)


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": list(CUSTOMER_IDS),
            "dealer_id": ["D1", "D1", "D2", "D2", "D1"],
            "region": ["Shanghai", "Shanghai", "Suzhou", "Hangzhou", "Shanghai"],
            "vehicle_model": ["A4", "Q5", "A6", "A4", "Q3"],
            "vehicle_purchase_date": [
                "2019-04-01",
                "2020-07-15",
                "2018-11-30",
                "2021-02-10",
                "2022-09-05",
            ],
            "acquisition_cost": ["3000", "4500.5", "2800", "5000", "3100"],
            "referrals": ["0", "2", "1", "0", "3"],
            "name": list(NAMES),
            "phone": list(PHONES),
        }
    )


def _service_visits() -> pd.DataFrame:
    # 10 rows, 2 per customer; every row valid and distinct.
    rows = [
        ("00101", "2023-01-10", "850.00", "maintenance", "45", "30500"),
        ("00101", "2023-07-12", "1200.50", "repair", "90", "36200"),
        ("00102", "2023-02-03", "650", "maintenance", "30", "18000"),
        ("00102", "2024-01-20", "0", "warranty", "60", "25500"),
        ("00103", "2023-03-15", "2300", "accident", "120", "52000"),
        ("00103", "2023-09-01", "900", "maintenance", "40", "58000"),
        ("00104", "2023-05-05", "780", "insurance", "55", "9000"),
        ("00104", "2024-03-18", "1500", "repair", "75", "15000"),
        ("00105", "2023-11-11", "400", "other", "20", "3000"),
        ("00105", "2024-05-30", "620", "maintenance", "35", "8000"),
    ]
    cols = ["customer_id", "visit_date", "amount", "visit_type", "wait_minutes", "mileage_km"]
    return pd.DataFrame(rows, columns=cols)


def _app_sessions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["00101", "00101", "00102", "00104"],
            "session_date": ["2024-01-05", "2024-02-05", "2024-03-01", "2024-04-10"],
            "sessions": ["1", "3", "2", "1"],
        }
    )


def _appointments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["00101", "00103", "00104"],
            "booked_date": ["2023-07-01", "2023-08-20", "2024-03-01"],
            "scheduled_date": ["2023-07-12", "2023-09-01", "2024-03-18"],
            "status": ["kept", "no_show", "cancelled"],
            "channel": ["app", "phone", "app"],
        }
    )


def _surveys() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["00101", "00102", "00103", "00105"],
            "survey_date": ["2023-07-15", "2023-02-10", "2023-09-05", "2024-06-01"],
            "score": ["9", "7", "3", "10"],
        }
    )


def _consultations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["00102", "00104"],
            "contact_date": ["2023-06-01", "2024-02-14"],
            "channel": ["phone", "wechat"],
        }
    )


def _complaints() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["00103"],
            "complaint_date": ["2023-09-10"],
            "category": ["wait time"],
        }
    )


def simulator_action_facts() -> dict[str, dict]:
    """What training records about the simulator's four actions (their default costs)."""
    from features.vocabulary import SIMULATOR_ACTIONS as ACTIONS
    from pipeline.simulator import SimulationConfig

    sim = SimulationConfig()
    return {a: {"cost": getattr(sim, f"cost_{a}"), "channel": None, "contacts": 1} for a in ACTIONS}


def sim_score_config(config=None):
    """A score config (default: the code's defaults) resolved for the simulator's actions."""
    from features.vocabulary import SIMULATOR_ACTIONS as ACTIONS
    from models.actions import resolve_actions
    from models.segments import ScoreConfig

    return resolve_actions(config or ScoreConfig(), ACTIONS, simulator_action_facts())


def _outreach() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["00102", "00103", "00104", "00105"],
            "contact_date": ["2024-04-01", "2024-04-01", "2024-04-02", "2024-04-02"],
            "action": ["sms_coupon", "advisor_call", "sms_coupon", "manager_call"],
            "cost": ["5", "30", "5", "80"],
            "group": ["treatment", "control", "treatment", "control"],
            "channel": ["sms", "phone", "sms", "phone"],
        }
    )


_BUILDERS: dict[str, Callable[[], pd.DataFrame]] = {
    "customers": _customers,
    "service_visits": _service_visits,
    "app_sessions": _app_sessions,
    "appointments": _appointments,
    "surveys": _surveys,
    "consultations": _consultations,
    "complaints": _complaints,
    "outreach": _outreach,
}

#: The tables every data directory must hold.
REQUIRED_TABLES = ("customers", "service_visits")

#: Row counts of the default tables, for hand-computed expectations.
DEFAULT_ROWS = {name: len(build()) for name, build in _BUILDERS.items()}


@pytest.fixture
def as_of() -> str:
    """The as-of date the default tables are consistent with."""
    return AS_OF


@pytest.fixture
def customer_ids() -> tuple[str, ...]:
    """Customer ids of the default tables (text, with leading zeros)."""
    return CUSTOMER_IDS


@pytest.fixture
def pii_values() -> tuple[str, ...]:
    """Every name and phone in the default customers table (must never leak anywhere)."""
    return NAMES + PHONES


@pytest.fixture
def make_tables() -> Callable[..., dict[str, pd.DataFrame]]:
    """Factory for a small valid set of every contract table, all values as text.

    Call ``make_tables(**overrides)``: each keyword is a table name; a DataFrame replaces
    that table, ``None`` removes it (to test a missing table). ``optional=False`` leaves out
    the optional tables not named in ``overrides`` (only customers and service_visits: a
    faster valid input for tests about those); ``optional=["surveys", ...]`` keeps just the
    optional tables listed. Every call returns fresh copies, so tests may mutate the result
    freely.

    The default tables: 5 customers (ids ``00101``..``00105``, with ``name`` and ``phone``
    from ``NAMES``/``PHONES``), 10 service visits (2 per customer), and small valid
    app_sessions, appointments, surveys, consultations, complaints and outreach tables; row
    counts in ``DEFAULT_ROWS``. All events are dated on or before ``AS_OF``.
    """

    def _make(
        optional: bool | Iterable[str] = True, **overrides: pd.DataFrame | None
    ) -> dict[str, pd.DataFrame]:
        keep = set(_BUILDERS) if optional is True else set(optional or ())
        unknown = (set(overrides) | keep) - set(_BUILDERS)
        if unknown:
            raise KeyError(f"not contract tables: {sorted(unknown)}")
        keep |= set(REQUIRED_TABLES) | set(overrides)
        names = [n for n in _BUILDERS if n in keep]
        tables = {name: _BUILDERS[name]() for name in names}
        for name, frame in overrides.items():
            if frame is None:
                tables.pop(name)
            else:
                tables[name] = frame.copy()
        return tables

    return _make


_DATE_COLUMNS = {
    "vehicle_purchase_date",
    "visit_date",
    "session_date",
    "booked_date",
    "scheduled_date",
    "survey_date",
    "contact_date",
    "complaint_date",
    # lead tables
    "first_visit_date",
    "status_date",
    "lost_date",
    "expected_purchase_date",
    "event_date",
    "end_date",
}
_NUMBER_COLUMNS = {
    "acquisition_cost",
    "amount",
    "wait_minutes",
    "mileage_km",
    "score",
    "cost",
    "competitor_price",
    "value",
}
_INTEGER_COLUMNS = {"referrals", "sessions", "follow_ups"}


def to_typed(df: pd.DataFrame) -> pd.DataFrame:
    """Convert the text columns of a contract table to their typed form, where they parse.

    Dates become ``datetime64``, numbers ``float64``, integers ``int64`` (``Int64`` with
    gaps); a column that does not parse completely is left as text, as a sloppy Parquet
    export would carry it. Ids and strings stay text.
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if col in _DATE_COLUMNS:
            parsed = pd.to_datetime(s, errors="coerce", format="ISO8601")
        elif col in _NUMBER_COLUMNS | _INTEGER_COLUMNS:
            parsed = pd.to_numeric(s, errors="coerce")
        else:
            continue
        if (parsed.notna() | s.isna()).all():
            if col in _INTEGER_COLUMNS and (parsed.dropna() % 1 == 0).all():
                parsed = parsed.astype("Int64")
            out[col] = parsed
    return out


@pytest.fixture
def write_dir(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing contract tables as a data directory under ``tmp_path``.

    Call ``write_dir(tables, fmt="csv" | "parquet", name="data")``; returns the directory.
    CSV is written verbatim (text as given); Parquet first converts columns with
    :func:`to_typed`. Each call with a new ``name`` makes a separate directory; the same
    ``name`` twice adds to (and may overwrite files in) the same directory.
    """

    def _write(tables: dict[str, pd.DataFrame], fmt: str = "csv", name: str = "data") -> Path:
        if fmt not in {"csv", "parquet"}:
            raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
        out = tmp_path / name
        out.mkdir(parents=True, exist_ok=True)
        for table, df in tables.items():
            path = out / f"{table}.{fmt}"
            if fmt == "csv":
                df.to_csv(path, index=False)
            else:
                to_typed(df).to_parquet(path, index=False)
        return out

    return _write


# --- lead tables (docs/data_contract.md, lost sales leads) -----------------------------------

#: Personal data of the default leads (must never leak into logs, reports or MLflow).
LEAD_NAMES = ("Quillon Ashgrove", "Brisela Fenwhistle", "Tobiah Marrowdale", "Odessa Pinchbeck")
LEAD_PHONES = ("13900000001", "13900000002", "13900000003", "13900000004")


def _leads() -> pd.DataFrame:
    # L1 lost on price (in its buying window), L2 lost on configuration with mid intent,
    # L3 lost to a competitor it bought, L4 won directly, L5 lost then won back (recovered),
    # L6 open; L7 lost without any reason recorded (an incomplete loss record).
    cols = [
        "lead_id", "dealer_id", "region", "consultant_id", "model_interest", "first_visit_date",
        "follow_ups", "status", "status_date", "lost_date", "lost_reasons", "reason_note",
        "competitor_model", "competitor_price", "bought_competitor", "expected_purchase_date",
        "intent", "name", "phone",
    ]  # fmt: skip
    rows = [
        ("L1", "D1", "R1", "S1", "RAV4", "2024-01-05", "3", "lost", "2024-02-01", None,
         "price;finance_or_tradein", "quote too high", "Honda CR-V", "175000", "no",
         "2024-04-01", "high", LEAD_NAMES[0], LEAD_PHONES[0]),
        ("L2", "D1", "R1", "S2", "Camry", "2024-01-10", "2", "lost", "2024-02-10", None,
         "configuration_mismatch", "", "", "", "no", "2024-06-01", "mid", LEAD_NAMES[1],
         LEAD_PHONES[1]),
        ("L3", "D2", "R2", "S3", "RAV4", "2024-01-12", "1", "lost", "2024-01-30", None,
         "competitor", "bought it", "BYD Song PLUS", "160000", "yes", "", "low",
         LEAD_NAMES[2], LEAD_PHONES[2]),
        ("L4", "D2", "R2", "S3", "Corolla", "2024-02-01", "4", "won", "2024-03-01", None, "",
         "", "", "", "", "", "high", LEAD_NAMES[3], LEAD_PHONES[3]),
        ("L5", "D1", "R1", "S1", "RAV4", "2024-01-20", "2", "won", "2024-04-15", "2024-02-20",
         "price", "", "", "", "no", "2024-05-01", "mid", "", ""),
        ("L6", "D1", "R2", "S2", "Crown", "2024-05-20", "1", "open", "2024-06-01", None, "", "",
         "", "", "", "2024-09-01", "mid", "", ""),
        ("L7", "D2", "R2", "S4", "Levin", "2024-02-02", "0", "lost", "2024-03-03", None, "", "",
         "", "", "", "", "", "", ""),
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    return df.mask(df == "")  # blank cells are missing, as a CSV reader gives them


def _lead_contacts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L5", "L5"],
            "contact_date": ["2024-02-08", "2024-02-20", "2024-03-01", "2024-04-01"],
            "channel": ["phone", "wechat", "phone", "phone"],
            "role": ["consultant", "consultant", "manager", "consultant"],
            "outcome": ["reached", "no_answer", "reached", "visit"],
        }
    )


def _market_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": ["E1", "E2", "E3"],
            "event_date": ["2024-03-01", "2024-03-10", "2024-02-25"],
            "event_type": ["finance_offer", "stock_arrival", "competitor_complaints"],
            "model": ["RAV4", "Camry", ""],
            "region": ["", "R1", ""],
            "competitor_model": ["", "", "BYD Song PLUS"],
            "end_date": ["2024-03-31", "", "2024-03-25"],
            "value": ["5000", "", ""],
            "note": ["0% APR 24 months", "Camry 2.5 Hybrid", "brake complaints"],
        }
    ).replace({"": None})


_LEAD_BUILDERS: dict[str, Callable[[], pd.DataFrame]] = {
    "leads": _leads,
    "lead_contacts": _lead_contacts,
    "market_events": _market_events,
}


@pytest.fixture
def lead_pii() -> tuple[str, ...]:
    """Every name and phone in the default leads table."""
    return LEAD_NAMES + LEAD_PHONES


@pytest.fixture
def make_lead_tables() -> Callable[..., dict[str, pd.DataFrame]]:
    """Factory for the small valid lead tables (leads, lead_contacts, market_events), as text.

    ``make_lead_tables(**overrides)`` works like :func:`make_tables` (a frame replaces a
    table, ``None`` removes it). The default leads: L1 lost on price+finance in its buying
    window, L2 lost on configuration (mid intent), L3 bought a competitor, L4 won, L5 lost on
    2024-02-20 and won back on 2024-04-15, L6 open, L7 lost with no reason recorded. Merge
    with ``make_tables(optional=False)`` for a complete data directory.
    """

    def _make(**overrides: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
        unknown = set(overrides) - set(_LEAD_BUILDERS)
        if unknown:
            raise KeyError(f"not lead tables: {sorted(unknown)}")
        tables = {name: build() for name, build in _LEAD_BUILDERS.items()}
        for name, frame in overrides.items():
            if frame is None:
                tables.pop(name)
            else:
                tables[name] = frame.copy()
        return tables

    return _make


@pytest.fixture(scope="session")
def make_churn_rows() -> Callable[..., tuple[pd.DataFrame, np.ndarray]]:
    """Factory of a small churn-like problem on real dictionary features.

    ``make(n=1500, seed=0, customer_ids=False, spend=False) -> (X, y)``: days since the last
    visit, survey score (25% missing), app inactive flag, optionally 365-day spend, and a
    categorical vehicle model (5% missing); ``y`` follows a known logit of them.
    """

    def make(
        n: int = 1500, seed: int = 0, customer_ids: bool = False, spend: bool = False
    ) -> tuple[pd.DataFrame, np.ndarray]:
        rng = np.random.default_rng(seed)
        cols: dict[str, object] = {}
        if customer_ids:
            cols["customer_id"] = [f"C{i:05d}" for i in range(n)]
        cols["days_since_last_visit"] = rng.integers(0, 400, n).astype("float64")
        cols["survey_score_last"] = rng.integers(0, 11, n).astype("float64")
        cols["app_inactive"] = rng.integers(0, 2, n).astype("float64")
        if spend:
            cols["spend_365d"] = rng.gamma(2.0, 1500.0, n)
        cols["vehicle_model"] = pd.Categorical(rng.choice(["A4", "Q5", "A6", "Q3"], n))
        X = pd.DataFrame(cols)
        X.loc[rng.random(n) < 0.25, "survey_score_last"] = np.nan
        X.loc[rng.random(n) < 0.05, "vehicle_model"] = np.nan
        logit = (
            (X["days_since_last_visit"] - 150) / 60
            + 0.3 * (7 - X["survey_score_last"].fillna(5))
            + 0.8 * X["app_inactive"]
            + (X["vehicle_model"] == "Q3").to_numpy() * 1.2
        )
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
        return X, y

    return make


#: The win-back model's slice minimums for the small simulations of end-to-end tests (the
#: defaults, sized for a real store, refuse a 1,000-customer outreach log).
SMALL_RECOVERY_MIN_ROWS = {
    "train_rows": 100,
    "train_positives": 5,
    "valid_rows": 20,
    "valid_positives": 2,
    "test_rows": 50,
    "test_positives": 2,
}
#: The same as a params.yaml flow mapping.
SMALL_RECOVERY_MIN_ROWS_YAML = (
    "{" + ", ".join(f"{k}: {v}" for k, v in SMALL_RECOVERY_MIN_ROWS.items()) + "}"
)


#: Win-back model settings for a small simulated store (about a thousand customers). The
#: repository's params.yaml tunes the model for 20,000 customers (4 leaves, 800 rows a leaf),
#: where a store this small grows hardly a split; a params file of a test names these on
#: top of it (every other setting is the repository's).
SMALL_STORE_RECOVERY_YAML = (
    "lgbm: {num_leaves: 31, min_data_in_leaf: 100, feature_fraction: 0.8}, "
    "exclude: [referrals], calibrate: true, no_effect_flags: []"
)

#: LightGBM settings of the tests' tiny models (fast, single-machine deterministic).
SMALL_LGBM = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 7,
    "min_data_in_leaf": 10,
    "verbosity": -1,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
}


# --- one simulated store shared by the end-to-end tests ---------------------------------------

#: The shared simulation: enough customers for the win-back model's small slice minimums and
#: three years of history up to the simulator's end date (2026-09-30), with outreach and leads.
SHARED_SIMULATION = {"customers": 2000, "years": 3, "seed": 5}

#: The params file the shared featurize and train stages run with: small models (a few dozen
#: boosting rounds) and the small win-back slice minimums; every other block at its default.
SHARED_PARAMS = (
    "train:\n"
    "  churn: {num_boost_round: 30, early_stopping_rounds: 10}\n"
    "  recovery: {num_boost_round: 30, early_stopping_rounds: 10,\n"
    f"             min_rows: {SMALL_RECOVERY_MIN_ROWS_YAML}}}\n"
)


@dataclass(frozen=True)
class SharedRun:
    """Where the shared simulated store and its stage outputs live (all read-only).

    Attributes:
        data: The simulate output: contract tables and ``truth/``.
        params: The params file of the featurize and train stages (:data:`SHARED_PARAMS`).
        featurize: The featurize output (``training.parquet``, ``recovery.parquet``, ...)
            in :func:`shared_features`, else None.
        train: The train output (``churn/``, ``recovery/``, ``run.json``, ...) in
            :func:`shared_models`, else None.
        tracking: The directory of the train stage's own MLflow store (``mlflow.db`` and
            ``mlartifacts/``) in :func:`shared_models`, else None.
    """

    data: Path
    params: Path
    featurize: Path | None = None
    train: Path | None = None
    tracking: Path | None = None

    @property
    def tracking_uri(self) -> str:
        """The SQLite URI of the shared MLflow store."""
        return f"sqlite:///{self.tracking}/mlflow.db"


def _read_only(root: Path) -> None:
    # Every file and directory read-only: a test that writes into shared data fails loudly
    # instead of changing what the next test sees.
    for path in [root, *root.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def _writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def copy_dir(src: Path, dst: Path) -> Path:
    """A writable copy of ``src`` at ``dst`` (for a test that changes files of shared data)."""
    shutil.copytree(src, dst, copy_function=shutil.copyfile)
    _writable(dst)
    return dst


def _invoke(args: list[str]) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        raise RuntimeError(f"winback {args[0]} failed for a shared fixture:\n{result.output}")


@pytest.fixture(scope="session")
def _shared_root(tmp_path_factory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("shared")
    yield root
    _writable(root)  # so that pytest can remove it later


@pytest.fixture(scope="session")
def shared_sim(_shared_root: Path) -> SharedRun:
    """One simulated store for every test that needs "some realistic data" (read-only).

    :data:`SHARED_SIMULATION` (2,000 customers, 3 years to 2026-09-30, seed 5, with outreach,
    its outcomes and leads), written by ``winback simulate`` once per session, with
    :data:`SHARED_PARAMS` beside it. Every file and directory is read-only: a test that
    changes files (deletes the truth, rewrites the outreach log, ...) works on
    ``copy_dir(run.data, tmp_path / "sim")``. Tests that need another configuration (a
    seed, a size, a cut history, no leads) simulate their own.
    """
    root = _shared_root
    params = root / "params.yaml"
    params.write_text(SHARED_PARAMS)
    data = root / "sim"
    sim = SHARED_SIMULATION
    _invoke(
        ["simulate", "--customers", str(sim["customers"]), "--years", str(sim["years"])]
        + ["--seed", str(sim["seed"]), "--out", str(data)]
    )
    _read_only(data)
    params.chmod(0o444)
    return SharedRun(data=data, params=params)


@pytest.fixture(scope="session")
def shared_features(shared_sim: SharedRun) -> SharedRun:
    """:func:`shared_sim` plus its featurize output (``winback featurize``), read-only."""
    out = shared_sim.data.parent / "featurize"
    _invoke(
        ["featurize", str(shared_sim.data), "--out", str(out), "--params", str(shared_sim.params)]
    )
    _read_only(out)
    return dataclasses.replace(shared_sim, featurize=out)


@pytest.fixture(scope="session")
def shared_models(shared_sim: SharedRun) -> SharedRun:
    """:func:`shared_sim` plus one trained churn + win-back model pair, read-only.

    The train stage (``python -m pipeline.train``) on the simulated data directory itself
    (featurized in memory, as ``winback train DATA_DIR`` does) with :data:`SHARED_PARAMS`,
    logged and registered (``winback-churn`` v1, ``winback-recovery`` v1, no champion) in
    its own MLflow store under ``run.tracking``. The store is read-only too: a test that
    promotes, registers or logs copies ``mlflow.db`` to its own directory and points
    ``MLFLOW_TRACKING_URI`` at the copy (the copy still reads the shared artifacts).
    """
    from pipeline import train

    root = shared_sim.data.parent
    store = root / "tracking"
    store.mkdir()
    run = dataclasses.replace(shared_sim, train=root / "train", tracking=store)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", run.tracking_uri)
        mp.chdir(store)
        train.main(data_dir=run.data, out=run.train, params=run.params)
    _read_only(run.train)
    _read_only(store)
    return run
