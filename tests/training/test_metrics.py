"""Metrics: AUC, F-max, F1 at thresholds, threshold choice, bootstrap interval."""
import itertools

import numpy as np
import pytest

from tgll_edge.training import metrics as m


def test_auc_by_hand_with_ties():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4])
    # pairs (pos, neg): 0.35 beats 0.1 only (1 of 3); 0.8 beats all (3); 0.4 beats 0.1, ties 0.4 twice (1+0.5+0.5)
    assert m.per_class_auc(y, p)[0] == pytest.approx((1 + 3 + 2) / 9)


def test_auc_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y = (rng.random((300, 6)) < [0.02, 0.1, 0.3, 0.5, 0.7, 0.9]).astype(int)
    p = np.round(rng.random((300, 6)) * 0.7 + 0.3 * y, 2)  # rounding makes ties
    np.testing.assert_allclose(m.per_class_auc(y, p), [sk.roc_auc_score(y[:, c], p[:, c]) for c in range(6)])
    assert m.macro_auc(y, p) == pytest.approx(sk.roc_auc_score(y, p, average="macro"))


def test_undefined_classes_are_nan_and_skipped():
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1]])
    p = np.array([[0.9, 0.2, 0.1], [0.1, 0.3, 0.2], [0.8, 0.1, 0.3]])
    auc = m.per_class_auc(y, p)
    assert auc[0] == 1.0 and np.isnan(auc[1]) and np.isnan(auc[2])
    assert m.macro_auc(y, p) == 1.0
    with pytest.raises(ValueError, match="no class"):
        m.macro_auc(y[:, 1:], p[:, 1:])


def test_bad_inputs():
    with pytest.raises(ValueError, match="must both be"):
        m.macro_auc(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        m.macro_auc(np.array([[0], [1]]), np.array([[np.nan], [0.5]]))
    with pytest.raises(ValueError, match="0/1"):
        m.macro_auc(np.array([[0], [2]]), np.array([[0.1], [0.5]]))


def test_f1_at_thresholds_by_hand():
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    p = np.array([[0.9, 0.2], [0.4, 0.7], [0.6, 0.3], [0.1, 0.8]])
    # class 0 at 0.5: predicted rows 0, 2 -> tp 1, fp 1, fn 1 -> F1 0.5
    # class 1 at 0.25: predicted rows 1, 2, 3 -> tp 2, fp 1, fn 0 -> F1 0.8
    np.testing.assert_allclose(m.f1_at(y, p, [0.5, 0.25], average=None), [0.5, 0.8])
    assert m.f1_at(y, p, [0.5, 0.25]) == pytest.approx(0.65)


def test_chosen_thresholds_maximise_f1():
    rng = np.random.default_rng(3)
    y = (rng.random((80, 4)) < 0.3).astype(int)
    p = np.round(0.6 * rng.random((80, 4)) + 0.4 * y * rng.random((80, 4)), 2)
    thr = m.choose_thresholds(y, p)
    best = m.f1_at(y, p, thr, average=None)
    for c in range(4):
        candidates = np.unique(p[:, c])
        brute = max(m.f1_at(y[:, [c]], p[:, [c]], t) for t in candidates)
        assert best[c] == pytest.approx(brute)
        # midway between scores: no score sits on the threshold
        assert not np.any(p[:, c] == thr[c]) or thr[c] == p[:, c].min()


def test_threshold_default_for_class_without_positives():
    y = np.array([[0, 1], [0, 0], [0, 1]])
    p = np.array([[0.2, 0.9], [0.7, 0.1], [0.4, 0.8]])
    thr = m.choose_thresholds(y, p)
    assert thr[0] == 0.5 and 0.1 < thr[1] < 0.8


def test_fmax():
    y = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 1]])
    assert m.fmax(y, y * 0.9 + 0.05) == pytest.approx(1.0)
    # by hand at t in (0.3, 0.6]: predictions {0}, {1}, {2}: precision 1, 1, 1; recall 1, 1/2, 1/2
    p = np.array([[0.7, 0.1, 0.2], [0.1, 0.6, 0.3], [0.2, 0.1, 0.9]])
    pr, rc = 1.0, (1 + 0.5 + 0.5) / 3
    best_by_hand = 2 * pr * rc / (pr + rc)
    # at t <= 0.3 row 1 adds label 2 (precision 1, recall 1): pr 1, rc (1 + 1 + 0.5)/3
    rc2 = (1 + 1 + 0.5) / 3
    best_by_hand = max(best_by_hand, 2 * rc2 / (1 + rc2))
    # at t <= 0.2 rows 0 and 2 add wrong/right labels: row0 {0,2} p .5 r 1; row2 {0,2} p 1 r 1; row1 {1,2}
    pr3, rc3 = (0.5 + 1 + 1) / 3, 1.0
    best_by_hand = max(best_by_hand, 2 * pr3 * rc3 / (pr3 + rc3))
    assert m.fmax(y, p) == pytest.approx(best_by_hand)


def test_bootstrap_interval():
    rng = np.random.default_rng(0)
    y = (rng.random((400, 3)) < 0.3).astype(int)
    p = rng.random((400, 3)) + 0.5 * y
    point = m.macro_auc(y, p)
    lo, hi = m.bootstrap_ci(y, p, n_boot=300, seed=1)
    assert lo < point < hi and hi - lo < 0.12
    assert (lo, hi) == m.bootstrap_ci(y, p, n_boot=300, seed=1)
    lo_s, hi_s = m.bootstrap_ci(y[:80], p[:80], n_boot=300, seed=1)
    assert hi_s - lo_s > hi - lo  # fewer records, wider interval


def test_evaluation_report_is_json_ready():
    import json

    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    p = np.array([[0.9, 0.2], [0.3, 0.3], [0.7, 0.1], [0.2, 0.4]])
    r = m.evaluation_report(y, p, ["A", "B"], [0.5, 0.5], n_boot=50)
    json.dumps(r, allow_nan=False)
    assert r["per_class_auc"] == {"A": 1.0, "B": None} and r["n_positive"] == {"A": 2, "B": 0}
    assert r["macro_auc"] == 1.0 and r["f1_at_thresholds"] == 1.0


@pytest.mark.parametrize("n", [1, 2])
def test_tiny_inputs(n):
    y = np.array(list(itertools.islice(itertools.cycle([[1], [0]]), n)))
    p = np.linspace(0, 1, n)[:, None]
    if n == 1:
        with pytest.raises(ValueError):
            m.macro_auc(y, p)
    else:
        assert m.macro_auc(y, p) == 0.0  # the positive scored lowest
