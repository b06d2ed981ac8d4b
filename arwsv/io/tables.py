"""Sniffing delimited text tables and locating rows in them.

Score files, trial lists and speaker metadata arrive as tab-, comma- or whitespace-separated
text, with or without a header. :class:`TextTable` reads only the first lines (cheap) to decide
the separator and whether there is a header; :class:`LineMap` turns the row numbers pandas
reports back into 1-based file lines, for error messages.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from arwsv.errors import InputError

__all__ = ["TextTable", "LineMap", "first_undecodable_line", "is_number", "norm_name"]


def norm_name(name: str) -> str:
    """Column name reduced to lower-case letters and digits: ``'VoxCeleb1 ID '`` -> ``'voxceleb1id'``."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def is_number(token: str) -> bool:
    """True when ``token`` is a number as pandas reads one (``float()`` without ``_`` separators)."""
    if "_" in token:
        return False
    try:
        float(token)
    except ValueError:
        return False
    return True


def first_undecodable_line(path) -> int | None:
    """1-based line of the first byte sequence that is not UTF-8 (None if all decode)."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


class TextTable:
    """What the first (at most ``max_rows``) non-blank lines of a text table say about it.

    Attributes
    ----------
    sep : str
        ``"\\t"`` if the first line has a tab, else ``","`` if it has a comma, else ``r"\\s+"``.
        With ``prefer_whitespace`` (score files, whose fields hold no spaces), a tab file whose
        fields contain spaces (``paste``-joined columns) is read as whitespace-separated.
    needs_strip : bool
        Fields carry surrounding spaces (``a, b``): readers strip them.
    rows : list of list of str
        The sniffed lines split into fields.
    line_numbers : list of int
        1-based file line of each sniffed row.
    has_header : bool
        True when the first line has no number (every data row of a score file has one) and its
        fields are not of the same kinds (text / label token) as the following lines'.
    header : list of str or None
    """

    def __init__(self, path, max_rows: int = 200, encoding: str = "utf-8", label_tokens=frozenset(),
                 prefer_whitespace: bool = False):
        path = Path(path)
        self.path, self.encoding, self.label_tokens = path, encoding, frozenset(label_tokens)
        if not path.exists():
            raise InputError("no such file", path)
        if path.is_dir():
            raise InputError("is a directory, expected a file", path)
        rows, lines = [], []
        try:
            with open(path, encoding=encoding, newline="") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        lines.append((number, line.rstrip("\r\n")))
                        if len(lines) >= max_rows:
                            break
        except UnicodeDecodeError:
            line = first_undecodable_line(path) if encoding == "utf-8" else None
            raise InputError("not valid UTF-8 text (binary or another encoding?)", path, line) from None
        except OSError as err:
            raise InputError(f"cannot read: {err.strerror}", path) from None
        if not lines:
            raise InputError("file is empty", path)
        first = lines[0][1]
        self.sep = "\t" if "\t" in first else "," if "," in first else r"\s+"
        raw = [self.split(line, strip=False) for _, line in lines]
        if self.sep == "\t" and prefer_whitespace and any(" " in f.strip() for r in raw for f in r):
            self.sep = r"\s+"
            raw = [self.split(line) for _, line in lines]
        self.needs_strip = self.sep != r"\s+" and any(f != f.strip() for r in raw for f in r)
        rows = [[f.strip() for f in r] for r in raw]
        self.rows = rows
        self.line_numbers = [n for n, _ in lines]
        self.has_header = self._first_row_is_header()
        self.header = [f.strip() for f in rows[0]] if self.has_header else None

    def _kind(self, value: str) -> str:
        return "label" if value.lower() in self.label_tokens else "number" if is_number(value) else "text"

    def _first_row_is_header(self) -> bool:
        first = self.rows[0]
        if any(is_number(field) for field in first):
            return False  # every data row of a score file has a number
        if len(self.rows) == 1:
            return True
        # no number (e.g. a Kaldi trial list 'enrol test nontarget'): data if it looks like the rest
        return [self._kind(v) for v in first] != self._kinds(self.rows[1:])

    def _kinds(self, rows) -> list[str]:
        """Kind of each column by majority, so one bad value does not hide the format
        (the full read then names its line). Width = the most common number of fields."""
        widths = [len(r) for r in rows]
        width = max(set(widths), key=widths.count) if rows else 0
        kinds = []
        for c in range(width):
            seen = [self._kind(r[c]) for r in rows if c < len(r)]
            counts = {k: seen.count(k) for k in ("number", "label", "text")}
            kinds.append(max(counts, key=counts.get))  # ties go to number, then label
        return kinds

    def split(self, line: str, strip: bool = True) -> list[str]:
        if self.sep == r"\s+":
            return line.split()
        fields = next(csv.reader([line], delimiter=self.sep))
        return [f.strip() for f in fields] if strip else fields

    @property
    def quoting(self) -> int:
        """csv quoting for pandas: quotes mean nothing in whitespace-separated score files."""
        return csv.QUOTE_NONE if self.sep == r"\s+" else csv.QUOTE_MINIMAL

    def check_widths(self) -> None:
        """Fail on the first sniffed row whose number of fields differs from :attr:`width`."""
        width = self.width
        start = 1 if self.has_header else 0
        for number, row in zip(self.line_numbers[start:], self.rows[start:]):
            if len(row) != width:
                what = "the header's" if self.has_header else "most lines'"
                raise InputError(f"wrong number of columns: {len(row)}, expected {width} ({what})", self.path,
                                 number)

    @property
    def data_rows(self) -> list[list[str]]:
        return self.rows[1:] if self.has_header else self.rows

    @property
    def width(self) -> int:
        """Number of columns: the header's, else the most common among the sniffed rows."""
        if self.has_header:
            return len(self.header)
        widths = [len(r) for r in self.rows]
        return max(set(widths), key=widths.count)

    def column_kinds(self) -> list[str]:
        """Per data column: 'label' (label tokens), 'number', or 'text', by majority."""
        return self._kinds(self.data_rows)

    def check_header(self) -> None:
        """Fail on two columns whose names differ only in case or spacing."""
        seen = {}
        for i, name in enumerate(self.header):
            key = " ".join(name.lower().split())
            if key in seen:
                raise InputError(f"duplicate column name {name!r} (columns {seen[key] + 1} and {i + 1})",
                                 self.path, self.line_numbers[0])
            seen[key] = i

    def column(self, spec, flag: str) -> int:
        """0-based index of a column given by header name (any case) or 1-based number."""
        where = (self.path, self.line_numbers[0])
        spec = str(spec).strip()
        if spec.isdigit():
            index, width = int(spec) - 1, len(self.rows[0])
            if not 0 <= index < width:
                raise InputError(f"{flag} {spec}: the file has {width} columns", *where)
            return index
        if not self.has_header:
            raise InputError(f"{flag} {spec!r}: the file has no header; give a column number", *where)
        matches = [i for i, h in enumerate(self.header) if norm_name(h) == norm_name(spec)]
        if not matches:
            raise InputError(f"{flag} {spec!r}: no such column (columns: {', '.join(self.header)})", *where)
        return matches[0]


class LineMap:
    """Maps a 0-based data row (what pandas counts) to its 1-based line in the file.

    Only used on the error path: it re-reads the file, counting non-blank lines.
    """

    def __init__(self, path, has_header: bool, encoding: str = "utf-8", sep: str = r"\s+"):
        self.path, self.skip, self.encoding = Path(path), 1 if has_header else 0, encoding
        # pandas skips empty lines; with a whitespace separator also lines of spaces and tabs
        self.blank = (lambda line: not line.strip()) if sep == r"\s+" else (lambda line: not line.rstrip("\r\n"))

    def __call__(self, row: int) -> int | None:
        wanted = row + self.skip
        seen = -1
        with open(self.path, encoding=self.encoding, errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not self.blank(line):
                    seen += 1
                    if seen == wanted:
                        return number
        return None


