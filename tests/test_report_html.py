"""The one HTML report: verdict, escaping, no personal data, the stage, MLflow, a real browser."""

from __future__ import annotations

import io
import json
import re
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest
from browser import chromium, console, open_page, root_tag
from typer.testing import CliRunner

from models.reporting import html
from models.reporting.verdict import GOOD, INFO, NOT_YET, verdict
from pipeline import report as report_stage
from pipeline.cli import app

HOSTILE_ID = "<script>document.title='pwned'</script>"
HOSTILE_REASON = "<img src=x onerror=\"document.title='pwned'\">"
PII = ("王小明", "13800138000", "粤B12345")


def _png(colour: str = "red") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (6, 4), colour).save(buf, "PNG")
    return buf.getvalue()


def _evaluation(low: float = 0.05, qini: tuple[float, float] = (-0.01, 0.012)) -> dict:
    return {
        "churn": {
            "n": 1200,
            "model": {"roc_auc": 0.77, "pr_auc": 0.68, "ece": 0.04, "brier": 0.19},
            "formula": {"roc_auc": 0.64, "pr_auc": 0.59},
            "roc_auc_gain_interval": {"difference": 0.13, "low": low, "high": 0.2},
            "scheme_text": "out of time",
        },
        "recovery": {
            "uplift_model": {"qini": 0.0057, "auuc": 0.029, "uplift_at_30": 0.067},
            "scorecard": {"qini": 0.0054, "auuc": 0.028, "uplift_at_30": 0.035},
            "churn_risk": {"qini": 0.0031, "auuc": 0.026, "uplift_at_30": 0.051},
            "qini_difference": {
                "scorecard": {"difference": 0.0004, "low": qini[0], "high": qini[1]}
            },
        },
    }


def _policy(net_model: float = 20_457.0, oracle: bool = False) -> dict:
    policies = {
        "model": {"contacts": 100, "cost": 2063.0, "net_value": net_model, "value_per_cost": 10.9},
        "same_coupon": {
            "contacts": 1418,
            "cost": 43459.0,
            "net_value": 70_960.0,
            "value_per_cost": 2.6,
        },
        "playbook_matrix": {
            "contacts": 386,
            "cost": 41530.0,
            "net_value": 26_751.0,
            "value_per_cost": 1.6,
        },
    }
    if oracle:
        policies["oracle"] = {"contacts": 300, "cost": 40000.0, "net_value": 90_000.0}
        policies["model"]["share_of_oracle"] = 0.45
    return {"as_of": "2026-09-30", "budget": 41_539.0, "policies": policies}


def _scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C000123", HOSTILE_ID, "C000999"],
            "name": [PII[0], "x", "y"],
            "phone": [PII[1], "1", "2"],
            "plate": [PII[2], "a", "b"],
            "as_of": ["2026-10-01"] * 3,
            "churn_risk": [0.4567, 0.1, float("nan")],
            "stage": ["deep", "active", "no_history"],
            "value_tier": ["high", "low", "low"],
            "segment": ["high|deep", "low|active", "low|no_history"],
            "recommended_action": ["advisor_call", "none", None],
            "priority_rank": [1, None, None],
            "uplift": [0.0216, 0.0, None],
            "status": ["scored", "scored", "no_history"],
            "reason_1_zh": ["距上次付费到店天数：264天", HOSTILE_REASON, None],
            "reason_1_en": ["Days since last paid visit: 264 days", HOSTILE_REASON, None],
        }
    )


def _matrix() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "value_tier": ["high", "high", "low"],
            "stage": ["active", "deep", "deep"],
            "customers": [10, 5, 7],
            "contacted": [0, 3, 1],
            "expected_returns": [0.0, 1.25, 0.5],
            "budget_used": [0.0, 60.0, 20.0],
        }
    )


def _inputs(**changes) -> html.ReportInputs:
    base = {
        "evaluation": _evaluation(),
        "evaluation_figures": {"qini": _png(), "roc": _png("blue")},
        "policy": _policy(),
        "scores": _scores(),
        "matrix": _matrix(),
    }
    return html.ReportInputs(**{**base, **changes})


# --- verdict -----------------------------------------------------------------------------


def test_verdict_says_what_beats_the_playbook_and_what_does_not_yet():
    lines = verdict(_evaluation(low=0.05), _policy(), "en")
    texts = [line.text for line in lines]
    churn = next(line for line in lines if "ROC-AUC" in line.text)
    assert churn.status == GOOD and "0.770 vs the formula's 0.640" in churn.text
    assert "+0.050 to +0.200" in churn.text
    qini = next(line for line in lines if "Qini" in line.text)
    assert qini.status == NOT_YET and "within noise" in qini.text
    # net value: the model's 20,457 is below the same coupon's 70,960 and the playbook's 26,751
    behind = next(line for line in lines if "below" in line.text and "net value" in line.text)
    assert behind.status == NOT_YET
    assert "same coupon to everyone and the playbook matrix" in behind.text
    assert "it spends ¥2,063 of the ¥41,539 budget" in behind.text
    ahead = [line.text for line in verdict(None, _policy(net_model=30_000.0), "en")]
    below = next(t for t in ahead if "below" in t)
    assert "same coupon" in below and "playbook" not in below
    assert any("¥20,457" in t and "¥70,960" in t and "¥26,751" in t for t in texts)
    assert not any("oracle" in t for t in texts)  # no oracle in this run: the line is left out


def test_verdict_with_an_interval_at_zero_and_an_oracle():
    lines = verdict(_evaluation(low=-0.01, qini=(0.001, 0.02)), _policy(90_000.0, True), "zh")
    by_text = {line.text: line.status for line in lines}
    assert any("尚未可靠地优于" in t and s == NOT_YET for t, s in by_text.items())
    assert any("优于经验评分卡" in t and s == GOOD for t, s in by_text.items())
    assert any("45%" in t and "oracle" in t for t in by_text)
    assert any("高于两种现行做法" in t for t in by_text)
    behind = verdict(None, _policy(), "zh")[2].text
    assert behind.startswith("模型策略的净收益低于同一张优惠券群发和经验矩阵：")


def test_verdict_reads_the_policy_goals():
    policy = _policy()
    policy["net_value_ratio"] = {"vs_same_coupon": 1.146, "vs_playbook": 3.1}
    policy["share_of_oracle"] = {"model": 0.62, "same_coupon": 0.55}
    policy["target"] = {"net_vs_same_coupon": 1.3, "share_of_oracle": 0.7}
    policy["target"] |= {"met_net_vs_same_coupon": False, "met_share_of_oracle": False}
    lines = {line.text: line.status for line in verdict(None, policy, "en")}
    said = "The model policy's net value is 1.15× the same coupon to everyone's (goal 1.3×)."
    assert lines[said] == NOT_YET
    assert lines[
        "The model policy reaches 62% of the simulator oracle's net value (goal 70%)."
    ] == (NOT_YET)
    policy["target"] |= {"met_net_vs_same_coupon": True}
    lines = {line.text: line.status for line in verdict(None, policy, "en")}
    assert lines[said] == GOOD


def test_verdict_leaves_out_what_a_run_did_not_write():
    policy = {"budget": 100.0, "policies": {"model": {"cost": 1.0}, "same_coupon": {}}}
    lines = verdict(None, policy, "en")
    assert [line.status for line in lines] == [NOT_YET]  # only "no evaluation"
    assert verdict({"churn": {}}, None, "en")[-1].status == INFO  # "no policy comparison"


# --- the page ----------------------------------------------------------------------------


def test_data_cannot_break_out_of_the_page():
    page = html.render_report(_inputs(), "en")
    assert HOSTILE_ID not in page and "<img src=x" not in page
    # three script elements: the two JSON blocks and the page's own code
    assert page.count("<script") == 3
    embedded = re.search(r'id="lookup-data">(.*?)</script>', page, re.S).group(1)
    assert "<" not in embedded
    rows = json.loads(embedded)["rows"]
    assert [r[0] for r in rows] == ["C000123", HOSTILE_ID, "C000999"]
    assert rows[1][-1] == [HOSTILE_REASON]


def test_script_json_round_trips_every_dangerous_character():
    value = {"a": "</script><!-- & \u2028 \u2029 >"}
    text = str(html.script_json(value))
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == value


def test_no_personal_data_and_no_external_url():
    page = html.render_report(_inputs(), "zh")
    for value in PII:
        assert value not in page
    assert "http://" not in page and "https://" not in page
    assert 'src="data:image/png;base64,' in page and "default-src 'none'" in page


def test_chinese_by_default_english_on_request_and_sections_in_reading_order():
    zh, en = html.render_report(_inputs()), html.render_report(_inputs(), "en")
    assert '<html lang="zh">' in zh and "客户流失与召回报告" in zh
    assert '<html lang="en">' in en and "Customer lookup" in en and "客户流失" not in en
    ids = ["verdict", "kpi", "evaluation", "explain", "lookup", "matrix", "policy"]
    positions = [zh.index(f'<section id="{i}">') for i in ids]
    assert positions == sorted(positions)
    # ROC before Qini, whatever order the files came in
    assert zh.index(html.text("fig_roc", "zh")) < zh.index(html.text("fig_qini", "zh"))
    assert html.render_report(_inputs()) == zh  # the same inputs give the same page
    with pytest.raises(ValueError, match="--lang"):
        html.render_report(_inputs(), "fr")


def test_missing_sections_say_so():
    page = html.render_report(html.ReportInputs(), "en")
    assert page.count("This run did not provide the data") == 6  # all but the verdict
    assert "This run did not provide the data of this section (--data)." in page


def test_lookup_rows_are_display_text_in_the_reports_language():
    data = html.lookup_data(_scores(), "zh")
    first = dict(zip(data["columns"], data["rows"][0], strict=True))
    assert first["churn_risk"] == "45.7%" and first["stage"] == "深度流失"
    assert first["segment"] == "高价值|深度流失" and first["uplift"] == "+2.2%"
    assert first["reasons"] == ["距上次付费到店天数：264天"]
    last = dict(zip(data["columns"], data["rows"][2], strict=True))
    assert last["churn_risk"] == "" and last["reasons"] == []
    assert data["as_of"] == "2026-10-01"


def test_lookup_shows_the_crm_files_chinese_action_and_status(tmp_path):
    from pipeline.report import read_scores

    scores = _scores().assign(
        recommended_action="none",
        recommended_action_zh="不联系",
        status="scored",
        status_zh="已评分",
    )
    path = tmp_path / "scores.parquet"
    scores.assign(name="张三").to_parquet(path)
    kept, _, _ = read_scores(path)
    assert "name" not in kept.columns and "status_zh" in kept.columns
    rows = html.lookup_data(kept, "zh")
    first = dict(zip(rows["columns"], rows["rows"][0], strict=True))
    assert first["recommended_action"] == "不联系" and first["status"] == "已评分"
    en = html.lookup_data(kept, "en")
    first_en = dict(zip(en["columns"], en["rows"][0], strict=True))
    assert first_en["recommended_action"] == "none" and first_en["status"] == "scored"


def test_matrix_table_totals():
    table = html.matrix_table(_matrix(), "en")
    assert table["stages"] == ["active", "deep churn"]
    high, low, total = table["rows"]
    assert high["cells"][2] == ["15", "3", "1.2", "60"]  # 1.25 shown with one decimal
    assert low["cells"][0] == ["0", "0", "0.0", "0"]
    assert total["cells"] == [
        ["10", "0", "0.0", "0"],
        ["12", "4", "1.8", "80"],
        ["22", "4", "1.8", "80"],
    ]


def test_policy_table_shows_only_the_keys_the_run_wrote():
    table = html.policy_table(_policy(), "en")
    assert "net value" in table["header"] and "share of oracle" not in table["header"]
    with_oracle = html.policy_table(_policy(oracle=True), "en")
    share = with_oracle["header"].index("share of oracle")
    assert with_oracle["rows"][0]["cells"][share] == "45%"
    assert with_oracle["rows"][1]["cells"][share] == "–"


def test_monitor_section_in_chinese():
    effects = pd.DataFrame(
        {
            "level": ["all", "all", "segment"],
            "window_days": [30, 90, 30],
            "window_status": ["observed", "partial (435 of 1095 observed)", "observed"],
            "rate_treated": [0.089, 0.201, 0.5],
            "rate_control": [0.092, 0.161, 0.1],
            "incremental": [-0.003, 0.04, 0.4],
            "ci_low": [-0.055, -0.054, 0.1],
            "ci_high": [0.05, 0.123, 0.6],
            "verdict": ["no evidence", "improved", "improved"],
            "cost_per_incremental": [float("nan"), 1128.4, 10.0],
        }
    )
    section = html.monitor_section(html.ReportInputs(monitor_effects=effects), "zh")
    assert [row[0] for row in section["rows"]] == ["30", "90"]  # the overall rows only
    assert section["rows"][1][1] == "部分观察（1095 中 435 位）"
    assert section["rows"][1][4] == "4.0% [-5.4%, 12.3%]" and section["rows"][1][5] == "有改善"
    assert section["rows"][0][6] == "–" and section["rows"][1][6] == "1,128 元"


# --- the stage ---------------------------------------------------------------------------


@pytest.fixture
def run_dirs(tmp_path: Path) -> Path:
    """A tiny run laid out as `winback demo` writes it (evaluate, explain, policy, score)."""
    base = tmp_path / "run"
    (base / "evaluate" / "figures").mkdir(parents=True)
    (base / "evaluate" / "metrics.json").write_text(json.dumps(_evaluation()))
    for stem in ("roc", "qini"):
        (base / "evaluate" / "figures" / f"{stem}.png").write_bytes(_png())
    (base / "explain" / "figures").mkdir(parents=True)
    (base / "explain" / "figures" / "shap_beeswarm.png").write_bytes(_png("green"))
    pd.DataFrame(
        {
            "feature": ["days_since_last_visit"],
            "label_en": ["Days since last service visit"],
            "label_zh": ["距上次到店保养天数"],
            "mean_abs_shap": [0.3],
            "share": [1.0],
        }
    ).to_parquet(base / "explain" / "importance.parquet")
    (base / "policy").mkdir()
    (base / "policy" / "metrics.json").write_text(json.dumps(_policy()))
    (base / "score").mkdir()
    _scores().to_csv(base / "score" / "scores.csv", index=False, encoding="utf-8-sig")
    _matrix().to_csv(base / "score" / "scores_matrix.csv", index=False)
    return base


def test_report_command_reads_the_run_and_never_the_personal_columns(run_dirs: Path):
    out = run_dirs / "report" / "report.html"
    args = ["report", "--out", str(out), "--score", str(run_dirs / "score" / "scores.csv")]
    for stage in ("evaluate", "explain", "policy"):
        args += [f"--{stage}", str(run_dirs / stage)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "距上次到店保养天数" in page and "C000123" in page
    assert not any(value in page for value in PII)
    assert page.count('src="data:image/png;base64,') == 3


def test_report_command_refuses_a_missing_directory(tmp_path: Path):
    result = CliRunner().invoke(
        app, ["report", "--evaluate", str(tmp_path / "nope"), "--out", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 1
    assert "error: --evaluate" in result.output and "no such directory" in result.output
    result = CliRunner().invoke(app, ["report", "--lang", "fr", "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "--lang must be one of zh, en" in result.output


@pytest.mark.slow
def test_report_is_logged_into_the_training_run(run_dirs: Path, monkeypatch):
    import mlflow

    from models import artifacts, tracking

    uri = f"sqlite:///{run_dirs}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    exp_id = tracking.setup(uri)
    with mlflow.start_run() as run:
        pass
    artifacts.RunRecord(run.info.run_id, tracking.EXPERIMENT, exp_id, uri, {}).save(
        run_dirs / "train"
    )
    page = report_stage.report_run(run_dirs)
    assert page == run_dirs / "report" / "report.html"
    names = {a.path for a in mlflow.MlflowClient(uri).list_artifacts(run.info.run_id, "report")}
    assert names == {"report/report.html"}


# --- a real browser ----------------------------------------------------------------------


def test_the_report_renders_in_a_real_browser(
    run_dirs: Path, tmp_path: Path, write_dir, make_tables
):
    browser = chromium()
    page = tmp_path / "report.html"
    inputs = report_stage.load_inputs(
        *(run_dirs / s for s in ("evaluate", "explain", "policy")),
        run_dirs / "score" / "scores.csv",
        None,
    )
    # the store KPI board of the default tables, the week to their last visit (2024-05-30)
    inputs.kpi = report_stage.load_kpi(write_dir(make_tables()), pd.Timestamp("2024-05-31"))
    page.write_text(html.render_report(inputs), encoding="utf-8")
    done = open_page(browser, page, "#customer=C000123", tmp_path / "p1", "--dump-dom")
    dom = done.stdout
    # the page's script ran to the end, nothing failed, nothing was logged or refused
    root = root_tag(dom)
    assert 'data-ready="1"' in root and "data-js-errors" not in root
    assert console(done) == []
    row = re.search(r'<table id="lookup-row">(.*?)</table>', dom, re.S).group(1)
    assert 'data-col="churn_risk">45.7%<' in row and "距上次付费到店天数：264天" in row
    assert "客户查询" in dom and "结论" in dom
    # the KPI board is there: the week's revenue of all stores (620 CNY) and a missing signal
    kpi = re.search(r'<section id="kpi">(.*?)</section>', dom, re.S).group(1)
    assert "门店周报" in kpi and "全部门店" in kpi and ">620 元<" in kpi
    assert "未采集：数据中没有 leads。" in kpi
    # the hostile id is looked up as text: no script of its own ran, no element was made
    hostile = "#customer=" + urllib.parse.quote(HOSTILE_ID, safe="")
    done = open_page(browser, page, hostile, tmp_path / "p2", "--dump-dom")
    assert "<title>winback" in done.stdout and "<title>pwned" not in done.stdout
    assert "&lt;script&gt;document.title" in done.stdout and '<img src="x"' not in done.stdout
    assert "&lt;img src=x onerror" in done.stdout
    assert 'data-found="1"' in done.stdout
    # and the page is not blank: the screenshot has many colours
    from PIL import Image

    shot = tmp_path / "shot.png"
    open_page(browser, page, "", tmp_path / "p3", f"--screenshot={shot}", "--window-size=1000,1400")
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50
