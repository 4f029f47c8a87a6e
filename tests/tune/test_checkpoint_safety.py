"""Issue 21 points 5 and 11: a trial checkpoint is the recipe's real snapshot, written by the trainable's
``save_state`` with its checksum, and read back by ``load_state`` (what ``resume_state`` calls when Tune
restores a trial) with ``torch.load(weights_only=True)`` and an explicit allow-list. A truncated or
altered checkpoint, or one that holds a pickled object off the allow-list, is refused with one line
naming the file; the recipe still resumes from a sound one."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from hartune.data import DataConfig
from hartune.integrity import checksum_path
from hartune.train import RunConfig, train
from hartune.tune.trainable import STATE_FILE, CheckpointError, load_state, save_state

pytestmark = pytest.mark.faults


class Foreign:
    """Stands for any class a stranger could pickle into shared storage (its __reduce__ could run code)."""

    def __reduce__(self):
        return (print, ("this ran while the checkpoint loaded",))


class Saver:
    """Writes each epoch's snapshot exactly as ``TuneReporter`` does, into ``<root>/<epoch>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def on_epoch_end(self, epoch: int, metrics: dict, snapshot=None) -> None:
        folder = self.root / str(epoch)
        folder.mkdir(parents=True)
        save_state(snapshot(), folder)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, watch_cfg: DataConfig) -> tuple[Path, RunConfig]:
    root = tmp_path_factory.mktemp("ckpt")
    cfg = RunConfig.model_validate(
        {
            "data": watch_cfg.model_dump(),
            "model": {"name": "cnn", "channels": [8], "hidden": 8},
            "train": {"epochs": 2, "batch_size": 64, "num_threads": 1},
            "seed": 0,
        }
    )
    train(cfg, callbacks=[Saver(root)])
    return root, cfg


def test_a_sound_checkpoint_loads_under_the_allow_list_and_resumes(checkpoints) -> None:
    root, cfg = checkpoints
    path = root / "1" / STATE_FILE
    assert checksum_path(path).is_file()
    state = load_state(path)
    assert state["loop"].epoch == 1 and set(state) >= {
        "model",
        "optimizer",
        "numpy_rng",
        "python_rng",
        "loop",
    }
    resumed = train(cfg, resume=state)
    assert len(resumed.history) == 2  # epoch 1 restored from the checkpoint, epoch 2 trained
    assert resumed.history[0] == state["loop"].history[0]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_corrupt_checkpoint_is_refused_with_one_line_naming_it(
    checkpoints, tmp_path: Path, damage: str
) -> None:
    src = checkpoints[0] / "2"
    path = tmp_path / STATE_FILE
    path.write_bytes((src / STATE_FILE).read_bytes())
    checksum_path(path).write_bytes(checksum_path(src / STATE_FILE).read_bytes())
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError) as e:
        load_state(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "refusing" in msg
    assert ("truncated" if damage == "truncate" else "differs") in msg


def test_a_checkpoint_without_its_checksum_is_refused(checkpoints, tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    path.write_bytes((checkpoints[0] / "1" / STATE_FILE).read_bytes())
    with pytest.raises(CheckpointError, match="no checksum file"):
        load_state(path)


def test_a_foreign_pickled_object_is_refused_and_never_runs(checkpoints, tmp_path: Path, capsys) -> None:
    """Written with a valid checksum (whoever can write the storage can write that too): the allow-list
    is what stops it."""
    state = load_state(checkpoints[0] / "1" / STATE_FILE)
    state["loop"].best_state = {"payload": Foreign()}
    path = save_state(state, tmp_path)
    with pytest.raises(CheckpointError) as e:
        load_state(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "builtins.print" in msg and "allow-list" in msg
    assert "this ran" not in capsys.readouterr().out  # refused before anything was called
    with pytest.raises(pickle.UnpicklingError):  # and torch's own default refuses it as well
        torch.load(path, weights_only=True)
