"""``train.precision`` and ``train.compile`` in the one recipe, on CPU and the real watch data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hartune.data import DataConfig
from hartune.registry import ConfigError, validate_config
from hartune.train import RunConfig, train
from hartune.train.execution import check
from hartune.train.recipe import Recipe


def _cfg(data: DataConfig, model: str = "usad", **train_kw) -> RunConfig:
    return RunConfig.model_validate(
        {
            "data": data.model_dump(),
            "model": {"name": model},
            "train": {
                "epochs": 3,
                "batch_size": 64,
                "lr": 3e-3,
                "num_threads": 1,
                "device": "cpu",
                **train_kw,
            },
            "seed": 5,
        }
    )


class Recorder:
    def __init__(self) -> None:
        self.snapshots: list[dict] = []

    def on_epoch_end(self, epoch: int, metrics: dict, snapshot=None) -> None:
        self.snapshots.append(snapshot())


class Hooked(Recipe):
    """The recipe, recording the dtype of every forward pass's logits after setup (training, evaluation)."""

    def setup(self) -> None:
        super().setup()
        self.dtypes: list[torch.dtype] = []
        self.model.register_forward_hook(lambda m, i, o: self.dtypes.append(o.dtype))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_trains_usad_with_finite_falling_loss(watch_cfg: DataConfig, precision: str) -> None:
    rec = Recorder()
    recipe = Hooked(_cfg(watch_cfg, precision=precision), callbacks=[rec])
    result = recipe.run()
    want = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert set(recipe.dtypes) == {want}  # every forward pass, training and evaluation, ran under autocast
    losses = [h["train_loss"] for h in result.history]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    assert result.test_prob.dtype.kind == "f" and math.isfinite(result.test["loss"])
    scaler = rec.snapshots[-1]["grad_scaler"]
    assert ("scale" in scaler) == (precision == "fp16")  # fp16's loss scale rides in the checkpoint


def test_fp16_resumes_with_its_loss_scale(watch_cfg: DataConfig) -> None:
    cfg = _cfg(watch_cfg, model="cnn", precision="fp16", epochs=2)
    rec = Recorder()
    full = train(cfg, callbacks=[rec])
    resumed = train(cfg, resume=rec.snapshots[0])
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]


def test_fp32_runs_no_autocast(watch_cfg: DataConfig) -> None:
    recipe = Hooked(_cfg(watch_cfg, model="cnn", epochs=1))
    recipe.run()
    assert set(recipe.dtypes) == {torch.float32}


@pytest.mark.slow
def test_compile_gives_the_eager_loss_curve(watch_cfg: DataConfig) -> None:
    """Same seed, same batches: inductor's fused kernels round differently from eager, so the curves
    agree to a relative 1e-3 per epoch, not bit for bit."""
    eager_rec, compiled_rec = Recorder(), Recorder()
    eager = train(_cfg(watch_cfg, model="cnn"), callbacks=[eager_rec])
    compiled = train(_cfg(watch_cfg, model="cnn", compile=True), callbacks=[compiled_rec])
    e, c = ([h["train_loss"] for h in r.history] for r in (eager, compiled))
    assert c == pytest.approx(e, rel=1e-3)
    # checkpoints and the returned model are the eager module's: no torch.compile key prefix
    assert compiled_rec.snapshots[-1]["model"].keys() == eager_rec.snapshots[-1]["model"].keys()


def test_compile_without_a_cxx_compiler_is_one_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no g++, no clang++
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(
        ConfigError, match=r"train.compile=true: .*C\+\+ compiler.*accepted here: train.compile=false"
    ):
        check("fp32", True, torch.device("cpu"))
    check("bf16", False, torch.device("cpu"))  # autocast needs no compiler


def test_unknown_precision_names_the_key_and_choices() -> None:
    with pytest.raises(ConfigError, match=r"train.precision='fp64'.*'fp32', 'bf16' or 'fp16'"):
        validate_config(RunConfig, {"train": {"precision": "fp64"}})
