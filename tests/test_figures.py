"""The figures' font, languages and readability: Chinese glyphs, labels, money and durations."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import LogNorm

from features.dictionary import duration_text
from models.explain import format_values
from models.reporting import figures, labels
from models.reporting import score as score_report
from models.reporting.figures import CJK_FONT, Figure, check_lang, cjk_font_path, save_figure
from models.reporting.monitor import plot_effects
from models.reporting.policy import sweep_figure


def _draw(tmp_path, words: str) -> None:
    fig = Figure(figsize=(2, 1))
    fig.subplots().set_title(words)
    save_figure(fig, tmp_path / "t.png")


def test_dejavu_alone_misses_chinese_glyphs(tmp_path) -> None:
    # the check below is only worth something if the default font really lacks the glyphs
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        with pytest.warns(UserWarning, match=r"Glyph \d+ .* missing from font"):
            _draw(tmp_path, "客户")


def test_registered_font_draws_chinese_without_missing_glyphs(tmp_path) -> None:
    path = cjk_font_path()
    assert path.name == "NotoSansSC-Regular.ttf"
    # the free licence ships next to the font (SIL Open Font License 1.1)
    assert "SIL OPEN FONT LICENSE Version 1.1" in (path.parent / "OFL.txt").read_text()
    assert CJK_FONT in {f.name for f in matplotlib.font_manager.fontManager.ttflist}
    assert list(matplotlib.rcParams["font.family"]) == figures.FONT_FAMILY
    _draw(tmp_path, "客户 预算 ¥80万 −0.5")  # warnings are errors: a missing glyph fails


def test_check_lang() -> None:
    assert check_lang("zh") == "zh" and check_lang("en") == "en"
    with pytest.raises(ValueError, match=r"report.lang must be one of zh, en, got 'fr'"):
        check_lang("fr")


def test_label_table_has_both_languages() -> None:
    for key, (zh, en) in labels.TEXT.items():
        assert zh and en, key
    assert labels.text("matrix.budget", "zh", money="¥1.2万") == "预算 ¥1.2万"
    assert labels.text("matrix.budget", "en", money="¥12k") == "budget ¥12k"
    assert labels.name("pre_churn", "zh") == "预流失"
    assert labels.name("my_store_action", "zh") == "my_store_action"  # a store's own name
    assert labels.segment_name("high|deep", "zh") == "高价值·深度流失"
    assert labels.feature_label("vehicle_age_days", "zh") == "车龄"
    assert labels.feature_label("vehicle_age_days", "en") == "Vehicle age"


@pytest.mark.parametrize(
    ("amount", "zh", "en"),
    [
        (800000.0, "80万", "800k"),
        (123456789.0, "1.2亿", "123.5M"),
        (5000.0, "5,000", "5,000"),
        (12345.0, "1.2万", "12.3k"),
        (-25000.0, "-2.5万", "-25k"),
        (480.0, "480", "480"),
        (0.0, "0", "0"),
    ],
)
def test_money(amount, zh, en) -> None:
    assert labels.money(amount, "zh") == zh
    assert labels.money(amount, "en") == en
    assert labels.money_formatter("zh")(amount, 0) == zh


@pytest.mark.parametrize(
    ("days", "en", "zh"),
    [
        (45.0, "45 days", "45天"),
        (1.0, "1 day", "1天"),
        (95.0, "3.1 months", "3.1个月"),
        (212.0, "7 months", "7个月"),
        (-120.0, "-3.9 months", "-3.9个月"),
        (3283.0, "9 years", "9年"),
        (913.0, "2.5 years", "2.5年"),
    ],
)
def test_duration_text(days, en, zh) -> None:
    assert duration_text(days) == (en, zh)


def test_reason_values_in_days_read_in_months_and_years() -> None:
    en, zh = format_values(np.array([3283.0, 20.0, np.nan]), "days")
    assert en.tolist() == ["9 years", "20 days", "not recorded"]
    assert zh.tolist() == ["9年", "20天", "无记录"]


def test_duration_unit() -> None:
    assert labels.duration_unit(np.array([10.0, 100.0])) == ("days", 1.0)
    assert labels.duration_unit(np.array([-400.0, 20.0]))[0] == "months"
    assert labels.duration_unit(np.array([3283.0, np.nan]))[0] == "years"


def _cells() -> pd.DataFrame:
    # one crowded cell (low x no_history) and a few small ones
    rows = [
        ("high", "early", 75, 38, 14.5, 760.0),
        ("high", "no_history", 0, 0, 0.0, 0.0),
        ("low", "early", 119, 0, 0.0, 0.0),
        ("low", "no_history", 6323, 0, 0.0, 0.0),
    ]
    cols = ["value_tier", "stage", "customers", "contacted", "expected_returns", "budget_used"]
    cells = pd.DataFrame(rows, columns=cols)
    cells["expected_incremental"] = cells["expected_returns"] / 2
    return cells


@pytest.fixture
def captured(monkeypatch):
    """The figures a reporting module saves, kept for inspection (files still written)."""
    kept: list = []

    def wrap(module):
        real = module.save_figure

        def save(fig, path, **kw):
            kept.append(fig)
            return real(fig, path, **kw)

        monkeypatch.setattr(module, "save_figure", save)
        return kept

    return wrap


def test_matrix_colour_scale_and_budget_labels(tmp_path, captured) -> None:
    kept = captured(score_report)
    score_report.plot_matrix(_cells(), tmp_path / "m.png", lang="zh")
    ax = kept[0].axes[0]
    assert isinstance(ax.images[0].norm, LogNorm)  # not ruled by the 6,323 cell
    texts = [t.get_text() for t in ax.texts]
    assert "75 位客户\n触达 38\n预期回店 14.5\n预算 ¥760" in texts
    assert "6,323 位客户\n触达 0\n预期回店 0.0\n预算 ¥0" in texts
    assert all(t.get_fontsize() >= 9 for t in ax.texts)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["高价值\n(75)", "低价值\n(6,442)"]
    # the empty cell is blank, not the scale's lowest colour
    assert bool(ax.images[0].get_array().mask[0, 1])


def test_matrix_is_deterministic_in_both_languages(tmp_path) -> None:
    for lang in ("zh", "en"):
        a = score_report.plot_matrix(_cells(), tmp_path / f"a_{lang}.png", lang=lang)
        b = score_report.plot_matrix(_cells(), tmp_path / f"b_{lang}.png", lang=lang)
        assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a_zh.png").read_bytes() != (tmp_path / "a_en.png").read_bytes()


def test_sweep_money_axis(tmp_path, captured) -> None:
    from models.reporting import policy as policy_report

    kept = captured(policy_report)
    sweep = pd.DataFrame(
        {
            "policy": ["model", "model", "same_coupon", "same_coupon", "oracle", "oracle"],
            "budget_share": [0.5, 1.0, 0.5, 1.0, 0.5, 1.0],
            "net_value": [400000.0, 800000.0, 100000.0, 200000.0, 900000.0, 990000.0],
            "value_per_cost": [4.0, 3.0, 1.0, 1.0, 6.0, 5.0],
        }
    )
    sweep_figure(sweep, tmp_path / "s.png", lang="zh")
    ax = kept[0].axes[0]
    assert ax.yaxis.get_major_formatter()(800000.0, 0) == "80万"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["模型策略", "统一优惠券", "全知参照（真值）"]
    # the net value is drawn (not the incremental value); the oracle is the dashed reference
    assert list(ax.get_lines()[0].get_ydata()) == [400000.0, 800000.0]
    assert ax.get_lines()[2].get_linestyle() == "--"


def test_effects_figure_has_a_verdict_legend(tmp_path, captured) -> None:
    from models.reporting import monitor as monitor_report

    kept = captured(monitor_report)
    effects = pd.DataFrame(
        {
            "level": ["all", "segment"],
            "segment": ["all", "high|deep"],
            "action": ["all", "all"],
            "window_days": [60, 60],
            "window_status": ["observed", "observed"],
            "n_treated": [100, 40],
            "n_control": [25, 10],
            "incremental": [0.10, -0.05],
            "ci_low": [0.02, -0.2],
            "ci_high": [0.18, 0.1],
            "verdict": ["improved", "no evidence"],
        }
    )
    plot_effects(effects, tmp_path / "e.png", lang="zh", until=pd.Timestamp("2026-09-30"))
    fig = kept[0]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["有改善", "无证据", "变差", "样本过少", "置信区间"]
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == ["全部  (100 / 25)", "高价值·深度流失  (40 / 10)"]


def test_curves_carry_auc_period_and_rows(tmp_path, captured) -> None:
    from models.reporting import evaluation as evaluation_report

    kept = captured(evaluation_report)
    roc = pd.DataFrame(
        {
            "model": ["model", "model", "model", "formula", "formula"],
            "fpr": [0.0, 0.2, 1.0, 0.0, 1.0],
            "tpr": [0.0, 0.7, 1.0, 0.0, 1.0],
        }
    )
    metrics = {
        "churn": {
            "n": 1234,
            "test_start": "2026-02-01",
            "test_end": "2026-04-01",
            "model": {"roc_auc": 0.75},
            "formula": {"roc_auc": 0.5},
        }
    }
    written = evaluation_report.curve_figures({"roc": roc}, tmp_path, metrics, lang="zh")
    assert [p.name for p in written] == ["roc.png"]
    ax = kept[0].axes[0]
    assert ax.get_title() == "流失预测：ROC 曲线\n测试期 2026-02-01..2026-04-01，1,234 行"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["流失模型（已校准）  AUC 0.750", "手册公式  AUC 0.500", "随机"]
    evaluation_report.curve_figures({"roc": roc}, tmp_path / "en", metrics, lang="en")
    assert kept[1].axes[0].get_title() == "Churn: ROC\ntest 2026-02-01..2026-04-01, 1,234 rows"
