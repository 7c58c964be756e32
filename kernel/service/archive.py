"""Unpacking an uploaded rule folder (zip or tar, optionally gzip) safely and within bounds.

Only regular files and folders are unpacked; a member with an absolute path, a ``..`` step, a
link, a device or a name the file system would not keep is refused, as is an archive with too
many members or more unpacked bytes than allowed (counted while reading, not trusted from the
header). The folder is a fresh temporary directory that the caller removes.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from kernel.service.problems import ApiProblem

CHUNK = 64 * 1024


def _refuse(detail: str) -> ApiProblem:
    return ApiProblem(422, "API-ARCHIVE", detail)


def _safe_name(name: str) -> PurePosixPath:
    text = name.replace("\\", "/")
    path = PurePosixPath(text)
    if (
        not text
        or text.startswith("/")
        or (len(text) > 1 and text[1] == ":")
        or any(part in ("..", "") for part in path.parts)
        or any(ord(c) < 32 for c in text)
    ):
        raise _refuse(f"压缩包中的路径 {name[:80]!r} 不安全（绝对路径、.. 或控制字符）")
    return path


def _copy(source: IO[bytes], target: Path, budget: list[int]) -> None:
    with open(target, "wb") as out:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                return
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise _refuse("压缩包解压后过大")
            out.write(chunk)


def unpack(data: bytes, folder: Path, *, max_files: int, max_bytes: int) -> Path:
    """Unpack ``data`` into ``folder``; return the rule folder (the single top folder, if any)."""
    budget = [max_bytes]
    if data[:4] == b"PK\x03\x04":
        _unzip(data, folder, max_files, budget)
    else:
        _untar(data, folder, max_files, budget)
    entries = [p for p in folder.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder


def _unzip(data: bytes, folder: Path, max_files: int, budget: list[int]) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise _refuse(f"不是有效的 zip 压缩包：{exc}") from None
    with archive:
        members = archive.infolist()
        if len(members) > max_files:
            raise _refuse(f"压缩包中有 {len(members)} 个文件，上限 {max_files}")
        for info in members:
            path = _safe_name(info.filename)
            mode = (info.external_attr >> 16) & 0o170000
            if mode not in (0, 0o100000, 0o040000):
                raise _refuse(f"压缩包成员 {info.filename[:80]!r} 不是普通文件（链接或设备）")
            target = folder.joinpath(*path.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source:
                    _copy(source, target, budget)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
                raise _refuse(f"压缩包成员 {info.filename[:80]!r} 无法解压：{exc}") from None


def _untar(data: bytes, folder: Path, max_files: int, budget: list[int]) -> None:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115 - closed below
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise _refuse(f"不是 zip 或 tar 压缩包：{exc}") from None
    count = 0
    with archive:
        try:
            for member in archive:
                count += 1
                if count > max_files:
                    raise _refuse(f"压缩包中的文件超过上限 {max_files} 个")
                path = _safe_name(member.name)
                target = folder.joinpath(*path.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise _refuse(f"压缩包成员 {member.name[:80]!r} 不是普通文件（链接或设备）")
                source = archive.extractfile(member)
                if source is None:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with source:
                    _copy(source, target, budget)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise _refuse(f"压缩包已损坏：{exc}") from None


def remove(folder: Path) -> None:
    """Remove an unpacked folder."""
    shutil.rmtree(folder, ignore_errors=True)
