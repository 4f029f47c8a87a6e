"""Where each registered model comes from, in one table: its reference (the number in the USAD paper's
reference list where it has one, else the seed or the paper it was rebuilt from) and, for the models
that USAD Table 5 lists, that table's parameter counts on WISDM and OPPORTUNITY.

Every registered name has an entry (``tests/models/test_model_sources.py`` checks it against the registry),
so a newly registered model needs its line here; the README's "Models" table
(``benchmarks/models_table.py``) and ``tests/models/test_table5_params.py`` read this table. Each model's
own docstring gives the full reference and its departures.

USAD Table 5 ("Memory / Param.", seed 001) counts parameters on WISDM (windows of 90 x 3, 6 classes)
and OPPORTUNITY (30 x 113, 18 classes; USAD §4.1). Its HAR-CE row holds two networks of HAR-CE's code,
the WISDM and the OPPORTUNITY one, registered as ``har_ce`` and ``har_ce_opportunity``: each carries
the count of its own column only. Table 3 cites [19] for both its LSTM and its LSTM-CNN rows; our
``lstm`` is seed 003's network, so its entry names the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

# (window, channels, classes) of Table 5's two columns (USAD §4.1)
TABLE5_SHAPES: dict[str, tuple[int, int, int]] = {"WISDM": (90, 3, 6), "OPPORTUNITY": (30, 113, 18)}


@dataclass(frozen=True)
class Source:
    """``reference``: USAD's reference number and first author and year, or the seed; ``table5_row``:
    the row of USAD Table 5 this model stands for, with that row's WISDM and OPPORTUNITY counts (None:
    not in Table 5, or the other network of the row)."""

    reference: str
    table5_row: str | None = None
    wisdm: float | None = None
    opportunity: float | None = None

    def table5(self, dataset: str) -> float | None:
        """Table 5's count for ``dataset`` (a key of ``TABLE5_SHAPES``)."""
        return {"WISDM": self.wisdm, "OPPORTUNITY": self.opportunity}[dataset]


SOURCES: dict[str, Source] = {
    "cnn": Source("USAD §3.1.3 (Table 3: [18] Zeng et al. 2014)", "CNN", 1.04e5, 1.21e5),
    "lstm": Source("seed 003 (Table 3's LSTM row cites [19])", "LSTM", 1.65e5, 3.85e5),
    "cnn_gru": Source("[20] Dua et al. 2021", "CNN-GRU", 4.38e6, 4.39e6),
    "lstm_cnn": Source("[19] Xia et al. 2020", "LSTM-CNN", 2.12e6, 2.13e6),
    "resnext": Source(
        "[22] Mekruksavanich et al. 2022 (ResNeXt-50, Xie et al. 2017)", "ResNeXt", 2.20e7, 2.21e7
    ),
    "se_res2net": Source("[21] Gao et al. 2021 (Res2Net) + SE", "SE-Res2Net", 1.60e6, 1.61e6),
    "rev_attention": Source("[24] Pramanik et al. 2023", "Rev-Att", 4.33e5, 3.80e5),
    "gated_res2net": Source("[23] Yang et al. 2020", "Gated-Res2Net", 1.60e6, 1.61e6),
    "har_ce": Source("[26] Huang et al. 2023 (its WISDM network)", "HAR-CE", 4.17e5, None),
    "har_ce_opportunity": Source("[26] Huang et al. 2023 (its OPPORTUNITY network)", "HAR-CE", None, 3.49e6),
    "elk": Source("[27] Yao et al. 2024", "ELK", 2.41e5, 7.57e5),
    "danhar": Source("[28] Gao et al. 2021", "DanHAR", 2.35e6, 4.46e6),
    "usad": Source("seed 001, USAD (Xiao et al. 2025)", "USAD", 3.47e5, 1.09e6),
    "usad_backbone": Source("seed 001, USAD Table 2: Backbone Only"),
    "usad_spatial": Source("seed 001, USAD Table 2: Spatial Attention"),
    "usad_temporal": Source("seed 001, USAD Table 2: Temporal Attention"),
    "mag_res2net": Source("[25] Liu et al. 2023"),
    "resnet50": Source("USAD Table 6 (He et al. 2016)"),
    "atfa": Source("[15] Feng et al. 2024"),
    "tccsnet": Source("[16] Essa & Abdelmaksoud 2023"),
    "hs_cnn": Source("seed 000, Tang et al. 2022"),
    "cnn_lstm_attn": Source("seed 002, Khatun et al. 2022"),
    "dae_cnn": Source("seed 004 (virtual-IMU CNN + DAE)"),
    "random_forest": Source("seed 004 (Breiman 2001)"),
    "deepconvlstm": Source("Ordóñez & Roggen 2016"),
    "resnet1d": Source("Wang, Yan & Oates 2017"),
}
