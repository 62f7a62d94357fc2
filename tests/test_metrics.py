"""Metrics against values computed by hand (arithmetic in the comments)."""

import numpy as np
import pytest

from models import metrics


def test_top_decile_lift_and_capture():
    # 10 rows, 2 positives (rate 0.2); the top 10% is the single highest score, a positive:
    # lift = 1.0 / 0.2 = 5, capture = 1 of 2 positives = 0.5
    y = [1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    s = list(range(10, 0, -1))
    out = metrics.top_fraction_lift(y, s, 0.1)
    assert out == pytest.approx({"lift": 5.0, "capture": 0.5})


def test_ece_equal_width_bins():
    # bins: 0.05 -> [0,.1), 0.15 -> [.1,.2), 0.95 twice -> [.9,1]
    # |.05-0|*1/4 + |.15-0|*1/4 + |.95-.5|*2/4 = .0125 + .0375 + .225 = .275
    y = [0, 0, 1, 0]
    p = [0.05, 0.15, 0.95, 0.95]
    assert metrics.expected_calibration_error(y, p, 10) == pytest.approx(0.275)
    table = metrics.calibration_table(y, p, 10)
    assert table["count"].tolist() == [1, 1, 2]
    assert table["bin_lower"].tolist() == pytest.approx([0.0, 0.1, 0.9])


def test_probability_one_lands_in_last_bin():
    table = metrics.calibration_table([1], [1.0], 10)
    assert table["bin_lower"].tolist() == pytest.approx([0.9])


def test_qini_curve_and_coefficient_by_hand():
    # rows in score order: (y, t) = (1,1) (0,1) (1,0) (0,0)
    # N_t = 1,2,2,2  N_c = 0,0,1,2  R_t = 1,1,1,1  R_c = 0,0,1,1
    # qini = R_t - R_c*N_t/N_c = 1, 1, 1-2 = -1, 1-1 = 0
    y, t, s = [1, 0, 1, 0], [1, 1, 0, 0], [4, 3, 2, 1]
    curve = metrics.qini_curve(y, t, s)
    assert curve["qini"].tolist() == pytest.approx([0, 1, 1, -1, 0])
    # uplift = (R_t/N_t - R_c/N_c) * k = 1*1, .5*2, (.5-1)*3, (.5-.5)*4
    assert curve["uplift"].tolist() == pytest.approx([0, 1, 1, -1.5, 0])
    # trapezoid over fractions 0,.25,.5,.75,1: .125 + .25 + 0 - .125 = .25; random line area 0
    assert metrics.qini_coefficient(y, t, s) == pytest.approx(0.25 / 4)
    # reversed ranking puts the control responder first: a worse coefficient
    assert metrics.qini_coefficient(y, t, [1, 2, 3, 4]) < metrics.qini_coefficient(y, t, s)


def test_qini_ties_are_targeted_together():
    y, t = [1, 0, 1, 0], [1, 1, 0, 0]
    curve = metrics.qini_curve(y, t, [1, 1, 1, 1])
    # one group: the curve jumps from (0,0) straight to the end point, R_t - R_c*2/2 = 0
    assert curve["n"].tolist() == [0, 4]
    assert metrics.qini_coefficient(y, t, [1, 1, 1, 1]) == pytest.approx(0.0)


def test_uplift_at_fraction():
    y = [1, 0, 0, 1, 0, 0]
    t = [1, 0, 1, 0, 1, 0]
    s = [6, 5, 4, 3, 2, 1]
    # top 50% = rows 0..2: treated rows 0,2 -> rate .5; control row 1 -> rate 0
    assert metrics.uplift_at(y, t, s, 0.5) == pytest.approx(0.5)
    # all treated in the top third -> undefined
    assert np.isnan(metrics.uplift_at(y, t, s, 1 / 6))


def test_classification_report_perfect_and_random():
    y = np.array([0, 0, 1, 1])
    perfect = metrics.classification_report(y, [0.0, 0.0, 1.0, 1.0])
    assert perfect["roc_auc"] == 1.0 and perfect["brier"] == 0.0 and perfect["ece"] == 0.0
    flat = metrics.ranking_report(y, [0.5, 0.5, 0.5, 0.5])
    assert flat["roc_auc"] == 0.5


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([0, 1], [0.1], "one length"),
        ([0, 2], [0.1, 0.2], "0/1"),
        ([0, 1], [0.1, float("nan")], "missing"),
        ([], [], "no rows"),
    ],
)
def test_bad_input_is_refused(y, s, match):
    with pytest.raises(ValueError, match=match):
        metrics.ranking_report(y, s)


def test_qini_needs_both_groups():
    with pytest.raises(ValueError, match="both treated and control"):
        metrics.qini_curve([1, 0], [1, 1], [0.2, 0.1])
