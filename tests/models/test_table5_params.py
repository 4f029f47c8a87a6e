"""Parameter counts against USAD Table 5 (seed 001, "Memory / Param." on WISDM and OPPORTUNITY).

WISDM: windows of 90 x 3, 6 classes; OPPORTUNITY: 30 x 113, 18 classes (USAD §4.1). A model passes
when ``count_parameters`` is within ±25% of the table. HAR-CE's two columns are two networks of
its code (the WISDM and the OPPORTUNITY one), so its OPPORTUNITY row uses ``har_ce_opportunity``.
"""

from __future__ import annotations

import pytest

from hartune.models import count_parameters, create_model

SHAPES = {"wisdm": (90, 3, 6), "opportunity": (30, 113, 18)}  # window, channels, classes
TABLE5 = {  # model: (WISDM, OPPORTUNITY), USAD Table 5
    "cnn": (1.04e5, 1.21e5),
    "lstm": (1.65e5, 3.85e5),
    "cnn_gru": (4.38e6, 4.39e6),
    "lstm_cnn": (2.12e6, 2.13e6),
    "resnext": (2.20e7, 2.21e7),
    "se_res2net": (1.60e6, 1.61e6),
    "rev_attention": (4.33e5, 3.80e5),
    "gated_res2net": (1.60e6, 1.61e6),
    "har_ce": (4.17e5, 3.49e6),
    "elk": (2.41e5, 7.57e5),
    "danhar": (2.35e6, 4.46e6),
    "usad": (3.47e5, 1.09e6),
}
BUILT_FOR_TABLE5 = ["cnn_gru", "lstm_cnn", "resnext", "rev_attention", "gated_res2net", "har_ce", "danhar"]
VARIANT = {("har_ce", "opportunity"): "har_ce_opportunity"}
# Rows whose models were built before this check, to other sources, and fall outside ±25%: kept
# as strict xfails so that the table shows them and a fix is noticed.
KNOWN_OFF = {
    ("cnn", "wisdm"), ("cnn", "opportunity"), ("lstm", "wisdm"), ("lstm", "opportunity"),
    ("se_res2net", "wisdm"), ("se_res2net", "opportunity"), ("elk", "wisdm"), ("elk", "opportunity"),
    ("usad", "opportunity"),
}


def _cases() -> list:
    cases = []
    for name in TABLE5:
        for i, dataset in enumerate(SHAPES):
            marks = []
            if (name, dataset) in KNOWN_OFF:
                marks = [pytest.mark.xfail(strict=True, reason="not built to USAD Table 5's count")]
            cases.append(pytest.param(name, dataset, TABLE5[name][i], marks=marks, id=f"{name}-{dataset}"))
    return cases


@pytest.mark.parametrize("name, dataset, expected", _cases())
def test_parameter_count_within_a_quarter_of_table5(name: str, dataset: str, expected: float) -> None:
    window, channels, classes = SHAPES[dataset]
    model = create_model(VARIANT.get((name, dataset), name), in_channels=channels, num_classes=classes, window=window)
    n = count_parameters(model)
    assert 0.75 * expected <= n <= 1.25 * expected, f"{name} on {dataset}: {n:,} vs Table 5 {expected:.3g}"


def test_every_model_built_for_table5_is_checked_on_both_datasets() -> None:
    checked = {c.values[0] for c in _cases() if not c.marks}
    assert set(BUILT_FOR_TABLE5) <= checked
