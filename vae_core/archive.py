"""Image archives a visitor uploads (zip or tar, optionally gz/bz2/xz), extracted safely into a folder of images.

Nothing in an archive is trusted: a member named with an absolute path or `..`, a link or a device refuses the
whole archive; only regular files with an image suffix are written, each streamed with the caps counted on the
bytes actually written (a header's declared size is not believed), so a zip bomb stops at the cap. The folder
appears only once complete (extracted beside it, then renamed).
"""

from __future__ import annotations

import io
import lzma
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .data import IMAGE_SUFFIXES
from .errors import DatasetError

CHUNK = 1 << 16
Member = tuple[str, bool, Callable[[], BinaryIO]]  # (name, is a regular file, open it)


@dataclass(frozen=True)
class ArchiveLimits:
    """How much one uploaded archive may write."""

    max_files: int = 20_000  # image files written
    max_bytes: int = 512 * 2**20  # uncompressed bytes written, all files together
    max_ratio: float = 200.0  # bytes written per byte of archive (zip bombs reach thousands)
    max_depth: int = 8  # folders in a member's name


@dataclass(frozen=True)
class Extracted:
    folder: Path
    images: int  # files written
    skipped: int  # members that are not image files (or hidden, e.g. __MACOSX/)


def _member_path(name: str, limits: ArchiveLimits) -> PurePosixPath | None:
    """The relative path a member may be written to; None for what is skipped (folders, hidden files, non-images);
    DatasetError for a name that would leave the folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise DatasetError(f"archive refused: the member {name!r} would be written outside its folder")
    if len(path.parts) > limits.max_depth + 1:
        raise DatasetError(f"archive refused: {name!r} is more than {limits.max_depth} folders deep")
    if not path.parts or any(part.startswith((".", "__MACOSX")) for part in path.parts):
        return None
    return path if path.suffix.lower() in IMAGE_SUFFIXES else None


def _zip_members(archive: zipfile.ZipFile) -> Iterator[Member]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise DatasetError(f"archive refused: {info.filename!r} is a symbolic link")
        yield info.filename, not info.is_dir(), lambda info=info: archive.open(info)


def _tar_members(archive: tarfile.TarFile) -> Iterator[Member]:
    for member in archive:
        if not (member.isreg() or member.isdir()):
            raise DatasetError(f"archive refused: {member.name!r} is a link or a device, not a file")
        yield member.name, member.isreg(), lambda member=member: archive.extractfile(member)


def _copy(source: BinaryIO, target: Path, budget: int) -> int:
    """Stream `source` to a new file `target`, at most `budget` bytes; returns the bytes written."""
    written = 0
    with source, open(target, "xb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > budget:
                raise DatasetError("archive refused: it unpacks to more than its limit of bytes")
            out.write(chunk)
    return written


def _extract(members: Iterator[Member], into: Path, limits: ArchiveLimits,
             archive_bytes: int) -> tuple[int, int]:
    budget = int(min(limits.max_bytes, limits.max_ratio * archive_bytes))
    images = skipped = 0
    for name, regular, open_member in members:
        path = _member_path(name, limits)
        if path is None or not regular:
            skipped += regular
            continue
        images += 1
        if images > limits.max_files:
            raise DatasetError(f"archive refused: it holds more than {limits.max_files:,} images")
        target = into.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        budget -= _copy(open_member(), target, budget)
    return images, skipped


def extract_images(data: bytes, folder: str | Path, limits: ArchiveLimits = ArchiveLimits()) -> Extracted:
    """Write the image files of the zip or tar archive `data` into the new folder `folder` (its parent must exist;
    an existing folder is refused). Raises DatasetError, leaving nothing behind, on a bad or hostile archive."""
    folder = Path(folder)
    if folder.exists():
        raise DatasetError(f"{folder.name} exists already; choose another name")
    staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=folder.parent))
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                images, skipped = _extract(_zip_members(archive), staging, limits, len(data))
        else:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                images, skipped = _extract(_tar_members(archive), staging, limits, len(data))
        if images == 0:
            raise DatasetError("the archive holds no image files (png, jpg, bmp, gif, webp)")
        staging.rename(folder)
        return Extracted(folder, images, skipped)
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError, OSError) as exc:
        raise DatasetError(f"not a readable zip or tar archive ({type(exc).__name__}: {exc})") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
