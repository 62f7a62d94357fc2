"""The store's weekly KPI board (models/kpi.py) on a hand-built store, and its report section.

T = 2026-03-15: this week = [03-08, 03-15), last week = [03-01, 03-08). Two dealers, D1
(C1 C2 C3 C4 C8 C9) and D2 (C5 C6 C7), so every store figure also has an all-stores row.
Every expected value below is worked out by hand in the comments.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.kpi import ALL_STORES, NOT_RECORDED, KpiConfig, default_as_of, kpi_board
from models.reporting import html
from models.reporting.kpi import kpi_section
from pipeline.cli import app

T = pd.Timestamp("2026-03-15")
NAMES = ("王小明", "13800138000")


def _customers() -> pd.DataFrame:
    ids = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"]
    dealers = ["D1", "D1", "D1", "D1", "D2", "D2", "D2", "D1", "D1"]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "dealer_id": dealers,
            "name": [NAMES[0]] + ["x"] * 8,
            "phone": [NAMES[1]] + ["1"] * 8,
        }
    )


def _visits() -> pd.DataFrame:
    rows = [
        # this week [03-08, 03-15)
        ("C1", "2026-03-08", 500.0, "maintenance", "A1"),  # the week's first day: counted
        ("C2", "2026-03-10", 1500.0, "repair", "A1"),
        ("C3", "2026-03-14", 1000.0, "maintenance", "A2"),  # its last day
        ("C5", "2026-03-12", 800.0, "maintenance", "B1"),
        ("C1", "2026-03-15", 9999.0, "repair", "A1"),  # on T itself: counted nowhere
        # last week [03-01, 03-08)
        ("C2", "2026-03-01", 300.0, "maintenance", "A1"),
        ("C4", "2026-03-05", 700.0, "warranty", "A2"),
        ("C6", "2026-03-07", 1200.0, "accident", None),  # no advisor recorded
        # older
        ("C1", "2025-11-20", 100.0, "maintenance", "A1"),
        ("C3", "2025-12-01", 400.0, "maintenance", "A2"),
        ("C4", "2025-06-01", 200.0, "repair", "A2"),
        ("C7", "2025-09-01", 600.0, "maintenance", "B1"),
        ("C8", "2025-03-10", 300.0, "maintenance", "A2"),
    ]
    frame = pd.DataFrame(
        rows, columns=["customer_id", "visit_date", "amount", "visit_type", "advisor_id"]
    )
    return frame.assign(visit_date=pd.to_datetime(frame["visit_date"]))


def _outreach() -> pd.DataFrame:
    # the window (contact, contact + 60] ends in this week for contacts of [01-07, 01-14),
    # in last week for contacts of [2025-12-31, 01-07)
    rows = [
        ("C1", "2026-01-07", "treatment"),  # ends 03-08; C1's visit of 03-08: returned
        ("C3", "2026-01-10", "treatment"),  # ends 03-11; C3 next visits 03-14: not
        ("C7", "2026-01-12", "control"),  # ends 03-13; no visit: not
        ("C6", "2026-01-13", "control"),  # ends 03-14; visit of 03-07: returned
        ("C2", "2026-01-14", "treatment"),  # ends 03-15 = T: not over, counted nowhere
        ("C4", "2025-12-31", "treatment"),  # ends 03-01; next visit 03-05: not
        ("C2", "2026-01-01", "treatment"),  # ends 03-02; visit of 03-01: returned
        ("C8", "2026-01-05", "control"),  # ends 03-06: not
        ("C5", "2026-01-06", "control"),  # ends 03-07; first visit 03-12: not
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "contact_date", "group"])
    return frame.assign(contact_date=pd.to_datetime(frame["contact_date"]))


def _leads() -> pd.DataFrame:
    rows = [
        # this week
        ("L1", "D1", "K1", "won", "2026-03-09", None),
        ("L2", "D1", "K1", "lost", "2026-03-10", "price;competitor"),  # primary: price
        ("L3", "D1", "K2", "lost", "2026-03-14", "competitor"),
        ("L4", "D2", "K3", "won", "2026-03-12", None),
        ("L5", "D1", "K2", "lost", "2026-03-15", "price"),  # on T: not counted
        ("L6", "D1", "K1", "open", "2026-03-11", None),  # open: neither won nor lost
        # last week
        ("L7", "D1", "K1", "won", "2026-03-02", None),
        ("L8", "D2", "K3", "lost", "2026-03-04", None),  # no reason recorded
        ("L9", "D1", "K2", "lost", "2026-03-07", "price"),
    ]
    cols = ["lead_id", "dealer_id", "consultant_id", "status", "status_date", "lost_reasons"]
    frame = pd.DataFrame(rows, columns=cols)
    return frame.assign(status_date=pd.to_datetime(frame["status_date"]))


def _tables(**changes) -> dict[str, pd.DataFrame]:
    base = {
        "customers": _customers(),
        "service_visits": _visits(),
        "outreach": _outreach(),
        "leads": _leads(),
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


@pytest.fixture(scope="module")
def board():
    # a win-back period of one week, so the hand-built weeks below hold its contacts too
    return kpi_board(_tables(), T, KpiConfig(winback_days=7))


def _get(board, section, figure, item="", dealer=ALL_STORES, column="this_week"):
    return board.value(section, figure, item, dealer, column)


def test_service_entries_invoice_and_revenue(board):
    assert board.dealers == ("D1", "D2") and board.stores == (ALL_STORES, "D1", "D2")
    # this week: 500 + 1500 + 1000 (D1) + 800 (D2) = 3800 in 4 orders; the 9999 of T is out
    # last week: 300 + 700 (D1) + 1200 (D2) = 2200 in 3 orders
    assert _get(board, "service", "revenue") == 3800.0
    assert _get(board, "service", "revenue", column="last_week") == 2200.0
    assert _get(board, "service", "revenue", column="change") == 1600.0
    assert _get(board, "service", "revenue", column="pct_change") == pytest.approx(1600 / 2200)
    # orders per day: 4 / 7 vs 3 / 7, +1/7, +33.3%
    assert _get(board, "service", "orders_per_day") == pytest.approx(4 / 7)
    assert _get(board, "service", "orders_per_day", column="change") == pytest.approx(1 / 7)
    assert _get(board, "service", "orders_per_day", column="pct_change") == pytest.approx(1 / 3)
    # average invoice: 3800 / 4 = 950 vs 2200 / 3 = 733.33
    assert _get(board, "service", "avg_invoice") == 950.0
    assert _get(board, "service", "avg_invoice", column="last_week") == pytest.approx(2200 / 3)
    # D1: 3000 / 3 = 1000 vs 1000 / 2 = 500; D2: 800 / 1 vs 1200 / 1
    assert _get(board, "service", "avg_invoice", dealer="D1") == 1000.0
    assert _get(board, "service", "avg_invoice", dealer="D1", column="last_week") == 500.0
    assert _get(board, "service", "avg_invoice", dealer="D2", column="change") == -400.0
    assert _get(board, "service", "revenue", dealer="D2", column="n_this_week") == 1


def test_service_mix_shares_in_points(board):
    # this week: maintenance 3 (C1, C3, C5), repair 1 of 4; last week: maintenance,
    # warranty, accident 1 each of 3. Rows: most visits over both weeks first, then by name
    mix = board.figures[
        (board.figures["section"] == "mix") & (board.figures["dealer_id"] == ALL_STORES)
    ]
    assert list(mix["item"]) == ["maintenance", "accident", "repair", "warranty"]
    assert _get(board, "mix", "share", "maintenance") == 0.75
    assert _get(board, "mix", "share", "maintenance", column="last_week") == pytest.approx(1 / 3)
    assert _get(board, "mix", "share", "maintenance", column="change") == pytest.approx(
        0.75 - 1 / 3
    )
    assert _get(board, "mix", "share", "maintenance", column="pct_change") is None  # points only
    assert _get(board, "mix", "share", "repair", column="last_week") == 0.0
    assert _get(board, "mix", "share", "warranty") == 0.0
    # D2: its one visit of each week, maintenance then accident
    assert _get(board, "mix", "share", "maintenance", "D2") == 1.0
    assert _get(board, "mix", "share", "accident", "D2", column="last_week") == 1.0


def test_lapse_stages_at_t_and_a_week_before(board):
    # at T (visits before 03-15), days since the last visit: C1 7, C2 5, C3 1, C4 10, C5 3,
    # C6 8 -> active; C7 2025-09-01 -> 195 deep; C8 2025-03-10 -> 370 lost; C9 no visit
    # at T - 7 (before 03-08): C1 2025-11-20 -> 108 early, C2 7 active, C3 2025-12-01 -> 97
    # early, C4 3 active, C6 1 active, C7 188 deep, C8 363 deep; C5's first visit is later
    expected = {
        "active": (6, 3),
        "early": (0, 2),
        "deep": (1, 2),
        "lost": (1, 0),
    }
    for stage, (now, before) in expected.items():
        assert _get(board, "stages", "customers", stage) == now
        assert _get(board, "stages", "customers", stage, column="last_week") == before
    assert _get(board, "stages", "customers", "active", column="pct_change") == 1.0  # 3 -> 6
    assert _get(board, "stages", "customers", "lost", column="pct_change") is None  # from 0
    # shares of the customers with a visit: 8 at T, 7 a week before
    assert _get(board, "stages", "share", "active") == 6 / 8
    assert _get(board, "stages", "share", "active", column="last_week") == pytest.approx(3 / 7)
    assert _get(board, "stages", "share", "active", column="n_last_week") == 7
    # D1 at T: C1-C4 active, C8 lost of 5; a week before C2 C4 active, C1 C3 early, C8 deep
    assert _get(board, "stages", "customers", "lost", "D1") == 1
    assert _get(board, "stages", "customers", "early", "D1", column="last_week") == 2
    # D2 a week before: C6 active, C7 deep, C5 not yet a customer with a visit: 2
    assert _get(board, "stages", "share", "deep", "D2", column="last_week") == 0.5


def test_win_back_rate_over_the_default_30_days():
    # [T - 30, T) = [02-13, 03-15) holds every window end above but C2's of T itself:
    # treatment C1 yes, C3 no, C4 no, C2 (01-01) yes -> 2/4; control C7 no, C6 yes, C8 no,
    # C5 no -> 1/4; difference 0.25. The 30 days before hold none: no rate, n = 0
    board = kpi_board(_tables(), T)
    assert board.winback_days == 30
    assert _get(board, "winback", "rate", "treatment") == 0.5
    assert _get(board, "winback", "rate", "control") == 0.25
    assert _get(board, "winback", "rate", "control", column="n_this_week") == 4
    assert _get(board, "winback", "rate", "difference") == 0.25
    assert _get(board, "winback", "rate", "treatment", column="last_week") is None
    assert _get(board, "winback", "rate", "treatment", column="n_last_week") == 0
    # the service figures keep the 7-day week
    assert _get(board, "service", "revenue") == 3800.0


def test_win_back_rate_contacted_vs_control(board):
    # this week: treatment C1 yes, C3 no -> 1/2; control C6 yes, C7 no -> 1/2; difference 0
    # last week: treatment C2 yes, C4 no -> 1/2; control C8, C5 no -> 0/2; difference 0.5
    assert _get(board, "winback", "rate", "treatment") == 0.5
    assert _get(board, "winback", "rate", "treatment", column="n_this_week") == 2
    assert _get(board, "winback", "rate", "control") == 0.5
    assert _get(board, "winback", "rate", "control", column="last_week") == 0.0
    assert _get(board, "winback", "rate", "control", column="change") == 0.5
    assert _get(board, "winback", "rate", "difference") == 0.0
    assert _get(board, "winback", "rate", "difference", column="last_week") == 0.5
    assert _get(board, "winback", "rate", "difference", column="change") == -0.5
    # D1 had no control contact this week: its rate and the difference do not exist
    assert _get(board, "winback", "rate", "control", "D1") is None
    assert _get(board, "winback", "rate", "control", "D1", column="n_this_week") == 0
    assert _get(board, "winback", "rate", "difference", "D1") is None
    assert _get(board, "winback", "rate", "difference", "D1", column="last_week") == 0.5


def test_lead_conversion_and_loss_reasons(board):
    # this week: won L1 L4, lost L2 L3 -> 2 / 4; last week: won L7, lost L8 L9 -> 1 / 3
    assert _get(board, "leads", "won") == 2 and _get(board, "leads", "lost") == 2
    assert _get(board, "leads", "conversion") == 0.5
    assert _get(board, "leads", "conversion", column="last_week") == pytest.approx(1 / 3)
    assert _get(board, "leads", "won", column="pct_change") == 1.0  # 1 -> 2
    assert _get(board, "leads", "lost", column="change") == 0
    # D2: won L4 this week (1/1), lost L8 last week (0/1)
    assert _get(board, "leads", "conversion", dealer="D2") == 1.0
    assert _get(board, "leads", "conversion", dealer="D2", column="last_week") == 0.0
    # primary reasons: this week price (L2's first code), competitor; last week not
    # recorded (L8), price (L9). Rows: price (2 over both weeks), competitor, not recorded
    rows = board.figures[
        (board.figures["section"] == "loss_reasons") & (board.figures["dealer_id"] == ALL_STORES)
    ]
    assert list(rows["item"]) == ["price", "competitor", NOT_RECORDED]
    assert _get(board, "loss_reasons", "count", "price") == 1
    assert _get(board, "loss_reasons", "count", "price", column="last_week") == 1
    assert _get(board, "loss_reasons", "count", "competitor", column="pct_change") is None
    assert _get(board, "loss_reasons", "count", NOT_RECORDED, column="change") == -1


def test_advisors_and_consultants(board):
    # A1 (D1): this week 500 + 1500 in 2 orders, last week 300 in 1
    assert _get(board, "advisors", "orders", "A1", "D1") == 2
    assert _get(board, "advisors", "revenue", "A1", "D1", column="last_week") == 300.0
    assert _get(board, "advisors", "avg_invoice", "A1", "D1") == 1000.0
    assert _get(board, "advisors", "orders", "A1", "D1", column="pct_change") == 1.0
    # B1 (D2): 800 this week, nothing last week; the 1200 of C6 has no advisor
    assert _get(board, "advisors", "avg_invoice", "B1", "D2", column="last_week") is None
    assert _get(board, "advisors", "avg_invoice", "B1", "D2", column="change") is None
    assert _get(board, "advisors", "revenue", NOT_RECORDED, "D2", column="last_week") == 1200.0
    # K1 (D1): won L1 lost L2 -> 1/2 this week; won L7 -> 1/1 last week
    assert _get(board, "consultants", "conversion", "K1", "D1") == 0.5
    assert _get(board, "consultants", "conversion", "K1", "D1", column="change") == -0.5
    assert _get(board, "consultants", "lost", "K2", "D1", column="last_week") == 1
    people = board.figures[board.figures["section"] == "consultants"]
    assert sorted(set(zip(people["dealer_id"], people["item"], strict=True))) == [
        ("D1", "K1"),
        ("D1", "K2"),
        ("D2", "K3"),
    ]  # no all-stores row for people


def test_an_event_on_t_itself_is_not_counted(board):
    # more visits, outreach windows and leads dated T change nothing
    visits = pd.concat(
        [_visits(), _visits().assign(visit_date=T)], ignore_index=True
    )  # every customer visits on T
    leads = pd.concat([_leads(), _leads().assign(status_date=T, lead_id="X")], ignore_index=True)
    later = kpi_board(_tables(service_visits=visits, leads=leads), T, KpiConfig(winback_days=7))
    pd.testing.assert_frame_equal(later.figures, board.figures)
    # the default T is the day after the last visit
    assert default_as_of(_visits()) == pd.Timestamp("2026-03-16")
    assert kpi_board(_tables()).as_of == pd.Timestamp("2026-03-16")


def test_absent_tables_and_columns_are_not_collected():
    visits = _visits().drop(columns=["visit_type", "advisor_id"])
    customers = _customers().drop(columns=["dealer_id"])
    board = kpi_board(
        _tables(service_visits=visits, customers=customers, outreach=None, leads=None), T
    )
    assert board.not_collected == {
        "mix": "service_visits.visit_type",
        "winback": "outreach",
        "leads": "leads",
        "loss_reasons": "leads",
        "consultants": "leads",
        "advisors": "service_visits.advisor_id",
    }
    assert set(board.figures["section"]) == {"service", "stages"}
    # one dealer (the contract's default): no all-stores row
    assert board.stores == ("default",) and _get(board, "service", "revenue", dealer=None) == 3800
    page = html.render_report(html.ReportInputs(kpi=board), "zh")
    assert page.count("未采集") == 6 and "数据中没有 service_visits.advisor_id" in page
    en = html.render_report(html.ReportInputs(kpi=board), "en")
    assert "Not collected: the data has no leads." in en
    with pytest.raises(ValueError, match="kpi.week_days"):
        KpiConfig(week_days=0)


def test_the_report_section_shows_the_week_with_signed_changes(board):
    section = kpi_section(board, "en", top=2)
    groups = {g["key"]: g for g in section["groups"]}
    assert "this week 03-08–03-14, last week 03-01–03-07" in section["intro"]
    service = groups["service"]["table"]
    assert service["header"] == ["figure", "all stores", "D1", "D2"]
    revenue = next(r for r in service["rows"] if r["label"] == "total revenue")["cells"][0]
    assert revenue["main"] == "¥3,800" and revenue["last"] == "last week ¥2,200"
    assert revenue["change"] == "▲ +¥1,600 (+72.7%)" and revenue["cls"] == "up good"
    lost = next(r for r in groups["stages"]["table"]["rows"] if r["label"].startswith("lost"))
    assert lost["label"] == "lost (≥365 days)" and lost["cells"][0]["cls"] == "up bad"
    assert lost["cells"][0]["main"] == "1 · 12.5%"
    rate = groups["winback"]["table"]["rows"][1]["cells"][0]  # control, all stores
    assert rate["main"] == "50.0% (n=2)" and rate["change"] == "▲ +50.0 pts"
    price = groups["loss_reasons"]["table"]["rows"][0]["cells"][0]  # 1 lost on price, as before
    assert price["change"] == "＝ no change" and price["cls"] == "flat"
    d2 = groups["service"]["table"]["rows"][1]["cells"][2]  # D2's invoice: 800 vs 1200
    assert d2["change"] == "▼ −¥400 (−33.3%)" and d2["cls"] == "down bad"
    advisors = groups["advisors"]["table"]
    assert [r["label"] for r in advisors["rows"]] == ["A1", "A2"]  # the two busiest
    assert advisors["note"] == "The first 2 of 4 shown."
    page = html.render_report(html.ReportInputs(kpi=board), "zh")
    assert "门店周报" in page and "全部门店" in page and "3,800 元" in page
    assert not any(value in page for value in NAMES)


def test_report_command_with_a_data_directory(write_dir, make_tables, pii_values, tmp_path):
    # the default tables: visits to 2024-05-30 (00105, 620 CNY, maintenance), here with the
    # advisor who took each repair order (one not recorded)
    visits = make_tables()["service_visits"]
    visits["advisor_id"] = ["SA1", "SA2", "SA1", "", "SA2", "SA1", "SA2", "SA1", "SA2", "SA9"]
    data = write_dir(make_tables(optional=["outreach"], service_visits=visits))
    out = tmp_path / "report.html"
    args = ["report", "--data", str(data), "--through", "2024-05-30", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--lang", "en"])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "As of 2024-05-31" in page and "¥620" in page
    assert "Not collected: the data has no leads." in page
    advisors = page[page.index('id="kpi-advisors"') : page.index('id="kpi-consultants"')]
    assert ">SA9<" in advisors and ">¥620<" in advisors and "SA1" not in advisors
    assert not any(value in page for value in pii_values)
    both = CliRunner().invoke(app, [*args, "--as-of", "2024-05-31"])
    assert both.exit_code == 1 and "not both" in both.output
    typo = tmp_path / "params.yaml"
    typo.write_text("kpi:\n  week_dayz: 7\n", encoding="utf-8")
    wrong = CliRunner().invoke(app, [*args, "--params", str(typo)])
    assert wrong.exit_code == 1 and "unknown kpi params: week_dayz" in wrong.output
