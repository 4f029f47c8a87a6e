"""The virtual-IMU CNN with an unsupervised denoising-autoencoder penalty (seed 004).

Reference:
    "A Deep Learning Method for Complex Human Activity Recognition Using Virtual Wearable
    Sensors" (seed 004), §3.1: a CNN (conv layers + fully-connected layers) trained with
    loss = CE + λ · ||x - g(f(x̃))||², where f is the conv encoder, g a deconvolutional decoder and
    x̃ a noised copy of the input: a denoising autoencoder (Vincent et al.) on the encoder. §3.2:
    pretrain on virtual IMU data, then fine-tune only the fully-connected layers on real data.

Layout, for input (B, T, C):

    encoder   n x [Conv1d(k, stride 2) + ReLU]                        (B, C_n, T_n)
    pool      mean over time                                          (B, C_n)
    fc        Linear(C_n -> hidden) + ReLU                            features (B, hidden)
    head      Dropout -> Linear                                       logits   (B, K)
    decoder   the encoder mirrored by transposed convs                (B, C, T)

The classifier's fully-connected layers are the modules ``fc`` and ``head``: the transfer recipe
fine-tunes exactly those.

Departures (the seed's text lost its layer counts and λ, so these are choices):
    * Three conv layers (32, 64, 128), kernel 5, stride 2; FC(128); λ = 0.1; noise std 0.2 (in
      units of the per-channel training std, since the recipe feeds z-scored windows).
    * ``decoder: tied`` (the default): the decoder's transposed convs reuse the encoder's conv weights
      (tied weights, as in Vincent et al.'s denoising autoencoders) and have no parameters of their
      own. A separate decoder would be trained only by the penalty, be dropped at deployment anyway,
      and leave parameters that the classification loss never reaches.
      ``decoder: own`` is the seed's own wording, "an unsupervised penalty (deconvolutional layers)":
      one ``ConvTranspose1d`` per encoder layer with its own weights and biases, trained by the penalty
      only (counted in ``num_parameters``; the classifier does not use them). The ``dae_cnn_source``
      run preset (``hartune.presets``) selects it.
    * No normalisation layers (the paper names none), so the penalty's second encoder pass on the
      noised input does not disturb BatchNorm statistics.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import GlobalAvgPool


class DAECNNConfig(ModelConfig):
    channels: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (32, 64, 128)
    kernel_size: PositiveInt = 5
    stride: PositiveInt = 2
    hidden: PositiveInt = 128
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    dae_weight: float = Field(0.1, ge=0.0)  # λ, the weight of the reconstruction penalty
    noise_std: float = Field(0.2, ge=0.0)  # std of the Gaussian corruption x̃ = x + ε, training only
    decoder: Literal["tied", "own"] = "tied"  # own: deconvolution layers with their own weights (seed 004)


def _output_padding(conv: nn.Conv1d, length_in: int, length_out: int) -> int:
    """The samples a strided conv dropped: what a transposed conv must add back to reach ``length_out``."""
    (stride,), (pad,), (k,) = conv.stride, conv.padding, conv.kernel_size
    return length_out - ((length_in - 1) * stride - 2 * pad + k)


class TiedDecoder(nn.Module):
    """The encoder mirrored by transposed convs with the encoder's own weights: no parameters.

    ReLU between layers; the last layer is linear because the z-scored input is signed.
    """

    def forward(self, z: torch.Tensor, lengths: list[int], encoder: nn.ModuleList) -> torch.Tensor:
        for i, (conv, length) in reversed(list(enumerate(zip(encoder, lengths)))):
            extra = _output_padding(conv, z.shape[-1], length)
            z = F.conv_transpose1d(z, conv.weight, stride=conv.stride, padding=conv.padding, output_padding=extra)
            z = F.relu(z) if i > 0 else z
        return z


class ConvDecoder(nn.Module):
    """The encoder mirrored by deconvolution layers of its own (``ConvTranspose1d``, weights and biases)."""

    def __init__(self, encoder: nn.ModuleList) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ConvTranspose1d(c.out_channels, c.in_channels, c.kernel_size, stride=c.stride, padding=c.padding)
            for c in reversed(encoder)
        )

    def forward(self, z: torch.Tensor, lengths: list[int], encoder: nn.ModuleList) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, (deconv, length) in enumerate(zip(self.layers, reversed(lengths))):
            z = deconv(z, output_size=[length])
            z = F.relu(z) if i < last else z
        return z


class DAECNN(HARClassifier):
    """Conv encoder + FC classifier, with a deconv decoder (tied or its own) for the DAE penalty."""

    def __init__(self, in_channels: int, num_classes: int, cfg: DAECNNConfig) -> None:
        super().__init__()
        self.dae_weight, self.noise_std = cfg.dae_weight, cfg.noise_std
        widths = (in_channels, *cfg.channels)
        self.encoder = nn.ModuleList(
            nn.Conv1d(c_in, c_out, cfg.kernel_size, stride=cfg.stride, padding=cfg.kernel_size // 2)
            for c_in, c_out in pairwise(widths)
        )
        self.pool = GlobalAvgPool()
        self.fc = nn.Sequential(nn.Linear(widths[-1], cfg.hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, num_classes))
        self.decoder = ConvDecoder(self.encoder) if cfg.decoder == "own" else TiedDecoder()

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """(B, C, T) -> latent (B, C_n, T_n), and the input length of every conv (for decoding)."""
        lengths = []
        for conv in self.encoder:
            lengths.append(x.shape[-1])
            x = F.relu(conv(x))
        return x, lengths

    def decode(self, z: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        """(B, C_n, T_n) -> (B, C, T), the encoder's layers in reverse."""
        return self.decoder(z, lengths, self.encoder)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, hidden): the FC layer's activations."""
        z, _ = self.encode(x.transpose(1, 2))  # (B, C_n, T_n)
        return self.fc(self.pool(z))

    def auxiliary_loss(self, x: torch.Tensor) -> torch.Tensor | None:
        """λ · MSE(g(f(x + ε)), x) on the clean normalised batch x (B, T, C); ε only in training."""
        if self.dae_weight == 0:
            return None
        clean = x.transpose(1, 2)  # (B, C, T)
        noisy = clean + self.noise_std * torch.randn_like(clean) if self.training else clean
        recon = self.decode(*self.encode(noisy))  # (B, C, T)
        return self.dae_weight * F.mse_loss(recon, clean)


@register_model("dae_cnn", DAECNNConfig)
def build_dae_cnn(in_channels: int, num_classes: int, window: int, cfg: DAECNNConfig) -> DAECNN:
    """Seed 004's CNN with the unsupervised DAE penalty (λ = ``dae_weight``), FC layers ``fc``/``head``."""
    return DAECNN(in_channels, num_classes, cfg)
