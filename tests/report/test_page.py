"""``index.html``, the run on one page: self-contained (every image embedded, no outside reference),
every stage and every figure of its folder on it, and it renders in a real browser (Debian's headless
Chromium) without console errors and with every image loaded. The page of a real ``hartune report`` is
checked the same way in test_report.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from browser import load_page
from hartune.report.page import write_page


@dataclass
class Stage:
    stage: str
    kind: str
    run_id: str
    folder: Path
    notes: list[str] = field(default_factory=list)


def _figure(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1, 0, 2])
    fig.savefig(path)
    plt.close(fig)


def _stages(root: Path) -> list[Stage]:
    grid, search = root / "table2", root / "search"
    _figure(grid / "radar_watch.png")
    _figure(grid / "models" / "CNN" / "confusion_matrix.png")  # written, not linked from report.md
    _figure(search / "optimization_history.png")
    (grid / "report.md").write_text("# Report: stage table2 (grid)\n\n| Variant | Acc. |\n| --- | --- |\n"
                                    "| CNN | **80.00 ± 1.00** |\n\n![radar watch](radar_watch.png)\n")
    (search / "report.md").write_text("# Report: stage search (search)\n\n![optimization_history.png]"
                                      "(optimization_history.png)\n")
    return [Stage("table2", "grid", "a" * 32, grid), Stage("search", "search", "b" * 32, search, ["a note"])]


def test_page_holds_every_stage_and_figure_embedded(tmp_path) -> None:
    page = write_page(tmp_path, "exp", "c" * 32, _stages(tmp_path)).read_text()
    assert 'id="stage-table2"' in page and 'id="stage-search"' in page
    assert "<table>" in page and "<strong>80.00 ± 1.00</strong>" in page
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "models/CNN/confusion_matrix.png" in page  # the figure no markdown links, as a caption
    assert not re.search(r'(src|href)="(?!data:|#)', page)  # nothing outside the page
    assert "note: a note" in page


def test_page_in_headless_chromium(tmp_path) -> None:
    page = write_page(tmp_path, "exp", "c" * 32, _stages(tmp_path))
    seen = load_page(page, tmp_path / "index.png")
    assert seen.errors == []
    assert len(seen.images) == 3 and all(i["complete"] and i["naturalWidth"] > 0 for i in seen.images), seen.images
    assert seen.title.startswith("exp run cccccccc") and (tmp_path / "index.png").stat().st_size > 10_000
