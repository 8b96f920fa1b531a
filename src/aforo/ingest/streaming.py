"""Incremental parsers for uploads: fed the body chunk by chunk, never holding the whole file.

Each ``feed(chunk)`` returns the rows completed so far as ``(row, value, raw)``: ``value`` is a
record (a dict) or a ``RecordInvalid`` for that row alone. A damaged file structure that cannot
be resynchronised (a CSV header without the required columns, a JSON array cut in the middle)
raises ``Fatal``: the rows before it stay ingested, the job fails with that error. What the
columns mean is not decided here (``ingest.columns``): the CSV parser hands its header to a
callback, which may refuse the file.

Row numbers are what a spreadsheet shows: CSV counts the header as row 1 (the first data row
is 2); JSON and NDJSON number records from 1.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

from aforo.ingest.canonical import decode
from aforo.ingest.fields import RecordInvalid

MAX_RECORD = 1024 * 1024  # bytes of one CSV record / JSON element / NDJSON line
Row = tuple[int, Any, str | None]


class Fatal(Exception):
    def __init__(self, code: str, message: str, row: int | None = None, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.row = row
        self.field = field


def _raw(b: bytes | str) -> str:
    s = b if isinstance(b, str) else b.decode("utf-8", "backslashreplace")
    return s[:4096]


# -- CSV --------------------------------------------------------------------------------------
class CsvStream:
    """RFC 4180 CSV with a header row: quoted fields may hold commas, doubled quotes and
    newlines; UTF-8 with or without a BOM; LF or CRLF.

    Complete records are found without parsing: a newline ends a record when the number of
    quote characters before it is even (quotes only come in pairs inside quoted fields). The
    prefix up to such a newline is handed to the C ``csv`` reader in one go.
    """

    def __init__(self, on_header: Callable[[list[str]], None] | None = None) -> None:
        self._on_header = on_header
        self._buf = b""
        self._header: list[str] | None = None
        self._row = 0  # rows (records) read so far, header included
        self._first = True

    def feed(self, chunk: bytes) -> list[Row]:
        if self._first and chunk:
            self._first = False
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        buf = self._buf + chunk
        end = buf.rfind(b"\n")
        while end >= 0 and buf.count(b'"', 0, end) % 2:
            end = buf.rfind(b"\n", 0, end)
        if end < 0:
            self._buf = buf
            if len(buf) > MAX_RECORD:
                raise Fatal(
                    "INVALID_CSV",
                    "a record is larger than 1 MiB (an unterminated quoted field?)",
                    self._row + 1,
                )
            return []
        self._buf = buf[end + 1 :]
        return self._parse(buf[: end + 1])

    def close(self) -> list[Row]:
        rest, self._buf = self._buf, b""
        if rest.count(b'"') % 2:
            raise Fatal("INVALID_CSV", "the file ends inside a quoted field", self._row + 1)
        out = self._parse(rest) if rest.strip() else []
        if self._header is None:
            raise Fatal("MISSING_COLUMN", "the file has no header row", 1)
        return out

    def _parse(self, data: bytes) -> list[Row]:
        text = data.decode("utf-8", "surrogateescape")
        if b'"' not in data and data.count(b"\r") == data.count(b"\r\n"):
            # No quoting and only CRLF or LF line ends: what the csv module would make of it is
            # the lines split at commas, several times faster.
            rows: list[list[str]] = [
                line.split(",") for line in text.replace("\r\n", "\n").split("\n") if line
            ]
        else:
            try:
                rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
            except csv.Error:
                return self._parse_slowly(data)
        out: list[Row] = []
        ascii_text = text.isascii()  # then every cell is valid UTF-8: no check per row
        header = self._header or []
        # No header yet, or one column (a blank line would look like a row): never the fast path.
        width = len(header) if len(header) > 1 else -1
        for cells in rows:
            # The usual row, checked inline: as many cells as the header, all ASCII.
            if len(cells) == width and (ascii_text or "".join(cells).isascii()):
                self._row += 1
                out.append((self._row, dict(zip(header, cells, strict=True)), None))
            else:
                out.extend(self._row_of(cells, None))
                header = self._header or []
                width = len(header) if len(header) > 1 else -1
        return out

    def _parse_slowly(self, data: bytes) -> list[Row]:
        """One record at a time, so one malformed record refuses only itself."""
        out: list[Row] = []
        for record in _records(data):
            text = record.decode("utf-8", "surrogateescape")
            try:
                rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
            except csv.Error as e:
                self._row += 1
                out.append((self._row, RecordInvalid("INVALID_CSV", None, str(e)), _raw(record)))
                continue
            for cells in rows:
                out.extend(self._row_of(cells, record))
        return out

    def _row_of(self, cells: list[str], record: bytes | None) -> Iterator[Row]:
        if not cells or cells == [""]:
            return  # blank line
        self._row += 1
        if self._header is None:
            self._set_header(cells)
            return
        header = self._header
        raw = _raw(record) if record is not None else None
        joined = "".join(cells)
        if not joined.isascii():
            try:
                joined.encode("utf-8")
            except UnicodeEncodeError:
                col = next(i for i, c in enumerate(cells) if not _utf8(c))
                name = header[col] if col < len(header) else None
                err = RecordInvalid("INVALID_UTF8", name, "the value is not valid UTF-8")
                yield (
                    self._row,
                    err,
                    raw or _raw(",".join(cells).encode("utf-8", "surrogateescape")),
                )
                return
        if len(cells) != len(header):
            code = "MISSING_COLUMN" if len(cells) < len(header) else "TOO_MANY_COLUMNS"
            missing = header[len(cells)] if len(cells) < len(header) else None
            msg = f"expected {len(header)} columns, got {len(cells)}"
            yield self._row, RecordInvalid(code, missing, msg), raw or _raw(",".join(cells))
            return
        yield self._row, dict(zip(header, cells, strict=True)), raw

    def _set_header(self, cells: list[str]) -> None:
        names = [c.strip() for c in cells]
        for n in names:
            if not _utf8(n):
                raise Fatal("INVALID_UTF8", "the header row is not valid UTF-8", 1)
            if "\x00" in n:
                raise Fatal("INVALID_CSV", "a column name holds a NUL character", 1)
        if len(set(names)) != len(names):
            raise Fatal("INVALID_CSV", "the header names a column twice", 1)
        if self._on_header is not None:
            self._on_header(names)  # which columns feed which fields: may refuse the file
        self._header = names


def _utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _records(data: bytes) -> Iterator[bytes]:
    """Split complete CSV text into records at newlines outside quotes."""
    start = 0
    pos = data.find(b"\n")
    while pos >= 0:
        if data.count(b'"', start, pos) % 2 == 0:
            yield data[start : pos + 1]
            start = pos + 1
        pos = data.find(b"\n", pos + 1)
    if start < len(data):
        yield data[start:]


# -- NDJSON -----------------------------------------------------------------------------------
class NdjsonStream:
    def __init__(self) -> None:
        self._buf = b""
        self._row = 0

    def feed(self, chunk: bytes) -> list[Row]:
        buf = self._buf + chunk
        end = buf.rfind(b"\n")
        if end < 0:
            if len(buf) > MAX_RECORD:
                raise Fatal("TOO_LARGE", "a line is larger than 1 MiB", self._row + 1)
            self._buf = buf
            return []
        self._buf = buf[end + 1 :]
        return [self._line(line) for line in buf[:end].split(b"\n") if line.strip()]

    def close(self) -> list[Row]:
        rest, self._buf = self._buf, b""
        return [self._line(rest)] if rest.strip() else []

    def _line(self, line: bytes) -> Row:
        self._row += 1
        if self._row == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if len(line) > MAX_RECORD:
            return (
                self._row,
                RecordInvalid("TOO_LARGE", None, "the line is larger than 1 MiB"),
                None,
            )
        try:
            return self._row, decode(line), None
        except UnicodeDecodeError:
            return self._row, RecordInvalid("INVALID_UTF8", None, "not valid UTF-8"), _raw(line)
        except (ValueError, RecursionError):
            return self._row, RecordInvalid("INVALID_JSON", None, "not valid JSON"), _raw(line)


# -- JSON array -------------------------------------------------------------------------------
_STRUCT = re.compile(rb'[\[\]{}",\\]')
_WS = b" \t\r\n"


class JsonArrayStream:
    """A top-level JSON array, element by element. A scanner tracks depth and strings to find
    each element's bytes; each element is then decoded on its own, so a bad element refuses
    only itself. Anything wrong at the array level (not an array, cut short) is ``Fatal``."""

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0  # scan position in _buf
        self._start: int | None = None  # where the current element began
        self._depth = 0  # 0: before '[', 1: inside the array, >1: inside an element
        self._in_str = False
        self._escape = False
        self._done = False
        self._row = 0
        self._first = True

    def feed(self, chunk: bytes) -> list[Row]:
        if self._first and chunk:
            self._first = False
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        self._buf += chunk
        out = self._scan()
        # Drop what is consumed; keep the current element's bytes.
        cut = self._start if self._start is not None else self._pos
        self._buf = self._buf[cut:]
        self._pos -= cut
        if self._start is not None:
            self._start = 0
            if len(self._buf) > MAX_RECORD:
                raise Fatal("TOO_LARGE", "an element is larger than 1 MiB", self._row + 1)
        return out

    def close(self) -> list[Row]:
        out = self._scan()
        if not self._done:
            raise Fatal("INVALID_JSON", "the JSON array is not closed (truncated?)", self._row + 1)
        return out

    def _scan(self) -> list[Row]:
        out: list[Row] = []
        buf = self._buf
        i = self._pos
        n = len(buf)
        while i < n:
            if self._done:
                if buf[i:].strip(_WS):
                    raise Fatal("INVALID_JSON", "data after the end of the array", self._row)
                i = n
                break
            if self._depth == 0:
                c = buf[i : i + 1]
                if c in (b" ", b"\t", b"\r", b"\n"):
                    i += 1
                    continue
                if c != b"[":
                    raise Fatal("INVALID_JSON", "a JSON upload must be an array of events", 1)
                self._depth = 1
                i += 1
                continue
            if self._in_str:
                m = _STRUCT.search(buf, i) if not self._escape else None
                if self._escape:
                    self._escape = False
                    i += 1
                    continue
                if m is None:
                    i = n
                    break
                ch = m.group()
                i = m.end()
                if ch == b"\\":
                    self._escape = True
                elif ch == b'"':
                    self._in_str = False
                continue
            m = _STRUCT.search(buf, i)
            if self._depth == 1 and self._start is None:
                # Between elements: skip whitespace, commas, and find the end or a new element.
                while i < n and buf[i] in _WS:
                    i += 1
                if i >= n:
                    break
                ch1 = buf[i : i + 1]
                if ch1 == b"]":
                    self._done = True
                    i += 1
                    continue
                if ch1 == b",":
                    i += 1
                    continue
                self._start = i
                m = _STRUCT.search(buf, i)
            if m is None:
                i = n
                break
            ch = m.group()
            pos = m.start()
            if ch == b'"':
                self._in_str = True
                i = pos + 1
                continue
            if ch in (b"{", b"["):
                self._depth += 1
                i = pos + 1
                continue
            if ch in (b"}", b"]") and self._depth > 1:
                self._depth -= 1
                i = pos + 1
                continue
            # ',' or ']' at depth 1 ends the current element.
            if self._depth == 1:
                assert self._start is not None
                out.append(self._element(buf[self._start : pos]))
                self._start = None
                if ch == b"]":
                    self._done = True
                i = pos + 1
                continue
            i = pos + 1
        self._pos = i
        return out

    def _element(self, data: bytes) -> Row:
        self._row += 1
        try:
            return self._row, decode(data), None
        except UnicodeDecodeError:
            return self._row, RecordInvalid("INVALID_UTF8", None, "not valid UTF-8"), _raw(data)
        except (ValueError, RecursionError):
            return self._row, RecordInvalid("INVALID_JSON", None, "not valid JSON"), _raw(data)
