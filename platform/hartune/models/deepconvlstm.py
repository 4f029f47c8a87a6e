"""DeepConvLSTM (Ordóñez & Roggen, "Deep Convolutional and LSTM Recurrent Neural Networks for
Multimodal Wearable Activity Recognition", Sensors 16(1):115, 2016).

Reference code: the original Lasagne notebook ``STRCWearlab/DeepConvLSTM:DeepConvLSTM.ipynb``.
For input (B, T, S):

    conv x4     Conv2d(64, kernel (5, 1)) + ReLU on (B, 1, T, S): time only,  (B, 64, T', S)
                weights shared across the S sensor channels
    to steps    permute to (B, T', 64, S), flatten each step                 (B, T', 64*S)
    LSTM x2     128 units, batch_first: the sequence axis is time T'         (B, T', 128)
    features    the last time step                                           (B, 128)
    head        Dropout(0.5) -> Linear                                       (B, K)

The time axis reaches the LSTM as its sequence axis. Two common mistakes this avoids, both
checked in ``tests/models/test_deepconvlstm.py``: a Conv1d over the sensor channels whose output
is fed with channels as time, and ``nn.LSTM`` without ``batch_first`` fed (B, T, F), which makes
the batch the sequence (``mariusbock/dl-for-har:model/DeepConvLSTM.py``).

Departures from the reference:
    * ``padding="same"`` by default: four valid kernel-5 convs drop 16 samples (24 -> 8 in the
      paper), which would leave nothing of a 16-sample window. ``padding="valid"`` is the paper's
      layer and works for windows >= 17.
    * The paper classifies every time step and uses the last one; we compute only the last.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

import torch
from pydantic import Field, PositiveInt
from torch import nn

from hartune.models.base import HARClassifier, ModelConfig, ModelConfigError, register_model


class DeepConvLSTMConfig(ModelConfig):
    filters: PositiveInt = 64
    kernel_size: PositiveInt = 5
    num_conv: PositiveInt = 4
    # "valid" is the paper's; "same" keeps short windows (see the module docstring).
    padding: Literal["same", "valid"] = "same"
    lstm_hidden: PositiveInt = 128
    lstm_layers: PositiveInt = 2
    dropout: float = Field(0.5, ge=0.0, lt=1.0)  # the paper's dropout before the output layer


class DeepConvLSTM(HARClassifier):
    """Conv over time (shared across sensors) -> LSTM over time -> last step -> linear."""

    def __init__(self, in_channels: int, num_classes: int, window: int, cfg: DeepConvLSTMConfig) -> None:
        super().__init__()
        if cfg.padding == "valid" and window <= cfg.num_conv * (cfg.kernel_size - 1):
            raise ModelConfigError(
                f"deepconvlstm: window={window} is too short for {cfg.num_conv} valid convs of kernel "
                f"{cfg.kernel_size}; needs > {cfg.num_conv * (cfg.kernel_size - 1)} or padding='same'"
            )
        pad = (cfg.kernel_size // 2, 0) if cfg.padding == "same" else (0, 0)
        widths = (1,) + (cfg.filters,) * cfg.num_conv
        self.convs = nn.Sequential(*[
            nn.Sequential(nn.Conv2d(c_in, c_out, (cfg.kernel_size, 1), padding=pad), nn.ReLU())
            for c_in, c_out in pairwise(widths)
        ])
        self.lstm = nn.LSTM(cfg.filters * in_channels, cfg.lstm_hidden, cfg.lstm_layers, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.lstm_hidden, num_classes))

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, S) -> (B, T', F*S): the conv features of each time step, the LSTM's input."""
        h = self.convs(x.unsqueeze(1))  # (B, 1, T, S) -> (B, F, T', S)
        return h.permute(0, 2, 1, 3).flatten(2)  # (B, T', F, S) -> (B, T', F*S): time stays the step axis

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, S) -> (B, lstm_hidden): the top LSTM's output at the last time step."""
        h, _ = self.lstm(self.sequence(x))  # (B, T', H)
        return h[:, -1]


@register_model("deepconvlstm", DeepConvLSTMConfig)
def build_deepconvlstm(
    in_channels: int, num_classes: int, window: int, cfg: DeepConvLSTMConfig
) -> DeepConvLSTM:
    """DeepConvLSTM (Ordóñez & Roggen 2016): 4 x conv(64, k5) over time, 2 x LSTM(128), last step."""
    return DeepConvLSTM(in_channels, num_classes, window, cfg)
