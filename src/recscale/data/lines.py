"""Text inputs, plain or gzip, read in whole lines; a broken gzip stream becomes a reported problem.

Shared by the Criteo reader (newline-aligned chunks for its fast path) and the table reader
(a raw stream for pyarrow's CSV reader).
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

from recscale.data.badlines import Problem
from recscale.data.sources import InputFile


def is_gzip(path: Path) -> bool:
    """True if the file starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


class LineReader(io.RawIOBase):
    """A plain or gzip file read in whole lines, where a broken gzip stream ends the file cleanly.

    :meth:`read_lines` returns data ending at a line break, except the last piece of a file whose
    last line has no newline (then :attr:`unterminated` is True). If the gzip stream is truncated or
    corrupt, the partial line before the break is dropped, reading stops, and :attr:`problem` says
    what happened and where; so callers see only complete lines and decide what to do. It is also a
    readable raw stream (for pyarrow's CSV reader), with the same guarantees.

    Attributes:
        lines: Lines returned so far (a final line without newline included).
        gzip: The file is gzip-compressed (detected from its first bytes, not its name).
        unterminated: The file ends with a line that has no newline (returned by the last read).
        problem: A ``truncated_gzip`` / ``corrupt_gzip`` :class:`Problem`, or None.
    """

    _PIECE = 1 << 20  # compressed bytes read at a time
    _STEP = 1 << 16  # compressed bytes inflated at a time

    def __init__(self, file: InputFile):
        super().__init__()
        self.file = file
        self.gzip = is_gzip(file.path)
        self._raw = open(file.path, "rb")
        self._z = zlib.decompressobj(wbits=31) if self.gzip else None
        self._fed = False  # the current gzip member has started but not ended
        self._error: tuple[str, str] | None = None  # (kind, what) of a broken gzip stream
        self._tail = b""  # bytes after the last newline returned so far
        self._done = False
        self._pending = memoryview(b"")  # for readinto
        self.lines = 0
        self.unterminated = False
        self.problem: Problem | None = None

    def readable(self) -> bool:
        return True

    def _decompress(self, data: bytes) -> bytes:
        """Inflate in small steps, so the lines before a corrupt spot survive zlib's error.

        gzip members may be concatenated (as ``cat a.gz b.gz`` makes); each gets a fresh inflater.
        """
        out, pos = [], 0
        while pos < len(data):
            piece = data[pos : pos + self._STEP]
            pos += len(piece)
            self._fed = True
            try:
                out.append(self._z.decompress(piece))
            except zlib.error as e:
                self._error = ("corrupt_gzip", f"gzip stream is corrupt ({e})")
                break
            if self._z.eof:
                data, pos = (self._z.unused_data + data[pos:]).lstrip(b"\x00"), 0  # zero padding is allowed
                self._z = zlib.decompressobj(wbits=31)
                self._fed = False
        return b"".join(out)

    def _append(self, ba: bytearray, size: int) -> int:
        """Append about ``size`` more bytes of content to ``ba``; 0 at the end or where the stream broke.

        A plain file is read straight into ``ba`` (one copy); gzip is inflated piece by piece.
        """
        if not self.gzip:
            old = len(ba)
            ba.extend(bytes(size))
            with memoryview(ba) as mv:
                n = self._raw.readinto(mv[old:])
            del ba[old + n :]
            return n
        have = 0
        while have < size and self._error is None:
            raw = self._raw.read(self._PIECE)
            if not raw:
                if self._fed:
                    self._error = ("truncated_gzip", "gzip stream ends early (truncated file?)")
                break
            data = self._decompress(raw)
            ba += data
            have += len(data)
        return have

    def read_lines(self, size: int) -> bytearray:
        """At least ``size`` bytes of whole lines (fewer at the end, more if a line is long); empty at the end.

        Returns a fresh bytearray the caller may keep (and extend); it is never reused here.
        """
        if self._done:
            return bytearray()
        buf = bytearray(self._tail)
        self._tail = b""
        while True:
            start = len(buf)
            if not self._append(buf, max(size - start, 1 << 16)):
                self._done = True
                if self._error is not None:
                    cut = buf.rfind(b"\n") + 1
                    lost = " and the partial line before it" if cut < len(buf) else ""
                    del buf[cut:]
                    lines = self.lines + buf.count(b"\n")
                    kind, what = self._error
                    self.problem = Problem(
                        kind, self.file.name, lines + 1,
                        f"{what} after {lines:,} complete lines; the rest of the file{lost} is lost",
                    )
                elif buf and not buf.endswith(b"\n"):
                    self.unterminated = True
                    self.lines += 1
                break
            if len(buf) >= size and buf.find(b"\n", start) >= 0:
                cut = buf.rfind(b"\n") + 1
                self._tail = bytes(buf[cut:])
                del buf[cut:]  # truncating a bytearray's end copies nothing
                break
        self.lines += buf.count(b"\n")
        return buf

    def readinto(self, b) -> int:
        if not len(self._pending):
            self._pending = memoryview(self.read_lines(len(b)))
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self._raw.closed:
            self._raw.close()
        super().close()
