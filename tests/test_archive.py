"""An uploaded image archive is extracted only inside its folder, within its caps, or refused leaving nothing."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vae_core.archive import ArchiveLimits, extract_images
from vae_core.data import load_image_folder
from vae_core.errors import DatasetError


def png(seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (8, 8), dtype=np.uint8)).save(buffer, "png")
    return buffer.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_of(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member in members:
            payload = (data or {}).get(member.name)
            if payload is not None:
                member.size = len(payload)
            archive.addfile(member, io.BytesIO(payload) if payload is not None else None)
    return buffer.getvalue()


def test_a_good_archive_becomes_a_loadable_image_folder(tmp_path):
    members = {f"cats/{i}.png": png(i) for i in range(3)} | {f"dogs/{i}.png": png(10 + i) for i in range(3)}
    members |= {"notes.txt": b"hello", "__MACOSX/cats/._0.png": b"junk"}
    extracted = extract_images(zip_of(members), tmp_path / "pets")
    assert (extracted.images, extracted.skipped) == (6, 2)
    dataset = load_image_folder(extracted.folder, size=8)
    assert dataset.class_names == ("cats", "dogs") and len(dataset.x_train) + len(dataset.x_test) == 6


@pytest.mark.parametrize("name", ["../evil.png", "/etc/evil.png", "a/../../evil.png", "..\\evil.png", "C:/evil.png"])
def test_a_member_that_would_leave_the_folder_refuses_the_archive(tmp_path, name):
    with pytest.raises(DatasetError, match="outside its folder"):
        extract_images(zip_of({"ok.png": png(), name: png(1)}), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing left behind, not even the good member


def test_links_and_devices_in_a_tar_refuse_it(tmp_path):
    link = tarfile.TarInfo("cats/0.png")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(DatasetError, match="link or a device"):
        extract_images(tar_of([link]), tmp_path / "out")
    device = tarfile.TarInfo("dev.png")
    device.type = tarfile.CHRTYPE
    with pytest.raises(DatasetError, match="link or a device"):
        extract_images(tar_of([device]), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_symlink_in_a_zip_refuses_it(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("cats/0.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(DatasetError, match="symbolic link"):
        extract_images(buffer.getvalue(), tmp_path / "out")


def test_a_zip_bomb_stops_at_the_cap_and_leaves_nothing(tmp_path):
    bomb = zip_of({"big.png": b"\0" * (64 * 2**20)})  # 64 MB of zeros: about 64 kB compressed
    assert len(bomb) < 2**20
    with pytest.raises(DatasetError, match="more than its limit of bytes"):
        extract_images(bomb, tmp_path / "out", ArchiveLimits(max_ratio=200.0))
    assert list(tmp_path.iterdir()) == []


def test_too_many_files_or_folders_refuse_the_archive(tmp_path):
    with pytest.raises(DatasetError, match="more than 3 images"):
        extract_images(zip_of({f"{i}.png": png(i) for i in range(4)}), tmp_path / "a", ArchiveLimits(max_files=3))
    with pytest.raises(DatasetError, match="more than 2 folders deep"):
        extract_images(zip_of({"a/b/c/d.png": png()}), tmp_path / "b", ArchiveLimits(max_depth=2))


def test_not_an_archive_or_no_images_is_said_so(tmp_path):
    with pytest.raises(DatasetError, match="not a readable zip or tar archive"):
        extract_images(b"\x89PNG not an archive", tmp_path / "a")
    with pytest.raises(DatasetError, match="no image files"):
        extract_images(zip_of({"readme.txt": b"hi"}), tmp_path / "b")
    existing = tmp_path / "taken"
    existing.mkdir()
    with pytest.raises(DatasetError, match="exists already"):
        extract_images(zip_of({"0.png": png()}), existing)
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["taken"]
