"""ATFA: time- and frequency-domain encoders per sensor modality, fused by context attention, with an
optional adversarial domain discriminator (USAD [15]).

Reference:
    USAD [15]: H. Feng, Q. Shen, R. Song, L. Shi, H. Xu, "ATFA: Adversarial Time-Frequency
        Attention network for sensor-based multimodal human activity recognition", Expert Systems
        with Applications 236 (2024) 121296, doi:10.1016/j.eswa.2023.121296.
    Gradient reversal: Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation",
        ICML 2015 (DANN).

Reconstructed from the abstract only: we found neither the paper's text nor code. The abstract
says: an unsupervised domain-adaptation framework that adapts to new users adversarially; an
"attention-based modality fusion module [that] captures and fuses important modalities based on
their context"; and frequency-domain features next to the time-domain ones. Everything below
that is more specific is our choice. For input (B, T, C):

    modalities   the channels in consecutive groups of ``modality_channels`` (3: one tri-axial
                 sensor), zero-padded to a whole group                          M x (B, 3, T)
    time enc.    per modality, shared weights: 3 x ConvBNAct(k5) -> mean over time     h_m^t (B, F)
    freq. enc.   per modality, shared weights: the same on log(1 + |rFFT_t x|)         h_m^f (B, F)
    fusion       per domain d in {t, f}: c = mean_m h_m^d,
                 e_m = vᵀ tanh(W_h h_m^d + W_c c), α = softmax_m e,  z^d = Σ_m α_m h_m^d
    features     ReLU(Linear([z^t; z^f]))                                      (B, D)
    head         Dropout -> Linear                                             logits (B, K)

The adversarial part: with ``domain_adaptation=True`` the model also holds a domain discriminator
behind a gradient-reversal layer, and ``domain_loss(source, target)`` is the DANN term (cross-
entropy of source-vs-target on the features, its gradient reversed into the feature extractor).
It needs unlabelled windows of the target users, which the training recipe does not provide, so
it is off by default (and then the model has no discriminator, so every parameter is reached by
the classification loss) and the recipe never calls it; ``auxiliary_loss`` is ``None``.

Parameters (ours; ATFA is not in USAD Table 5): 89k on WISDM shapes, 90k on OPPORTUNITY shapes.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from hartune.models.base import HARClassifier, ModelConfig, register_model
from hartune.models.layers import ConvBNAct


class ATFAConfig(ModelConfig):
    modality_channels: PositiveInt = 3  # channels per sensor modality (tri-axial sensors)
    encoder_widths: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = (32, 64, 64)
    kernel_size: PositiveInt = 5
    attention_dim: PositiveInt = 32  # of the fusion's scoring MLP
    hidden: PositiveInt = 128  # D
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    domain_adaptation: bool = False  # build the discriminator for domain_loss (see the module docstring)
    discriminator_hidden: PositiveInt = 64
    reversal_weight: float = Field(1.0, ge=0.0)  # λ of the gradient-reversal layer


class GradientReversal(torch.autograd.Function):
    """Identity forward, -λ · gradient backward (DANN)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:  # type: ignore[override]
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.weight * grad, None


class ModalityEncoder(nn.Sequential):
    """(B*M, g, L) -> (B*M, F): convs over the time (or frequency) axis, then the mean over it."""

    def __init__(self, c_in: int, widths: tuple[int, ...], kernel_size: int) -> None:
        layers, prev = [], c_in
        for w in widths:
            layers.append(ConvBNAct(prev, w, kernel_size))
            prev = w
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).mean(dim=-1)


class ContextAttentionFusion(nn.Module):
    """Σ_m α_m h_m with α = softmax_m vᵀ tanh(W_h h_m + W_c mean_m h): modalities weighted in context."""

    def __init__(self, dim: int, attention_dim: int) -> None:
        super().__init__()
        self.token = nn.Linear(dim, attention_dim)
        self.context = nn.Linear(dim, attention_dim, bias=False)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def weights(self, h: torch.Tensor) -> torch.Tensor:  # (B, M, F)
        e = self.score(torch.tanh(self.token(h) + self.context(h.mean(dim=1, keepdim=True))))  # (B, M, 1)
        return e.softmax(dim=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, M, F)
        return (self.weights(h) * h).sum(dim=1)  # (B, F)


class ATFA(HARClassifier):
    """Time and frequency modality encoders, context-attention fusion per domain, MLP, linear."""

    def __init__(self, in_channels: int, num_classes: int, cfg: ATFAConfig) -> None:
        super().__init__()
        g = cfg.modality_channels
        self.group, self.width = g, cfg.encoder_widths[-1]
        self.pad = -in_channels % g  # zero channels that complete the last modality
        f = self.width
        self.time_encoder = ModalityEncoder(g, cfg.encoder_widths, cfg.kernel_size)
        self.freq_encoder = ModalityEncoder(g, cfg.encoder_widths, cfg.kernel_size)
        self.time_fusion = ContextAttentionFusion(f, cfg.attention_dim)
        self.freq_fusion = ContextAttentionFusion(f, cfg.attention_dim)
        self.fc = nn.Sequential(nn.Linear(2 * f, cfg.hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, num_classes))
        self.reversal_weight = cfg.reversal_weight
        self.discriminator = (
            nn.Sequential(nn.Linear(cfg.hidden, cfg.discriminator_hidden), nn.ReLU(), nn.Linear(cfg.discriminator_hidden, 2))
            if cfg.domain_adaptation else None
        )

    def modality_tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, C) -> time and frequency tokens, each (B, M, F)."""
        B = x.shape[0]
        x = F.pad(x.transpose(1, 2), (0, 0, 0, self.pad))  # (B, M*g, T)
        m = x.view(B, -1, self.group, x.shape[-1]).flatten(0, 1)  # (B*M, g, T)
        spectrum = torch.log1p(torch.fft.rfft(m, dim=-1).abs())  # (B*M, g, T//2 + 1)
        return self.time_encoder(m).view(B, -1, self.width), self.freq_encoder(spectrum).view(B, -1, self.width)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, hidden): the fused time-frequency representation."""
        h_t, h_f = self.modality_tokens(x)
        return self.fc(torch.cat([self.time_fusion(h_t), self.freq_fusion(h_f)], dim=1))

    def domain_loss(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """DANN term on source and (unlabelled) target windows (B_s, T, C), (B_t, T, C): the
        discriminator learns source (0) vs target (1); the reversed gradient makes the features
        domain-invariant. Needs ``domain_adaptation=True``."""
        if self.discriminator is None:
            raise RuntimeError("atfa: domain_loss needs the discriminator; build with domain_adaptation=True")
        z = torch.cat([self.features(source), self.features(target)])
        logits = self.discriminator(GradientReversal.apply(z, self.reversal_weight))
        labels = torch.cat([torch.zeros(len(source)), torch.ones(len(target))]).long().to(z.device)
        return F.cross_entropy(logits, labels)


@register_model("atfa", ATFAConfig)
def build_atfa(in_channels: int, num_classes: int, window: int, cfg: ATFAConfig) -> ATFA:
    """ATFA (Feng et al. 2024), reconstructed from the abstract: time/frequency modality encoders,
    context-attention fusion; the adversarial discriminator is optional (``domain_adaptation``)."""
    return ATFA(in_channels, num_classes, cfg)
