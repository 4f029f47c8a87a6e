"""Recurrent baselines: the LSTM runs over time (batch_first) and the attention layout of seed 002."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hartune.models import create_model
from hartune.models.recurrent import CNNLSTMAttention, DotSelfAttention

B, T, C, K = 3, 25, 4, 5


@pytest.mark.parametrize("name", ["lstm", "cnn_lstm_attn"])
def test_recurs_over_time_and_keeps_samples_apart(name: str) -> None:
    model = create_model(name, in_channels=C, num_classes=K, window=T).eval()
    assert all(m.batch_first for m in model.modules() if isinstance(m, nn.LSTM))
    x = torch.randn(B, T, C)
    x2 = x.clone()
    x2[0] = torch.randn(T, C)
    with torch.no_grad():
        out, out2 = model(x), model(x2)
        shuffled = model(x[:, torch.randperm(T)])
    torch.testing.assert_close(out2[1:], out[1:])  # changing window 0 leaves the others alone
    assert not torch.allclose(out2[0], out[0])
    assert not torch.allclose(shuffled, out, atol=1e-5)  # order in time matters


def test_lstm_is_two_layers_on_a_per_step_embedding() -> None:
    model = create_model("lstm", in_channels=C, num_classes=K, window=T)
    assert (model.lstm.num_layers, model.lstm.hidden_size, model.lstm.input_size) == (2, 64, 64)
    assert model.embed[0].in_features == C


def test_self_attention_mixes_time_steps_by_similarity() -> None:
    """softmax(h hᵀ) h: each output step is a convex combination of the steps (rows sum to 1)."""
    h = torch.randn(2, 7, 3)
    out = DotSelfAttention()(h)
    weights = torch.softmax(h @ h.transpose(1, 2), dim=-1)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 7))
    torch.testing.assert_close(out, weights @ h)
    assert out.shape == h.shape


def test_cnn_lstm_attn_layout() -> None:
    model = create_model("cnn_lstm_attn", in_channels=C, num_classes=K, window=T)
    assert isinstance(model, CNNLSTMAttention)
    lstms = [m for m in model.modules() if isinstance(m, nn.LSTM)]
    assert [m.hidden_size for m in lstms] == [64, 64, 64]
    assert sum(isinstance(m, DotSelfAttention) for m in model.modules()) == 2
    assert model.fc[0].in_features == 3 * 64  # last LSTM step concatenated with the two branches
    assert model.features(torch.randn(2, T, C)).shape == (2, 64)
