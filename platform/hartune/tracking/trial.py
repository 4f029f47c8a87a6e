"""Tracking from inside a trial process: a recipe callback plus the end-of-trial artifacts."""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hartune.models import Normalized, embeddings
from hartune.tracking import redact, runs
from hartune.tracking.plots import confusion_figure, curves_figure
from hartune.tracking.retry import TrackingUnavailable, with_retry
from hartune.train import TrainResult
from hartune.train.metrics import (
    FEATURE_SPACES,
    classification_metrics,
    confusion,
    feature_distances,
    per_class_report,
)
from hartune.train.types import Snapshot


@dataclass
class TrialTracker:
    """Logs one trial into its own MLflow run: per-epoch metrics as steps, then the test results.

    Per-epoch metrics are buffered and written together at most every ``every_s`` seconds (the spec's
    ``tracking.metrics_every_s``; a live MLflow UI lags by that much): each write is a transaction
    that concurrent trials queue for on a SQLite store, or a round trip to a server. ``flush`` writes
    the buffer; it runs before every checkpoint (what a checkpoint says was trained is in MLflow), when
    Tune stops the trial, when it fails and before the run is closed.

    A tracking outage (``hartune.tracking.retry``): a per-epoch write that finds the store out keeps its
    metrics buffered and training goes on (no checkpoint is written meanwhile, see ``flush_now``); the
    next due write sends them all again. Once the store has been out for longer than ``retry_s`` the
    trial fails with one line naming the server. The trial's end (test metrics, artifacts, the run's
    FINISHED) waits the outage out, so a trial that ends during it closes its run once the server is
    back."""

    uri: str
    run_id: str
    client: Any  # one MlflowClient for the trial's life, not one per epoch (retrying: runs.client)
    every_s: float
    retry_s: float = 120.0
    buffered: list[Any] = field(default_factory=list)
    last_write: float = field(default_factory=time.monotonic)
    out_since: float | None = None  # when a per-epoch write first found the store out
    # A retried or restored trial continues in its run from its last checkpoint, which may be older
    # than the last epoch the killed attempt logged: those epochs are trained again but not logged
    # again, so each step is in the metric history once (with the first attempt's values; the recipe
    # restores the RNG streams, so on CPU the second attempt computes the same ones).
    logged_through: int = 0

    @classmethod
    def open(
        cls, uri: str, experiment_id: str, stage_run: str, trial_id: str, name: str,
        params: dict[str, Any], tags: dict[str, str], every_s: float, retry_s: float = 120.0,
    ) -> TrialTracker:
        c = runs.client(uri, retry_s)
        run_id = runs.trial_run(c, experiment_id, stage_run, trial_id, name, tags)
        runs.log_params(c, run_id, params)
        return cls(uri, run_id, c, every_s, retry_s, logged_through=runs.last_step(c, run_id))

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], snapshot: Snapshot | None = None) -> None:
        if epoch <= self.logged_through:  # logged by an attempt that died after its last checkpoint
            return
        self.buffered += runs.metric_items(metrics, step=epoch)
        if time.monotonic() - self.last_write >= self.every_s:
            self.flush_now()

    def flush_now(self) -> bool:
        """One attempt at writing the buffer; False (metrics kept for the next attempt) while the store
        is out, and ``TrackingUnavailable`` once it has been out for longer than ``retry_s``."""
        self.last_write = time.monotonic()
        if not self.buffered:
            return True
        if runs.log_metric_items_once(self.client, self.run_id, self.buffered):
            self.buffered, self.out_since = [], None
            return True
        self.out_since = self.out_since or time.monotonic()
        if time.monotonic() - self.out_since >= self.retry_s:
            raise TrackingUnavailable(f"tracking server {redact(self.uri)} did not answer log_batch for "
                                      f"{self.retry_s:g} s (tracking.retry_s={self.retry_s:g})")
        return False

    def flush(self) -> None:
        """Write every buffered per-epoch metric (each once), waiting out an outage of ``retry_s``."""
        items, self.last_write = self.buffered, time.monotonic()
        if items:
            runs.log_metric_items(self.client, self.run_id, items)
        self.buffered, self.out_since = [], None

    def finish(self, result: TrainResult, spec_text: str, log_model: bool) -> dict[str, float]:
        """Log test metrics and artifacts; returns the flat final metrics (also reported to Tune)."""
        self.flush()
        c = self.client
        d = result.data
        final = {f"test_{k}": v for k, v in result.test.items()}
        final.update({f"best_val_{k}": v for k, v in result.val.items()})
        final.update({"best_epoch": result.best_epoch, "num_parameters": result.num_parameters})
        final.update(deployment_metrics(result))
        has_test = len(result.test_true) > 0  # a refit on every subject has no test split
        if has_test:
            final["test_minority_recall"] = minority_recall(result)
            final.update(feature_space_metrics(result))
        final.update(self.log_augmentation(result))
        runs.log_metrics(c, self.run_id, final, step=len(result.history))
        runs.set_tags(c, self.run_id, {
            runs.DATA_FINGERPRINT_TAG: d.fingerprint, runs.LEAKY_SPLIT_TAG: str(d.leaky_split).lower(),
            runs.PATIENCE_STOP_TAG: str(result.stopped_early).lower(),
        })
        runs.log_png(c, self.run_id, curves_figure(result.history, ["train_loss", "val_loss"]), "curves/loss.png")
        runs.log_png(c, self.run_id, curves_figure(result.history, ["train_accuracy", "val_accuracy", "val_f1_macro"]), "curves/accuracy.png")
        if has_test:
            pred = result.test_prob.argmax(1)
            cm = confusion(result.test_true, pred, d.num_classes)
            runs.log_png(c, self.run_id, confusion_figure(cm, d.class_names, "test"), "confusion_matrix.png")
            runs.log_json(c, self.run_id, per_class_report(result.test_true, pred, d.class_names), "per_class_report.json")
            runs.log_json(c, self.run_id, {"confusion_matrix": cm.tolist(), "class_names": d.class_names}, "confusion_matrix.json")
            runs.log_json(c, self.run_id, per_subject_report(result), "per_subject.json")
        runs.log_json(c, self.run_id, {"split": d.info, "fingerprint": d.fingerprint, "class_names": d.class_names},
                      "data.json")
        c.log_text(self.run_id, spec_text, "spec.yaml")
        if log_model:
            with_retry(lambda: log_model_of(self.uri, self.run_id, result.model, example_windows(result)),
                       self.retry_s, f"tracking server {redact(self.uri)}", "log_model")
        c.set_terminated(self.run_id, "FINISHED")
        return final

    def log_augmentation(self, result: TrainResult) -> dict[str, float]:
        """Which generator the run used (tag ``hartune.generator_key``) and how many synthetic windows;
        the run that trained the generator logs it (``generator/``: weights, config, quality report,
        real-vs-synthetic figure) and its quality figures as metrics."""
        info = result.extra.get("augment")
        if not isinstance(info, dict):
            return {}
        out = {"synthetic_windows": float(info["synthetic_windows"])}
        if info.get("key"):
            runs.set_tags(self.client, self.run_id, {runs.GENERATOR_KEY_TAG: info["key"],
                                                     runs.GENERATOR_TRAINED_TAG: str(info["trained"]).lower()})
            runs.log_json(self.client, self.run_id, info.get("per_class", {}), "synthetic_per_class.json")
        if info.get("trained") and info.get("path"):
            folder = Path(str(info["path"]))
            self.client.log_artifacts(self.run_id, str(folder), "generator")
            quality = json.loads((folder / "quality.json").read_text()) if (folder / "quality.json").exists() else {}
            out.update({f"generator_{k}": float(v) for k, v in quality.items() if isinstance(v, (int, float))})
        runs.log_metrics(self.client, self.run_id, out, step=len(result.history))
        return out

    def fail(self, error: BaseException) -> None:
        """The run FAILED with the error; when the error is the store's outage, the driver records it
        (``TrialStatusCallback``) once the store is back."""
        if isinstance(error, TrackingUnavailable):
            return
        with contextlib.suppress(Exception):  # the error being recorded matters more than a lost metric
            self.flush()
        c = self.client
        runs.set_tags(c, self.run_id, {runs.ERROR_TAG: f"{type(error).__name__}: {error}"})
        c.log_text(self.run_id, "".join(traceback.format_exception(error)), "error.txt")
        c.set_terminated(self.run_id, "FAILED")


def per_subject_report(result: TrainResult) -> list[dict[str, float | int]]:
    """Test accuracy and F1-macro of each test subject's windows (LOSO: the fold's one subject), for the
    report's per-subject tables; empty when the windows carry no subject ids."""
    d = result.data
    if d.test.subject is None:
        return []
    out = []
    for s in sorted(set(d.test.subject.tolist())):
        keep = d.test.subject == s
        m = classification_metrics(result.test_true[keep], result.test_prob[keep], d.num_classes)
        out.append({"subject": int(s), "windows": int(keep.sum()), "accuracy": m["accuracy"], "f1_macro": m["f1_macro"]})
    return out


def example_windows(result: TrainResult) -> np.ndarray:
    """Four raw (un-normalised) windows for a logged model's input example: test windows, or training
    windows when there is no test split (a refit)."""
    d = result.data
    part = d.test if len(d.test.y) else d.train
    return (part.x[:4] * d.std + d.mean).astype(np.float32)


def minority_recall(result: TrainResult) -> float:
    """Test recall of the class with the fewest real training windows (the induced minority)."""
    d = result.data
    counts = np.bincount(d.train.y, minlength=d.num_classes)
    present = [k for k in range(d.num_classes) if counts[k] > 0 and (result.test_true == k).any()]
    k = min(present, key=lambda c: counts[c])
    return float((result.test_prob.argmax(1)[result.test_true == k] == k).mean())


def feature_space_metrics(result: TrainResult) -> dict[str, float]:
    """Appendix B / Table 6 of a torch model on its test split: intra-class and inter-class distances
    and their ratio (``hartune.train.metrics.feature_distances``) in each of ``FEATURE_SPACES``, as
    ``test_<prefix>intra_class_distance`` etc.; none for a scikit-learn model (it has no features)."""
    if not isinstance(result.model, Normalized):
        return {}
    d = result.data
    spaces = dict(zip(("penultimate", "logits"), embeddings(result.model.model, torch.from_numpy(d.test.x))))
    return {f"test_{FEATURE_SPACES[name]}{k}": v for name, z in spaces.items()
            for k, v in feature_distances(z.numpy(), d.test.y).items()}


def deployment_metrics(result: TrainResult) -> dict[str, float]:
    """USAD Table 5 figures of the trained model as ``deploy_*`` metrics: parameters, size on disk,
    peak inference memory, batch-1 CPU latency (median, p95 over 100 runs after warm-up), the time
    for 100 windows, the thread count, and the real-time verdict (5% of the window's duration) when
    the dataset's sampling rate is known."""
    from hartune.deploy import profile_estimator, profile_model

    d = result.data
    threads = result.config.train.num_threads or torch.get_num_threads()
    rate = d.sampling_rate_hz if d.sampling_rate_hz > 0 else 1.0
    if isinstance(result.model, torch.nn.Module):
        figures = profile_model(result.model, d.window, d.num_channels, rate, threads=threads)
    else:
        figures = profile_estimator(result.model, d.window, d.num_channels, rate, result.num_parameters)
    if d.sampling_rate_hz <= 0:  # unknown rate: no budget to compare with
        figures = {k: v for k, v in figures.items() if not k.startswith("realtime")}
    return {f"deploy_{k}": v for k, v in figures.items()}


def log_model_of(uri: str, run_id: str, model: Any, example: np.ndarray) -> None:
    """A PyTorch model with MLflow's PyTorch flavour, a scikit-learn estimator with its sklearn one."""
    if isinstance(model, torch.nn.Module):
        log_torch_model(uri, run_id, model, example)
    else:
        log_sklearn_model(uri, run_id, model, example)


def log_sklearn_model(uri: str, run_id: str, model: Any, example: np.ndarray) -> None:
    """MLflow's sklearn flavour: the pipeline takes raw (B, T, C) windows, like the PyTorch models."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    example = np.ascontiguousarray(example, dtype=np.float32)
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(example, model.predict_proba(example)),
            input_example=example, pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            serialization_format="cloudpickle",
        )


def log_torch_model(uri: str, run_id: str, model: torch.nn.Module, example: np.ndarray) -> None:
    """MLflow's PyTorch flavour, with a signature and an input example of raw (B, T, C) windows."""
    import mlflow
    from mlflow.models import infer_signature

    example = np.ascontiguousarray(example, dtype=np.float32)
    with torch.no_grad():
        out = torch.softmax(model(torch.from_numpy(example)), dim=1).numpy()
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.pytorch.log_model(
            model, name="model", signature=infer_signature(example, out), input_example=example,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )


def save_checkpoint(result: TrainResult, folder: Path) -> None:
    """What the driver needs to log the best trial's model later: weights (a PyTorch state dict, or
    the pickled scikit-learn pipeline) + the run config."""
    if isinstance(result.model, torch.nn.Module):
        torch.save(result.model.state_dict(), folder / "model.pt")
    else:
        import joblib

        joblib.dump(result.model, folder / "model.joblib")
    (folder / "run_config.json").write_text(result.config.model_dump_json())
    d = result.data
    np.save(folder / "example.npy", example_windows(result))
    (folder / "meta.json").write_text(json.dumps({
        "class_names": d.class_names, "channel_names": d.channel_names, "window": d.window,
        "num_channels": d.num_channels, "fingerprint": d.fingerprint,
    }))


def log_dataset_input(c: Any, run_id: str, key: str, data: Any, dataset: Any) -> None:
    """The trial's prepared data as the run's MLflow dataset input: named after the spec's dataset
    entry, the data fingerprint as digest, the release (URL or file) as source, and a schema of the
    windows' shape, the classes and the split sizes."""
    from mlflow.types import Schema, TensorSpec

    origin = dataset.origin()
    splits = {name: len(getattr(data, name).y) for name in ("train", "val", "test")}
    schema = {
        "mlflow_tensorspec": {  # the form MLflow's UI renders
            "features": Schema([TensorSpec(np.dtype(np.float32), (-1, data.window, data.num_channels), "windows")]).to_json(),
            "targets": Schema([TensorSpec(np.dtype(np.int64), (-1,), "label")]).to_json(),
        },
        "window": data.window, "channels": list(data.channel_names), "classes": list(data.class_names), "splits": splits,
    }
    profile = {"fingerprint": data.fingerprint, "num_classes": data.num_classes, "sampling_rate_hz": data.sampling_rate_hz,
               **{f"{k}_windows": v for k, v in splits.items()}}
    web = origin.source.startswith(("http://", "https://"))
    runs.log_dataset(c, run_id, key, data.fingerprint, origin.source, "http" if web else "local", schema, profile)
