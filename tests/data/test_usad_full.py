"""``ablations/usad_full.yaml`` as shipped: with the three releases present (native-format fixtures,
lengthened for the paper's windows) it validates, and ``--dry-run`` prints its plan and trial counts;
without them, one line names the missing file and the URL."""

from __future__ import annotations

from pathlib import Path

import native_fixtures as nf
import pytest

from hartune.cli import main

SPEC = Path(__file__).resolve().parents[2] / "ablations" / "usad_full.yaml"


@pytest.fixture
def releases(_offline_data_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # long enough for the presets' windows (WISDM 90, PAMAP2 171) and five WISDM subjects for k-fold
    monkeypatch.setattr(nf, "WISDM_USERS", (1, 2, 3, 4, 5, 6, 33))
    monkeypatch.setattr(nf, "WISDM_RUN", 240)
    monkeypatch.setattr(nf, "PAMAP2_SEGMENTS", [(0, 20), (1, 400), (0, 15), (4, 400), (0, 10), (24, 400), (0, 15)])
    nf.write_wisdm(_offline_data_root / "wisdm")
    nf.write_pamap2(_offline_data_root / "pamap2", subjects=tuple(range(101, 110)))
    nf.write_opportunity(_offline_data_root / "opportunity")
    return _offline_data_root


def test_full_spec_validates_and_plans_with_the_data_present(releases, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(SPEC.parents[1])  # search_spaces/ paths resolve from the repository root
    assert main(["validate", str(SPEC), "--gpus", "8"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "valid; 8 stages" in out
    assert main(["run", str(SPEC), "--dry-run", "--gpus", "8"]) == 0
    plan = capsys.readouterr().out
    print(plan)  # the plan, for the record (pytest -s)
    counts = {line.split()[1]: int(line.split(": ")[1].split()[0]) for line in plan.splitlines() if line.startswith("stage ")}
    # Table 2's nine rows + the mixed-augmentation row; Table 10's seven rows; Tables 11-13 as one pass of
    # grid rounds (4 + 5 + 3 points after round 0); the TPE stages beyond the paper. WISDM's preset is
    # 5-fold cross-validation by subject: 5 trials per configuration on it, 1 on PAMAP2 and OPPORTUNITY.
    # Table 3's comparison stage: 23 rows on PAMAP2 (acceleration, 100% and 50%) and WISDM's 5 folds.
    per_row = {"table2": 5 + 1 + 1, "baselines": 1 + 1 + 5}
    assert counts == {"table2": 10 * per_row["table2"] * 3, "independent": 12 * 3, "composite": 7 * 3,
                      "interleaved": 1 + 4 + 5 + 3, "composite_tpe": 30, "interleaved_tpe": 1 + 9 * 8,
                      "blend": 7 * 3, "baselines": 23 * per_row["baselines"] * 3}
    assert "Data Augmentation, mixed 1:4 (not the paper's)" in plan and "selected by val_ece (min)" in plan
    assert "grid rounds over each family's points: label_smoothing (4), focal (5), class_balanced (3)" in plan
    assert "wisdm (5 folds: 0-4)" in plan
    assert f"total: {sum(counts.values())} trials" in plan


def test_full_spec_without_the_data_names_the_missing_file_and_url(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(SPEC.parents[1])
    assert main(["validate", str(SPEC), "--gpus", "8"]) == 2
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert "missing" in line and "https://" in line and "WISDM_ar_v1.1_raw.txt" in line


def test_a_gpu_spec_needs_gpus_to_plan_for(releases, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(SPEC.parents[1])
    assert main(["validate", str(SPEC)]) == 2  # this machine has no GPU
    err = capsys.readouterr().err
    assert "resources.gpu=0.25: more than the cluster's 0 GPUs" in err and "pass --gpus N" in err


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every connection attempt is recorded and refused; downloads are allowed to try (not offline)."""
    import socket

    tried: list[str] = []

    def refuse(self, address, *a, **k):
        tried.append(str(address))
        raise OSError("no network in this test")

    monkeypatch.delenv("HARTUNE_OFFLINE", raising=False)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
    return tried


def test_plan_without_the_data_downloads_nothing(no_network, _offline_data_root, capsys, monkeypatch) -> None:
    """``run --dry-run --gpus 8`` with ``HARTUNE_DATA`` at an empty folder: the whole plan, exit 0, no
    connection tried; the plan names each dataset's files and where they would come from."""
    monkeypatch.chdir(SPEC.parents[1])
    _offline_data_root.mkdir()
    assert main(["run", str(SPEC), "--dry-run", "--gpus", "8"]) == 0, capsys.readouterr().err
    plan = capsys.readouterr().out
    assert no_network == []
    assert list(_offline_data_root.iterdir()) == []  # nothing written there either
    data = {line.split()[1]: line for line in plan.splitlines() if line.startswith("data ")}
    assert set(data) == {"wisdm", "pamap2", "opportunity", "pamap2_acc", "pamap2_acc_50"}
    assert "WISDM_ar_v1.1_raw.txt" in data["wisdm"] and "0 here; downloaded from https://" in data["wisdm"]
    assert "9 files under" in data["pamap2"] and "subject101.dat" in data["pamap2"]
    assert "9 files under" in data["pamap2_acc_50"]  # Table 3's settings read the same release
    assert [ln.split(":")[0] for ln in plan.splitlines() if ln.startswith("stage ")] == [
        "stage table2 (grid)", "stage independent (independent)", "stage composite (grid from independent)",
        "stage interleaved (interleaved from composite)", "stage composite_tpe (search from independent)",
        "stage interleaved_tpe (interleaved from composite_tpe)", "stage blend (blend from interleaved)",
        "stage baselines (comparison)"]
    assert "wisdm (5 folds: 0-4)" in plan and "total: 887 trials" in plan
    assert main(["validate", str(SPEC), "--no-data", "--gpus", "8"]) == 0
    out = capsys.readouterr().out
    assert "valid without its data (not read); 8 stages, 887 trials" in out and no_network == []


def test_loso_plan_without_the_data_counts_the_release_subjects(no_network, _offline_data_root, tmp_path, capsys) -> None:
    import yaml

    spec = {"name": "loso_plan", "datasets": {"pamap2": {"preset": "pamap2", "split": {"kind": "loso", "folds": "all"}}},
            "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"},
            "stages": [{"name": "grid", "kind": "grid", "variants": {"CNN": {"model": {"name": "cnn"}}}}]}
    path = tmp_path / "loso.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--dry-run"]) == 0, capsys.readouterr().err
    plan = capsys.readouterr().out
    assert "pamap2 (9 folds: 0-8)" in plan and "folds counted from the release's 9 subjects" in plan
    assert no_network == [] and not (tmp_path / "mlflow.db").exists()
