"""Download, checksum and extraction of a release, exercised through file:// URLs (no network here)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from hartune.data import DataError
from hartune.data.sources import Source, data_root, ensure_files, locate

WANTED = ["PAMAP2_Dataset/Protocol/subject101.dat", "PAMAP2_Dataset/Protocol/subject102.dat"]


def _nested_zip(path: Path) -> Path:
    """An outer zip wrapping an inner zip, as the current UCI downloads do."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for rel in WANTED:
            z.writestr(rel, "1 2 3\n")
        z.writestr("PAMAP2_Dataset/readme.pdf", "pdf")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("PAMAP2_Dataset.zip", inner.getvalue())
    return path


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARTUNE_OFFLINE")


def test_download_checks_sha256_and_extracts_nested_archives(tmp_path: Path, online: None) -> None:
    archive = _nested_zip(tmp_path / "release.zip")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    root = tmp_path / "root"
    found, fetched = ensure_files("pamap2", Source(archive.as_uri(), digest), root, WANTED)
    assert set(found) == set(WANTED) and all(p.read_text() == "1 2 3\n" for p in found.values())
    assert fetched == {"archive": str(root / "release.zip"), "archive_sha256": digest}
    # present now: no second download
    assert ensure_files("pamap2", Source("file:///nowhere/release.zip"), root, WANTED)[1] == {}


def test_unpinned_checksum_is_computed_and_reported_not_invented(tmp_path: Path, online: None) -> None:
    archive = _nested_zip(tmp_path / "release.zip")
    _, fetched = ensure_files("pamap2", Source(archive.as_uri(), None), tmp_path / "root", WANTED)
    assert fetched["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()


def test_checksum_mismatch_is_an_error_naming_both_digests(tmp_path: Path, online: None) -> None:
    archive = _nested_zip(tmp_path / "release.zip")
    with pytest.raises(DataError, match=r"has sha256 [0-9a-f]{64}; expected 0{64}"):
        ensure_files("pamap2", Source(archive.as_uri(), "0" * 64), tmp_path / "root", WANTED)


def test_failed_download_is_one_line_naming_the_file_and_the_url(tmp_path: Path, online: None) -> None:
    url = (tmp_path / "gone.zip").as_uri()
    with pytest.raises(DataError) as e:
        ensure_files("pamap2", Source(url), tmp_path / "root", WANTED)
    msg = str(e.value)
    assert "\n" not in msg and url in msg
    assert f"missing {tmp_path / 'root' / WANTED[0]} (and 1 more)" in msg


def test_archive_without_the_expected_files_is_an_error(tmp_path: Path, online: None) -> None:
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        data = b"x"
        info = tarfile.TarInfo("something/else.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match=r"other\.tar\.gz .* holds no PAMAP2_Dataset/Protocol/subject101"):
        ensure_files("pamap2", Source(archive.as_uri()), tmp_path / "root", WANTED)


def test_zip_member_escaping_the_root_is_refused(tmp_path: Path, online: None) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../../outside.txt", "x")
    with pytest.raises(DataError, match="would land outside"):
        ensure_files("pamap2", Source(archive.as_uri()), tmp_path / "a" / "root", WANTED)
    assert not (tmp_path / "outside.txt").exists()


def test_offline_never_downloads(tmp_path: Path) -> None:
    archive = _nested_zip(tmp_path / "release.zip")
    with pytest.raises(DataError, match="HARTUNE_OFFLINE is set"):
        ensure_files("pamap2", Source(archive.as_uri()), tmp_path / "root", WANTED)
    assert not (tmp_path / "root").exists()


def test_locate_prefers_the_exact_path_then_the_shortest_match(tmp_path: Path) -> None:
    for rel in ("deep/er/PAMAP2_Dataset/Protocol/subject101.dat", "x/Protocol/subject101.dat",
                "x/Optional/subject102.dat"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    found, missing = locate(tmp_path, WANTED)
    assert found == {WANTED[0]: tmp_path / "x/Protocol/subject101.dat"}
    assert missing == [WANTED[1]]  # an Optional/ file is not a Protocol/ file


def test_data_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert data_root("wisdm", tmp_path / "mine") == tmp_path / "mine"
    monkeypatch.setenv("HARTUNE_DATA", str(tmp_path / "all"))
    assert data_root("wisdm", None) == tmp_path / "all" / "wisdm"
    monkeypatch.delenv("HARTUNE_DATA")
    assert data_root("wisdm", None) == Path.home() / ".cache" / "hartune" / "data" / "wisdm"
