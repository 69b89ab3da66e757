"""Receiving a file: copied into the upload folder in chunks, hashed, checked as it goes.

The copy pass is the file's first read: it hashes it (the kept file is named by its sha256),
checks that it is UTF-8, counts its newline bytes and keeps its first `SNIFF_BYTES` for
`sniffing`. Nothing here knows about incidents or the database; it never imports Flask.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import BadRequest, TooLarge

COPY_CHUNK = 1 << 20
SNIFF_BYTES = 64 * 1024

# --- receiving --------------------------------------------------------------------------------

@dataclass
class Received:
    """An uploaded file copied into the upload folder, with what the copy pass learned."""

    path: Path
    sha256: str
    size: int
    head: bytes
    utf8: bool
    newlines: int
    last_byte: bytes
    nul: bool = False  # a NUL byte anywhere (UTF-8 and cp1252 files: a U+0000 character)


def receive(source: str | os.PathLike | IO[bytes], folder: str | os.PathLike, *,
            max_bytes: int | None = None) -> Received:
    """Copy a file or binary stream into `folder` under a temporary name, in chunks.

    Parameters
    ----------
    source : path or binary file object
        The uploaded file. A path is opened and read; a stream is read from its position.
    folder : path
        The upload folder (created if missing).
    max_bytes : int, optional
        Refuse files larger than this with `TooLarge` (the web already enforces the limit;
        this covers streams of unknown length).

    Returns
    -------
    Received
        The temporary path, sha256, size, first bytes, whether the whole file is valid UTF-8
        and how many newline bytes it holds.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"tmp-{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, size, newlines, head, last, pending, nul = True, 0, 0, b"", b"", False, False
    if hasattr(source, "read"):
        stream, opened = source, None
    else:
        try:
            stream = opened = open(source, "rb")
        except OSError as exc:
            raise BadRequest(f"cannot read {source}: {exc.strerror}") from None
    try:
        with open(tmp, "wb") as out:
            while True:
                chunk = stream.read(COPY_CHUNK)
                if not chunk:
                    break
                if isinstance(chunk, str):
                    chunk = chunk.encode("utf-8")
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge(f"the file is larger than the {max_bytes / 2**20:g} MB limit")
                digest.update(chunk)
                if len(head) < SNIFF_BYTES:
                    head += chunk[:SNIFF_BYTES - len(head)]
                # ASCII is valid UTF-8 (checked ~20x faster than decoded), unless a multibyte
                # character of the previous chunk is still waiting for its last bytes.
                if utf8 and (pending or not chunk.isascii()):
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError:
                        utf8 = False
                    pending = bool(decoder.getstate()[0])
                newlines += chunk.count(b"\n")
                nul = nul or b"\x00" in chunk
                last = chunk[-1:]
                out.write(chunk)
            if utf8:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8 = False
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if opened is not None:
            opened.close()
    return Received(tmp, digest.hexdigest(), size, head, utf8, newlines, last, nul)


def keep(received: Received) -> Path:
    """Move a received file to its permanent, content-addressed name `<sha256>.csv`."""
    final = received.path.parent / f"{received.sha256}.csv"
    os.replace(received.path, final)
    received.path = final
    return final


def discard(received: Received) -> None:
    """Delete a received file that will not be kept."""
    if received.path.name.startswith("tmp-"):
        received.path.unlink(missing_ok=True)

