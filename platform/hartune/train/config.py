"""Typed configs of one training run: what the recipe needs, nothing more."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hartune.augment.generator import GeneratorConfig
from hartune.data import DataConfig
from hartune.losses import LOSSES
from hartune.models import MODELS, model_config
from hartune.train.execution import FP16_ON_CPU

AnyLoss = LOSSES.union("name")


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    lr_schedule: Literal["cosine", "step", "none"] = "cosine"
    step_size: int = Field(10, ge=1, description="epochs between decays of the 'step' schedule")
    step_gamma: float = Field(0.1, gt=0, le=1)
    grad_clip: float | None = Field(None, gt=0, description="max global gradient norm")
    # The best epoch is chosen on this validation metric (maximised; 'loss' is minimised).
    select_metric: Literal[
        "f1_macro", "accuracy", "gmean", "auc_macro", "auc_macro_hard", "f1_weighted", "loss"
    ] = "f1_macro"
    patience: int | None = Field(None, ge=1, description="stop after this many epochs without gain")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads; None keeps torch's")
    # The paper is silent on both; hartune.train.execution says what each value does and where it cannot
    # run. compile stays off by default: on CPU, compiling USAD's step takes minutes per trial process
    # (benchmarks/README.md, section 2b).
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="autocast dtype; fp16 adds a GradScaler")
    compile: bool = Field(False, description="torch.compile the model for the training forward pass")

    @model_validator(mode="after")
    def _runs_on_device(self) -> TrainConfig:
        if self.precision == "fp16" and self.device == "cpu":  # 'auto' is checked where it resolves
            raise ValueError(f"precision='fp16' with device='cpu': {FP16_ON_CPU}")
        return self


class ModelSpec(BaseModel):
    """``{name: usad, dropout: 0.2, ...}``: the name picks a registered model, the rest are its knobs."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = "usad"

    @model_validator(mode="after")
    def _known(self) -> ModelSpec:
        MODELS.get(self.name)  # unknown name -> lists the valid ones
        model_config(self.name, **self.params)
        return self

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TransferConfig(BaseModel):
    """Seed 004's transfer recipe (§3.2): pretrain on ``pretrain``, then fine-tune on the run's ``data``
    with only the parameters under ``trainable`` free; every other parameter and buffer stays as
    pretraining left it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pretrain: DataConfig
    pretrain_epochs: int | None = Field(None, ge=1, description="default: the run's train.epochs")
    # Parameter-name prefixes of the core model, matched at module boundaries ('fc' matches 'fc.0.weight',
    # not 'fcx.weight'). The default is the seed's "fully-connected layers": ``fc`` and ``head`` of the
    # cnn and dae_cnn models.
    trainable: list[str] = Field(default_factory=lambda: ["fc", "head"], min_length=1)

    @model_validator(mode="after")
    def _prefixes(self) -> TransferConfig:
        bad = [p for p in self.trainable if not p or p.startswith(".") or p.endswith(".")]
        if bad:
            raise ValueError(f"prefixes {bad} are not module paths such as 'fc' or 'head.1'")
        return self


class AugmentConfig(BaseModel):
    """Statistics-guided diffusion augmentation of the training split (USAD §3.1; ``hartune.augment``).

    ``pretrain`` is the paper's framework (§3.1.3-3.1.4): pretrain on the synthetic windows alone for
    ``pretrain_epochs`` with ``pretrain_loss`` (Eq. 17: cross-entropy, the default), then train on the real
    ones with the run's loss (Eq. 18), from those weights with a fresh optimiser. ``pretrain_loss: run``
    pretrains with the run's own loss instead (hartune's behaviour up to commit 6e9d4e2). ``mix`` (not
    the paper's framework) trains on real + synthetic windows at real:synthetic = 1:``ratio`` (0 to 4;
    1:4 is the blend of Shao & Sanchez 2023, which USAD cites in its related work, not USAD's own). The
    synthetic set holds ``ratio`` x the real training windows. ``counts``: ``uniform`` splits them equally
    over the classes (Eq. 13: class-balanced labels y ~ U{1..K}, the paper's pretraining set),
    ``balanced`` spends the budget on the smallest classes first (the most balanced real + synthetic
    set), ``proportional`` follows the real class counts, a mapping gives the count per class name
    (``ratio`` is then unused). Synthetic windows only ever enter the training split.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["mix", "pretrain"] = "mix"
    ratio: float = Field(1.0, ge=0.0, le=4.0)
    counts: Literal["uniform", "balanced", "proportional"] | dict[str, int] = "balanced"
    pretrain_epochs: int | None = Field(None, ge=1, description="pretrain mode; default: the run's train.epochs")
    # Eq. 17's cross-entropy by default; any registered loss, or "run" for the run's own loss.
    pretrain_loss: AnyLoss | Literal["run"] = Field(default_factory=lambda: LOSSES.get("ce")())  # type: ignore[valid-type]
    generator: GeneratorConfig = GeneratorConfig()

    @field_validator("pretrain_loss", mode="before")
    @classmethod
    def _loss_name(cls, v: Any) -> Any:
        """A registered loss's name is short for ``{name: <it>}``; ``run`` is the run's own loss."""
        if isinstance(v, str) and v != "run":
            if v not in LOSSES:
                raise ValueError(f"unknown loss {v!r}; accepted: run, {', '.join(LOSSES.names())} or a loss mapping")
            return {"name": v}
        return v


class RunConfig(BaseModel):
    """One training run: data x model x loss x optimisation x seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: DataConfig = DataConfig()
    model: ModelSpec = ModelSpec()
    loss: AnyLoss = Field(default_factory=lambda: LOSSES.get("ce")())  # type: ignore[valid-type]
    train: TrainConfig = TrainConfig()
    seed: int = 0
    transfer: TransferConfig | None = None  # None: train on ``data`` from scratch
    augment: AugmentConfig | None = None  # None: real windows only
