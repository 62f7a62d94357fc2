"""The report's store KPI board (门店周报): :class:`models.kpi.KpiBoard` as display tables.

One compact table per group of figures. The store groups (service, mix, stages, win-back,
leads, loss reasons) have a column per store, all stores first: each cell is this week's
value, with last week's and the signed change (an arrow, green when the move is good for the
store, red when bad) under it. The people groups (advisors, consultants) have a row per
person, the most repair orders / closed leads this week first, the first ``top`` shown. A
group whose table or column the data lacks says "not collected" and what is missing.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from models.kpi import (
    ALL_STORES,
    LAPSE_STAGES,
    NOT_RECORDED,
    SECTIONS,
    SHARE_FIGURES,
    KpiBoard,
)
from models.reporting.i18n import (
    KPI_ITEM_LABELS,
    LOST_REASON_LABELS,
    STAGE_LABELS,
    VISIT_TYPE_LABELS,
    label,
    text,
)
from models.reporting.verdict import money

#: Stages and figures whose rise is bad for the store (a red arrow up); the mix is neutral.
_WORSE_UP = frozenset({"early", "deep", "lost"})
#: Figures shown in money.
_MONEY = frozenset({"avg_invoice", "revenue"})
#: The figures of each people section, and the one that orders its rows.
_PEOPLE = {
    "advisors": (("orders", "revenue", "avg_invoice"), "orders"),
    "consultants": (("won", "lost", "conversion"), "closed"),
}


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and pd.isna(x))


def _value(x: Any, figure: str, lang: str) -> str:
    if _missing(x):
        return "–"
    if figure in SHARE_FIGURES:
        return f"{100 * x:.1f}%"
    if figure in _MONEY:
        return money(x, lang)
    if figure == "orders_per_day":
        return f"{x:,.1f}"
    return f"{x:,.0f}"


def _change(row: pd.Series, lang: str) -> tuple[str, str]:
    """The signed change with an arrow, and its CSS class (up/down, good/bad)."""
    change, figure = row["change"], row["figure"]
    if _missing(change):
        return "–", "flat"
    if abs(change) < 1e-9:  # shares of equal counts may differ in the last bit
        return text("kpi_flat", lang), "flat"
    arrow, direction = ("▲", "up") if change > 0 else ("▼", "down")
    if figure in SHARE_FIGURES:
        shown = text("kpi_points", lang, x=f"{100 * change:+.1f}")
    elif figure in _MONEY:
        shown = ("+" if change >= 0 else "−") + money(abs(change), lang)
    elif figure == "orders_per_day":
        shown = f"{change:+,.1f}"
    else:
        shown = f"{change:+,.0f}"
    if not _missing(row["pct_change"]):
        shown += f" ({100 * row['pct_change']:+.1f}%)"
    worse_up = row["section"] == "loss_reasons" or _WORSE_UP & {row["item"], figure}
    good = ""
    if row["section"] != "mix":
        good = " bad" if (change > 0) == bool(worse_up) else " good"
    # one minus sign throughout (U+2212, as money shows it)
    return f"{arrow} {shown}".replace("-", "−"), direction + good


def _cell(row: pd.Series, lang: str, share: pd.Series | None = None) -> dict[str, str]:
    """This week (main), last week and the change of one figure (and its share beside it)."""
    figure = row["figure"]
    main, last = _value(row["this_week"], figure, lang), _value(row["last_week"], figure, lang)
    if share is not None:
        main += f" · {_value(share['this_week'], 'share', lang)}"
        last += f" · {_value(share['last_week'], 'share', lang)}"
    if figure in ("rate", "conversion") and not _missing(row["n_this_week"]):
        main += f" (n={int(row['n_this_week']):,})"
        if not _missing(row["n_last_week"]):
            last += f" (n={int(row['n_last_week']):,})"
    change, cls = _change(row, lang)
    return {"main": main, "last": text("kpi_last", lang, x=last), "change": change, "cls": cls}


def _stage_label(bounds: tuple[int, ...], stage: str, lang: str) -> str:
    """A lapse stage with its days since the last visit: ``active (<90 days)``, ...."""
    b = [int(x) for x in bounds]
    edges = dict(
        zip(
            LAPSE_STAGES,
            [f"<{b[0]}", f"{b[0]}–{b[1] - 1}", f"{b[1]}–{b[2] - 1}", f"≥{b[2]}"],
            strict=True,
        )
    )
    return text("kpi_stage", lang, stage=label(STAGE_LABELS, stage, lang), days=edges[stage])


def _item(section: str, item: str, figure: str, lang: str, bounds: tuple[int, ...]) -> str:
    if item == NOT_RECORDED:
        return text("kpi_not_recorded", lang)
    if section == "mix":
        return label(VISIT_TYPE_LABELS, item, lang)
    if section == "stages":
        return _stage_label(bounds, item, lang)
    if section == "loss_reasons":
        return label(LOST_REASON_LABELS, item, lang)
    return label(KPI_ITEM_LABELS, item or figure, lang)


def _store(dealer: str, lang: str) -> str:
    return text("kpi_all_stores", lang) if dealer == ALL_STORES else dealer


def _store_table(board: KpiBoard, section: str, lang: str, _top: int = 0) -> dict[str, Any]:
    """One column per store (all stores first), one row per item and figure."""
    f = board.figures[board.figures["section"] == section]
    stores = board.stores
    keyed = {(r["dealer_id"], r["item"], r["figure"]): r for _, r in f.iterrows()}
    order = list(dict.fromkeys(zip(f["item"], f["figure"], strict=True)))
    rows = []
    for item, figure in order:
        if section == "stages" and figure == "share":
            continue  # shown beside the count
        cells = []
        for store in stores:
            row = keyed.get((store, item, figure))
            share = keyed.get((store, item, "share")) if section == "stages" else None
            cells.append(_cell(row, lang, share) if row is not None else None)
        rows.append(
            {"label": _item(section, item, figure, lang, board.stage_bounds), "cells": cells}
        )
    return {
        "header": [text(f"kpi_col_{section}", lang), *(_store(s, lang) for s in stores)],
        "rows": rows,
    }


def _people_table(board: KpiBoard, section: str, lang: str, top: int) -> dict[str, Any]:
    """One row per person (and dealer), the busiest this week first, the first ``top``."""
    figures, order_by = _PEOPLE[section]
    f = board.figures[board.figures["section"] == section]
    keyed = {(r["dealer_id"], r["item"], r["figure"]): r for _, r in f.iterrows()}
    people = list(dict.fromkeys(zip(f["dealer_id"], f["item"], strict=True)))

    def weight(key: tuple[str, str]) -> tuple[float, str, str]:
        if order_by == "closed":  # consultants: leads closed this week
            won, lost = (keyed[(*key, fig)]["this_week"] for fig in ("won", "lost"))
            size = float(won) + float(lost)
        else:
            size = float(keyed[(*key, order_by)]["this_week"])
        return (-size, key[0], key[1])

    people.sort(key=weight)
    rows = []
    for dealer, person in people[:top]:
        name = text("kpi_not_recorded", lang) if person == NOT_RECORDED else person
        cells = [_cell(keyed[(dealer, person, fig)], lang) for fig in figures]
        rows.append({"store": dealer, "label": name, "cells": cells})
    header = [text("kpi_col_store", lang), text(f"kpi_col_{section}", lang)]
    header += [label(KPI_ITEM_LABELS, fig, lang) for fig in figures]
    shown = (
        text("kpi_top", lang, k=min(top, len(people)), n=len(people)) if len(people) > top else ""
    )
    return {"header": header, "rows": rows, "note": shown}


def kpi_section(board: KpiBoard | None, lang: str, top: int = 10) -> dict[str, Any] | None:
    """The KPI board as the template's tables (None without a board).

    Args:
        board: The board (:func:`models.kpi.kpi_board`).
        lang: ``zh`` or ``en``.
        top: Advisors and consultants listed per table.

    Returns:
        ``intro`` and ``groups``: each with ``key``, ``title``, ``note``, ``missing``
        (the not-collected sentence, or None), ``empty`` (no record in either week, or
        None) and its ``table``.
    """
    if board is None:
        return None
    (this_start, end), (last_start, _) = board.weeks()
    day = pd.Timedelta(days=1)
    intro = text(
        "kpi_intro",
        lang,
        as_of=f"{board.as_of:%Y-%m-%d}",
        this=f"{this_start:%m-%d}–{end - day:%m-%d}",
        last=f"{last_start:%m-%d}–{this_start - day:%m-%d}",
    )
    groups = []
    for section in SECTIONS:
        missing = board.not_collected.get(section)
        empty = not (board.figures["section"] == section).any()
        table = None
        if not missing and not empty:
            people = section in _PEOPLE
            table = (_people_table if people else _store_table)(board, section, lang, top)
        note = f"kpi_note_{section}"
        groups.append(
            {
                "key": section,
                "title": text(f"kpi_sec_{section}", lang),
                "note": text(
                    note,
                    lang,
                    window=board.window_days,
                    days=board.week_days,
                    period=board.winback_days,
                ),
                "missing": text("kpi_not_collected", lang, what=missing) if missing else None,
                "empty": text("kpi_empty", lang) if not missing and empty else None,
                "people": section in _PEOPLE,
                "table": table,
            }
        )
    return {"intro": intro, "groups": groups}
