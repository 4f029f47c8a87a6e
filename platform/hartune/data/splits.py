"""Named splits of windows into train / validation / test.

Subject splits (``holdout``, ``loso``, ``kfold``) never put one subject on two sides. ``sessions`` splits
by recording (OPPORTUNITY's protocol): no sample is on two sides, but a subject may be. ``random`` is the
paper-style window split: allowed, but marked ``leaky`` because a subject's windows land on both sides
(and overlapping windows put the same samples in train and test).
A split's own ``seed`` fixes its partition, so training seeds vary the model, not the split.

Subject-wise cross-validation: ``loso`` and ``kfold`` have folds, and ``folds: all`` (or a list of fold
indices) makes them an axis of every stage: each fold is its own trial (``fold`` set, ``folds`` cleared),
and reports and searches use the mean over the folds (``hartune.tune.cv``). Every other kind has one
fold and refuses ``folds``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, field_validator, model_validator

from hartune.data.base import DataError
from hartune.registry import Registry


@dataclass(frozen=True)
class SplitIndices:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    info: dict[str, object] = field(default_factory=dict)  # subjects per side, fold, ...


class SplitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    seed: int = Field(0, description="fixes the partition; independent of the training seed")
    # The cross-validation axis: ``all`` or fold indices (``fold`` is then set per trial). Only kinds
    # with several folds accept it.
    folds: Literal["all"] | list[NonNegativeInt] | None = None
    leaky: ClassVar[bool] = False
    foldable: ClassVar[bool] = False  # has several folds (loso, kfold)

    @field_validator("folds")
    @classmethod
    def _folds_allowed(cls, v: Literal["all"] | list[int] | None) -> Literal["all"] | list[int] | None:
        if v is not None and not cls.foldable:
            kind = cls.model_fields["kind"].default
            raise ValueError(f"a {kind!r} split has one fold; cross-validation needs kind loso or kfold")
        if isinstance(v, list) and not v:
            raise ValueError("an empty list; give fold indices or all")
        if isinstance(v, list) and len(set(v)) != len(v):
            raise ValueError("repeats a fold")
        return v

    @model_validator(mode="after")
    def _folds_in_range(self) -> SplitConfig:
        n = self.static_fold_count()
        if isinstance(self.folds, list) and n is not None and max(self.folds) >= n:
            raise ValueError(f"folds={self.folds}: fold {max(self.folds)} is out of range; accepted 0..{n - 1}")
        return self

    def assign(self, subject: np.ndarray, y: np.ndarray, session: np.ndarray | None = None) -> SplitIndices:
        """``subject``, ``y`` and ``session`` (None where a dataset names none) are per window, (N,)."""
        raise NotImplementedError

    def num_folds(self, subjects: np.ndarray) -> int:
        return 1

    def static_fold_count(self) -> int | None:
        """The fold count when the config alone fixes it (k-fold's k); None when it depends on the data."""
        return 1

    def fold_list(self, subjects: np.ndarray | None) -> list[int] | None:
        """The folds of the cross-validation axis (None: no axis). ``subjects`` (one per window or per
        recording) is needed only when the fold count depends on the data; raises ``DataError`` for a
        fold out of range."""
        if self.folds is None:
            return None
        n = self.static_fold_count()
        if n is None:
            if subjects is None:
                raise DataError(f"split {self.kind!r} has one fold per subject: its fold count needs the data")
            n = self.num_folds(subjects)
        folds = list(range(n)) if self.folds == "all" else list(self.folds)
        bad = [f for f in folds if f >= n]
        if bad:
            raise DataError(f"fold {bad[0]} is out of range; accepted 0..{n - 1} ({n} folds in the data)")
        return folds

    def at_fold(self, fold: int) -> SplitConfig:
        """The split of one fold of the axis (``fold`` set, no ``folds``)."""
        return self.model_copy(update={"fold": fold, "folds": None})


SPLITS: Registry[type[SplitConfig]] = Registry("split")


register_split = SPLITS.register_config("kind")


def _by_subjects(
    subject: np.ndarray, test: list[int], val: list[int], **info: object
) -> SplitIndices:
    all_s = sorted(set(subject.tolist()))
    for side, chosen in (("test", test), ("val", val)):
        missing = sorted(set(chosen) - set(all_s))
        if missing:
            raise DataError(f"split {side} subjects {missing} do not exist; accepted: {all_s}")
    if set(test) & set(val):
        raise DataError(f"split subjects {sorted(set(test) & set(val))} are both test and val")
    train = sorted(set(all_s) - set(test) - set(val))
    if not train or not test or not val:
        raise DataError(
            f"split leaves train={train} val={sorted(val)} test={sorted(test)}; each needs a subject"
        )
    idx = {s: np.flatnonzero(np.isin(subject, v)) for s, v in (("tr", train), ("va", val), ("te", test))}
    info = {"train_subjects": train, "val_subjects": sorted(val), "test_subjects": sorted(test), **info}
    return SplitIndices(idx["tr"], idx["va"], idx["te"], info)


@register_split
class HoldoutSplit(SplitConfig):
    """Fixed subject hold-out: named test/val subjects, or ``n_test``/``n_val`` drawn with ``seed``."""

    kind: Literal["holdout"] = "holdout"
    test_subjects: list[int] | None = None
    val_subjects: list[int] | None = None
    n_test: int = Field(2, ge=1)
    n_val: int = Field(1, ge=1)

    def assign(self, subject: np.ndarray, y: np.ndarray, session: np.ndarray | None = None) -> SplitIndices:
        order = np.random.default_rng(self.seed).permutation(sorted(set(subject.tolist()))).tolist()
        test = self.test_subjects or [s for s in order if s not in (self.val_subjects or [])][: self.n_test]
        val = self.val_subjects or [s for s in order if s not in test][: self.n_val]
        return _by_subjects(subject, list(test), list(val))


@register_split
class LOSOSplit(SplitConfig):
    """Leave-one-subject-out: fold i tests the i-th subject (sorted); the next ``n_val`` validate."""

    kind: Literal["loso"] = "loso"
    fold: int = Field(0, ge=0)
    n_val: int = Field(1, ge=1)
    foldable: ClassVar[bool] = True

    def num_folds(self, subjects: np.ndarray) -> int:
        return len(set(subjects.tolist()))

    def static_fold_count(self) -> int | None:
        return None

    def assign(self, subject: np.ndarray, y: np.ndarray, session: np.ndarray | None = None) -> SplitIndices:
        all_s = sorted(set(subject.tolist()))
        if self.fold >= len(all_s):
            raise DataError(f"split.fold={self.fold}: accepted 0..{len(all_s) - 1} (one per subject)")
        val = [all_s[(self.fold + 1 + i) % len(all_s)] for i in range(self.n_val)]
        return _by_subjects(subject, [all_s[self.fold]], val, fold=self.fold)


@register_split
class KFoldSplit(SplitConfig):
    """k-fold by subject: subjects shuffled with ``seed`` into k groups; fold i tests group i."""

    kind: Literal["kfold"] = "kfold"
    k: int = Field(5, ge=2)
    fold: int = Field(0, ge=0)
    n_val: int = Field(1, ge=1)
    foldable: ClassVar[bool] = True

    @model_validator(mode="after")
    def _fold_in_range(self) -> KFoldSplit:
        if self.fold >= self.k:
            raise ValueError(f"fold={self.fold} must be < k={self.k}")
        return self

    def num_folds(self, subjects: np.ndarray) -> int:
        return self.k

    def static_fold_count(self) -> int | None:
        return self.k

    def assign(self, subject: np.ndarray, y: np.ndarray, session: np.ndarray | None = None) -> SplitIndices:
        all_s = np.random.default_rng(self.seed).permutation(sorted(set(subject.tolist()))).tolist()
        if self.k > len(all_s):
            raise DataError(f"split.k={self.k} exceeds the {len(all_s)} subjects")
        groups = np.array_split(np.array(all_s), self.k)
        test = groups[self.fold].tolist()
        rest = [s for s in all_s if s not in test]
        return _by_subjects(subject, test, rest[: self.n_val], fold=self.fold)


@register_split
class AllSubjectsSplit(SplitConfig):
    """Every window trains; validation and test are empty. The refit of a cross-validated stage
    (``refit: true``) trains the selected configuration this way, for a fixed number of epochs: its
    expected performance is the cross-validation's, it has none of its own."""

    kind: Literal["all"] = "all"

    def assign(self, subject: np.ndarray, y: np.ndarray, session: np.ndarray | None = None) -> SplitIndices:
        none = np.zeros(0, dtype=np.int64)
        return SplitIndices(np.arange(len(subject)), none, none,
                            {"train_subjects": sorted(set(subject.tolist())), "val_subjects": [], "test_subjects": []})


@register_split
class SessionSplit(SplitConfig):
    """Split by recording: sessions matching ``test`` / ``val`` (shell patterns such as ``"S?-ADL4"``)
    go there, ``exclude`` is dropped, every other session trains.

    Not leaky in the window sense (no sample is on two sides), but subject-dependent: a subject may
    train and test on different sessions, as in OPPORTUNITY's standard protocol. ``info`` says which.
    """

    kind: Literal["sessions"] = "sessions"
    test: tuple[str, ...] = Field(min_length=1)
    val: tuple[str, ...] = Field(min_length=1)
    exclude: tuple[str, ...] = ()

    def assign(self, subject: np.ndarray, y: np.ndarray, session: np.ndarray | None = None) -> SplitIndices:
        if session is None:
            raise DataError(f"split {self.kind!r} needs session names per recording; this dataset has none")
        names = sorted(set(session.tolist()))
        chosen: dict[str, set[str]] = {}
        for side in ("test", "val", "exclude"):
            chosen[side] = set()
            for pattern in getattr(self, side):
                hits = fnmatch.filter(names, pattern)
                if not hits and side != "exclude":  # excluding what was never loaded is harmless
                    raise DataError(f"split {side} session {pattern!r} matches none; accepted: {names}")
                chosen[side].update(hits)
        if chosen["test"] & chosen["val"]:
            raise DataError(f"split sessions {sorted(chosen['test'] & chosen['val'])} are both test and val")
        chosen["train"] = set(names) - chosen["test"] - chosen["val"] - chosen["exclude"]
        if not chosen["train"]:
            raise DataError(f"split {self.kind!r} leaves no session to train on; sessions: {names}")
        idx = {s: np.flatnonzero(np.isin(session, sorted(chosen[s]))) for s in ("train", "val", "test")}
        info: dict[str, object] = {"excluded_sessions": sorted(chosen["exclude"])}
        for side in ("train", "val", "test"):
            info[f"{side}_sessions"] = sorted(chosen[side])
            info[f"{side}_subjects"] = sorted(set(subject[idx[side]].tolist()))
        return SplitIndices(idx["train"], idx["val"], idx["test"], info)


@register_split
class RandomWindowSplit(SplitConfig):
    """The paper-style random split of windows, stratified by class. Leaky: subjects straddle sides."""

    kind: Literal["random"] = "random"
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    leaky: ClassVar[bool] = True

    @model_validator(mode="after")
    def _fractions(self) -> RandomWindowSplit:
        if self.test_fraction + self.val_fraction >= 1:
            raise ValueError("test_fraction + val_fraction must be < 1")
        return self

    def assign(self, subject: np.ndarray, y: np.ndarray, session: np.ndarray | None = None) -> SplitIndices:
        rng = np.random.default_rng(self.seed)
        parts: dict[str, list[np.ndarray]] = {"tr": [], "va": [], "te": []}
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            n_te, n_va = round(len(idx) * self.test_fraction), round(len(idx) * self.val_fraction)
            parts["te"].append(idx[:n_te])
            parts["va"].append(idx[n_te : n_te + n_va])
            parts["tr"].append(idx[n_te + n_va :])
        tr, va, te = (np.sort(np.concatenate(parts[k])) for k in ("tr", "va", "te"))
        return SplitIndices(tr, va, te, {"leaky_split": True})
