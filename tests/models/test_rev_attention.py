"""Rev-Attention: the code's lengths in valid mode, Keras-style key-dim attention, the activity penalty."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from hartune.models import ModelConfigError, create_model
from hartune.models.rev_attention import KeyDimAttention, RevAttention


def _model(**kw) -> RevAttention:
    return create_model("rev_attention", in_channels=3, num_classes=6, window=128, **kw)


def test_valid_mode_has_the_code_lengths() -> None:
    model = _model(padding="valid").eval()
    x = torch.randn(2, 128, 3)
    with torch.no_grad():
        f1 = model.block1(x.transpose(1, 2))
        f2 = model.block2(f1)
        f3 = model.block3(f2)
        a1, a2 = model.parts(x)[1]
    assert (f1.shape[-1], f2.shape[-1], f3.shape[-1]) == (122, 108, 86)  # k3+k5, k7+k9, k11+k13
    assert a1.shape == (2, 122, 32) and a2.shape == (2, 108, 64)  # transposed convs restore T1, T2
    with pytest.raises(ModelConfigError, match="window=40"):
        create_model("rev_attention", in_channels=3, num_classes=6, window=40, padding="valid")


def test_key_dim_attention_matches_keras_parameter_count() -> None:
    """Keras MultiHeadAttention(7, key_dim=2) on 32 features: 3 x (32*14 + 14) + 14*32 + 32 weights."""
    att = KeyDimAttention(32, heads=7, key_dim=2)
    assert sum(p.numel() for p in att.parameters()) == 3 * (32 * 14 + 14) + 14 * 32 + 32
    x = torch.randn(2, 11, 32)
    out = att(x)
    assert out.shape == x.shape
    perm = torch.randperm(11)
    torch.testing.assert_close(att(x[:, perm]), out[:, perm])  # self-attention: permutation-equivariant


def test_activity_penalty_is_keras_l1l2_of_the_training_pass() -> None:
    torch.manual_seed(0)
    model = _model().train()
    x = torch.randn(4, 128, 3)
    model(x)
    cached = model._activity[1]
    aux = model.auxiliary_loss(x)
    assert aux is cached and aux.requires_grad  # the penalty of the pass that gave the logits
    model.eval()
    with torch.no_grad():
        a1, a2 = model.parts(x)[1]
        expected = sum(0.01 * a.abs().sum() + 0.01 * a.square().sum() for a in (a1, a2)) / 4
        torch.testing.assert_close(model.auxiliary_loss(x), expected)  # recomputed without a cache
    assert _model(activity_l1=0.0, activity_l2=0.0).auxiliary_loss(x) is None


def test_noise_only_in_training() -> None:
    model = _model().eval()
    x = torch.randn(2, 128, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
        model.train()
        assert not torch.allclose(model.features(x), model.features(x))


def test_copies_drop_the_cached_penalty() -> None:
    model = _model().train()
    model(torch.randn(2, 128, 3))  # a training pass leaves its penalty cached
    assert model._activity is not None
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone._activity is None
        torch.testing.assert_close(clone.state_dict()["head.weight"], model.state_dict()["head.weight"])
