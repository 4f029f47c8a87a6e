"""TCCSNet (reconstructed): tokens are time steps in one branch and sensor channels in the other."""

from __future__ import annotations

import math

import torch

from hartune.models import create_model
from hartune.models.tccsnet import ChannelBranch, TCCSNet, TCCSNetConfig, sinusoidal_encoding


def test_sinusoidal_encoding() -> None:
    pe = sinusoidal_encoding(10, 5)
    assert pe.shape == (10, 5)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0]))
    torch.testing.assert_close(pe[3, 2], torch.tensor(math.sin(3 * 10000 ** (-2 / 5))))


def test_channel_tokens_share_one_embedding() -> None:
    """The per-channel embedding is one shared conv: permuting channels permutes the tokens."""
    branch = ChannelBranch(TCCSNetConfig()).eval()
    x = torch.randn(2, 5, 40)  # (B, C, T)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        tok = branch.embed(x.reshape(10, 1, 40)).mean(-1).view(2, 5, -1)
        tok_p = branch.embed(x[:, perm].reshape(10, 1, 40)).mean(-1).view(2, 5, -1)
    torch.testing.assert_close(tok_p, tok[:, perm])
    with torch.no_grad():  # the channel-index encoding makes the branch aware of which sensor is which
        assert not torch.allclose(branch(x[:, perm]), branch(x), atol=1e-5)


def test_both_branches_feed_the_head() -> None:
    model: TCCSNet = create_model("tccsnet", in_channels=6, num_classes=4, window=50).eval()
    x = torch.randn(3, 50, 6)
    with torch.no_grad():
        t, c = model.temporal(x.transpose(1, 2)), model.channel(x.transpose(1, 2))
        assert t.shape == c.shape == (3, 64)
        torch.testing.assert_close(model.features(x), model.fc(torch.cat([t, c], dim=1)))
    assert model.fc[0].in_features == 128
