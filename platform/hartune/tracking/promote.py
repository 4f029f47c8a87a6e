"""``hartune promote``: the best trial's model into the MLflow Model Registry, behind the alias ``champion``.

1. Pick the candidate: of the trials under one parent run (the latest by default; one stage with
   ``stage``) that have a logged model, the one with the best ``test_<metric>``.
2. Compare with the current champion on the same metric, read from the champion version's source run.
   Only a strictly better candidate is promoted unless ``force``; a refusal registers nothing and is
   recorded as the tag ``hartune.promotion_refused`` on the candidate's run.
3. Wrap the trial's logged model in a pyfunc (``hartune.tracking.pyfunc``: raw windows in, labels and
   probabilities out), log it as the logged model ``pyfunc`` of the same run with a signature, an input
   example and ``model_card.md``, register it, tag the version (fingerprint, spec hash, split, test
   metrics) and move the aliases: ``champion`` to the new version, ``previous`` to the one it replaces.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hartune.registry import ConfigError
from hartune.tracking import runs

CHAMPION, PREVIOUS = "champion", "previous"
REFUSED_TAG = "hartune.promotion_refused"
TRIAL_MODEL = "model"  # the logged-model name trials use (``tracking.trial``)
PYFUNC_MODEL = "pyfunc"
LOWER_IS_BETTER = frozenset({"ece", "loss"})  # every other test metric: higher is better
PAPER = ('USAD: "Addressing Key HAR Challenges with USAD" (multi-attention interaction network, '
         "unsupervised diffusion augmentation, adaptive multi-loss fusion), shared/seeds/001")


@dataclass(frozen=True)
class Candidate:
    run: Run
    model_uri: str  # the trial's own logged model (PyTorch or sklearn flavour)
    metric: str  # e.g. ``test_f1_macro``
    value: float

    @property
    def run_id(self) -> str:
        return self.run.info.run_id


@dataclass(frozen=True)
class Outcome:
    promoted: bool
    name: str
    candidate: Candidate
    version: str | None  # the new version; None when refused
    champion: tuple[str, float | None] | None  # (version, its value) of the champion before
    reason: str  # the refusal, or why a forced promotion needed --force ("" otherwise)


def find_candidate(c: MlflowClient, exp_name: str, metric: str, stage: str | None = None,
                   parent: str | None = None) -> Candidate:
    """The trial with a logged model and the best ``test_<metric>`` under one parent run. A
    cross-validated stage offers only its refit model (``refit: true``), valued at the cross-validation
    mean; without a refit it is refused, since each fold's model saw only part of the subjects."""
    tree = runs.RunTree(c, exp_name)
    top = tree.parent(parent)
    stages = {s.name: s for s in tree.stages(top)}
    if stage is not None and stage not in stages:
        raise ConfigError(f"--stage {stage!r}: run {top.run_id[:8]} of {exp_name!r} has stages {', '.join(sorted(stages)) or 'none'}")
    wanted = [s for n, s in stages.items() if stage is None or n == stage]
    key = f"test_{metric}"
    trials: dict[str, tuple[runs.TrialRecord, str]] = {}  # run id -> (trial, the metric that values it)
    for s in wanted:
        if not tree.cross_validated(s):
            trials.update({t.run_id: (t, key) for t in tree.stage_trials(s)})
            continue
        refit = s.tags.get(runs.REFIT_RUN_TAG)
        if refit is None:
            raise ConfigError(
                f"stage {s.name!r} of run {top.run_id[:8]} is cross-validated: each fold's model saw only part "
                "of the subjects, so none is the model to deploy; add refit: true to the stage (its best "
                "configuration trained once on every subject) and run it again, or pick another --stage")
        trials[refit] = (tree.trial(refit), f"cv_{key}")
    found: list[Candidate] = []
    for m in tree.logged_models():
        t, value_key = trials.get(m.source_run_id or "", (None, key))
        if m.name == TRIAL_MODEL and t is not None and value_key in t.metrics:
            found.append(Candidate(c.get_run(t.run_id), m.model_uri, key, float(t.metrics[value_key])))
    where = f"run {top.run_id[:8]} of {exp_name!r}" + (f", stage {stage!r}" if stage else "")
    if not found:
        raise ConfigError(f"no trial with a logged model and {key} in {where} "
                          "(log_models: best keeps one per stage; pick another parent run with --run)")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    return max(found, key=lambda k: sign * k.value)


def current_champion(c: MlflowClient, name: str, key: str) -> tuple[str, str, float | None] | None:
    """(version, source run id, its ``key``) of ``name@champion``, or None when there is none."""
    try:
        mv = c.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:  # no such registered model, or no champion yet
        return None
    metrics = c.get_run(mv.run_id).data.metrics if mv.run_id else {}
    value = metrics.get(key, metrics.get(f"cv_{key}"))  # a refit model: its cross-validation mean
    return mv.version, mv.run_id or "", value


def _refusal(cand: Candidate, metric: str, champ: tuple[str, str, float | None] | None, name: str) -> str:
    """Why ``cand`` may not replace the champion ("" when it may)."""
    if champ is None:
        return ""
    version, run_id, value = champ
    ours = f"{cand.metric} {cand.value:.4f} (run {cand.run_id[:8]})"
    if run_id == cand.run_id:
        return f"{ours} is already {name}@{CHAMPION} (version {version})"
    if value is None:
        return f"{name}@{CHAMPION} (version {version}) has no {cand.metric} to compare with {ours}"
    better = cand.value < value if metric in LOWER_IS_BETTER else cand.value > value
    if better:
        return ""
    return f"{ours} does not beat {name}@{CHAMPION} version {version} ({cand.metric} {value:.4f})"


def promote(uri: str, exp_name: str, metric: str = "f1_macro", name: str | None = None, stage: str | None = None,
            parent: str | None = None, force: bool = False) -> Outcome:
    metric = metric.removeprefix("test_")
    name = name or exp_name
    c = runs.client(uri)
    cand = find_candidate(c, exp_name, metric, stage, parent)
    champ = current_champion(c, name, cand.metric)
    reason = _refusal(cand, metric, champ, name)
    before = (champ[0], champ[2]) if champ else None
    if reason and not force:
        runs.set_tags(c, cand.run_id, {REFUSED_TAG: reason})
        return Outcome(False, name, cand, None, before, reason)
    version = _register(uri, c, cand, name, forced=bool(reason))
    if champ is not None:
        c.set_registered_model_alias(name, PREVIOUS, champ[0])
    c.set_registered_model_alias(name, CHAMPION, version)
    runs.set_tags(c, cand.run_id, {"hartune.promoted_as": f"{name} version {version}",
                                   **({"hartune.promotion_forced": reason} if reason else {})})
    return Outcome(True, name, cand, version, before, reason)


def _register(uri: str, c: MlflowClient, cand: Candidate, name: str, forced: bool) -> str:
    """Log the pyfunc as a logged model of the candidate's run, register it, tag the version."""
    import mlflow
    from mlflow.models import Model

    from hartune.tracking.pyfunc import WindowClassifier, signature

    mlflow.set_tracking_uri(uri)
    run_id = cand.run_id
    data = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/data.json"))
    class_names = data.get("class_names") or json.loads(
        mlflow.artifacts.load_text(f"runs:/{run_id}/confusion_matrix.json"))["class_names"]
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=cand.model_uri, dst_path=str(Path(tmp) / "model"))
        logged = Model.load(local)
        flavour = "pytorch" if "pytorch" in logged.flavors else "sklearn"
        example = logged.load_input_example(local)  # (n, T, C) raw test windows, logged with the trial model
        card = model_card(cand, name, data, class_names)
        (Path(tmp) / "model_card.md").write_text(card)
        c.log_text(run_id, card, "model_card.md")
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name=PYFUNC_MODEL, python_model=WindowClassifier(flavour, class_names),
                artifacts={"model": local, "model_card": str(Path(tmp) / "model_card.md")},
                signature=signature(example.shape[1], example.shape[2], class_names), input_example=example,
                pip_requirements=_requirements(flavour),
            )
    tags = version_tags(cand, data, forced)
    mv = mlflow.register_model(info.model_uri, name, tags=tags)
    c.update_model_version(name, mv.version, description=(
        f"{cand.run.info.run_name}: {cand.metric} {cand.value:.4f}. Raw (B, T, C) float32 windows in; "
        f"DataFrame out (label, label_index, prob_<class>). Model card: model_card.md of run {run_id}."))
    return str(mv.version)


def _requirements(flavour: str) -> list[str]:
    import importlib.metadata as md

    pins = ["mlflow", "numpy", "pandas", "torch" if flavour == "pytorch" else "scikit-learn"]
    return [f"{p}=={md.version(p).split('+')[0]}" for p in pins] + ["hartune"]


def split_summary(cand: Candidate, data: dict[str, Any]) -> dict[str, Any]:
    split = {k: v for k, v in data.get("split", {}).items() if k not in ("dataset", "class_counts")}
    return {"kind": cand.run.data.params.get("data.split.kind", "?"), **split}


def version_tags(cand: Candidate, data: dict[str, Any], forced: bool) -> dict[str, str]:
    t = cand.run.data.tags
    metrics = {k: f"{v:.6g}" for k, v in sorted(cand.run.data.metrics.items()) if k.startswith("test_")}
    metrics.update(expected_performance(cand))
    return {
        runs.DATA_FINGERPRINT_TAG: str(data.get("fingerprint", t.get(runs.DATA_FINGERPRINT_TAG, ""))),
        runs.SPEC_HASH_TAG: t.get(runs.SPEC_HASH_TAG, ""),
        "hartune.split": json.dumps(split_summary(cand, data), separators=(",", ":"))[:5000],
        "hartune.source_run_id": cand.run_id,
        runs.VARIANT_TAG: t.get(runs.VARIANT_TAG, ""),
        runs.STAGE_TAG: t.get(runs.STAGE_TAG, ""),
        "hartune.promoted_on": cand.metric,
        "hartune.forced": str(forced).lower(),
        **metrics,
    }


def expected_performance(cand: Candidate) -> dict[str, str]:
    """A refit model's expected performance: the cross-validation's mean ± std of each test metric,
    with its protocol (version tags ``hartune.expected_<metric>`` and ``hartune.cv_protocol``)."""
    m, t = cand.run.data.metrics, cand.run.data.tags
    if t.get(runs.REFIT_TAG) != "true":
        return {}
    folds = int(m.get("cv_folds", 0))
    out = {f"hartune.expected_{k.removeprefix('cv_test_')}": f"{v:.4f} ± {m.get(f'{k}_std', float('nan')):.4f} "
           f"(mean ± std over {folds} folds)" for k, v in sorted(m.items()) if k.startswith("cv_test_") and
           not k.endswith("_std")}
    out[runs.CV_PROTOCOL_TAG] = t.get(runs.CV_PROTOCOL_TAG, "")
    out[runs.REFIT_EPOCHS_TAG] = t.get(runs.REFIT_EPOCHS_TAG, "")
    return out


def _model_doc(model_name: str) -> str:
    from hartune.models import MODELS
    from hartune.registry import UnknownNameError

    try:
        return MODELS.get(model_name).doc.strip()
    except UnknownNameError:  # a name this install does not know: the card still gets written
        return ""


def model_card(cand: Candidate, name: str, data: dict[str, Any], class_names: list[str]) -> str:
    p, t = cand.run.data.params, cand.run.data.tags
    split = data.get("split", {})
    counts = split.get("class_counts", {})
    metrics = sorted((k, v) for k, v in cand.run.data.metrics.items() if k.startswith("test_"))
    lines = [
        f"# {name}: {p.get('model.name', '?')} ({t.get(runs.VARIANT_TAG, cand.run.info.run_name)})",
        "",
        f"Trial run `{cand.run_id}` (stage `{t.get(runs.STAGE_TAG, '?')}`), promoted on {cand.metric} = {cand.value:.4f}.",
        "",
        "## Paper",
        PAPER,
        "",
        "## Model",
        _model_doc(p.get("model.name", "")) or p.get("model.name", "?"),
        "",
        ("Input: raw sensor windows `(B, T, C)` float32 in the dataset's original units (the training split's "
         "z-score is inside the model). Output: a DataFrame with `label`, `label_index` and one `prob_<class>` per class."),
        "",
        "## Data",
        (f"- dataset: `{p.get('data.dataset.name', '?')}`, window {p.get('data.window.length', '?')} "
         f"(stride {p.get('data.window.stride', '?')}), imbalance ratio {p.get('data.imbalance.ratio', 'None')}"),
        f"- classes: {', '.join(class_names)}",
        f"- fingerprint (sha256 of the windows, labels and split): `{data.get('fingerprint', '?')}`",
        "",
        "## Split",
        f"- kind: `{p.get('data.split.kind', '?')}`; leaky (windows of one subject on both sides): {t.get(runs.LEAKY_SPLIT_TAG, '?')}",
        *[f"- {k}: {v}" for k, v in split.items() if k not in ("class_counts", "dataset")],
        *[f"- class counts, {part}: {c}" for part, c in counts.items()],
        "",
        *(["## Expected performance (the cross-validation that selected this refit model)",
           f"- protocol: {t.get(runs.CV_PROTOCOL_TAG, '?')}", f"- epochs: {t.get(runs.REFIT_EPOCHS_TAG, '?')}",
           "| metric | mean ± std over folds |", "|---|---|",
           *[f"| {k.removeprefix('hartune.expected_')} | {v} |" for k, v in expected_performance(cand).items()
             if k.startswith("hartune.expected_")]] if t.get(runs.REFIT_TAG) == "true" else
          ["## Test metrics", "| metric | value |", "|---|---|",
           *[f"| {k.removeprefix('test_')} | {v:.4f} |" for k, v in metrics]]),
        "",
        "## Training config (the run's params)",
        "```",
        *[f"{k} = {v}" for k, v in sorted(p.items())],
        "```",
        "",
        "## Provenance",
        f"- spec hash `{t.get(runs.SPEC_HASH_TAG, '?')}`, git commit `{t.get(runs.GIT_COMMIT_TAG, '?')}`",
    ]
    return "\n".join(lines) + "\n"
