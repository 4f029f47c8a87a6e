"""A content-keyed, process-safe disk cache of trained generators.

The key is ``sha256(data fingerprint + generator training config JSON)``: the same windows and the same
training knobs give the same generator, whichever trial asks. ``GeneratorConfig.sampling`` is left out of
the key because it does not change the weights (a blend search can vary it without retraining).

Layout under ``root`` (default ``.hartune/generators``)::

    <key>/generator.json, state.pt   what DiffusionGenerator.save writes
    <key>/trained_by.json            pid, host, time and seconds of the one training; written last
    <key>.lock                       the per-key lock file

Concurrency: ``get_or_train`` takes an exclusive ``fcntl.flock`` on ``<key>.lock`` and checks again after
acquiring it, so of two processes that ask at once one trains and the other waits, then loads. Files are
written into a private temporary directory that is renamed to ``<key>`` in one atomic step, so a reader
never sees a half-written generator. ``generator.json`` and ``state.pt`` carry checksums written beside
them (``hartune.integrity``); an entry that no longer matches them (a truncated file) is retrained once,
with one warning line, by whichever process holds the key's lock. POSIX only (``fcntl``), like the rest of the platform's runners.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hartune.augment.generator import DiffusionGenerator, GeneratorConfig
from hartune.integrity import CorruptFile

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path(".hartune") / "generators"
MARKER = "trained_by.json"


def cache_key(fingerprint: str, cfg: GeneratorConfig) -> str:
    """sha256 of the data fingerprint and the generator's training config (sampling knobs excluded)."""
    return hashlib.sha256(f"{fingerprint}\n{cfg.training_json()}".encode()).hexdigest()


@dataclass(frozen=True)
class Cached:
    generator: DiffusionGenerator
    key: str
    path: Path  # the directory to log as an artifact
    trained: bool  # True only in the process that trained it


class GeneratorCache:
    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def contains(self, key: str) -> bool:
        """Complete entries only: the marker is written before the atomic rename that publishes them."""
        return (self.path(key) / MARKER).is_file()

    def marker(self, key: str) -> dict[str, object]:
        """Who trained the entry ``key`` and how long it took."""
        return json.loads((self.path(key) / MARKER).read_text())

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{key}.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # blocks until the holder releases it (or dies)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def get_or_train(
        self, fingerprint: str, cfg: GeneratorConfig, train_fn: Callable[[], DiffusionGenerator]
    ) -> Cached:
        """Load the generator for ``(fingerprint, cfg)``, or train it with ``train_fn`` exactly once.

        ``train_fn`` returns a fitted generator built with ``cfg``; it runs while the key's lock is held.
        """
        key = cache_key(fingerprint, cfg)
        final = self.path(key)
        if self.contains(key):  # fast path: a published entry never changes
            with contextlib.suppress(CorruptFile):  # corrupt: warned and rebuilt under the lock below
                return Cached(DiffusionGenerator.load(final), key, final, trained=False)
        with self._locked(key):
            if self.contains(key):  # someone trained it while we waited for the lock
                try:
                    return Cached(DiffusionGenerator.load(final), key, final, trained=False)
                except (
                    CorruptFile
                ) as e:  # truncated or altered on disk: retrain (exactly once, we hold the lock)
                    log.warning("rebuilding the corrupt cached generator %s (%s)", final, e.reason)
            for stale in self.root.glob(f".{key}.tmp-*"):  # left by a process that died mid-training
                shutil.rmtree(stale, ignore_errors=True)
            if final.exists():  # an incomplete entry (no marker): never published by this code
                shutil.rmtree(final)
            start = time.time()
            gen = train_fn()
            if gen.cfg.training_json() != cfg.training_json():
                raise ValueError(
                    "get_or_train: train_fn built a generator with a different config than the key's"
                )
            tmp = self.root / f".{key}.tmp-{os.getpid()}"
            gen.save(tmp)
            marker = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "key": key,
                "fingerprint": fingerprint,
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "seconds": round(time.time() - start, 3),
            }
            (tmp / MARKER).write_text(json.dumps(marker, indent=2))
            os.rename(tmp, final)  # atomic publish
        return Cached(gen, key, final, trained=True)
