"""Where a CSV comes from (local path, ``s3://bucket/key``, stored upload) and what it is.

Every source becomes a local, seekable file first (S3 objects are streamed to a temporary file),
so the file can be hashed and its encoding checked before a single row is parsed.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from auditsite.uploads import max_upload_bytes
from logs.messages import (
    FILE_BINARY,
    FILE_EMPTY,
    FILE_ENCODING,
    FILE_MISSING,
    FILE_TOO_LARGE,
    FILE_UNREADABLE,
    FILE_UTF16,
    S3_LOCATION,
)
from logs.s3 import s3_client

CHUNK = 1024 * 1024
# Control characters never found in a text CSV; their presence means a binary file.
_BINARY_BYTES = (
    bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0E, 0x1A)) + bytes(range(0x1C, 0x20))
)


class SourceError(Exception):
    """A source that cannot be read, or a file that is not an acceptable CSV."""


@dataclass(frozen=True)
class FileFacts:
    size: int
    sha256: str
    encoding: str  # Python codec: "utf-8-sig" or "cp932"


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        msg = S3_LOCATION.render(uri=repr(uri))
        raise SourceError(msg)
    return bucket, key


# A byte of a file name that is not UTF-8, as ``path_text`` writes it.
_ESCAPED_BYTE = re.compile(rb"\\x([89a-f][0-9a-f])")


def path_text(path: str) -> str:
    """A local path (or file name) as text every column and message takes: the path itself
    when it is valid Unicode; else the bytes of it that are not UTF-8 (which Python hands over
    as lone surrogates, ``os.fsdecode``) written ``\\xNN``, e.g. ``\\xff\\xfeactivity.csv``.
    ``path_local`` finds the file again from it."""
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a lone surrogate no file system byte decodes to
        return path.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def path_local(text: str) -> Path:
    """The local file a ``path_text`` names: that path when it exists, else the one whose name
    has the bytes its ``\\xNN`` escapes stand for (when that one exists)."""
    path = Path(text)
    if "\\x" not in text or os.path.lexists(path):
        return path
    try:
        raw = os.fsencode(text)
    except UnicodeEncodeError:  # not a path_text: a lone surrogate no byte decodes to
        return path
    raw = _ESCAPED_BYTE.sub(lambda match: bytes.fromhex(match[1].decode()), raw)
    named = Path(os.fsdecode(raw))
    return named if os.path.lexists(named) else path


@contextlib.contextmanager
def local_copy(source: str) -> Iterator[Path]:
    """Yield a local path for ``source``: the path itself (or the file its ``path_text``
    names), or a temporary copy of an S3 object."""
    if not source.startswith("s3://"):
        path = path_local(source)
        if not path.is_file():
            msg = FILE_MISSING.render(source=path_text(source))
            raise SourceError(msg)
        yield path
        return
    bucket, key = _split_s3(source)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = s3_client()
        head = client.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] > max_upload_bytes():
            msg = FILE_TOO_LARGE.render(megabytes=settings.MAX_UPLOAD_MB)
            raise SourceError(msg)
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except (BotoCoreError, ClientError) as exc:
        msg = FILE_UNREADABLE.render(source=source, error=exc)
        raise SourceError(msg) from exc
    handle, name = tempfile.mkstemp(prefix="auditsite-", suffix=".csv")
    try:
        with os.fdopen(handle, "wb") as target:
            shutil.copyfileobj(body, target, CHUNK)  # streamed, never whole in memory
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


@contextlib.contextmanager
def stored_copy(stored_name: str) -> Iterator[Path]:
    """Yield a local path for a file kept in the default storage (local disk or S3)."""
    from django.core.files.storage import FileSystemStorage, default_storage

    if isinstance(default_storage, FileSystemStorage):
        yield Path(default_storage.path(stored_name))
        return
    # remote storage (S3): copy it down
    handle, name = tempfile.mkstemp(prefix="auditsite-", suffix=".csv")
    try:
        with os.fdopen(handle, "wb") as target, default_storage.open(stored_name, "rb") as source:
            shutil.copyfileobj(source, target, CHUNK)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


# Python's cp932 codec maps the lone bytes 0x80, 0xA0, 0xFD–0xFF, which are not Shift_JIS,
# to these characters; finding one means the file is in some other encoding.
_NOT_SHIFT_JIS = re.compile("[\u0080\uf8f0-\uf8f3]")


def _is_cp932(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("cp932")(errors="strict")
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                if _NOT_SHIFT_JIS.search(decoder.decode(chunk)):
                    return False
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def inspect_file(path: Path) -> FileFacts:
    """Size, sha256 and encoding of a CSV file; raises SourceError for a file we do not accept."""
    size = path.stat().st_size
    if size == 0:
        msg = FILE_EMPTY.render()
        raise SourceError(msg)
    if size > max_upload_bytes():
        msg = FILE_TOO_LARGE.render(megabytes=settings.MAX_UPLOAD_MB)
        raise SourceError(msg)
    with path.open("rb") as stream:
        start = stream.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        msg = FILE_UTF16.render()
        raise SourceError(msg)
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="strict")
    is_utf8 = True
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            if len(chunk.translate(None, _BINARY_BYTES)) != len(chunk):
                msg = FILE_BINARY.render()
                raise SourceError(msg)
            if is_utf8:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    is_utf8 = False
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    if is_utf8:
        encoding = "utf-8-sig"
    elif _is_cp932(path):
        encoding = "cp932"
    else:
        msg = FILE_ENCODING.render()
        raise SourceError(msg)
    return FileFacts(size=size, sha256=digest.hexdigest(), encoding=encoding)
