"""DeepConvLSTM: the time axis reaches the LSTM as its sequence axis, and samples stay apart.

Two reimplementation bugs this guards against: feeding the conv output with the sensor/filter axis
as the sequence, and an ``nn.LSTM`` without ``batch_first`` fed (B, T, F), which recurs over the
batch (``mariusbock/dl-for-har``).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hartune.models import ModelConfigError, create_model
from hartune.models.deepconvlstm import DeepConvLSTM

B, T, S, K = 3, 37, 5, 4


def _model(padding: str = "same", window: int = T) -> DeepConvLSTM:
    model = create_model("deepconvlstm", in_channels=S, num_classes=K, window=window, padding=padding)
    return model.eval()


def _capture_lstm_input(model: DeepConvLSTM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(conv stack output, LSTM input) of one forward pass, via hooks on the real modules."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        model.convs.register_forward_hook(lambda m, i, o: seen.__setitem__("conv", o)),
        model.lstm.register_forward_hook(lambda m, i, o: seen.__setitem__("lstm", i[0])),
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen["conv"], seen["lstm"]


@pytest.mark.parametrize("padding, t_out", [("same", T), ("valid", T - 16)])
def test_lstm_sequence_is_the_conv_time_axis(padding: str, t_out: int) -> None:
    model = _model(padding)
    conv, seq = _capture_lstm_input(model, torch.randn(B, T, S))
    assert conv.shape == (B, 64, t_out, S)  # (B, filters, T', sensors)
    assert model.lstm.batch_first
    assert seq.shape == (B, t_out, 64 * S)  # (batch, time, features): time is the sequence
    # each step's features are that step's conv maps, flattened (filters, sensors)
    torch.testing.assert_close(seq[:, 5], conv[:, :, 5, :].flatten(1))


def test_convs_run_over_time_only() -> None:
    convs = [m for m in _model().modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4
    assert all(c.kernel_size == (5, 1) and c.out_channels == 64 for c in convs)
    assert [m.hidden_size for m in _model().modules() if isinstance(m, nn.LSTM)] == [128]
    assert _model().lstm.num_layers == 2


def test_permuting_time_changes_the_output() -> None:
    model = _model()
    x = torch.randn(B, T, S)
    with torch.no_grad():
        out, out_perm = model(x), model(x[:, torch.randperm(T)])
    assert not torch.allclose(out, out_perm, atol=1e-5)


def test_permuting_sensors_changes_the_output() -> None:
    """Sensors are distinct LSTM inputs (not pooled), so swapping two changes the prediction."""
    model = _model()
    x = torch.randn(B, T, S)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x[:, :, [1, 0, 2, 3, 4]]), atol=1e-5)


def test_samples_of_a_batch_stay_apart() -> None:
    """Output i depends on window i only: permuting the batch permutes the outputs, and changing
    one window leaves the others' outputs unchanged (fails if the LSTM recurs over the batch)."""
    model = _model()
    x = torch.randn(B, T, S)
    perm = torch.tensor([2, 0, 1])
    x2 = x.clone()
    x2[0] = torch.randn(T, S)
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(model(x[perm]), out[perm])
        out2 = model(x2)
    torch.testing.assert_close(out2[1:], out[1:])
    assert not torch.allclose(out2[0], out[0])


def test_last_step_reads_the_end_of_the_window() -> None:
    """The classifier reads the last step, and the LSTM runs forward in time: the final samples
    change the output; with 'valid' padding so the conv receptive field is exact."""
    model = _model("valid")
    x = torch.randn(B, T, S)
    x2 = x.clone()
    x2[:, -1] += 3.0
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x2), atol=1e-5)


def test_valid_padding_rejects_too_short_windows() -> None:
    with pytest.raises(ModelConfigError, match="window=16"):
        _model("valid", window=16)
    assert _model("valid", window=17)(torch.randn(1, 17, S)).shape == (1, K)
