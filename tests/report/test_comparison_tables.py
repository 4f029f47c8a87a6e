"""Tables 3, 4 and 6's pure parts on hand-made numbers: per-class scores from a confusion matrix, the
reference row and lower-is-better columns of the shared table builder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hartune.report import Observation, ablation_table
from hartune.report.comparison import ComparisonSettings, class_scores, per_class_observations, table6_metrics
from hartune.report.writers import ablation_md

CM = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])  # rows true, columns predicted; class 2 has no window


def test_class_scores_recall_one_vs_rest_and_f1() -> None:
    acc, f1 = class_scores(CM)
    np.testing.assert_allclose(acc[:2], [8 / 10, 3 / 4])
    np.testing.assert_allclose(f1[:2], [2 * 8 / (10 + 9), 2 * 3 / (4 + 5)])
    ovr, _ = class_scores(CM, "one_vs_rest")
    np.testing.assert_allclose(ovr[:2], [(8 + 3) / 14, (3 + 8) / 14])
    assert math.isnan(acc[2]) and math.isnan(f1[2])
    obs = per_class_observations(Observation("CNN", "wisdm", 0, {}), CM, ["a", "b", "c"])
    assert [o.dataset for o in obs] == ["a", "b"] and obs[0].metrics == {
        "class_accuracy": 0.8,
        "class_f1": pytest.approx(16 / 19),
    }


def test_reference_row_and_lower_is_better() -> None:
    obs = [
        Observation(v, "d", s, {"intra_class_distance": x, "inter_intra_ratio": 10 / x})
        for v, xs in {"CNN": (2.0, 2.2, 2.4), "USAD": (1.0, 1.1, 1.3)}.items()
        for s, x in enumerate(xs)
    ]
    table = ablation_table(
        obs,
        ["CNN", "USAD"],
        table6_metrics("penultimate")[::2],
        percent=False,
        reference="USAD",
        lower_is_better={"intra_class_distance"},
    )
    assert table.reference_row == "USAD"
    usad, cnn = (
        table.cell("USAD", "d", "intra_class_distance"),
        table.cell("CNN", "d", "intra_class_distance"),
    )
    assert usad.best and not cnn.best and usad.delta == 0 and cnn.delta == pytest.approx(2.2 - 1.1333333)
    assert table.cell("USAD", "d", "inter_intra_ratio").best  # higher is better there
    md = ablation_md(table)
    usad_row = next(line for line in md.splitlines() if line.startswith("| USAD"))
    cnn_row = next(line for line in md.splitlines() if line.startswith("| CNN"))
    assert "(" not in usad_row and "(+1.0667)" in cnn_row
    assert "mean minus the reference row's (USAD)" in md and "(lowest for intra_class_distance)" in md
    assert "against the reference row, pairs matched by seed" in md and "first row" not in md


def test_settings_read_back_from_stage_params() -> None:
    cfg = ComparisonSettings.of({"stage.per_class": ["wisdm"], "stage.distances": ["CNN", "USAD"]})
    assert (
        cfg.per_class == ("wisdm",)
        and cfg.distances == ("CNN", "USAD")
        and cfg.per_class_accuracy == "recall"
    )
    assert cfg.reference_row(["CNN", "LSTM", "USAD"]) == "USAD"  # the last row by default
    assert ComparisonSettings.of({"stage.reference": "CNN"}).reference_row(["CNN", "USAD"]) == "CNN"
