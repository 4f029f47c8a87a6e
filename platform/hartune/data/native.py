"""What every loader of an original release shares: the data root, the ``.npz`` cache, strict text
tables, gap filling and cutting label runs into recordings.

A native loader is a ``NativeDataset`` with a ``SOURCE``, the relative paths it reads (``files()``)
and a ``parse()`` of those files. ``load()`` finds or downloads the files, and caches the parsed
``Recordings`` at ``<root>/.hartune_cache/<name>-<key>.npz``, where the key hashes the source files'
sha256 with the knobs that change the arrays: a second load reads the cache, a changed file misses it.
The cache's sha256 is written beside it (``<cache>.npz.sha256``, ``hartune.integrity``) and checked at
every read: a truncated or altered cache is parsed again, with one warning line.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from hartune.data.base import DataError, Recordings
from hartune.data.datasets import DatasetConfig, Origin
from hartune.data.sources import Source, data_root, ensure_files, locate, sha256_file
from hartune.integrity import CorruptFile, verify, write_checksum

log = logging.getLogger(__name__)

CACHE_DIR = ".hartune_cache"


class NativeDataset(DatasetConfig):
    """Base of the loaders that parse a dataset's original release files."""

    root: Path | None = Field(
        None, description="the release's folder; default $HARTUNE_DATA/<name> or ~/.cache/hartune/data/<name>"
    )
    cache: bool = Field(True, description="keep the parsed arrays as .npz under <root>/.hartune_cache")

    SOURCE: ClassVar[Source]
    # Bump when parse() changes its output for the same files, so old caches are not reused.
    PARSER_VERSION: ClassVar[int] = 1
    # The release's subject ids: a plan without the data counts a LOSO split's folds from them, and
    # loaders with one file per subject accept these in their ``subjects`` knob.
    RELEASE_SUBJECTS: ClassVar[tuple[int, ...]] = ()

    @field_validator("subjects", check_fields=False)
    @classmethod
    def _subjects_in_release(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        bad = sorted(set(v) - set(cls.RELEASE_SUBJECTS))
        if bad:
            raise ValueError(f"subjects {bad} are not in the release; accepted: {list(cls.RELEASE_SUBJECTS)}")
        return tuple(sorted(set(v)))

    def files(self) -> list[str]:
        """The release files parse() reads, relative to the data root."""
        raise NotImplementedError

    def parse(self, files: dict[str, Path]) -> Recordings:
        raise NotImplementedError

    def data_root(self) -> Path:
        return data_root(self.name, self.root)

    def origin(self) -> Origin:
        root = self.data_root()
        wanted = self.files()
        found, _ = locate(root, wanted)
        subjects = tuple(getattr(self, "subjects", ()) or self.RELEASE_SUBJECTS) or None
        return Origin(
            tuple(found.get(rel, root / rel) for rel in wanted),
            tuple(rel in found for rel in wanted),
            self.SOURCE.url,
            root,
            subjects,
            f"downloaded from {self.SOURCE.url} on the first run",
        )

    def load(self) -> Recordings:
        root = self.data_root()
        found, fetched = ensure_files(self.name, self.SOURCE, root, self.files())
        path = root / CACHE_DIR / f"{self.name}-{self._cache_key(found)[:16]}.npz"
        rec = _read_cache(path) if self.cache and path.is_file() else None
        hit = rec is not None
        if rec is None:
            from hartune import progress

            with progress.task(f"parsing {self.name} ({len(found)} files)"):
                rec = _parse_naming_files(self, found, root)
            if fetched:
                rec.info["fetched"] = fetched
            dropped = rec.info.get("dropped")
            if isinstance(dropped, dict) and any(dropped.values()):
                log.info("%s: dropped %s", self.name, dropped)
            if self.cache:
                _write_cache(path, rec)
        rec.info["cache"] = {"path": str(path), "hit": hit}
        return rec

    def _cache_key(self, found: dict[str, Path]) -> str:
        knobs = self.model_dump(mode="json", exclude={"root", "cache"})
        material = {
            "parser": [type(self).__name__, self.PARSER_VERSION],
            "knobs": knobs,
            "files": {rel: sha256_file(p) for rel, p in sorted(found.items())},
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _parse_naming_files(ds: NativeDataset, found: dict[str, Path], root: Path) -> Recordings:
    """``ds.parse(found)``; a ``DataError`` that names none of the release's files (the ``Recordings``
    checks only know the dataset's name) is prefixed with the file (a one-file release) or the folder."""
    try:
        return ds.parse(found)
    except DataError as e:
        if any(str(p) in str(e) for p in found.values()):
            raise
        where = next(iter(found.values())) if len(found) == 1 else root
        raise DataError(f"{where}: {e}") from None


def one_line(text: str, limit: int = 160) -> str:
    """``text`` for a one-line error: non-printable characters and runs of whitespace as one space, cut
    to ``limit`` characters (a corrupt file's bytes can end up in a library's message)."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def as_finite_float32(values: np.ndarray, path: Path, what: str) -> np.ndarray:
    """``values`` as float32, or a ``DataError`` naming ``path`` when one is NaN, inf or too large for
    float32 (a corrupt digit can make a number of 1e300)."""
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.asarray(values).astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DataError(
            f"{path}: {what} holds {int(bad.sum())} values that are NaN, inf or beyond float32 "
            f"(the first in row {row}); expected finite numbers"
        )
    return x


def _write_cache(path: Path, rec: Recordings) -> None:
    """Atomic (parallel trials may load at once); a read-only root only costs the cache."""
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            tmp,
            signals=np.concatenate(rec.signals),
            labels=np.concatenate(rec.labels),
            lengths=rec.lengths,
            subjects=rec.subjects,
            sessions=np.array(rec.sessions, dtype=str),
            channel_names=np.array(rec.channel_names, dtype=str),
            class_names=np.array(rec.class_names, dtype=str),
            sampling_rate_hz=np.array(rec.sampling_rate_hz),
            name=np.array(rec.name),
            info=np.array(json.dumps(rec.info)),
        )
        write_checksum(tmp, published=path)  # beside the final name, before the file appears there
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        log.warning("could not write the cache %s (%s); the next load parses again", path, e)


def _read_cache(path: Path) -> Recordings | None:
    """None (parse again) when the cache file is unreadable or does not match the checksum written beside
    it (truncated, altered, or older than checksums): it is only a cache, rebuilt with one warning line."""
    try:
        verify(path)
        with np.load(path, allow_pickle=False) as z:
            cuts = np.cumsum(z["lengths"])[:-1]
            return Recordings(
                name=str(z["name"]),
                signals=tuple(np.split(z["signals"], cuts)),
                labels=tuple(np.split(z["labels"], cuts)),
                subjects=z["subjects"],
                channel_names=tuple(z["channel_names"].tolist()),
                class_names=tuple(z["class_names"].tolist()),
                sampling_rate_hz=float(z["sampling_rate_hz"]),
                sessions=tuple(z["sessions"].tolist()),
                info=json.loads(str(z["info"])),
            )
    except CorruptFile as e:
        log.warning("rebuilding the corrupt cache %s (%s)", path, e.reason)
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, DataError) as e:
        log.warning("ignoring the unreadable cache %s (%s)", path, e)
        return None


def read_table(path: Path, ncols: int, delimiter: str | None = None) -> np.ndarray:
    """A numeric text table, (rows, ncols) float64, ``NaN`` allowed. Any row with another number of
    values, or a token that is not a number, is a ``DataError`` naming the file and line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file is reported below
            table = np.loadtxt(path, dtype=np.float64, delimiter=delimiter, ndmin=2)
    except (ValueError, UnicodeDecodeError):
        raise DataError(_first_bad_line(path, ncols, delimiter)) from None
    if table.size == 0:
        raise DataError(f"{path}: no rows; expected {ncols} values per line")
    if table.shape[1] != ncols:
        raise DataError(
            f"{path}: {table.shape[1]} values per line; expected {ncols} (not the release's file?)"
        )
    return table


def _first_bad_line(path: Path, ncols: int, delimiter: str | None) -> str:
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                tokens = raw.decode().split(delimiter)
            except UnicodeDecodeError:
                return f"{path}: line {n} is not text (corrupt file?)"
            if not raw.strip():
                continue
            if len(tokens) != ncols:
                return f"{path}: line {n} has {len(tokens)} values; expected {ncols} (truncated or corrupt?)"
            for t in tokens:
                try:
                    float(t)
                except ValueError:
                    return f"{path}: line {n} holds {t.strip()!r}; expected a number or NaN"
    return f"{path}: not a table of {ncols} numbers per line"


def fill_gaps(
    x: np.ndarray, how: Literal["linear", "ffill"] = "linear", leading: Literal["nearest", "zero"] = "nearest"
) -> tuple[np.ndarray, int]:
    """Fill NaN along time, per column of (T, C) ``x``; returns (filled copy, NaN filled).

    ``how``: 'linear' interpolates between readings, 'ffill' holds the last reading (a sensor slower
    than the clock, e.g. PAMAP2's ~9 Hz heart rate). After the last reading the value is held either
    way. ``leading`` NaN (before the first reading) take the first reading ('nearest') or 0 ('zero',
    as DeepConvLSTM's pipeline leaves them to its NaN -> 0 step). An all-NaN column becomes 0.
    """
    out = np.array(x, dtype=np.float64, copy=True)
    nan = np.isnan(out)
    t = np.arange(len(out))
    for c in np.flatnonzero(nan.any(axis=0)):
        ok = ~nan[:, c]
        if not ok.any():
            out[:, c] = 0.0
            continue
        first = int(np.argmax(ok))
        if how == "linear":
            out[:, c] = np.interp(t, t[ok], out[ok, c])
        else:
            last = np.maximum.accumulate(np.where(ok, t, first))
            out[:, c] = out[last, c]
        if leading == "zero":
            out[:first, c] = 0.0
    return out, int(nan.sum())


def label_runs(keep: np.ndarray, labels: np.ndarray) -> list[slice]:
    """Maximal runs of consecutive kept rows with one label: the recordings a file is cut into when
    rows are dropped (PAMAP2's transient activity 0), so that no window spans a gap."""
    edges = np.flatnonzero(np.diff(np.r_[False, keep, False].astype(np.int8)) != 0)
    runs = []
    for a, b in zip(edges[::2], edges[1::2]):
        cuts = np.flatnonzero(np.diff(labels[a:b]) != 0) + 1 + a
        bounds = [a, *cuts.tolist(), b]
        runs += [slice(s, e) for s, e in itertools.pairwise(bounds)]
    return runs


def label_codes(raw: np.ndarray, accepted: Iterable[int], where: object, what: str) -> np.ndarray:
    """A release's label column as int64 codes; a NaN or a code outside ``accepted`` is a ``DataError``
    naming ``where``, the code and the accepted ones."""
    ok = sorted(accepted)
    finite = np.isfinite(raw)
    codes = np.where(finite, raw, -1).astype(np.int64)
    bad = ~finite | ~np.isin(codes, ok)
    if bad.any():
        shown = "NaN" if not finite[bad][0] else str(int(codes[bad][0]))
        row = int(np.argmax(bad)) + 1
        raise DataError(f"{where}: {what} {shown} at row {row}; accepted: {', '.join(map(str, ok))}")
    return codes


def to_classes(codes: np.ndarray, classes: list[int]) -> np.ndarray:
    """Codes (all among ``classes``) -> their position in ``classes``: class indices 0..K-1."""
    order = np.argsort(classes)
    return order[np.searchsorted(np.asarray(classes)[order], codes)].astype(np.int64)
