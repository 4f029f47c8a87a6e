"""``hartune.models.sources`` has one entry for each registered model: a newly registered model needs its
reference (and its Table 5 counts, if Table 5 lists it) before the README's "Models" table can list it."""

from __future__ import annotations

from hartune.models import MODELS
from hartune.models.sources import SOURCES, TABLE5_SHAPES


def test_every_registered_model_has_a_source_and_nothing_else_does() -> None:
    assert sorted(SOURCES) == MODELS.names()


def test_a_table5_count_comes_with_its_row_and_each_row_has_both_columns() -> None:
    rows: dict[str, set[str]] = {}
    for name, source in SOURCES.items():
        assert source.reference, name
        counts = {d for d in TABLE5_SHAPES if source.table5(d) is not None}
        assert bool(counts) == (source.table5_row is not None), name
        if source.table5_row:
            assert not rows.get(source.table5_row, set()) & counts, (name, "a column given twice")
            rows.setdefault(source.table5_row, set()).update(counts)
    assert all(cols == set(TABLE5_SHAPES) for cols in rows.values()), rows
    assert len(rows) == 12  # USAD Table 5's twelve rows
