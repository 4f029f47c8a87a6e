"""Convolution-recurrence hybrids of USAD Table 3: LSTM-CNN (USAD [19]) and CNN-GRU (USAD [20]).

Both read the window as a sequence over time (``batch_first``), and both are far wider here than
in their papers: USAD Table 5 counts 2.12e6 (LSTM-CNN) and 4.38e6 (CNN-GRU) parameters on WISDM,
where the papers' own widths give a few 1e4 to 1e5. We keep each paper's layer structure, expose
every width as a knob, and choose default widths that land within ±25% of Table 5 (each class
docstring says which widths and what the papers use).
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field, PositiveInt
from torch import nn

from hartune.knobs import OddInt
from hartune.models.base import HARClassifier, ModelConfig, ModelConfigError, register_model
from hartune.models.layers import ConvBNAct, conv_length


class LastStep(nn.Module):
    """A recurrent layer's output sequence -> its last step: (B, T, H) -> (B, H)."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, F)
        return self.rnn(x)[0][:, -1]


# -- LSTM-CNN (USAD [19]) ------------------------------------------------------------------------
class LSTMCNNConfig(ModelConfig):
    # Paper: 32 LSTM units and conv widths (64, 128). Seven times those widths land at 2.32M
    # parameters on WISDM shapes against 2.12e6 in USAD Table 5 (+10%; OPPORTUNITY 2.43M, +14%).
    lstm_hidden: PositiveInt = 224
    lstm_layers: PositiveInt = 2
    conv_channels: tuple[PositiveInt, PositiveInt] = (448, 896)
    kernel_sizes: tuple[PositiveInt, PositiveInt] = (5, 3)
    conv_stride: PositiveInt = 2  # of the first conv
    pool: PositiveInt = 2
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # the paper names none


class LSTMCNN(HARClassifier):
    """USAD [19]: K. Xia, J. Huang, H. Wang, "LSTM-CNN architecture for human activity
    recognition", IEEE Access 8 (2020) 56855-56866.

    Rebuilt from the paper's layer list as restated by a public re-implementation
    (``lky473736/CAGE:CAGE4HAR-tensorflow-c/models/LSTM_CNN.py``, "Implementation of LSTM-CNN
    Architecture for Human Activity Recognition by Kun Xia et al."); the IEEE Access text itself
    was not available to us. For input (B, T, C):

        LSTM x2 (hidden H), every step                         (B, T, H)
        Conv1d(H -> c1, k5, stride 2, valid) -> ReLU           (B, c1, (T-5)//2+1)
        MaxPool(2, stride 2)
        Conv1d(c1 -> c2, k3, valid) -> ReLU                    (B, c2, T'')
        mean over time -> BatchNorm                            features (B, c2)
        head: Dropout -> Linear                                logits   (B, K)

    Departures: widths H = 224, (c1, c2) = (448, 896), seven times the paper's 32 and (64, 128),
    to meet USAD Table 5's count (module docstring); the convs slide over time with the LSTM units
    as channels (the re-implementation transposes so that Keras' Conv1D would slide over the 32
    units instead, which we read as a slip). Valid convs need windows >= 16.
    """

    def __init__(self, in_channels: int, num_classes: int, window: int, cfg: LSTMCNNConfig) -> None:
        super().__init__()
        (k1, k2), (c1, c2) = cfg.kernel_sizes, cfg.conv_channels
        t = conv_length(conv_length(conv_length(window, k1, cfg.conv_stride), cfg.pool, cfg.pool), k2)
        if t < 1:
            raise ModelConfigError(
                f"lstm_cnn: window={window} is too short for the valid convs (kernels {k1}, {k2}, "
                f"stride {cfg.conv_stride}, pool {cfg.pool}); it leaves {t} steps"
            )
        self.lstm = nn.LSTM(in_channels, cfg.lstm_hidden, cfg.lstm_layers, batch_first=True)
        self.convs = nn.Sequential(
            nn.Conv1d(cfg.lstm_hidden, c1, k1, stride=cfg.conv_stride), nn.ReLU(),
            nn.MaxPool1d(cfg.pool, stride=cfg.pool),
            nn.Conv1d(c1, c2, k2), nn.ReLU(),
        )
        self.norm = nn.BatchNorm1d(c2)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(c2, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, c2): the batch-normalised, time-pooled conv features."""
        h, _ = self.lstm(x)  # (B, T, H)
        return self.norm(self.convs(h.transpose(1, 2)).mean(dim=-1))


@register_model("lstm_cnn", LSTMCNNConfig)
def build_lstm_cnn(in_channels: int, num_classes: int, window: int, cfg: LSTMCNNConfig) -> LSTMCNN:
    """LSTM-CNN (Xia et al. 2020): two LSTMs, conv k5/s2, max-pool, conv k3, GAP, BN, linear."""
    return LSTMCNN(in_channels, num_classes, window, cfg)


# -- multi-input CNN-GRU (USAD [20]) ---------------------------------------------------------------
class CNNGRUConfig(ModelConfig):
    # One branch each; odd so that 'same' padding keeps the branches aligned step by step.
    kernel_sizes: Annotated[tuple[OddInt, ...], Field(min_length=1)] = (3, 5, 7)
    filters: PositiveInt = 192  # per conv of a branch
    convs_per_branch: PositiveInt = 2
    pool: PositiveInt = 2
    gru_hidden: PositiveInt = 512
    gru_layers: PositiveInt = 2
    # False: the branches' conv features are concatenated and read by one GRU stack ("parallel CNN
    # branches, then GRU"); True: every branch ends in its own GRU stack and the last states are
    # concatenated (three CNN-GRU "heads"). See CNNGRU's docstring.
    gru_per_branch: bool = False
    fc_hidden: PositiveInt = 512
    dropout: float = Field(0.5, ge=0.0, lt=1.0)


class _Branch(nn.Module):
    """Convs (B, C, T) -> (B, T', F) steps; with a GRU, its last state (B, H) instead."""

    def __init__(self, convs: nn.Module, gru: nn.GRU | None) -> None:
        super().__init__()
        self.convs = convs
        self.gru = LastStep(gru) if gru is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(self.convs(x).transpose(1, 2))


class CNNGRU(HARClassifier):
    """USAD [20]: N. Dua, S. N. Singh, V. B. Semwal, "Multi-input CNN-GRU based human activity
    recognition using wearable sensors", Computing 103(7) (2021) 1461-1478.

    Reconstructed from the abstract and secondary descriptions only: we found neither the paper's
    text nor code. What those give: several CNN branches read the same window with different
    kernel sizes (3, 5, 7) and GRU layers model the time dependencies before a dense classifier.
    For input (B, T, C):

        branch k   convs_per_branch x ConvBNAct(k, 'same') -> MaxPool(2)     (B, F, T/2)
        concat over branches                                           (B, T/2, 3F)
        GRU x2 (hidden H), last step                                   (B, H)
        FC(H -> D) -> ReLU                                             features (B, D)
        head: Dropout -> Linear                                        logits   (B, K)

    Choices: whether the GRUs are shared after the concatenation or one stack per branch is not
    known to us (``gru_per_branch``); BatchNorm in the convs, 'same' padding so the branches stay
    aligned, and the widths F = 192, H = 512, D = 512, which put the count at 4.1M on WISDM
    shapes against 4.38e6 in USAD Table 5 (-7%) and 4.4M on OPPORTUNITY shapes against 4.39e6.
    """

    def __init__(self, in_channels: int, num_classes: int, cfg: CNNGRUConfig) -> None:
        super().__init__()
        f, h = cfg.filters, cfg.gru_hidden
        per_branch = cfg.gru_per_branch
        self.branches = nn.ModuleList()
        for k in cfg.kernel_sizes:
            convs = [ConvBNAct(in_channels if i == 0 else f, f, k) for i in range(cfg.convs_per_branch)]
            gru = nn.GRU(f, h, cfg.gru_layers, batch_first=True) if per_branch else None
            self.branches.append(_Branch(nn.Sequential(*convs, nn.MaxPool1d(cfg.pool, ceil_mode=True)), gru))
        n = len(cfg.kernel_sizes)
        # Composition: with per-branch GRUs the branches already end in their last states; else one
        # GRU stack reads the concatenated conv features. Both concatenate along the last axis.
        self.sequence = (
            nn.Identity() if per_branch else LastStep(nn.GRU(n * f, h, cfg.gru_layers, batch_first=True))
        )
        self.fc = nn.Sequential(nn.Linear(n * h if per_branch else h, cfg.fc_hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.fc_hidden, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, fc_hidden)."""
        x = x.transpose(1, 2)  # (B, C, T)
        z = torch.cat([branch(x) for branch in self.branches], dim=-1)  # (B, T', n*F) or (B, n*H)
        return self.fc(self.sequence(z))  # (B, D)


@register_model("cnn_gru", CNNGRUConfig)
def build_cnn_gru(in_channels: int, num_classes: int, window: int, cfg: CNNGRUConfig) -> CNNGRU:
    """Multi-input CNN-GRU (Dua et al. 2021): conv branches k3/k5/k7, a GRU stack, dense, linear."""
    return CNNGRU(in_channels, num_classes, cfg)
