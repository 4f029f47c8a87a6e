"""Metrics against values worked out by hand on tiny examples (arithmetic in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hartune.train.metrics import classification_metrics, confusion, feature_distances, per_class_report


def _probs(y_pred: list[int], num_classes: int, confidence: float) -> np.ndarray:
    """Rows putting ``confidence`` on the predicted class and the rest spread evenly."""
    rest = (1.0 - confidence) / (num_classes - 1)
    prob = np.full((len(y_pred), num_classes), rest)
    prob[np.arange(len(y_pred)), y_pred] = confidence
    return prob


# 3 classes, 7 samples; class 2 has support 3 so weighted and macro F1 differ.
Y_TRUE = np.array([0, 0, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 0, 2])
# class 0: TP=1 (i0), FP=1 (i5), FN=1 (i1)        -> P=1/2, R=1/2, F1=1/2, support 2
# class 1: TP=2 (i2,i3), FP=1 (i1), FN=0          -> P=2/3, R=1,   F1=2*(2/3)/(5/3)=4/5, support 2
# class 2: TP=2 (i4,i6), FP=0, FN=1 (i5)          -> P=1,   R=2/3, F1=2*(2/3)/(5/3)=4/5, support 3


def test_keys_are_exactly_the_documented_ones() -> None:
    m = classification_metrics(Y_TRUE, _probs(list(Y_PRED), 3, 0.8), 3)
    assert set(m) == {"accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "gmean",
                      "auc_macro", "auc_macro_hard", "ece"}
    assert all(isinstance(v, float) for v in m.values())


def test_accuracy_precision_recall_f1_by_hand() -> None:
    m = classification_metrics(Y_TRUE, _probs(list(Y_PRED), 3, 0.8), 3)
    assert m["accuracy"] == pytest.approx(5 / 7)  # 5 of 7 on the diagonal
    assert m["precision_macro"] == pytest.approx(13 / 18)  # (1/2 + 2/3 + 1) / 3 = (13/6) / 3
    assert m["recall_macro"] == pytest.approx(13 / 18)  # (1/2 + 1 + 2/3) / 3
    assert m["f1_macro"] == pytest.approx(0.7)  # (1/2 + 4/5 + 4/5) / 3 = 2.1 / 3
    assert m["f1_weighted"] == pytest.approx(5 / 7)  # (2*1/2 + 2*4/5 + 3*4/5) / 7 = (1 + 8/5 + 12/5) / 7
    # every row has confidence 0.8 -> one bin; accuracy 5/7 -> ECE = 0.8 - 5/7 = 28/35 - 25/35
    assert m["ece"] == pytest.approx(3 / 35)


def test_gmean_by_hand() -> None:
    # one-vs-rest on Y_TRUE / Y_PRED (N = 7):
    # class 0: sens = 1/2; negatives 5, FP 1 -> spec = 4/5; g = sqrt(2/5) = 0.632456
    # class 1: sens = 1;   negatives 5, FP 1 -> spec = 4/5; g = sqrt(4/5) = 0.894427
    # class 2: sens = 2/3; negatives 4, FP 0 -> spec = 1;   g = sqrt(2/3) = 0.816497
    # mean = 2.343380 / 3 = 0.781127.  (imblearn average='macro' would give
    # sqrt(mean sens 13/18 * mean spec 13/15) = 0.791, a different quantity.)
    m = classification_metrics(Y_TRUE, _probs(list(Y_PRED), 3, 0.8), 3)
    assert m["gmean"] == pytest.approx(0.7811265, abs=1e-6)


def test_gmean_skips_class_absent_from_y_true() -> None:
    # K = 3, class 2 never true (but predicted once)
    # class 0: sens = 1/2 (i1 -> 2); negatives {i2, i3}, FP 0 -> spec 1; g = sqrt(1/2) = 0.707107
    # class 1: sens = 1;             negatives {i0, i1}, FP 0 -> spec 1; g = 1
    # class 2: no true samples -> skipped.  mean = 1.707107 / 2 = 0.853553
    m = classification_metrics(np.array([0, 0, 1, 1]), _probs([0, 2, 1, 1], 3, 0.8), 3)
    assert m["gmean"] == pytest.approx(0.8535534, abs=1e-6)


def test_auc_pair_counting() -> None:
    # binary, P(class 1) = [0.1, 0.6, 0.4, 0.8], y = [0, 0, 1, 1]
    # class 1: positives {0.4, 0.8} vs negatives {0.1, 0.6}: 0.4>0.1 yes, 0.4>0.6 no, 0.8>0.1 yes,
    #          0.8>0.6 yes -> 3/4
    # class 0: P = [0.9, 0.4, 0.6, 0.2]; positives {0.9, 0.4} vs negatives {0.6, 0.2}: 3 of 4 -> 3/4
    p1 = np.array([0.1, 0.6, 0.4, 0.8])
    m = classification_metrics(np.array([0, 0, 1, 1]), np.stack([1 - p1, p1], axis=1), 2)
    assert m["auc_macro"] == pytest.approx(0.75)


def test_hard_label_auc_by_hand_sits_beside_gmean() -> None:
    # Y_TRUE / Y_PRED, the rates of test_gmean_by_hand: (sens + spec) / 2 per class
    # class 0: (1/2 + 4/5) / 2 = 0.65; class 1: (1 + 4/5) / 2 = 0.9; class 2: (2/3 + 1) / 2 = 0.833333
    # mean 0.794444: the arithmetic mean of the rates where G-mean takes the geometric (0.781127)
    m = classification_metrics(Y_TRUE, _probs(list(Y_PRED), 3, 0.8), 3)
    assert m["auc_macro_hard"] == pytest.approx((0.65 + 0.9 + 5 / 6) / 3, abs=1e-9)
    assert m["gmean"] <= m["auc_macro_hard"] <= m["gmean"] + 0.02
    # the probability AUC ranks the scores: P(1) = 0.1 < 0.2 < 0.3 < 0.4 ranks perfectly (AUC 1) while
    # every argmax is class 0 (each class: sens 1 and spec 0, or sens 0 and spec 1 -> 1/2)
    p1 = np.array([0.1, 0.2, 0.3, 0.4])
    m = classification_metrics(np.array([0, 0, 1, 1]), np.stack([1 - p1, p1], axis=1), 2)
    assert m["auc_macro"] == pytest.approx(1.0) and m["auc_macro_hard"] == pytest.approx(0.5)


def test_auc_absent_class_is_skipped_not_a_crash() -> None:
    prob = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.5, 0.4, 0.1], [0.1, 0.8, 0.1]])
    # class 0: positives {0.8, 0.3} vs negatives {0.5, 0.1}: 0.3>0.5 fails only -> 3/4
    # class 1: positives {0.4, 0.8} vs negatives {0.6, 0.1}: 0.4>0.6 fails only -> 3/4
    # class 2: never true -> skipped. mean 3/4
    m = classification_metrics(np.array([0, 0, 1, 1]), prob, 3)
    assert m["auc_macro"] == pytest.approx(0.75)


def test_single_class_split_gives_nan_auc_and_gmean() -> None:
    m = classification_metrics(np.array([1, 1]), _probs([1, 0], 3, 0.8), 3)
    assert math.isnan(m["auc_macro"]) and math.isnan(m["gmean"])
    assert m["accuracy"] == pytest.approx(0.5)


def test_ece_two_bins_by_hand() -> None:
    # bins of width 1/15: 0.9 falls in (0.8667, 0.9333], 0.55 in (0.5333, 0.6]
    # bin A: rows 0, 1 conf 0.9, one correct -> |1/2 - 0.9| * 2/4 = 0.2
    # bin B: rows 2, 3 conf 0.55, both correct -> |1 - 0.55| * 2/4 = 0.225
    # ECE = 0.425 (one merged bin would give |3/4 - 0.725| = 0.025)
    prob = np.array([[0.9, 0.1], [0.9, 0.1], [0.45, 0.55], [0.45, 0.55]])
    m = classification_metrics(np.array([0, 1, 1, 1]), prob, 2)
    assert m["ece"] == pytest.approx(0.425)


def test_perfect_predictions() -> None:
    prob = np.array([[0.9, 0.05, 0.05], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]])
    # argmax = [0, 1, 2, 0] = y_true. Every bin has accuracy 1, so
    # ECE = sum_b w_b (1 - conf_b) = 1 - mean confidence = 1 - (0.9 + 0.7 + 0.6 + 0.5) / 4 = 1 - 0.675
    # AUC: each true class's score exceeds every other sample's score for that class
    # (class 0: {0.9, 0.5} > {0.1, 0.2}; class 1: 0.7 > {0.05, 0.2, 0.3}; class 2: 0.6 > {0.05, 0.2, 0.2})
    m = classification_metrics(np.array([0, 1, 2, 0]), prob, 3)
    perfect = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "gmean", "auc_macro")
    for key in perfect:
        assert m[key] == pytest.approx(1.0), key
    assert m["ece"] == pytest.approx(0.325)


def test_confusion_rows_true_columns_pred_with_absent_class() -> None:
    # pairs (true, pred): (0,0) (0,1) (1,1) (2,2) (2,0); class 3 never seen -> zero row and column
    expected = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    cm = confusion(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 4)
    np.testing.assert_array_equal(cm, expected)


def test_per_class_report_by_hand() -> None:
    report = per_class_report(Y_TRUE, Y_PRED, ["walk", "sit", "stand"])
    assert [r["class"] for r in report] == ["walk", "sit", "stand"]
    assert [r["support"] for r in report] == [2, 2, 3]
    expected = [(1 / 2, 1 / 2, 1 / 2), (2 / 3, 1.0, 4 / 5), (1.0, 2 / 3, 4 / 5)]  # (P, R, F1) from above
    for row, (p, r, f) in zip(report, expected):
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p, r, f))


def test_feature_distances_two_classes() -> None:
    # class 0: (0,0), (2,0) -> centroid (1,0), distances 1, 1 -> 1
    # class 1: (10,0), (10,2) -> centroid (10,1), distances 1, 1 -> 1
    # intra = 1; inter = |(9, 1)| = sqrt(82) = 9.0553851; ratio = sqrt(82)
    x = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 2.0]])
    d = feature_distances(x, np.array([0, 0, 1, 1]))
    assert d["intra_class_distance"] == pytest.approx(1.0)
    assert d["inter_class_distance"] == pytest.approx(9.0553851)
    assert d["inter_intra_ratio"] == pytest.approx(9.0553851)


def test_feature_distances_average_over_classes_and_pairs() -> None:
    # add class 2: (0,3), (0,5), (0,7) -> centroid (0,5), distances 2, 0, 2 -> 4/3
    # intra = (1 + 1 + 4/3) / 3 = 10/9 (per class, not per sample: that would be 8/7)
    # centroids (1,0), (10,1), (0,5): |(9,1)| = sqrt(82) = 9.0553851, |(1,-5)| = sqrt(26) = 5.0990195,
    # |(10,-4)| = sqrt(116) = 10.7703296 -> inter = 24.9247342 / 3 = 8.3082447; ratio = 8.3082447 * 9/10
    x = np.array([[0, 0], [2, 0], [10, 0], [10, 2], [0, 3], [0, 5], [0, 7]], dtype=float)
    d = feature_distances(x, np.array([0, 0, 1, 1, 2, 2, 2]))
    assert d["intra_class_distance"] == pytest.approx(10 / 9)
    assert d["inter_class_distance"] == pytest.approx(8.3082447)
    assert d["inter_intra_ratio"] == pytest.approx(7.4774203)


def test_feature_distances_single_class_is_nan() -> None:
    d = feature_distances(np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([3, 3]))
    assert d["intra_class_distance"] == pytest.approx(1.0)
    assert math.isnan(d["inter_class_distance"]) and math.isnan(d["inter_intra_ratio"])


@pytest.mark.parametrize(
    ("y_true", "y_prob", "match"),
    [
        (np.array([0, 1]), np.full((2, 2), 0.5), r"\(N, K\) = \(2, 3\)"),
        (np.array([0, 3]), np.full((2, 3), 1 / 3), r"\[0, 3\)"),
        (np.array([0, 1]), np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]]), "sum to 1"),
    ],
)
def test_bad_inputs_name_the_bad_value(y_true: np.ndarray, y_prob: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        classification_metrics(y_true, y_prob, 3)
