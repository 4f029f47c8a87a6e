"""HAR-CE: the whitening decorrelates and equalises channels; the code's networks and its eval quirk."""

from __future__ import annotations

import pytest
import torch

from hartune.models import ModelConfigError, create_model
from hartune.models.har_ce import AdaptiveReweight, ChannelEqualization, HARCEConfig, IterativeWhitening


def _correlated(n: int = 4000, c: int = 6) -> torch.Tensor:
    """(n, c, 1, 1) positions of correlated channels: covariance Q diag(1..4) Qᵀ, Q a random rotation.

    The condition number stays below 9, where the uncoupled Newton-Schulz iteration is stable
    (Higham, "Functions of Matrices", §6.4); on worse-conditioned maps many steps diverge.
    """
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(c, c))
    return (torch.randn(n, c) * torch.linspace(1, 4, c).sqrt() @ q.T + 3.0).reshape(n, c, 1, 1)


def _cov(x: torch.Tensor) -> torch.Tensor:
    flat = x.transpose(0, 1).flatten(1)  # (C, m)
    flat = flat - flat.mean(dim=1, keepdim=True)
    return flat @ flat.T / flat.shape[1]


def test_whitening_gives_equal_uncorrelated_channels() -> None:
    """cov(P_T x) = P_T Σ P_T -> tr Σ · I as the Newton-Schulz iteration converges."""
    x = _correlated()
    cov_in = _cov(x)
    out = IterativeWhitening(6, iterations=12, eps=1e-5, momentum=0.1, center=False).train()(x)
    cov = _cov(out)
    torch.testing.assert_close(cov, cov_in.trace() * torch.eye(6), rtol=0, atol=2e-2 * cov_in.trace().item())


def test_three_steps_already_decorrelate() -> None:
    """With the code's T = 3 the output is far from converged but much less correlated."""
    x = _correlated()

    def off_diagonal(cov: torch.Tensor) -> float:
        d = cov.diagonal().sqrt()
        corr = cov / d[:, None] / d[None, :]
        return (corr - torch.eye(len(d))).abs().max().item()

    out = IterativeWhitening(6, iterations=3, eps=1e-5, momentum=0.1, center=False).train()(x)
    assert off_diagonal(_cov(out)) < 0.6 * off_diagonal(_cov(x))  # about halved


def test_eval_uses_running_whitening_and_the_code_momentum_skips_it() -> None:
    x = _correlated(n=256)
    w = IterativeWhitening(6, iterations=5, eps=1e-5, momentum=1.0, center=True).train()
    train_out = w(x)
    torch.testing.assert_close(w.eval()(x), train_out)  # momentum 1: the running matrix is the batch's
    code = IterativeWhitening(6, iterations=5, eps=1e-5, momentum=0.0, center=False).train()
    code(x)
    torch.testing.assert_close(code.eval()(x), x)  # the code's momentum 0: eval skips whitening


def test_reweight_scales_by_the_running_std_in_eval() -> None:
    ar = AdaptiveReweight(8, 4).eval()
    x = torch.randn(2, 8, 5, 3)
    assert torch.isfinite(ar(x)).all()  # the running scale starts at 1 (the code's 0 divides by 0)
    gate = ar.fc(x.flatten(2).var(dim=-1, correction=0))
    torch.testing.assert_close(ar(x), x * gate[:, :, None, None])


def test_mix_starts_half_and_half() -> None:
    ce = ChannelEqualization(8, HARCEConfig()).eval()
    x = torch.randn(2, 8, 4, 3)
    torch.testing.assert_close(ce(x), 0.5 * ce.whiten(x) + 0.5 * ce.reweight(x))


def test_the_code_networks() -> None:
    """With floor pooling the code's WISDM (200 x 3) and OPPORTUNITY (40 x 113) heads come out."""
    wisdm = create_model("har_ce", in_channels=3, num_classes=6, window=200, ceil_pool=False)
    assert wisdm.head.in_features == 256 * 7 * 3
    oppo = create_model("har_ce_opportunity", in_channels=113, num_classes=18, window=40, ceil_pool=False)
    assert oppo.head.in_features == 512 * 1 * 4
    assert [m.kernel_size for m in oppo.modules() if isinstance(m, torch.nn.Conv2d)] == [(9, 5)] * 3
    with pytest.raises(ModelConfigError, match="har_ce"):
        create_model("har_ce", in_channels=3, num_classes=6, window=16, ceil_pool=False)
