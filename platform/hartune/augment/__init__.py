"""Statistics-guided conditional diffusion augmentation (USAD §3.1, Eqs. 1-19; after Zuo et al. 2023).

The parts live apart, as in diffusers: ``features`` (Eqs. 1-4), ``schedule`` (the cosine forward process
and the DDPM/DDIM reverse steps), ``denoiser`` (the network, which never sees the schedule), ``generator``
(fit / sample / save / load), ``quality`` (TSTR and statistic distances) and ``cache`` (train once per key).
"""

from hartune.augment.cache import Cached, GeneratorCache, cache_key
from hartune.augment.denoiser import Denoiser, DenoiserConfig
from hartune.augment.features import (
    Prototypes,
    class_prototypes,
    feature_channels,
    global_features,
    local_features,
)
from hartune.augment.generator import (
    DiffusionGenerator,
    GeneratorConfig,
    SamplingConfig,
    balanced_counts,
    generator_config,
)
from hartune.augment.schedule import CosineSchedule, cosine_alpha_bar

# ``quality`` pulls in scipy.stats, scikit-learn and matplotlib (about 1 s): loaded on first use, not by
# everything that imports a config from this package (the CLI, every trial process).
_QUALITY = ("quality_report", "real_vs_synthetic_figure", "stat_distances", "tstr")


def __getattr__(name: str) -> object:
    if name in _QUALITY:
        from hartune.augment import quality

        return getattr(quality, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Cached",
    "CosineSchedule",
    "Denoiser",
    "DenoiserConfig",
    "DiffusionGenerator",
    "GeneratorCache",
    "GeneratorConfig",
    "Prototypes",
    "SamplingConfig",
    "balanced_counts",
    "cache_key",
    "class_prototypes",
    "cosine_alpha_bar",
    "feature_channels",
    "generator_config",
    "global_features",
    "local_features",
    "quality_report",
    "real_vs_synthetic_figure",
    "stat_distances",
    "tstr",
]
