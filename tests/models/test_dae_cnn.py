"""Seed 004's CNN: the DAE penalty λ·MSE(g(f(x + ε)), x), its decoder, and its FC layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hartune.models import count_parameters, create_model
from hartune.models.dae_cnn import DAECNN

C, K = 6, 5


def _model(window: int = 60, **params: object) -> DAECNN:
    return create_model("dae_cnn", in_channels=C, num_classes=K, window=window, **params)


@pytest.mark.parametrize("decoder", ["tied", "own"])
@pytest.mark.parametrize("window", [16, 33, 60, 171])
def test_decoder_restores_the_input_shape(window: int, decoder: str) -> None:
    model = _model(window, decoder=decoder)
    x = torch.randn(2, C, window)
    assert model.decode(*model.encode(x)).shape == x.shape  # odd and even lengths through stride 2


def test_eval_penalty_is_weighted_mse_of_the_clean_reconstruction() -> None:
    model = _model(dae_weight=0.7).eval()
    x = torch.randn(4, 60, C)  # (B, T, C)
    with torch.no_grad():
        recon = model.decode(*model.encode(x.transpose(1, 2)))
        aux = model.auxiliary_loss(x)
    torch.testing.assert_close(aux, 0.7 * F.mse_loss(recon, x.transpose(1, 2)))
    torch.testing.assert_close(model.auxiliary_loss(x), aux)  # no noise in eval: deterministic


def test_noise_only_in_training() -> None:
    model = _model(noise_std=0.5).train()
    x = torch.randn(4, 60, C)
    a, b = model.auxiliary_loss(x), model.auxiliary_loss(x)
    assert not torch.allclose(a, b)  # a fresh corruption each call
    clean = _model(noise_std=0.0).train()
    clean.load_state_dict(model.state_dict())
    torch.testing.assert_close(clean.auxiliary_loss(x), model.eval().auxiliary_loss(x))


def test_training_penalty_reconstructs_the_clean_input_from_a_noised_one() -> None:
    """Replay the same Gaussian draw: the penalty is λ·MSE(g(f(x + ε)), x), target x, not x + ε."""
    model = _model(noise_std=0.5, dae_weight=0.3).train()
    x = torch.randn(4, 60, C)
    torch.manual_seed(123)
    aux = model.auxiliary_loss(x)
    torch.manual_seed(123)
    clean = x.transpose(1, 2)  # (B, C, T)
    noisy = clean + 0.5 * torch.randn_like(clean)
    recon = model.decode(*model.encode(noisy))
    torch.testing.assert_close(aux, 0.3 * F.mse_loss(recon, clean))
    assert not torch.allclose(aux, 0.3 * F.mse_loss(recon, noisy))


def test_zero_weight_switches_the_penalty_off() -> None:
    assert _model(dae_weight=0.0).auxiliary_loss(torch.randn(2, 60, C)) is None


def test_decoder_is_tied_and_adds_no_parameters() -> None:
    model = _model()
    enc = sum(p.numel() for p in model.encoder.parameters())
    fc = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("fc.", "head.")))
    assert enc + fc == count_parameters(model)


def test_own_decoder_has_deconvolution_layers_of_its_own_trained_by_the_penalty() -> None:
    """Seed 004's "unsupervised penalty (deconvolutional layers)": ``decoder: own`` mirrors every encoder
    conv with a ConvTranspose1d of its own; the penalty trains them and the encoder, never fc/head, and
    the classification loss never reaches them."""
    model = _model(decoder="own").train()
    deconvs = [m for m in model.decoder.modules() if isinstance(m, torch.nn.ConvTranspose1d)]
    assert len(deconvs) == len(model.encoder)
    assert count_parameters(model) == count_parameters(_model()) + sum(p.numel() for p in model.decoder.parameters())
    x = torch.randn(4, 60, C)
    model.auxiliary_loss(x).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())
    assert all(p.grad is None for n, p in model.named_parameters() if n.startswith(("fc.", "head.")))
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), torch.arange(4) % K).backward()
    assert all(p.grad is None for p in model.decoder.parameters())


def test_penalty_trains_the_encoder_not_the_fc_layers() -> None:
    model = _model().train()
    model.auxiliary_loss(torch.randn(4, 60, C)).backward()
    for name, p in model.named_parameters():
        if name.startswith(("fc.", "head.")):
            assert p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_fc_layers_are_named_fc_or_head() -> None:
    """The transfer recipe fine-tunes the FC layers by name; every Linear lives under fc/head."""
    model = _model()
    linear = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert linear and all(n.startswith(("fc.", "head.")) for n in linear)


def test_penalty_alone_learns_to_denoise() -> None:
    """50 Adam steps on the penalty alone cut the clean reconstruction error tenfold: the tied
    decoder can invert the encoder."""
    model = _model(window=32, dae_weight=1.0, noise_std=0.2)
    t = torch.linspace(0, 6.28, 32)
    x = torch.stack([torch.sin(t * (i + 1)) for i in range(C)], dim=-1).expand(8, 32, C).contiguous()
    before = model.eval().auxiliary_loss(x).item()
    opt = torch.optim.Adam(model.encoder.parameters(), lr=3e-3)
    for _ in range(50):
        loss = model.train().auxiliary_loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.eval().auxiliary_loss(x).item() < 0.1 * before
