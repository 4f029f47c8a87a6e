"""LSTM-CNN and multi-input CNN-GRU: the papers' layer order, the widened defaults, the GRU variants."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hartune.models import ModelConfigError, count_parameters, create_model
from hartune.models.conv_recurrent import CNNGRU, LSTMCNN


def test_lstm_cnn_reads_time_first_with_the_lstm_units_as_conv_channels() -> None:
    model: LSTMCNN = create_model("lstm_cnn", in_channels=3, num_classes=6, window=90)
    assert model.lstm.batch_first and model.lstm.num_layers == 2
    assert model.convs[0].in_channels == model.lstm.hidden_size
    assert [m.kernel_size for m in model.convs if isinstance(m, nn.Conv1d)] == [(5,), (3,)]
    paper = create_model("lstm_cnn", in_channels=3, num_classes=6, window=90, lstm_hidden=32, conv_channels=(64, 128))
    assert count_parameters(paper) < 60_000  # the paper's widths: far below Table 5's 2.12e6
    with pytest.raises(ModelConfigError, match="lstm_cnn"):
        create_model("lstm_cnn", in_channels=3, num_classes=6, window=12)


def test_lstm_cnn_order_in_time_matters() -> None:
    model = create_model("lstm_cnn", in_channels=3, num_classes=6, window=40).eval()
    x = torch.randn(2, 40, 3)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x.flip(1)), atol=1e-5)


def test_cnn_gru_branches_differ_in_kernel_and_meet_in_one_gru() -> None:
    model: CNNGRU = create_model("cnn_gru", in_channels=3, num_classes=6, window=90)
    kernels = [b.convs[0][0].kernel_size for b in model.branches]
    assert kernels == [(3,), (5,), (7,)]
    gru = model.sequence.rnn
    assert isinstance(gru, nn.GRU) and gru.input_size == 3 * 192 and gru.batch_first


def test_cnn_gru_per_branch_variant_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    model = create_model("cnn_gru", in_channels=3, num_classes=4, window=31, gru_per_branch=True, filters=16, gru_hidden=8)
    assert sum(isinstance(m, nn.GRU) for m in model.modules()) == 3
    assert model.fc[0].in_features == 3 * 8
    F.cross_entropy(model(torch.randn(4, 31, 3)), torch.arange(4)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
