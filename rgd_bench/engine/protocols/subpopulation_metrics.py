"""The subpopulation protocol's metrics of one split, as SubpopBench defines them
(``subpopbench/utils/eval_helper.py``), from predicted probabilities, labels and attributes.

* ``avg_acc``: the share of examples classified right.
* ``acc_y{y}_a{a}``: each group's accuracy, for the groups the split has.
* ``worst_group_acc``: the lowest of those (SubpopBench's ``min_group`` accuracy).
* ``balanced_acc``: the mean over the split's classes of their recall (scikit-learn's
  ``balanced_accuracy_score``, SubpopBench's ``balanced_acc``).
* ``worst_class_acc``: the lowest recall over the split's classes (what SubpopBench selects on
  when attributes are unknown in validation).
* ``ece``: the expected calibration error of the top-label confidence over 15 equal-width bins
  (Guo et al. 2017): ``sum_b n_b / n * |accuracy_b - confidence_b|``.  SubpopBench calls
  netcal's ECE, whose default is 10 bins; 15 is the common choice and this project's.
* ``auroc`` (binary tasks, both classes present): the area under the ROC curve of the
  probability of class 1, as SubpopBench's (scikit-learn's ``roc_auc_score``), computed here as
  the Mann-Whitney statistic with tied scores at their mean rank, which equals it (tested) and
  spares every run the seconds that importing ``sklearn.metrics`` costs.

A metric a split cannot define (a group or a class it lacks, one class only for AUROC) is left
out, never written as NaN.
"""
from __future__ import annotations

import numpy as np

ECE_BINS = 15
SUMMARY = ("avg_acc", "worst_group_acc", "balanced_acc", "worst_class_acc", "ece", "auroc")


def group_key(y: int, a: int) -> str:
    return f"acc_y{y}_a{a}"


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE over ``bins`` equal-width bins of (0, 1] (a bin holds (lo, hi])."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total)


def auroc(y: np.ndarray, scores: np.ndarray) -> float:
    """The area under the ROC curve of ``scores`` for the positive class 1: the probability that a
    positive scores above a negative, ties counting one half."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0  # 1-based ranks, ties at their mean
    ranks = mean_rank[inverse]
    positives = y == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def split_metrics(probabilities: np.ndarray, y: np.ndarray, a: np.ndarray, num_attributes: int) -> dict[str, float]:
    """The metrics of one split (see the module's docstring)."""
    predicted = probabilities.argmax(axis=1)
    correct = (predicted == y).astype(np.float64)
    metrics: dict[str, float] = {"avg_acc": float(correct.mean())}
    groups = y * num_attributes + a
    group_accs = {}
    for g in np.unique(groups):
        group_accs[group_key(int(g) // num_attributes, int(g) % num_attributes)] = float(correct[groups == g].mean())
    metrics["worst_group_acc"] = min(group_accs.values())
    recalls = [float(correct[y == c].mean()) for c in np.unique(y)]
    metrics["balanced_acc"] = float(np.mean(recalls))
    metrics["worst_class_acc"] = min(recalls)
    metrics["ece"] = expected_calibration_error(probabilities.max(axis=1), correct)
    if probabilities.shape[1] == 2 and len(np.unique(y)) == 2:
        metrics["auroc"] = auroc(y, probabilities[:, 1])
    metrics.update(sorted(group_accs.items()))
    return metrics
