"""Evaluation metrics of the USAD paper (Appendix A.2) and its feature-space distances (Appendix B).

Pure numpy + scikit-learn: no torch, no printing, no files. ``K`` is the number of classes, labels are
ints in ``[0, K)``, ``y_prob`` is ``(N, K)`` class probabilities (softmax output, rows sum to 1).

Keys of :func:`classification_metrics`:

- ``accuracy``: fraction of samples whose argmax class is the true class.
- ``precision_macro`` / ``recall_macro`` / ``f1_macro``: unweighted mean over the classes present in
  ``y_true`` or the predictions (scikit-learn's default label set), so a class that a small
  subject-wise test split lacks entirely does not drag the mean to 0.
- ``f1_weighted``: per-class F1 averaged with weights ``n_k / N`` (true support), so absent classes
  weigh nothing.
- ``gmean``: mean over classes present in ``y_true`` of ``sqrt(sensitivity_k * specificity_k)``,
  one-vs-rest (see :func:`geometric_mean`).
- ``auc_macro``: one-vs-rest ROC AUC of the probabilities, averaged over classes with both positives
  and negatives in ``y_true`` (see :func:`roc_auc_ovr_macro`).
- ``auc_macro_hard``: the same AUC of the hard predictions (argmax one-hot as the scores): per class
  ``(sensitivity_k + specificity_k) / 2``, the area under a ROC curve with one operating point. The USAD
  paper's AUC matches its G-mean to within 0.1 point in almost every Table 2 cell (96.39 vs 96.37), the
  pattern of this computation (the arithmetic mean of the two rates beside G-mean's geometric one);
  ``hartune report --auc hard`` puts it in the AUC column for comparison with the paper.
- ``ece``: expected calibration error with 15 equal-width confidence bins
  (see :func:`expected_calibration_error`).

Keys of :func:`feature_distances`: ``intra_class_distance``, ``inter_class_distance``,
``inter_intra_ratio`` (Appendix B, Table 6). A trial logs them on its test split in each space of
``FEATURE_SPACES`` (``test_<prefix><key>``).
"""

from __future__ import annotations

import numpy as np

# scikit-learn's metrics are imported where they are called: a spec's validation (the CLI) imports this
# module through the recipe and needs none of them (importing sklearn.metrics costs about 1 s).

# Where Table 6's distances are measured: the paper says only "on the test set for each model" (Appendix
# B); its t-SNE (§4.2.2) embeds "feature vectors from the test samples", read as the penultimate layer
# (``HARClassifier.features``), our default. The logits are the alternative: one space of the same
# dimension (K) for every model. Space -> prefix of the logged metric keys.
FEATURE_SPACES: dict[str, str] = {"penultimate": "", "logits": "logit_"}
DISTANCE_KEYS = ("intra_class_distance", "inter_class_distance", "inter_intra_ratio")
ECE_BINS = 15  # Guo et al. 2017's default; enough resolution without starving bins on small test splits


def classification_metrics(
    y_true: np.ndarray, y_prob: np.ndarray, num_classes: int
) -> dict[str, float]:
    """All Appendix A.2 metrics plus ECE for one evaluation split.

    ``y_true``: (N,) int labels in ``[0, num_classes)``; ``y_prob``: (N, num_classes) probabilities.
    Predictions are ``argmax(y_prob, axis=1)``. Key meanings are in the module docstring.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    y_true, y_prob = _check_probabilities(y_true, y_prob, num_classes)
    y_pred = y_prob.argmax(axis=1)
    labels = np.union1d(y_true, y_pred).tolist()
    precision, recall, f1_macro, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1_macro),
        "f1_weighted": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "gmean": geometric_mean(y_true, y_pred, num_classes),
        "auc_macro": roc_auc_ovr_macro(y_true, y_prob),
        "auc_macro_hard": roc_auc_ovr_macro(y_true, np.eye(num_classes)[y_pred]),
        "ece": expected_calibration_error(y_true, y_prob),
    }


def geometric_mean(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Macro G-mean: the balance of per-class sensitivity and specificity (Appendix A.2).

    For each class ``k`` one-vs-rest, ``sens_k = TP_k / (TP_k + FN_k)``, ``spec_k = TN_k / (TN_k + FP_k)``
    and ``g_k = sqrt(sens_k * spec_k)``; the result is the unweighted mean of ``g_k`` over the classes
    present in ``y_true`` (a class with no true samples has no sensitivity and is skipped).

    This equals ``mean(imblearn.metrics.geometric_mean_score(..., average=None))`` over the present
    classes. It is NOT imbalanced-learn's ``average='macro'``, which returns
    ``sqrt(mean_k sens_k * mean_k spec_k)`` (square root of the product of the macro averages), nor its
    default ``'multiclass'`` (the K-th root of the product of recalls). The paper's formula did not
    survive in our copy of the text, so the per-class reading of its sentence is our choice.

    Returns nan when ``y_true`` holds a single class (no negatives, specificity undefined).
    """
    from sklearn.metrics import multilabel_confusion_matrix

    cms = multilabel_confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))  # (K, 2, 2)
    tn, fp, fn, tp = (cms[:, i, j].astype(float) for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    present = (tp + fn) > 0
    if present.sum() < 2:
        return float("nan")
    sensitivity = tp[present] / (tp + fn)[present]
    specificity = tn[present] / (tn + fp)[present]  # tn + fp > 0: another class is present
    return float(np.mean(np.sqrt(sensitivity * specificity)))


def roc_auc_ovr_macro(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """One-vs-rest ROC AUC of (N, K) scores, unweighted mean over the classes it is defined for.

    With probabilities this is the usual AUC; with the one-hot of the predictions it is the hard-label
    AUC, ``(TPR_k + TNR_k) / 2`` per class.

    Class ``k``'s AUC is ``roc_auc_score(y_true == k, y_prob[:, k])``: the fraction of
    (positive, negative) pairs whose positive scores higher, ties counting half. Only classes with
    both positives and negatives in ``y_true`` are averaged, so a small test split missing a class
    does not crash; when every class is present this is sklearn's
    ``roc_auc_score(multi_class='ovr', average='macro')``. Returns nan with fewer than 2 such classes
    (i.e. ``y_true`` holds a single class).
    """
    from sklearn.metrics import roc_auc_score

    counts = np.bincount(y_true, minlength=y_prob.shape[1])
    valid = np.flatnonzero((counts > 0) & (counts < len(y_true)))
    if len(valid) < 2:
        return float("nan")
    return float(np.mean([roc_auc_score(y_true == k, y_prob[:, k]) for k in valid]))


def expected_calibration_error(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """ECE (Guo et al., 2017): ``sum_b (|B_b| / N) * |acc(B_b) - conf(B_b)|``.

    Confidence is the max probability of each row; bins split ``[0, 1]`` into ``n_bins`` equal-width
    intervals ``(lo, hi]``; ``acc``/``conf`` are the bin's mean correctness and mean confidence. Empty
    bins contribute 0. Result in ``[0, 1]``.
    """
    confidence = y_prob.max(axis=1)
    correct = (y_prob.argmax(axis=1) == y_true).astype(float)
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    bin_index = np.searchsorted(inner_edges, confidence, side="left")  # edge value -> lower bin
    gaps = [
        abs(correct[in_bin].mean() - confidence[in_bin].mean()) * in_bin.mean()
        for in_bin in (bin_index == b for b in range(n_bins))
        if in_bin.any()
    ]
    return float(np.sum(gaps))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int counts; row = true class, column = predicted class; absent classes give zero rows."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))


def per_class_report(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]
) -> list[dict[str, str | float | int]]:
    """One dict per class, in label order: ``class``, ``precision``, ``recall``, ``f1``, ``support``.

    Label ``k`` is named ``class_names[k]``; ``support`` is the number of true samples (int);
    undefined ratios (no true or no predicted samples) are 0.
    """
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(class_names))), average=None, zero_division=0
    )
    return [
        {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
    ]


def feature_distances(features: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Appendix B / Table 6 feature-space discriminability on penultimate features ``(N, D)``.

    The paper prints no formula; we implement, with ``c_k`` the centroid of class ``k``'s samples and
    the classes those present in ``y``:

    - ``intra_class_distance``: mean over classes of ``mean_{i: y_i = k} ||x_i - c_k||_2``
      (each class weighs the same, whatever its size);
    - ``inter_class_distance``: mean of ``||c_j - c_k||_2`` over all unordered pairs ``j < k``;
    - ``inter_intra_ratio``: inter / intra (higher is more separable).

    Distances are in feature units. Inter and ratio are nan with fewer than 2 classes; the ratio is
    inf when every class collapses onto its centroid.
    """
    from sklearn.metrics import pairwise_distances

    features = np.asarray(features, dtype=float)
    y = np.asarray(y)
    if features.ndim != 2 or len(features) != len(y):
        raise ValueError(f"features must be (N, D) with N = len(y) = {len(y)}; got shape {features.shape}")
    classes = np.unique(y)
    centroids = np.stack([features[y == k].mean(axis=0) for k in classes])  # (C, D)
    spreads = [np.linalg.norm(features[y == k] - c, axis=1).mean() for k, c in zip(classes, centroids)]
    intra = np.mean(spreads)
    pair_dists = pairwise_distances(centroids)[np.triu_indices(len(classes), k=1)]
    inter = pair_dists.mean() if len(pair_dists) else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.float64(inter) / np.float64(intra)
    return {
        "intra_class_distance": float(intra),
        "inter_class_distance": float(inter),
        "inter_intra_ratio": float(ratio),
    }


def _check_probabilities(
    y_true: np.ndarray, y_prob: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boundary check: (N,) int labels in range; (N, K) rows summing to 1 (catches stray logits)."""
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=float)
    if y_prob.shape != (len(y_true), num_classes):
        raise ValueError(f"y_prob must be (N, K) = ({len(y_true)}, {num_classes}); got shape {y_prob.shape}")
    in_range = y_true.min(initial=0) >= 0 and y_true.max(initial=0) < num_classes
    if not np.issubdtype(y_true.dtype, np.integer) or not in_range:
        raise ValueError(f"y_true must be int labels in [0, {num_classes}); got {np.unique(y_true)}")
    row_sums = y_prob.sum(axis=1)
    if not np.allclose(row_sums, 1.0, atol=1e-3):
        raise ValueError(f"y_prob rows must sum to 1 (softmax outputs); got row sums {row_sums[:5]}...")
    return y_true, y_prob
