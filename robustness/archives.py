"""Zip archives from a user (checkpoints, label files), held to limits before anything is decompressed.

A zip's central directory declares each member's size; zipfile reads it on opening without decompressing anything.
A zip bomb declares gigabytes in a few megabytes, so ``check_zip_limits`` refuses an archive whose directory declares
more than ``ZIP_LIMITS`` (or lies about a stored member, or repeats a name) before any loader reads a member.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from robustness.errors import SuiteError


@dataclass(frozen=True)
class ZipLimits:
    """What an archive the suite opens (a checkpoint, a label file) may declare in its central directory; checked
    before any member is read.

    torch.save, torch.jit.save and torch.export.save store members uncompressed (ratio 1); a deflated tensor gains ~1.1×
    and JSON ~10×, while a zip bomb declares 1000× (2 GiB in 2 MB). Sizes in bytes."""

    member_bytes: int = 16 * 2**30  # one member: a 4-billion-parameter float32 tensor
    total_bytes: int = 64 * 2**30  # all members together
    ratio: float = 100.0  # declared size / compressed size, for a compressed member ...
    ratio_from_bytes: int = 2**20  # ... that declares more than 1 MiB (tiny members compress arbitrarily well)
    members: int = 100_000  # names in the directory


ZIP_LIMITS = ZipLimits()


def _size(n: int) -> str:
    """Bytes for messages: ``_size(3 * 2**30) == "3.0 GiB"``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def bomb(subject: str, path: Path, what: str) -> SuiteError:
    """A refusal for an archive that declares more than torch or numpy ever write: no trust flag lifts it.
    ``subject`` names what the file is for, e.g. ``"model 'm'"``."""
    return SuiteError(f"{subject}: {path} {what}; a file torch or numpy wrote does not look like this (a zip bomb, "
                      "or a damaged archive): do not use this file, get it again from where it came from")


def broken_archive(subject: str, path: Path, what: str) -> SuiteError:
    return SuiteError(f"{subject}: {path} is truncated or not a PyTorch checkpoint (a corrupt zip archive: {what}); "
                      "save or copy it again")


def check_zip_limits(subject: str, path: Path, archive: zipfile.ZipFile, limits: ZipLimits = ZIP_LIMITS) -> None:
    """Refuse an archive whose directory declares too much, lies about a stored member or repeats a name.

    Only ``infolist()`` is used: the central directory, which zipfile reads on opening; nothing is decompressed."""
    infos = archive.infolist()
    if len(infos) > limits.members:
        raise bomb(subject, path, f"declares {len(infos)} members, over the limit of {limits.members}")
    length, seen, total = path.stat().st_size, set(), 0
    for info in infos:
        if info.filename in seen:
            raise broken_archive(subject, path, f"two members are named {info.filename}, so loaders disagree on which is read")
        seen.add(info.filename)
        if info.file_size > limits.member_bytes:
            raise bomb(subject, path, f"declares member {info.filename} as {_size(info.file_size)}, over the limit of "
                                    f"{_size(limits.member_bytes)} for one member")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise broken_archive(subject, path, f"stored member {info.filename} declares {info.file_size} bytes in {info.compress_size}")
        if (info.compress_type != zipfile.ZIP_STORED and info.file_size > limits.ratio_from_bytes
                and info.file_size > limits.ratio * max(info.compress_size, 1)):
            raise bomb(subject, path, f"declares member {info.filename} as {_size(info.file_size)} unpacked from "
                                    f"{_size(info.compress_size)} ({info.file_size / max(info.compress_size, 1):.0f}×), "
                                    f"over the limit of {limits.ratio:.0f}×")
        if info.header_offset + info.compress_size > length:
            raise broken_archive(subject, path, f"member {info.filename} ends past the end of the file")
        total += info.file_size
    if total > limits.total_bytes:
        raise bomb(subject, path, f"declares {_size(total)} in all, over the limit of {_size(limits.total_bytes)}")
