"""Eqs. 1-4 on windows whose statistics can be worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hartune.augment import class_prototypes, feature_channels, global_features, local_features


def _windows() -> np.ndarray:
    """Two windows of T=4, C=3: a ramp, a Bernoulli-like step, a constant."""
    w0 = np.array([[1, 0, 5], [2, 0, 5], [3, 0, 5], [4, 1, 5]], dtype=np.float32)  # (T, C)
    w1 = 2 * w0 + 1
    return np.stack([w0, w1])  # (2, 4, 3)


def test_global_features_by_hand() -> None:
    g = global_features(_windows())  # (2, C, 3)
    assert g.shape == (2, 3, 3) and isinstance(g, np.ndarray)
    # ramp 1..4: mean 2.5, population std sqrt(1.25), symmetric so skew 0
    np.testing.assert_allclose(g[0, 0], [2.5, math.sqrt(1.25), 0.0], atol=1e-6)
    # 0,0,0,1: mean 1/4, std sqrt(3/16), skew of Bernoulli(1/4) = (1 - 2p) / sqrt(p (1 - p)) = 2/sqrt(3)
    np.testing.assert_allclose(g[0, 1], [0.25, math.sqrt(3 / 16), 2 / math.sqrt(3)], atol=1e-6)
    # a constant channel: std 0 and skew 0, not NaN
    np.testing.assert_allclose(g[0, 2], [5.0, 0.0, 0.0], atol=1e-6)
    # the affine map 2x+1: mean -> 2 mean + 1, std doubles, skew unchanged
    np.testing.assert_allclose(g[1, :, 0], 2 * g[0, :, 0] + 1, atol=1e-6)
    np.testing.assert_allclose(g[1, :, 1], 2 * g[0, :, 1], atol=1e-6)
    np.testing.assert_allclose(g[1, :, 2], g[0, :, 2], atol=1e-5)


def test_local_features_are_z_scores() -> None:
    z = local_features(_windows())
    np.testing.assert_allclose(z[0, :, 0], (np.arange(1, 5) - 2.5) / math.sqrt(1.25), atol=1e-6)
    np.testing.assert_allclose(z[0, :, 2], 0.0)  # constant channel
    np.testing.assert_allclose(z[1], z[0], atol=1e-5)  # z-scores ignore an affine map


def test_feature_channels_layout_eq3() -> None:
    x = _windows()
    f = feature_channels(x)  # (N, T, 4C)
    g = global_features(x)
    assert f.shape == (2, 4, 12)
    for s in range(3):  # the globals, each constant over time
        np.testing.assert_allclose(f[:, :, 3 * s : 3 * s + 3], np.broadcast_to(g[:, None, :, s], (2, 4, 3)))
    np.testing.assert_allclose(f[:, :, 9:], local_features(x))


def test_torch_in_torch_out_and_same_values() -> None:
    x = _windows()
    gt = global_features(torch.from_numpy(x))
    assert isinstance(gt, torch.Tensor)
    np.testing.assert_allclose(gt.numpy(), global_features(x))


def test_class_prototypes_eq4() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 8, 2)).astype(np.float32)
    y = np.array([0, 2, 0, 2, 2])
    p = class_prototypes(x, y, num_classes=3)
    assert p.counts.tolist() == [2, 0, 3]
    g, z = global_features(x), local_features(x)
    np.testing.assert_allclose(p.stats[0].numpy(), g[[0, 2]].mean(0), atol=1e-6)
    np.testing.assert_allclose(p.stats[2].numpy(), g[[1, 3, 4]].mean(0), atol=1e-6)
    np.testing.assert_allclose(p.local[2].numpy(), z[[1, 3, 4]].mean(0), atol=1e-6)
    assert torch.count_nonzero(p.stats[1]) == 0 and torch.count_nonzero(p.local[1]) == 0


@pytest.mark.parametrize("shape", [(3, 16, 1), (2, 171, 40)])
def test_shapes(shape: tuple[int, int, int]) -> None:
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    n, t, c = shape
    assert global_features(x).shape == (n, c, 3)
    assert local_features(x).shape == (n, t, c)
    assert feature_channels(x).shape == (n, t, 4 * c)
