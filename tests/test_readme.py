"""The README's parameter table (Table 5, paper against ours) says what the registered models measure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hartune.models import count_parameters, create_model

README = Path(__file__).resolve().parents[1] / "README.md"
SHAPES = {"WISDM": {"in_channels": 3, "num_classes": 6, "window": 90},
          "OPPORTUNITY": {"in_channels": 113, "num_classes": 18, "window": 30}}


def parameter_rows() -> list[list[str]]:
    text = README.read_text().split("### Parameters (Table 5): paper against ours", 1)[1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| `")]


def model_of(cell: str) -> tuple[str, dict[str, str]]:
    """'`usad size=table5`' -> ('usad', {'size': 'table5'})."""
    name, *knobs = re.search(r"`([^`]+)`", cell).group(1).split()
    return name, dict(k.split("=", 1) for k in knobs)


ROWS = parameter_rows()


def test_the_table_is_there() -> None:
    assert {model_of(r[0])[0] for r in ROWS} >= {"usad", "cnn", "lstm", "se_res2net", "elk"}


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_each_row_is_what_the_model_counts(row: list[str]) -> None:
    name, knobs = model_of(row[0])
    for (paper, ours, ratio), shape in zip((row[2:5], row[5:8]), SHAPES.values()):
        n = count_parameters(create_model(name, **shape, **knobs))
        assert float(ours) == pytest.approx(n, rel=6e-3), (row[0], ours, n)
        assert float(ratio) == pytest.approx(n / float(paper), abs=0.006), (row[0], ratio)
