"""The datasets' standard evaluation protocols as named splits, so a spec writes
``split: {kind: pamap2_standard}`` instead of copying subject lists.

LOSO and k-fold by subject (WISDM, MHEALTH, PAMAP2, ...) are the generic ``loso`` and ``kfold``; the
paper-style random split of windows is ``random``, marked leaky. See ``splits.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hartune.data.splits import HoldoutSplit, SessionSplit, register_split

UCI_HAR_TEST_SUBJECTS = (2, 4, 9, 10, 12, 13, 18, 20, 24)


@register_split
class UCIHAROfficialSplit(HoldoutSplit):
    """UCI-HAR's own split: subjects 2, 4, 9, 10, 12, 13, 18, 20, 24 test (2,947 windows), the other 21
    train (7,352). The release has no validation set: ``n_val`` training subjects, drawn with ``seed``,
    validate (or name them in ``val_subjects``)."""

    kind: Literal["uci_har_official"] = "uci_har_official"  # type: ignore[assignment]
    test_subjects: list[int] | None = Field(default_factory=lambda: list(UCI_HAR_TEST_SUBJECTS))
    n_val: int = Field(3, ge=1)


@register_split
class PAMAP2StandardSplit(HoldoutSplit):
    """PAMAP2's common hold-out (Hammerla et al. 2016; also ISWC22's test subject): subject 106 tests,
    105 validates, the other seven train."""

    kind: Literal["pamap2_standard"] = "pamap2_standard"  # type: ignore[assignment]
    test_subjects: list[int] | None = Field(default_factory=lambda: [106])
    val_subjects: list[int] | None = Field(default_factory=lambda: [105])


@register_split
class OpportunityStandardSplit(SessionSplit):
    """OPPORTUNITY's standard (challenge / Ordóñez & Roggen) protocol: S2 and S3 ADL4-5 test, S2 and
    S3 ADL3 validate (Bock et al. 2021), S1 and the remaining S2/S3 sessions (Drill included) train.
    S4 is excluded, as in the challenge; ``exclude: []`` trains on it too (TinyHAR, Hammerla et al.)."""

    kind: Literal["opportunity_standard"] = "opportunity_standard"  # type: ignore[assignment]
    test: tuple[str, ...] = ("S2-ADL4", "S2-ADL5", "S3-ADL4", "S3-ADL5")
    val: tuple[str, ...] = ("S2-ADL3", "S3-ADL3")
    exclude: tuple[str, ...] = ("S4-*",)
