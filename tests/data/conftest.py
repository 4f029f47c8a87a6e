"""Every data test runs offline, with its own data root: nothing is downloaded, ~/.cache is untouched."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _offline_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "hartune_data"
    monkeypatch.setenv("HARTUNE_OFFLINE", "1")
    monkeypatch.setenv("HARTUNE_DATA", str(root))
    return root
