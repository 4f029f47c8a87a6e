"""Parameter counts against USAD Table 5 (seed 001, "Memory / Param." on WISDM and OPPORTUNITY).

WISDM: windows of 90 x 3, 6 classes; OPPORTUNITY: 30 x 113, 18 classes (USAD §4.1). A model passes
when ``count_parameters`` is within ±25% of the table. The table's counts are transcribed once, in
``hartune.models.sources``; HAR-CE's two columns are two networks of its code (the WISDM and the
OPPORTUNITY one), so its OPPORTUNITY count belongs to ``har_ce_opportunity``.
"""

from __future__ import annotations

import pytest

from hartune.models import count_parameters, create_model
from hartune.models.sources import SOURCES, TABLE5_SHAPES

BUILT_FOR_TABLE5 = ["cnn_gru", "lstm_cnn", "resnext", "rev_attention", "gated_res2net", "har_ce", "danhar"]
# Rows whose models were built before this check, to other sources, and fall outside ±25%: kept
# as strict xfails so that the table shows them and a fix is noticed.
KNOWN_OFF = {
    ("cnn", "wisdm"),
    ("cnn", "opportunity"),
    ("lstm", "wisdm"),
    ("lstm", "opportunity"),
    ("se_res2net", "wisdm"),
    ("se_res2net", "opportunity"),
    ("elk", "wisdm"),
    ("elk", "opportunity"),
    ("usad", "opportunity"),
}


def _cases() -> list:
    cases = []
    for name, source in SOURCES.items():
        for dataset in TABLE5_SHAPES:
            expected = source.table5(dataset)
            if expected is None:
                continue
            marks = []
            if (name, dataset.lower()) in KNOWN_OFF:
                marks = [pytest.mark.xfail(strict=True, reason="not built to USAD Table 5's count")]
            cases.append(pytest.param(name, dataset, expected, marks=marks, id=f"{name}-{dataset.lower()}"))
    return cases


@pytest.mark.parametrize("name, dataset, expected", _cases())
def test_parameter_count_within_a_quarter_of_table5(name: str, dataset: str, expected: float) -> None:
    window, channels, classes = TABLE5_SHAPES[dataset]
    model = create_model(name, in_channels=channels, num_classes=classes, window=window)
    n = count_parameters(model)
    assert 0.75 * expected <= n <= 1.25 * expected, f"{name} on {dataset}: {n:,} vs Table 5 {expected:.3g}"


def test_every_model_built_for_table5_is_checked_on_both_datasets() -> None:
    """Both columns of each of their Table 5 rows pass (HAR-CE's row through its two networks)."""
    checked = {(SOURCES[c.values[0]].table5_row, c.values[1]) for c in _cases() if not c.marks}
    for name in BUILT_FOR_TABLE5:
        row = SOURCES[name].table5_row
        assert {d for r, d in checked if r == row} == set(TABLE5_SHAPES), row
