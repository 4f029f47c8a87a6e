"""Where a release lives on disk and how it gets there: data root, download, sha256, extraction.

A dataset's files sit under its data root: the config's ``root``, else ``$HARTUNE_DATA/<name>``, else
``~/.cache/hartune/data/<name>``. Missing files are downloaded from the official URL (unless
``HARTUNE_OFFLINE=1``), checked against the pinned sha256 where one is known, and extracted in place,
nested archives included (several UCI zips wrap another zip). Files are found by the tail of their
path, so an extra wrapping folder (``PAMAP2_Dataset/PAMAP2_Dataset/Protocol``) does not matter.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hartune import progress
from hartune.data.base import DataError

log = logging.getLogger(__name__)

OFFLINE_ENV = "HARTUNE_OFFLINE"
ROOT_ENV = "HARTUNE_DATA"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """An official release archive. ``sha256`` is None where no checksum has been pinned yet: the
    computed one is then logged and reported, never invented."""

    url: str
    sha256: str | None = None

    @property
    def archive_name(self) -> str:
        return PurePosixPath(urllib.parse.urlparse(self.url).path).name


def data_root(name: str, root: Path | None) -> Path:
    if root is not None:
        return Path(root).expanduser()
    base = os.environ.get(ROOT_ENV)
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "hartune" / "data") / name


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def locate(root: Path, wanted: list[str]) -> tuple[dict[str, Path], list[str]]:
    """Find each wanted relative path under ``root``: at ``root/rel``, else anywhere whose path ends
    with ``rel``'s last two parts (the shortest such path wins). Returns (found, missing)."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    index: dict[str, list[Path]] | None = None
    for rel in wanted:
        direct = root / rel
        if direct.is_file():
            found[rel] = direct
            continue
        if index is None:
            index = {}
            if root.is_dir():
                for p in root.rglob("*"):
                    index.setdefault(p.name, []).append(p)
        tail = PurePosixPath(rel).parts[-2:]
        hits = [p for p in index.get(tail[-1], []) if p.is_file() and p.parts[-len(tail):] == tail]
        if hits:
            found[rel] = min(hits, key=lambda p: (len(p.parts), str(p)))
        else:
            missing.append(rel)
    return found, missing


def ensure_files(
    name: str, source: Source, root: Path, wanted: list[str]
) -> tuple[dict[str, Path], dict[str, str]]:
    """The wanted files under ``root``, downloading and extracting the release if any is missing.

    Returns (relative path -> file, what was fetched). Raises ``DataError`` with one line naming the
    missing file and the URL where it cannot be had.
    """
    found, missing = locate(root, wanted)
    if not missing:
        return found, {}
    first = root / missing[0]
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    if offline():
        raise DataError(
            f"dataset {name!r}: missing {first}{more}; download {source.url} and extract it into {root} "
            f"({OFFLINE_ENV} is set, so nothing was downloaded)"
        )
    try:
        archive, digest = download(source, root)
        extract(archive, root)
    except DataError as e:
        raise DataError(f"dataset {name!r}: missing {first}{more}; {e}") from None
    found, missing = locate(root, wanted)
    if missing:
        raise DataError(
            f"dataset {name!r}: {archive} (from {source.url}) holds no {missing[0]}; "
            f"extract the release into {root} by hand"
        )
    return found, {"archive": str(archive), "archive_sha256": digest}


def download(source: Source, root: Path) -> tuple[Path, str]:
    """Fetch ``source.url`` into ``root`` (kept if already there) and check its sha256."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / source.archive_name
    if not target.is_file():
        partial = target.with_name(target.name + ".partial")
        try:
            with urllib.request.urlopen(source.url, timeout=60) as r, open(partial, "wb") as f:
                size = r.headers.get("Content-Length")
                with progress.task(f"downloading {source.url}", total=float(size) if size else None, unit="B") as t:
                    while chunk := r.read(_CHUNK):
                        f.write(chunk)
                        t.advance(len(chunk))
        except (OSError, urllib.error.URLError, ValueError) as e:
            partial.unlink(missing_ok=True)
            raise DataError(
                f"downloading {source.url} failed ({e}); fetch it by hand and extract it into {root}"
            ) from None
        partial.replace(target)
    digest = sha256_file(target)
    if source.sha256 is None:
        log.warning("%s has sha256 %s (no checksum pinned for %s yet)", target, digest, source.url)
    elif digest != source.sha256:
        raise DataError(
            f"{target} has sha256 {digest}; expected {source.sha256} for {source.url} "
            "(a partial or changed download: delete it and retry)"
        )
    return target, digest


def extract(archive: Path, dest: Path) -> None:
    """Unpack a .zip, .tar.gz or .tgz into ``dest``, then any archive it contained, once each."""
    done: set[Path] = set()
    todo = [archive]
    while todo:
        a = todo.pop()
        done.add(a)
        try:
            members = _unpack(a, a.parent if a != archive else dest)
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as e:
            raise DataError(f"{a}: not a readable archive ({e})") from None
        todo += [m for m in members if _is_archive(m) and m not in done]


def _is_archive(p: Path) -> bool:
    return p.suffix == ".zip" or p.name.endswith((".tar.gz", ".tgz"))


def _unpack(archive: Path, dest: Path) -> list[Path]:
    """Extract ``archive`` into ``dest``; returns the files written. Members escaping ``dest`` are refused."""
    dest = dest.resolve()
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            for n in names:
                if not (dest / n).resolve().is_relative_to(dest):
                    raise OSError(f"member {n!r} would land outside {dest}")
            z.extractall(dest)
    elif archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as t:
            names = [m.name for m in t.getmembers() if m.isfile()]
            t.extractall(dest, filter="data")  # the 'data' filter refuses links and paths outside dest
    else:
        raise OSError(f"unknown archive type {archive.name!r}; accepted: .zip, .tar.gz, .tgz")
    return [dest / n for n in names]
