"""Reading plain delimited score files with numpy on the file's bytes (no pandas, no string per row).

:func:`arwsv.io.scorefile.read_scores` tries this first. It accepts a file only when every line is plain:
one separator byte between fields (``,``, a tab, or a space or tab for whitespace files), no quote character
(where the separator is ``,`` or a tab), LF or CRLF line ends (mixed is fine; the last line may lack one), no
blank line, no empty field, the same number of fields on every line, no control byte, valid UTF-8, no
byte-order mark, no identifier that pandas would read as missing (``NA``, ``null``, ...), every score a plain
decimal (``-0.712345``; no exponent, at most 15 digits) and every label one of the accepted tokens. On such a
file it returns exactly what the pandas reader returns: the same strings, the same utterance codes in the same
order, the same float64 scores (a decimal of at most 15 digits is exact as an integer, and dividing it by a
power of ten is the one correctly rounded step both readers take) and the same labels. On anything else it
returns None and the pandas reader runs, which reads it or names the line at fault, as before.

Identifiers are factorised without creating a string per row: each field's bytes are loaded as 64-bit words,
hashed, sorted, and every field is checked word by word against the first field of its code (a hash collision
is detected, never trusted). Only the distinct identifiers become Python strings.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["plain_fields", "factorize_spans", "parse_decimals", "decode_spans", "default_speaker_spans",
           "NA_TOKENS"]

# the strings pandas' C parser reads as missing by default (pandas._libs.parsers.STR_NA_VALUES)
NA_TOKENS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                       "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_POW10 = np.array([10.0 ** k for k in range(23)])  # exact doubles up to 1e22
_MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9)
MAX_SCORE_BYTES = 24


class PlainFile:
    """A file's bytes and the spans of the fields of its data lines.

    Attributes
    ----------
    buffer : bytearray
        The file, followed by 8 zero bytes (so a 64-bit load at any offset stays inside).
    size : int
    starts, ends : ndarray of int64, shape (n_lines, width)
        Byte span ``[start, end)`` of every field.
    """

    def __init__(self, buffer: bytearray, size: int, starts: np.ndarray, ends: np.ndarray, ascii: bool = False):
        self.buffer, self.size, self.starts, self.ends, self.ascii = buffer, size, starts, ends, ascii
        self._blob = None
        # every byte offset as the start of a little-endian 64-bit word (an unaligned, overlapping view)
        self.words = np.ndarray(shape=(size,), dtype="<u8", buffer=buffer, offset=0, strides=(1,))
        self.bytes = np.frombuffer(buffer, dtype=np.uint8, count=size)

    def __len__(self) -> int:
        return len(self.starts)

    def load_words(self, starts: np.ndarray, lengths: np.ndarray, n_words: int) -> list:
        """The fields' bytes as ``n_words`` arrays of uint64 (little-endian), zero past each field's end."""
        out = []
        shortest = int(lengths.min()) if len(lengths) else 0
        for k in range(n_words):
            offsets = starts + 8 * k
            if shortest < 8 * (k + 1):  # some fields end inside (or before) this word
                np.minimum(offsets, self.size - 1, out=offsets)
                valid = np.minimum(np.maximum(lengths - 8 * k, 0), 8)
                out.append(self.words[offsets] & _MASKS[valid])
            else:
                out.append(self.words[offsets])
        return out

    @property
    def blob(self) -> bytes:
        """The file as bytes (slices of bytes decode fastest)."""
        if self._blob is None:
            self._blob = bytes(memoryview(self.buffer)[:self.size])
        return self._blob


_BLOCK = 1 << 22  # bytes per pass of the structural scan (its mask stays in cache)


def _marks(a: np.ndarray) -> np.ndarray:
    """Positions of every byte that can matter to the structure: <= 44 (',') or >= 128 (negative as int8):
    line ends, separators, quotes, spaces, control bytes, non-ASCII bytes."""
    signed = a.view(np.int8)
    mask = np.empty(min(len(a), _BLOCK), dtype=bool)
    out = []
    for lo in range(0, len(a), _BLOCK):
        hi = min(len(a), lo + _BLOCK)
        part = mask[: hi - lo]
        np.less_equal(signed[lo:hi], 44, out=part)
        found = np.flatnonzero(part)
        found += lo
        out.append(found)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def plain_fields(path, sep: str, skip_header: bool, width: int) -> PlainFile | None:
    """Split a plain file (see the module docstring) into fields; None when it is not plain."""
    sep_bytes = {",": (44,), "\t": (9,), r"\s+": (32, 9)}.get(sep)
    size = os.path.getsize(path)
    if size == 0 or sep_bytes is None:
        return None
    buffer = bytearray(size + 8)
    with open(path, "rb") as handle:
        if handle.readinto(memoryview(buffer)[:size]) != size:
            return None
    if buffer.startswith(b"\xef\xbb\xbf"):
        return None
    a = np.frombuffer(buffer, dtype=np.uint8, count=size)
    marks = _marks(a)
    kinds = a[marks]
    counts = np.bincount(kinds, minlength=256)
    if counts[:32].sum() != counts[9] + counts[10] + counts[13]:
        return None  # NUL, form feed, ...
    if sep != r"\s+" and counts[34]:
        return None  # quoted fields: the pandas reader
    if counts[128:].any():
        try:
            str(memoryview(buffer)[:size], "utf-8")
        except UnicodeDecodeError:
            return None
    newlines = marks[kinds == 10]
    n_newlines, n_cr = len(newlines), int(counts[13])
    if a[-1] != 10:  # the last line has no line end
        newlines = np.append(newlines, size)
    starts = np.empty(len(newlines), dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines[:-1] + 1
    ends = newlines
    if n_cr:
        crlf = np.zeros(len(newlines), dtype=bool)
        crlf[:n_newlines] = a[np.maximum(newlines[:n_newlines] - 1, 0)] == 13
        if int(crlf.sum()) != n_cr:
            return None  # a lone CR
        ends = ends - crlf
    if (ends <= starts).any():
        return None  # a blank line
    first = 1 if skip_header else 0
    starts, ends = starts[first:], ends[first:]
    n = len(starts)
    if n == 0:
        return None
    if len(sep_bytes) == 1:
        seps = marks[kinds == sep_bytes[0]]
    else:
        seps = marks[(kinds == 32) | (kinds == 9)]
    del marks, kinds
    seps = seps[np.searchsorted(seps, starts[0]):]
    if len(seps) != n * (width - 1):
        return None
    field_starts = np.empty((n, width), dtype=np.int64)
    field_ends = np.empty((n, width), dtype=np.int64)
    field_starts[:, 0] = starts
    field_ends[:, -1] = ends
    if width > 1:
        per_line = seps.reshape(n, width - 1)
        # each line's own separators lie inside it (so, the totals being equal, every line has width - 1)
        if not ((per_line[:, 0] > starts).all() and (per_line[:, -1] < ends - 1).all()):
            return None
        if width > 2 and not (np.diff(per_line, axis=1) > 1).all():
            return None  # an empty field
        field_starts[:, 1:] = per_line + 1
        field_ends[:, :-1] = per_line
    return PlainFile(buffer, size, field_starts, field_ends, ascii=not counts[128:].any())


def _hash(lengths: np.ndarray, words: list) -> np.ndarray:
    h = lengths.astype(np.uint64)
    h *= _MIX1
    scratch = np.empty_like(h)
    for word in words:
        h ^= word
        h *= _MIX2
        np.right_shift(h, np.uint64(29), out=scratch)
        h ^= scratch
    return h


def factorize_spans(file: PlainFile, starts: np.ndarray, ends: np.ndarray):
    """Codes of byte strings in order of first appearance: ``(codes (N,) int64, first (U,) int64)``, where
    ``first[c]`` is the position of code c's first occurrence; None if two strings cannot be told apart."""
    lengths = ends - starts
    n = len(starts)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_words = (int(lengths.max()) + 7) // 8
    words = file.load_words(starts, lengths, n_words)
    h = _hash(lengths, words)
    for attempt in ("packed", "full"):
        if attempt == "packed":
            # the hash's top bits and the position in one word: one sort (no argsort) groups equal
            # strings with their positions in ascending order
            bits = max(1, (n - 1).bit_length())
            if bits > 24:
                continue
            key = np.right_shift(h, np.uint64(bits))
            key <<= np.uint64(bits)
            key |= np.arange(n, dtype=np.uint64)
            key.sort()
            position = (key & np.uint64((1 << bits) - 1)).view(np.int64)
            key >>= np.uint64(bits)
            new = np.empty(n, dtype=bool)
            new[0] = True
            np.not_equal(key[1:], key[:-1], out=new[1:])
            del key
            group = np.cumsum(new)
            group -= 1
            first_of_group = position[new]
            inverse = np.empty(n, dtype=np.int64)
            inverse[position] = group
            del group, position, new
        else:
            _, first_of_group, inverse = np.unique(h, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
        order = np.argsort(first_of_group, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        codes = rank[inverse]
        del inverse
        first = first_of_group[order]
        representative = first[codes]
        same = lengths[representative] == lengths
        for word in words:
            same &= word[representative] == word
        if same.all():
            return codes, first
    return None


def decode_spans(file: PlainFile, starts, ends) -> list:
    """The byte spans as Python strings (UTF-8)."""
    lengths = ends - starts
    if len(starts) and file.ascii and int(lengths.max()) <= 256:
        # one decode of the spans laid side by side (0-padded to a common stride), then str slices
        n_words = (int(lengths.max()) + 7) // 8
        text = np.stack(file.load_words(starts, lengths, n_words), axis=1).tobytes().decode("ascii")
        stride = 8 * n_words
        return [text[o:o + n] for o, n in zip(range(0, stride * len(starts), stride), lengths.tolist())]
    blob = file.blob
    return [blob[s:e].decode() for s, e in zip(starts.tolist(), ends.tolist())]


def _columns(file: PlainFile, starts: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """The fields' first ``width`` bytes as a (width, N) uint8 array (row j: every field's byte j; 0 past
    a field's end), so that each step below works on one contiguous row."""
    n_words = (width + 7) // 8
    chars = np.empty((8 * n_words, len(starts)), dtype=np.uint8)
    for k, word in enumerate(file.load_words(starts, lengths, n_words)):
        chars[8 * k: 8 * k + 8] = word.view(np.uint8).reshape(-1, 8).T
    return chars[:width]


def parse_decimals(file: PlainFile, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """float64 of plain decimals (``[+-]digits[.digits]``, at most 15 digits); None if any field is not one."""
    lengths = ends - starts
    n = len(starts)
    if n == 0:
        return np.zeros(0)
    width = int(lengths.max())
    if width > MAX_SCORE_BYTES:
        return None
    chars = _columns(file, starts, lengths, width)
    mantissa = np.zeros(n, dtype=np.int64)
    n_digits = np.zeros(n, dtype=np.int8)
    n_dots = np.zeros(n, dtype=np.int8)
    after = np.zeros(n, dtype=np.int8)  # digits after the dot
    bad = np.zeros(n, dtype=bool)
    step = np.empty(n, dtype=np.int64)
    for j in range(width):
        c = chars[j]
        d = c - np.uint8(48)  # wraps below '0'
        digit = d < 10
        dot = c == 46
        other = ~(digit | dot | (c == 0))  # 0: past the field's end
        if j == 0:
            other &= (c != 45) & (c != 43)  # a sign, first only
        bad |= other
        # mantissa = 10 mantissa + d where a digit: exact while it has at most 18 digits (checked below)
        np.multiply(mantissa, 10, out=step)
        step += d
        np.copyto(mantissa, step, where=digit)
        n_digits += digit
        after += digit & (n_dots > 0)
        n_dots += dot
    if bad.any() or n_dots.max() > 1 or n_digits.min() < 1 or n_digits.max() > 15:
        return None  # an exponent, 'nan', a space, too many digits, ...
    values = mantissa.astype(np.float64)
    values /= _POW10[after]
    negative = chars[0] == 45
    np.negative(values, out=values, where=negative)
    return values


def default_speaker_spans(file: PlainFile, starts: np.ndarray, ends: np.ndarray):
    """:func:`arwsv.io.scorefile.speaker_rule`'s default on byte spans of utterance ids: of the components
    between ``/`` (a leading ``/`` starts none), the one two levels above the file for ``spk/video/utt`` paths,
    else the first. ``(starts, ends)`` of the speaker ids, or None when an id has an empty component inside
    or at its end (``a//b``, ``a/``): the rule itself then decides."""
    if len(starts) == 0:
        return starts, ends
    lengths = ends - starts
    width = int(lengths.max())
    if width > 1024:
        return None
    chars = _columns(file, starts, lengths, width)
    n = len(starts)
    count = np.zeros(n, dtype=np.int64)
    last = [np.full(n, -1, dtype=np.int64) for _ in range(3)]  # the last, second and third to last '/'
    previous = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    for j in range(width):
        slash = chars[j] == 47
        bad |= slash & previous  # 'a//b'
        count += slash
        np.copyto(last[2], last[1], where=slash)
        np.copyto(last[1], last[0], where=slash)
        last[0][slash] = j
        previous = slash
    bad |= last[0] == lengths - 1  # a trailing '/'
    if bad.any():
        return None
    leading = chars[0] == 47
    parts = count + 1 - leading
    spk_start, spk_end = starts + leading, ends.copy()
    # two or more parts: the first ends at the first '/' after it, the last one's
    two = parts == 2
    spk_end[two] = starts[two] + last[0][two]
    three = parts >= 3  # the part between the third and the second to last '/' (or the start)
    spk_end[three] = starts[three] + last[1][three]
    spk_start[three & (count >= 3)] = (starts + last[2] + 1)[three & (count >= 3)]
    spk_start[three & (count < 3)] = starts[three & (count < 3)]
    return spk_start, spk_end
