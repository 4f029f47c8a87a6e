"""The cosine schedule (Eqs. 5-7) that diffusers' schedulers run, checked against the closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hartune.augment.schedule import MAX_BETA, CosineSchedule, cosine_alpha_bar


@pytest.fixture(params=[100, 1000])
def sched(request: pytest.FixtureRequest) -> CosineSchedule:
    return CosineSchedule(request.param)


def test_closed_form_by_hand() -> None:
    a = cosine_alpha_bar(4)
    f = lambda t: math.cos((t / 4 + 0.008) / 1.008 * math.pi / 2) ** 2
    np.testing.assert_allclose(a, [f(t) / f(0) for t in range(5)])
    assert a[0] == 1.0 and a[-1] < 1e-8


def test_alpha_bar_monotone_with_endpoints(sched: CosineSchedule) -> None:
    a = sched.alphas_cumprod.double()
    assert len(a) == sched.timesteps
    assert (a[1:] < a[:-1]).all()
    assert a[0] > 0.999  # alpha_bar_1: almost no noise after the first step
    assert a[-1] < 1e-5  # alpha_bar_T: pure noise


def test_alpha_bar_equals_cosine_formula(sched: CosineSchedule) -> None:
    """diffusers' index i is the paper's t = i + 1; equal wherever the 0.999 clip has not cut beta."""
    a = sched.alphas_cumprod.double().numpy()
    closed = cosine_alpha_bar(sched.timesteps)[1:]
    unclipped = sched.betas.numpy() < MAX_BETA - 1e-6
    assert unclipped.sum() >= sched.timesteps - 1  # only the last step is clipped
    np.testing.assert_allclose(a[unclipped], closed[unclipped], rtol=1e-4, atol=1e-7)


def test_betas_bounded_and_consistent(sched: CosineSchedule) -> None:
    b = sched.betas.double()
    assert (b > 0).all() and (b <= MAX_BETA + 1e-7).all()
    np.testing.assert_allclose(
        torch.cumprod(1 - b, 0).numpy(), sched.alphas_cumprod.double().numpy(), rtol=1e-4
    )


def test_q_sample_is_eq5() -> None:
    s = CosineSchedule(100)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(3, 20, 4, generator=g), torch.randn(3, 20, 4, generator=g)
    t = torch.tensor([0, 50, 99])
    a = s.alphas_cumprod[t].view(-1, 1, 1)
    torch.testing.assert_close(s.q_sample(x0, noise, t), a.sqrt() * x0 + (1 - a).sqrt() * noise)
    xt = s.q_sample(x0, noise, t)
    assert torch.allclose(xt[2], noise[2], atol=2e-3)  # t = T: (nearly) only noise
    assert (xt[0] - x0[0]).std() < 0.1  # t = 1: (nearly) only signal, sqrt(1 - alpha_bar_1) = 0.08


def test_loss_weights() -> None:
    s = CosineSchedule(100)
    t = torch.arange(100)
    assert torch.equal(s.loss_weight(t, "simple", 5.0), torch.ones(100))
    w = s.loss_weight(t, "min_snr", 5.0)
    snr = s.alphas_cumprod / (1 - s.alphas_cumprod)
    torch.testing.assert_close(w, torch.minimum(snr, torch.tensor(5.0)) / snr)
    assert w[0] < 0.01 and w[-1] == 1.0 and (w[1:] >= w[:-1]).all()


def test_samplers_start_from_pure_noise() -> None:
    s = CosineSchedule(100)
    ddpm, ddim = s.sampler("ddpm"), s.sampler("ddim", steps=10, clip_range=3.0)
    assert ddpm.timesteps.tolist() == list(range(99, -1, -1))
    assert len(ddim.timesteps) == 10 and ddim.timesteps[0] == 99
    assert ddim.config.clip_sample and ddim.config.clip_sample_range == 3.0
    assert not ddpm.config.clip_sample
