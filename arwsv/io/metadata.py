"""Speaker metadata: who is which gender and nationality.

Reads, unchanged:

- VoxCeleb1 ``vox1_meta.csv``: tab-separated, header ``VoxCeleb1 ID, VGGFace1 ID, Gender,
  Nationality, Set``;
- VoxCeleb2 ``vox2_meta.csv``: comma-separated, header names padded with spaces
  (``VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set ``), gender only;
- any CSV/TSV with a header and a speaker-id column.

Column names match case- and spacing-insensitively (``nationality`` finds ``Nationality ``);
``sex`` is accepted for gender and ``country`` for nationality. The id column is ``id_column`` if
given, else the first column named like ``id``, ``speaker``, ``spk_id`` or ``VoxCeleb1 ID``, else
the first column. Gender values ``m``/``male``/``man`` become ``male`` and ``f``/``female``/``woman``
become ``female``; other values are kept (lower-cased). Empty values mean "unknown".
"""

from __future__ import annotations

import re

import numpy as np

from arwsv.errors import InputError
from arwsv.io.tables import LineMap, TextTable, is_number, norm_name

__all__ = ["SpeakerMetadata", "read_metadata"]

_ALIASES = {"gender": ("gender", "sex"), "nationality": ("nationality", "country")}
_ID_NAMES = {"id", "speaker", "speakerid", "spk", "spkid", "spkr", "voxcelebid"}
_GENDERS = {"m": "male", "male": "male", "man": "male", "f": "female", "female": "female", "woman": "female"}


class SpeakerMetadata:
    """Speaker attributes indexed by speaker id.

    Parameters
    ----------
    table : DataFrame, optional
        Index = speaker id (str), one column per attribute (str, "" = unknown).
    path : str
        Where it was read from (for messages).
    ids, columns : list of str, dict name -> list of str, optional
        The same table without pandas: the speaker ids, and each attribute's values aligned with them
        (None = unknown); ``id_name`` names the id column.
    """

    def __init__(self, table=None, path: str = "", *, ids=None, columns=None, id_name=None):
        if table is not None:
            ids = [str(i) for i in table.index]
            columns = {c: [v if isinstance(v, str) else None for v in table[c].tolist()] for c in table.columns}
            id_name = table.index.name
        self.path, self._ids, self._columns, self._id_name = path, list(ids), dict(columns), id_name
        self._row = {speaker: i for i, speaker in enumerate(self._ids)}
        self._table = table

    @property
    def table(self):
        """The metadata as a DataFrame (index: speaker id), built on first use."""
        if self._table is None:
            import pandas as pd

            self._table = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in self._columns.items()})
            self._table.index = pd.Index(self._ids, name=self._id_name, dtype=object)
        return self._table

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def find(self, attribute: str) -> str | None:
        """Column holding ``attribute`` (matched by normalised name or alias), or None."""
        wanted = {norm_name(a) for a in self._aliases(attribute)}
        for column in self._columns:
            if norm_name(column) in wanted:
                return column
        return None

    @staticmethod
    def _aliases(attribute: str) -> tuple:
        for names in _ALIASES.values():
            if norm_name(attribute) in names:
                return names
        return (attribute,)

    def values(self, attribute: str, speakers) -> np.ndarray:
        """Attribute value of each speaker (shape (S,), object); ``""`` where unknown or absent.

        Raises InputError when the metadata has no such column.
        """
        column = self.find(attribute)
        if column is None:
            raise InputError(f"no column for {attribute!r} (columns: {', '.join(self.columns)})", self.path)
        values = self._columns[column]
        if self._aliases(attribute) == _ALIASES["gender"]:
            values = [None if v is None else _GENDERS.get(v.lower(), v.lower()) for v in values]
        row = self._row
        out = np.empty(len(speakers), dtype=object)
        for i, speaker in enumerate(speakers):
            j = row.get(speaker)
            value = None if j is None else values[j]
            out[i] = "" if value is None else value
        return out

    def has(self, speakers) -> np.ndarray:
        """Boolean mask (shape (S,)): which speakers have a metadata row."""
        row = self._row
        return np.fromiter((speaker in row for speaker in speakers), dtype=bool, count=len(speakers))


def _plain_rows(sniffed: TextTable, encoding: str) -> list | None:
    """The data rows' fields (not stripped) of a plain table: no quote, every line's fields separated by one
    ',' or tab, no control character, no lone CR, blank lines skipped; None otherwise (pandas reads it)."""
    if sniffed.sep not in (",", "\t"):
        return None
    with open(sniffed.path, encoding=encoding, newline="") as handle:
        text = handle.read()
    if '"' in text:
        return None
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    if any(c < " " and c not in "\t\n" for c in set(text)):
        return None
    lines = text.split("\n")
    rows, width = [], len(sniffed.header)
    for line in lines[sniffed.line_numbers[0]:]:
        if not line:
            continue  # blank lines are skipped (as pandas skips them)
        if not line.strip():
            return None
        fields = line.split(sniffed.sep)
        if len(fields) != width:
            return None
        rows.append(fields)
    return rows


def _pandas_rows(sniffed: TextTable, encoding: str) -> list:
    """The data rows' fields as pandas' C parser reads them (a cell it leaves empty is None)."""
    import pandas as pd

    try:
        table = pd.read_csv(sniffed.path, sep=sniffed.sep, header=None, skiprows=sniffed.line_numbers[0],
                            dtype=str, keep_default_na=False, skip_blank_lines=True, encoding=encoding,
                            engine="c")
    except ValueError as err:
        match = re.search(r"line (\d+)", str(err))
        detail = str(err).strip().splitlines()[-1]
        raise InputError(f"cannot read the metadata table: {detail}", sniffed.path,
                         int(match.group(1)) if match else None) from None
    if table.shape[1] != len(sniffed.header):
        raise InputError(f"header has {len(sniffed.header)} columns but the rows have {table.shape[1]}",
                         sniffed.path, sniffed.line_numbers[0])
    return [[v if isinstance(v, str) else None for v in row] for row in table.itertuples(index=False)]


def read_metadata(path, *, id_column: str | None = None) -> SpeakerMetadata:
    """Read a speaker metadata file (see module docstring)."""
    encoding = "utf-8"
    try:
        sniffed = TextTable(path, encoding=encoding)
    except InputError as err:
        if "UTF-8" not in err.message:  # any other problem is not an encoding one
            raise
        encoding = "latin-1"  # older metadata dumps; every byte decodes, names may look odd
        sniffed = TextTable(path, encoding=encoding)
    if any(is_number(field) for field in sniffed.rows[0]):
        raise InputError("speaker metadata needs a header line naming its columns (e.g. 'id,gender,nationality')",
                         sniffed.path, sniffed.line_numbers[0])
    sniffed.has_header, sniffed.header = True, [f.strip() for f in sniffed.rows[0]]  # the first line always is
    sniffed.check_header()
    sniffed.check_widths()
    header = sniffed.header
    if id_column is not None:
        id_index = sniffed.column(id_column, "--meta-id-col")
    else:
        hits = [i for i, h in enumerate(header)
                if norm_name(h) in _ID_NAMES or re.fullmatch(r"voxceleb\d*id", norm_name(h))]
        id_index = hits[0] if hits else 0
    rows = _plain_rows(sniffed, encoding)
    if rows is None:
        rows = _pandas_rows(sniffed, encoding)
    rows = [[None if v is None else v.strip() for v in row] for row in rows]
    ids = [row[id_index] for row in rows]
    empty = [i for i, speaker in enumerate(ids) if speaker == ""]
    if empty:
        raise InputError(f"empty speaker id in column {header[id_index]!r}", sniffed.path,
                         LineMap(sniffed.path, True, encoding, sep=sniffed.sep)(empty[0]))
    seen: dict = {}
    for row, speaker in enumerate(ids):
        if speaker in seen:
            lines = LineMap(sniffed.path, True, encoding, sep=sniffed.sep)
            raise InputError(f"speaker id {speaker!r} appears twice (first on line {lines(seen[speaker])})",
                             sniffed.path, lines(row))
        seen[speaker] = row
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header) if i != id_index}
    return SpeakerMetadata(path=str(sniffed.path), ids=ids, columns=columns, id_name=header[id_index])
