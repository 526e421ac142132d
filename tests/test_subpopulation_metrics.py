"""The subpopulation protocol's metrics against hand-computed values and scikit-learn's."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rgd_bench.engine.protocols.subpopulation_metrics import auroc, expected_calibration_error, split_metrics

# 4 examples, 2 classes x 2 attributes, one per group; predicted: right, wrong, right, wrong.
P = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])
Y = np.array([0, 0, 1, 1])
A = np.array([0, 1, 0, 1])


def test_metrics_by_hand():
    metrics = split_metrics(P, Y, A, num_attributes=2)
    assert metrics == pytest.approx({
        "avg_acc": 0.5, "worst_group_acc": 0.0, "balanced_acc": 0.5, "worst_class_acc": 0.5,
        # each confidence alone in its bin: (|1 - .9| + |0 - .6| + |1 - .8| + |0 - .7|) / 4
        "ece": 0.4,
        # positives score .8, .3; negatives .1, .6: 3 of the 4 pairs ordered right
        "auroc": 0.75,
        "acc_y0_a0": 1.0, "acc_y0_a1": 0.0, "acc_y1_a0": 1.0, "acc_y1_a1": 0.0})


def test_ece_weighs_each_bin_by_its_share():
    # 0.91 and 0.93 share the bin (0.867, 0.933]: accuracy 1/2, confidence 0.92; 0.5 alone, right.
    confidence, correct = np.array([0.91, 0.93, 0.5]), np.array([1.0, 0.0, 1.0])
    assert expected_calibration_error(confidence, correct) == pytest.approx(2 / 3 * 0.42 + 1 / 3 * 0.5)


def test_what_a_split_cannot_define_is_left_out_never_nan():
    # Only class 0, attribute 1: no auroc, one group, one class.
    metrics = split_metrics(P[:2], np.array([0, 0]), np.array([1, 1]), num_attributes=2)
    assert "auroc" not in metrics and set(k for k in metrics if k.startswith("acc_y")) == {"acc_y0_a1"}
    assert metrics["worst_group_acc"] == metrics["avg_acc"] == 0.5
    assert all(math.isfinite(v) for v in metrics.values())
    # Multiclass: no auroc either.
    three = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    assert "auroc" not in split_metrics(three, np.array([2, 1]), np.array([0, 0]), num_attributes=1)


def test_worst_group_is_the_lowest_group_and_classes_are_recalls():
    probabilities = np.eye(3)[[0, 0, 1, 1, 1, 2]]  # predicted 0, 0, 1, 1, 1, 2
    y = np.array([0, 1, 1, 1, 2, 2])
    a = np.array([0, 0, 0, 1, 0, 1])
    metrics = split_metrics(probabilities, y, a, num_attributes=2)
    # class recalls: 0 -> 1/1, 1 -> 2/3, 2 -> 1/2; groups: y1a0 1/2, y1a1 1, y2a0 0, y2a1 1
    assert metrics["balanced_acc"] == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    assert metrics["worst_class_acc"] == pytest.approx(0.5)
    assert metrics["worst_group_acc"] == 0.0 and metrics["acc_y2_a0"] == 0.0 and metrics["acc_y1_a0"] == 0.5


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 20)), min_size=2, max_size=60))
def test_auroc_and_balanced_accuracy_equal_scikit_learns(pairs):
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    y = np.array([label for label, _ in pairs])
    scores = np.array([score / 20 for _, score in pairs])  # coarse scores: many ties
    probabilities = np.stack([1 - scores, scores], axis=1)
    metrics = split_metrics(probabilities, y, np.zeros_like(y), num_attributes=1)
    assert metrics["balanced_acc"] == pytest.approx(balanced_accuracy_score(y, probabilities.argmax(1)))
    if len(set(y)) == 2:
        assert auroc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
        assert metrics["auroc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    else:
        assert "auroc" not in metrics


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40), st.data())
def test_ece_is_within_zero_and_one_and_zero_when_calibrated_per_bin(confidences, data):
    confidence = np.array(confidences)
    correct = np.array(data.draw(st.lists(st.booleans(), min_size=len(confidences), max_size=len(confidences))),
                       dtype=float)
    assert 0.0 <= expected_calibration_error(confidence, correct) <= 1.0
    assert expected_calibration_error(np.ones(4), np.ones(4)) == 0.0
