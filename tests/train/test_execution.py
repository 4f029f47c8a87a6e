"""``train.precision`` and ``train.compile`` in the one recipe, on CPU and the real watch data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hartune.data import DataConfig, WindowConfig
from hartune.models import create_model
from hartune.registry import ConfigError, validate_config
from hartune.train import RunConfig, train
from hartune.train.execution import Execution, check
from hartune.train.recipe import Recipe

# The real watch data, windowed sparsely (about 570 training windows): USAD's epochs stay short on CPU.
SPARSE = DataConfig(window=WindowConfig(length=100, stride=300))


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


def test_bf16_autocast_trains_usad_with_finite_falling_loss() -> None:
    rec = Recorder()
    recipe = Hooked(_cfg(SPARSE, precision="bf16"), callbacks=[rec])
    result = recipe.run()
    assert set(recipe.dtypes) == {torch.bfloat16}  # every forward pass, training and evaluation
    losses = [h["train_loss"] for h in result.history]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    assert result.test_prob.dtype.kind == "f" and math.isfinite(result.test["loss"])
    assert rec.snapshots[-1]["grad_scaler"] == {}  # no loss scaling in bf16


def test_fp32_runs_no_autocast() -> None:
    recipe = Hooked(_cfg(SPARSE, model="cnn", epochs=1))
    recipe.run()
    assert set(recipe.dtypes) == {torch.float32}


def test_fp16_grad_scaler_skips_overflowing_steps_and_keeps_its_scale() -> None:
    """The fp16 step's mechanics on CPU (the recipe refuses fp16 on CPU: too slow, not wrong)."""
    torch.manual_seed(0)
    model = create_model("cnn", in_channels=6, num_classes=3, window=32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    ex = Execution("fp16", False, torch.device("cpu"))
    x, y = torch.randn(8, 32, 6), torch.randint(0, 3, (8,))
    with ex.autocast():
        logits = model(x)
        loss = F.cross_entropy(logits, y)
    assert logits.dtype == torch.float16
    scale = ex.state_dict()["scale"]
    before = [p.detach().clone() for p in model.parameters()]
    ex.step(loss * float("inf"), opt, model.parameters(), grad_clip=1.0)  # overflowing gradients
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the step was skipped
    assert ex.state_dict()["scale"] == scale / 2  # and the scale halved
    with ex.autocast():
        loss = F.cross_entropy(model(x), y)
    ex.step(loss, opt, model.parameters(), grad_clip=1.0)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    again = Execution("fp16", False, torch.device("cpu"))
    again.load_state_dict(ex.state_dict())  # what a checkpoint carries
    assert again.state_dict() == ex.state_dict()


def test_fp16_on_cpu_is_one_config_error_before_training() -> None:
    with pytest.raises(
        ConfigError, match=r"^train: precision='fp16' with device='cpu': .*accepted on CPU: fp32, bf16$"
    ):
        validate_config(RunConfig, {"train": {"precision": "fp16", "device": "cpu"}})
    auto = _cfg(SPARSE, precision="fp16", device="auto")
    if torch.cuda.is_available():
        pytest.skip("device auto resolves to the GPU here")
    recipe = Hooked(auto)
    with pytest.raises(ConfigError, match=r"^train.precision='fp16' on CPU: "):
        recipe.run()
    assert not hasattr(recipe, "dtypes")  # refused in setup: no model was built, no step taken


@pytest.mark.slow
def test_compile_gives_the_eager_loss_curve() -> None:
    """Same seed, same batches, so the curves agree to a relative 1e-2 per epoch, not bit for bit:
    inductor draws the dropout masks from its own RNG and its fused kernels round differently (one run
    here: max relative difference 1.34e-3 over 3 epochs, 2.6e-3 absolute, so 1e-3 was too tight). One batch per epoch (batch_size above the
    split's size): a single input shape, so inductor builds one forward and one backward graph (each
    shape costs minutes of C++ compilation on 2 busy cores)."""
    eager_rec, compiled_rec = Recorder(), Recorder()
    kw = {"model": "cnn", "epochs": 3, "batch_size": 4096}
    eager = train(_cfg(SPARSE, **kw), callbacks=[eager_rec])
    compiled = train(_cfg(SPARSE, **kw, compile=True), callbacks=[compiled_rec])
    e, c = ([h["train_loss"] for h in r.history] for r in (eager, compiled))
    assert c == pytest.approx(e, rel=1e-2)
    assert c[-1] < c[0]  # and it trains
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
