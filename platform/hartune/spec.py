"""The experiment spec: YAML -> typed configs, fully validated before Ray starts a single trial.

A spec names ``datasets`` (each a data config plus its training settings), ``models``, ``seeds``,
``tracking``, ``resources``, a concurrency limit and ``stages``. A trial's run config is the deep merge
``dataset entry <- spec loss <- stage base (from_stage best) <- variant overlay <- sampled point``.
Every error is one line: ``FILE: key.path=value: what is accepted``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from hartune.data import DataConfig, DataError, prepare
from hartune.overlays import deep_merge
from hartune.presets import PRESETS, expand
from hartune.registry import ConfigError, UnknownNameError, validate_config
from hartune.tracking.retry import DEFAULT_RETRY_S
from hartune.train import ModelSpec, RunConfig, TrainConfig
from hartune.tune.space import load_space, read_yaml_text, yaml_problem
from hartune.tune.stages import STAGES, StageConfig

AnyStage = STAGES.union("kind")  # every stage kind (importing hartune.tune.stages registers them)
M = TypeVar("M", bound=BaseModel)


class SpecError(ValueError):
    """A spec that cannot run; ``str()`` is the one line shown to the user."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackingConfig(Strict):
    # None = MLflow 3's own default: a SQLite store ``mlflow.db`` in the working directory.
    uri: str | None = None
    experiment: str | None = Field(None, description="default: the spec's name")
    log_models: Literal["best", "all", "none"] = "best"
    # Where Optuna studies persist (optuna-dashboard can read them); None keeps them in memory.
    optuna_storage: str | None = None
    # A trial writes its per-epoch metrics at most this often (and always before a checkpoint and at
    # its end); 0 writes every epoch as it ends. Fewer writes, less waiting on the store.
    metrics_every_s: float = Field(2.0, ge=0)
    # What a trial reports to Ray Tune (each report is a round trip through the driver's Tune loop):
    # ``needed`` reports the epochs the stage's scheduler reads (ASHA's rungs, every epoch for the median
    # rule, none without a scheduler), each checkpoint's epoch, one epoch at most every
    # ``metrics_every_s`` for the live view, and the final result; ``every_epoch`` reports each epoch
    # (Optuna then holds every epoch as an intermediate value; MLflow holds every epoch either way).
    tune_reports: Literal["needed", "every_epoch"] = "needed"
    # How long a store outage is waited out (the MLflow server or the database under it, the Optuna
    # storage): calls are retried with backoff (0.5 s doubling to 8 s) for this many seconds from the
    # first failure; a trial keeps training meanwhile, with its metrics buffered. Past it the trial (or
    # the driver) fails with one line naming the store. See hartune.tracking.retry.
    retry_s: float = Field(DEFAULT_RETRY_S, gt=0, le=86400)


class ResourcesConfig(Strict):
    """Per trial. Fractional GPUs are logical: Ray packs trials onto one GPU before the next."""

    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)


class DatasetEntry(DataConfig):
    """A data config plus the training settings that belong to this dataset (window, epochs, lr...)."""

    train: dict[str, Any] = Field(default_factory=dict)


class Spec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    datasets: dict[str, DatasetEntry] = Field(min_length=1)
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    loss: dict[str, Any] = Field(default_factory=lambda: {"name": "ce"})
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    tracking: TrackingConfig = TrackingConfig()
    resources: ResourcesConfig = ResourcesConfig()
    max_concurrent: int = Field(2, ge=1, description="trials running at once")
    retries: int = Field(0, ge=0, description="re-runs of a failed trial before it counts as failed")
    # Ray Tune's experiment folder (checkpoints, resume state). A cluster needs shared storage here.
    storage: str = ".hartune/ray"
    stages: list[AnyStage] = Field(min_length=1)  # type: ignore[valid-type]
    # The spec file's folder (search-space files are read relative to it) and the spaces read so far:
    # each file is validated once, however many stage methods ask for it.
    _folder: Path = PrivateAttr(default_factory=Path.cwd)
    _spaces: dict[tuple[str, str, str], Any] = PrivateAttr(default_factory=dict)
    _folds: dict[str, list[int] | None] = PrivateAttr(default_factory=dict)
    # A plan (``--dry-run``, ``validate --no-data``) reads no data it would have to download.
    _no_data: bool = PrivateAttr(default=False)
    _fold_notes: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _models_list(cls, data: Any) -> Any:
        """``models: [cnn, usad]`` is shorthand for ``{cnn: {name: cnn}, usad: {name: usad}}``. Top-level
        keys starting with ``x-`` are extension fields (a home for YAML anchors), ignored."""
        if isinstance(data, Mapping):
            data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
        if isinstance(data, Mapping) and isinstance(data.get("models"), list):
            data = {**data, "models": {m: {"name": m} for m in data["models"]}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _presets(cls, data: Any) -> Any:
        """``datasets: {pamap2: {preset: pamap2}}``: the paper's settings (``hartune.presets``)."""
        if isinstance(data, Mapping) and isinstance(data.get("datasets"), Mapping):
            for key, entry in data["datasets"].items():
                if isinstance(entry, Mapping) and "preset" in entry and entry["preset"] not in PRESETS:
                    raise ValueError(
                        f"datasets.{key}.preset={entry['preset']!r}: unknown preset; valid: {', '.join(PRESETS.names())}"
                    )
            data = {
                **data,
                "datasets": {
                    k: expand(dict(v)) if isinstance(v, Mapping) else v for k, v in data["datasets"].items()
                },
            }
        return data

    @model_validator(mode="after")
    def _stage_references(self) -> Spec:
        seen: list[str] = []
        for i, st in enumerate(self.stages):
            if st.name in seen:
                raise ValueError(f"stages[{i}].name={st.name!r} is used twice")
            if st.from_stage is not None and st.from_stage not in seen:
                raise ValueError(
                    f"stages[{i}].from_stage={st.from_stage!r}: accepted: an earlier stage ({', '.join(seen) or 'none'})"
                )
            for d in st.dataset_keys(self):
                if d not in self.datasets:
                    raise ValueError(
                        f"stages[{i}].datasets: {d!r} is not a dataset of this spec; accepted: {', '.join(self.datasets)}"
                    )
            seen.append(st.name)
        return self

    # -- trial configs ---------------------------------------------------------------------------
    def experiment(self) -> str:
        return self.tracking.experiment or self.name

    def at(self, folder: Path) -> Spec:
        """The spec read from a file in ``folder`` (where its relative search-space paths point)."""
        self._folder = Path(folder)
        return self

    def without_data(self) -> Spec:
        """This spec for a plan: nothing is downloaded. A LOSO fold count then reads the recordings only
        if they are all here, else counts the subjects the dataset's loader declares for its release
        (``fold_note`` says so); a dataset that declares none cannot be counted without its data."""
        self._no_data, self._folds = True, {}
        return self

    def fold_note(self, dataset: str) -> str | None:
        """How a plan counted ``dataset``'s folds when its data is not here."""
        return self._fold_notes.get(dataset)

    def space(self, source: str | Mapping[str, Any], model: type[M], prefix: str = "space") -> M:
        """A search-space file or inline mapping validated into ``model``, once per spec. A file path is
        read from the working directory if it is there, else from the spec's folder."""
        text = source if isinstance(source, str) else json.dumps(source, sort_keys=True, default=str)
        key = (model.__name__, prefix, text)
        if key not in self._spaces:
            folder = (
                Path.cwd() if isinstance(source, str) and (Path.cwd() / source).exists() else self._folder
            )
            self._spaces[key] = load_space(source, folder, prefix, model)
        return self._spaces[key]

    def stage(self, name: str) -> StageConfig:
        for st in self.stages:
            if st.name == name:
                return st
        raise UnknownNameError("stage", name, [s.name for s in self.stages])

    def upstream(self, name: str) -> set[str]:
        """Stages that stage ``name`` starts from, transitively (``--stage`` runs them first)."""
        need, st = set(), self.stage(name)
        while st.from_stage:
            need.add(st.from_stage)
            st = self.stage(st.from_stage)
        return need

    def base_raw(self, dataset: str) -> dict[str, Any]:
        """The run config of ``dataset`` before any stage touches it, as a plain dict."""
        entry = self.datasets[dataset].model_dump(mode="json", exclude={"train"})
        return {"data": entry, "train": dict(self.datasets[dataset].train), "loss": dict(self.loss)}

    def model_overlay(self, overlay: Mapping[str, Any]) -> dict[str, Any]:
        """Resolve ``model: <key of models or registered name>`` into a model dict."""
        out = dict(overlay)
        m = out.get("model")
        if isinstance(m, str):
            out["model"] = self.models[m].model_dump() if m in self.models else {"name": m}
        return out

    def resolve(
        self, dataset: str, overlay: Mapping[str, Any], seed: int, fold: int | None = None
    ) -> dict[str, Any]:
        """The merged, not yet validated, run config dict of one trial. On a dataset with a fold axis
        the trial trains one fold (``fold``; default the axis's first, enough to validate a config)."""
        raw = deep_merge(self.base_raw(dataset), self.model_overlay(overlay))
        # no model named: USAD, as the spec's `models.usad` gives it (e.g. Table 5's size) if it has one
        raw.setdefault("model", self.model_overlay({"model": "usad"})["model"])
        raw["seed"] = seed
        split = raw.get("data", {}).get("split", {})
        if isinstance(split, dict) and split.get("folds") is not None:
            first = 0 if split["folds"] == "all" else split["folds"][0]
            raw["data"]["split"] = {**split, "fold": first if fold is None else fold, "folds": None}
        return self.transfer_overlay(raw)

    def folds(self, dataset: str) -> list[int] | None:
        """The cross-validation folds of dataset entry ``dataset`` (None: no fold axis), counted once per
        spec. LOSO counts one fold per subject, so its count reads the dataset's recordings; when they
        cannot be read, one line says which dataset and why."""
        if dataset not in self._folds:
            entry = self.datasets[dataset]
            split, subjects = entry.split, None
            where = f"datasets.{dataset}.split.folds={split.folds!r}"
            try:
                if split.folds is not None and split.static_fold_count() is None:
                    try:
                        subjects = self._subjects(dataset)
                    except DataError as e:
                        raise DataError(
                            f"a {split.kind} split has one fold per subject, so counting its folds "
                            f"needs dataset {entry.dataset.name!r}: {e}"
                        ) from None
                self._folds[dataset] = split.fold_list(subjects)
            except DataError as e:
                raise ConfigError(f"{where}: {e}") from None
        return self._folds[dataset]

    def _subjects(self, dataset: str) -> Any:
        """The subject ids of ``dataset``'s recordings (for a fold count); in a plan, see ``without_data``."""
        import numpy as np

        from hartune.data.datasets import load_recordings

        cfg = self.datasets[dataset].dataset
        if self._no_data:
            origin = cfg.origin()
            if not origin.complete:
                if origin.subjects is None:
                    raise DataError(
                        f"its files are not here and it declares no subject list: {origin.describe()}"
                    )
                self._fold_notes[dataset] = (
                    f"folds counted from the release's {len(origin.subjects)} subjects (the data is not here)"
                )
                return np.asarray(origin.subjects)
        return load_recordings(cfg).subjects

    def transfer_overlay(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Resolve ``transfer.pretrain: <dataset key>`` into that entry's data config (without its
        ``train`` settings: pretraining uses the trial's); an inline data config passes unchanged."""
        t = raw.get("transfer")
        key = t.get("pretrain") if isinstance(t, Mapping) else None
        if isinstance(key, str):
            if key not in self.datasets:
                raise ConfigError(
                    f"transfer.pretrain={key!r}: not a dataset of this spec; accepted: {', '.join(self.datasets)}"
                )
            data = self.datasets[key].model_dump(mode="json", exclude={"train"})
            data["split"]["folds"] = None  # pretraining takes one split, never an axis
            raw = {**raw, "transfer": {**t, "pretrain": data}}
        return raw

    def run_config(
        self, dataset: str, overlay: Mapping[str, Any], seed: int, where: str, fold: int | None = None
    ) -> RunConfig:
        try:
            return validate_config(RunConfig, self.resolve(dataset, overlay, seed, fold), prefix=where)
        except UnknownNameError as e:
            raise ConfigError(f"{where}: {e}") from None


def read_yaml(path: Path) -> Any:
    try:
        return read_yaml_text(path)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except OSError as e:
        raise SpecError(f"{path}: not readable ({e.strerror or e})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        line, problem = yaml_problem(e)
        raise SpecError(
            f"{path}: not readable YAML ({line.strip() + ': ' if line else ''}{problem})"
        ) from None


def load_spec(path: str | Path) -> tuple[Spec, str]:
    """Parse and type-check ``path``; returns the spec and its text's sha256 (the spec hash)."""
    path = Path(path)
    raw = read_yaml(path)
    if not isinstance(raw, Mapping):
        raise SpecError(
            f"{path}: a spec is a YAML mapping with name, datasets and stages; got {type(raw).__name__}"
        )
    try:
        spec = validate_config(Spec, raw)
    except (ConfigError, UnknownNameError) as e:
        raise SpecError(f"{path}: {e}") from None
    return spec.at(path.parent), hashlib.sha256(path.read_bytes()).hexdigest()


def check_spec(spec: Spec, spec_path: Path, gpus_available: float, prepare_data: bool = True) -> int:
    """Everything that can be known before Ray starts; returns the planned trial count.

    Resolves and validates the run config of every grid trial and of every corner of every search
    space, prepares each distinct data config once (a window longer than every recording, a split
    naming absent subjects...; skipped with ``prepare_data=False``, e.g. when submitting from a machine
    that does not hold the cluster's data), and checks per-trial GPUs against the cluster.
    """
    where = str(spec_path)
    try:
        for key, entry in spec.datasets.items():
            validate_config(TrainConfig, entry.train, prefix=f"datasets.{key}.train")
        validate_config(RunConfig, {"loss": spec.loss}, prefix="")
        if spec.resources.gpu > gpus_available:
            hint = (
                "; to plan it here for a GPU cluster, pass --gpus N (validate, or run --dry-run)"
                if gpus_available == 0
                else ""
            )
            raise ConfigError(
                f"resources.gpu={spec.resources.gpu}: more than the cluster's {gpus_available:g} GPUs; "
                f"accepted 0..{gpus_available:g}{hint}"
            )
        total, data_cfgs = 0, {}
        for i, st in enumerate(spec.stages):
            for key, run in st.candidate_runs(spec, i):
                data_cfgs.setdefault(run.data.model_dump_json(), (run.data, f"datasets.{key}"))
                if run.transfer is not None:  # the pretraining data must prepare too
                    data_cfgs.setdefault(
                        run.transfer.pretrain.model_dump_json(),
                        (run.transfer.pretrain, f"stages[{i}] transfer.pretrain"),
                    )
            st.check_refit(spec, i)
            total += st.planned_trials(spec)
        for data, data_where in data_cfgs.values() if prepare_data else ():
            try:
                prepare(data)
            except DataError as e:
                raise ConfigError(f"{data_where}: {e}") from None
    except (ConfigError, UnknownNameError) as e:
        raise SpecError(f"{where}: {e}") from None
    return total
