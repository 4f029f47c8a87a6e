"""The README's parameter tables (Table 5, paper against ours; the "Models" table of every registered
model) say what the registered models measure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hartune.models import MODELS, count_parameters, create_model, torch_models
from hartune.models.sources import SOURCES, TABLE5_SHAPES

README = Path(__file__).resolve().parents[1] / "README.md"
SHAPES = {
    "WISDM": {"in_channels": 3, "num_classes": 6, "window": 90},
    "OPPORTUNITY": {"in_channels": 113, "num_classes": 18, "window": 30},
}


def table_rows(text: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| `")
    ]


def parameter_rows() -> list[list[str]]:
    text = README.read_text().split("### Parameters (Table 5): paper against ours", 1)[1]
    return table_rows(re.split(r"^#", text, maxsplit=1, flags=re.MULTILINE)[0])  # up to the next heading


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


# -- the "Models" table (benchmarks/models_table.py --readme README.md writes it) ---------------------
MODEL_ROWS = table_rows(
    README.read_text().split("<!-- models-table -->", 1)[1].split("<!-- /models-table -->", 1)[0]
)


def test_the_models_table_has_every_registered_model_once() -> None:
    assert [model_of(r[0])[0] for r in MODEL_ROWS] == MODELS.names()


@pytest.mark.parametrize("row", MODEL_ROWS, ids=[r[0] for r in MODEL_ROWS])
def test_each_models_row_is_its_source_and_what_the_model_counts(row: list[str]) -> None:
    name = model_of(row[0])[0]
    source = SOURCES[name]
    assert row[1] == source.reference and row[2] == (source.table5_row or "—")
    for (paper, ours, ratio), (dataset, (window, channels, classes)) in zip(
        (row[3:6], row[6:9]), TABLE5_SHAPES.items()
    ):
        expected = source.table5(dataset)
        if expected is None:
            assert paper == "—", (name, paper)
        else:
            assert float(paper) == pytest.approx(expected, rel=6e-3), (name, paper)
        if name not in torch_models():  # a forest's size is its node count, which depends on the data
            assert ours == ratio == "—"
            continue
        n = count_parameters(create_model(name, in_channels=channels, num_classes=classes, window=window))
        assert float(ours) == pytest.approx(n, rel=6e-3), (name, dataset, ours, n)
        if expected is None:
            assert ratio == "—"
        else:
            assert float(ratio) == pytest.approx(n / expected, abs=0.006), (name, dataset, ratio)
    assert all(float(ms) > 0 for ms in row[9:11]), row  # measured latencies, not checked against speed
