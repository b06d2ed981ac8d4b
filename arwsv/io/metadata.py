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
import pandas as pd

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
    table : DataFrame, index = speaker id (str), one column per attribute (str, "" = unknown)
    path : str
        Where it was read from (for messages).
    """

    def __init__(self, table: pd.DataFrame, path: str):
        self.table, self.path = table, path

    @property
    def columns(self) -> list[str]:
        return list(self.table.columns)

    def find(self, attribute: str) -> str | None:
        """Column holding ``attribute`` (matched by normalised name or alias), or None."""
        wanted = {norm_name(a) for a in self._aliases(attribute)}
        for column in self.table.columns:
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
        series = self.table[column]
        if self._aliases(attribute) == _ALIASES["gender"]:
            lowered = series.str.lower()
            series = lowered.map(_GENDERS).fillna(lowered)
        return series.reindex(pd.Index(speakers)).fillna("").to_numpy(object)

    def has(self, speakers) -> np.ndarray:
        """Boolean mask (shape (S,)): which speakers have a metadata row."""
        return pd.Index(speakers).isin(self.table.index)


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
    try:
        table = pd.read_csv(sniffed.path, sep=sniffed.sep, header=None, skiprows=sniffed.line_numbers[0],
                            dtype=str, keep_default_na=False, skip_blank_lines=True, encoding=encoding,
                            engine="c")
    except ValueError as err:
        match = re.search(r"line (\d+)", str(err))
        detail = str(err).strip().splitlines()[-1]
        raise InputError(f"cannot read the metadata table: {detail}", sniffed.path,
                         int(match.group(1)) if match else None) from None
    if table.shape[1] != len(header):
        raise InputError(f"header has {len(header)} columns but the rows have {table.shape[1]}",
                         sniffed.path, sniffed.line_numbers[0])
    table.columns = header
    table = table.apply(lambda col: col.str.strip())
    ids = table.iloc[:, id_index]
    if (ids == "").any():
        row = int(np.flatnonzero((ids == "").to_numpy())[0])
        raise InputError(f"empty speaker id in column {header[id_index]!r}", sniffed.path,
                         LineMap(sniffed.path, True, encoding, sep=sniffed.sep)(row))
    dup = ids.duplicated(keep="first").to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((ids == ids.iloc[row]).to_numpy())[0])
        lines = LineMap(sniffed.path, True, encoding, sep=sniffed.sep)
        raise InputError(f"speaker id {ids.iloc[row]!r} appears twice (first on line {lines(first)})",
                         sniffed.path, lines(row))
    table = table.set_index(ids).drop(columns=header[id_index])
    return SpeakerMetadata(table, str(sniffed.path))
