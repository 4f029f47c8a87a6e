"""Checksums for the files hartune writes and later trusts: a native dataset's ``.npz`` cache, a cached
diffusion generator, a trial checkpoint. A leaf module (imports nothing of hartune).

``write_checksum(path)`` writes ``<path>.sha256`` beside the file at write time (the hex digest, the
byte count and the name, like ``sha256sum`` output plus the size); ``verify(path)`` recomputes it at read
time and raises ``CorruptFile`` with one line naming the file when the file is shorter or longer than
written, its digest differs, or the checksum is missing. The caller decides what a corrupt file means:
a cache (data, generator) is rebuilt with one warning line; a checkpoint is refused, since the training
it holds cannot be rebuilt without repeating it silently.

The sidecar is written before the data file is published (a rename), so a reader that finds the data
file also finds its checksum. Two writers racing on one cache entry can leave one's checksum beside the
other's file: the next reader sees a mismatch and rebuilds, which costs time, never a wrong read.
A file written before checksums existed (no sidecar) counts as corrupt for caches (rebuilt once) and
checkpoints alike; ``missing_ok=True`` accepts it instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

SUFFIX = ".sha256"
_CHUNK = 1 << 20


class CorruptFile(ValueError):
    """A file that does not match the checksum written beside it; ``str()`` is one line naming it."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def checksum_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def sha256_of(path: str | Path) -> tuple[str, int]:
    """(hex digest, bytes) of the file's content."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def write_checksum(path: str | Path, published: str | Path | None = None) -> Path:
    """Write the checksum of ``path`` (atomically) beside ``published``, the name the file will have once
    it is renamed (default: ``path`` itself)."""
    path = Path(path)
    target = Path(published) if published is not None else path
    digest, size = sha256_of(path)
    side = checksum_path(target)
    tmp = side.with_name(f"{side.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{digest} {size} {target.name}\n")
    tmp.replace(side)
    return side


def verify(path: str | Path, missing_ok: bool = False) -> None:
    """Raise ``CorruptFile`` unless ``path`` matches the checksum beside it."""
    path = Path(path)
    side = checksum_path(path)
    try:
        recorded = side.read_text().split()
    except FileNotFoundError:
        if missing_ok:
            return
        raise CorruptFile(
            path, f"no checksum file {side.name} beside it; cannot tell whether it is complete"
        ) from None
    except OSError as e:
        raise CorruptFile(path, f"checksum file {side.name} unreadable ({e.strerror or e})") from None
    if len(recorded) < 2 or not recorded[1].isdigit():
        raise CorruptFile(path, f"checksum file {side.name} is malformed; expected '<sha256> <bytes> <name>'")
    want_digest, want_size = recorded[0], int(recorded[1])
    try:
        digest, size = sha256_of(path)
    except OSError as e:
        raise CorruptFile(path, f"unreadable ({e.strerror or e})") from None
    if size != want_size:
        what = "truncated" if size < want_size else "longer than written"
        raise CorruptFile(path, f"{what}: {size} bytes, {want_size} written (checksum {side.name})")
    if digest != want_digest:
        raise CorruptFile(
            path, f"sha256 {digest[:12]}... differs from the {want_digest[:12]}... written ({side.name})"
        )


PROBE_BYTES = (
    64 * 1024
)  # a write probe's size: a full disk or a file-size limit refuses it, as it would a checkpoint


class StorageFailed(RuntimeError):
    """Ray's storage stopped taking writes during a run (a full disk, a lost mount): the trials that could
    not write have failed with the reason in their runs. ``str()`` is the one line shown."""


def probe_writable(path: str | Path) -> str | None:
    """None when a file of ``PROBE_BYTES`` can be written (and fsynced) in ``path``, or in the nearest
    folder above it that exists (where the run would create it); else the reason, in a few words. The
    probe file is removed: nothing is left behind either way. Checked by writing, not by permission
    bits, so a read-only mount, a full disk and ``RLIMIT_FSIZE`` are caught as well, and root (whom
    permission bits do not stop) gets a true answer."""
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    fd, name = -1, ""
    try:
        import tempfile

        fd, name = tempfile.mkstemp(prefix=".hartune-write-probe-", dir=existing)
        left = memoryview(b"\0" * PROBE_BYTES)
        while left:  # a write stops short at a size limit; the next one then fails (EFBIG, ENOSPC)
            left = left[os.write(fd, left) :]
        os.fsync(fd)
    except OSError as e:
        return f"cannot write in {existing} ({e.strerror or e})"
    finally:
        if fd >= 0:
            os.close(fd)
        if name:
            with contextlib.suppress(OSError):
                os.unlink(name)
    return None
