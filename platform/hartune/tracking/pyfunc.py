"""The registered form of a trained classifier: an MLflow pyfunc over raw sensor windows.

Input: a float32 array of raw windows ``(B, T, C)`` in the dataset's original units; the z-score
fitted on the training split lives inside the wrapped model (``Normalized`` for PyTorch, the
pipeline's first step for scikit-learn), so callers never normalise.

Output: a ``pandas.DataFrame`` with one row per window and the columns
``label`` (class name), ``label_index`` (its index in the class list) and ``prob_<class>`` (softmax
or ``predict_proba`` probability of each class, in class order; the row sums to 1).
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

# the flavours a trial's model is logged with (``hartune.tracking.trial.log_model_of``)
FLAVOURS = ("pytorch", "sklearn")
EVAL_BATCH = 512  # windows per forward pass: bounded memory for a long input


def prob_column(class_name: str) -> str:
    return f"prob_{class_name}"


class WindowClassifier(mlflow.pyfunc.PythonModel):
    """Wraps the trial's own logged model (artifact ``model``) and turns its scores into labels."""

    def __init__(self, flavour: str, class_names: list[str]) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour {flavour!r}; accepted: {', '.join(FLAVOURS)}")
        self.flavour, self.class_names = flavour, list(class_names)
        self.model: Any = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        path = context.artifacts["model"]
        if self.flavour == "pytorch":
            import mlflow.pytorch

            # MLflow 3 saves PyTorch models with torch.export (pt2): the graph was captured in eval mode
            # and the loaded module refuses ``.eval()``, so it is used as loaded.
            self.model = mlflow.pytorch.load_model(path, map_location="cpu")
        else:
            import mlflow.sklearn

            self.model = mlflow.sklearn.load_model(path)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(B, T, C) raw windows -> (B, K) class probabilities."""
        k = len(self.class_names)
        if self.flavour == "sklearn":
            out = np.zeros((len(x), k))
            out[:, self.model.classes_] = self.model.predict_proba(x)  # classes absent from train: 0
            return out
        import torch

        with torch.no_grad():
            parts = [torch.softmax(self.model(torch.from_numpy(x[i : i + EVAL_BATCH])), dim=1)
                     for i in range(0, len(x), EVAL_BATCH)]
        return torch.cat(parts).double().numpy() if parts else np.zeros((0, k))

    # ``np.ndarray`` is a hint MLflow infers no schema from (the logged signature stays the contract)
    # and does not warn about, as it does when the hints are missing
    def predict(self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None) -> pd.DataFrame:
        x = np.ascontiguousarray(np.asarray(model_input), dtype=np.float32)
        if x.ndim != 3:
            raise ValueError(f"expected raw windows of shape (B, T, C), got {x.shape}")
        prob = self.probabilities(x)
        idx = prob.argmax(1)
        frame = pd.DataFrame({"label": np.asarray(self.class_names, dtype=object)[idx], "label_index": idx.astype(np.int64)})
        for j, name in enumerate(self.class_names):
            frame[prob_column(name)] = prob[:, j]
        return frame


def signature(window: int, channels: int, class_names: list[str]) -> Any:
    """Tensor input ``(-1, T, C)`` float32; a column output: label, label_index, one prob per class."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    inputs = Schema([TensorSpec(np.dtype(np.float32), (-1, window, channels))])
    outputs = Schema([ColSpec("string", "label"), ColSpec("long", "label_index"),
                      *[ColSpec("double", prob_column(c)) for c in class_names]])
    return ModelSignature(inputs=inputs, outputs=outputs)
