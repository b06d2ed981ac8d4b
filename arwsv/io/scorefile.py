"""Reading verification score files in the formats speaker-verification toolkits write.

Accepted formats (``--format auto`` detects them from the first lines):

============  =================================================  ===========================
name          columns                                            written by
============  =================================================  ===========================
speechbrain   ``enrol test label score`` (no header)             SpeechBrain ``scores.txt``
wespeaker     ``enrol test score target|nontarget`` (no header)  WeSpeaker ``score.py``
voxceleb      ``label enrol test score`` (no header)             a VoxCeleb trial list with
                                                                 a score column appended
kaldi         ``enrol test score`` (no header) plus ``--trials``  Kaldi-style scoring; trials
              as ``enrol test target|nontarget`` or VoxCeleb's   are joined on (enrol, test)
              ``label enrol test``. A one-column file of scores
              is joined to ``--trials`` line by line.
csv           any CSV/TSV/whitespace table with a header naming  bt4vt, pandas, spreadsheets
              the enrol, test, label and score columns
============  =================================================  ===========================

Labels may be ``1/0``, ``1/-1``, ``true/false`` or ``target/nontarget`` (any case).
Column roles can be forced with ``columns={"score": "llr", "label": 4, ...}`` (a header name or a
1-based column number). Files are read in chunks, so memory stays at O(N) numbers, not strings.

Speakers are derived from utterance ids (see :func:`speaker_rule`) or read from columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arwsv.errors import InputError
from arwsv.io.tables import LineMap, TextTable, first_undecodable_line, is_number, norm_name

# pandas is imported where a file needs it: a plain file is read by arwsv.io.fastread with numpy alone

__all__ = ["ScoreTable", "read_scores", "read_trials", "speaker_rule", "FORMATS", "parse_labels"]

FORMATS = ("auto", "speechbrain", "wespeaker", "voxceleb", "kaldi", "csv")
ROLES = ("enrol", "test", "label", "score")
CHUNK_ROWS = 1_000_000

_LABELS = {
    "1": True, "1.0": True, "+1": True, "true": True, "target": True,
    "0": False, "0.0": False, "-1": False, "-1.0": False, "false": False,
    "nontarget": False, "non-target": False,
}
# header names (lower case, letters and digits only) that name each role
_ROLE_NAMES = {
    "enrol": {"enrol", "enroll", "enrolment", "enrollment", "enrolid", "enrollid", "enrolutt", "enrollutt",
              "enrolpath", "enrollpath", "enrolfile", "enrollfile", "enrolmentpath", "enrollmentpath",
              "enrolmentid", "enrollmentid", "enrolmentutt", "enrollmentutt", "ref", "reffile", "refid", "reference",
              "model", "modelid", "utt1", "utterance1", "file1", "wav1", "audio1", "left"},
    "test": {"test", "testid", "testutt", "testpath", "testfile", "com", "comfile", "probe", "probeid",
             "segment", "segmentid", "utt2", "utterance2", "file2", "wav2", "audio2", "right", "comparison"},
    "label": {"label", "lab", "target", "istarget", "trial", "trialtype", "key", "y", "truth", "groundtruth",
              "same", "samespeaker"},
    "score": {"score", "scores", "sc", "llr", "similarity", "sim", "cosine", "cos", "logit", "prediction", "pred"},
}
_LAYOUTS = {  # headerless formats: role -> 0-based column
    "speechbrain": {"enrol": 0, "test": 1, "label": 2, "score": 3},
    "wespeaker": {"enrol": 0, "test": 1, "score": 2, "label": 3},
    "voxceleb": {"label": 0, "enrol": 1, "test": 2, "score": 3},
    "kaldi": {"enrol": 0, "test": 1, "score": 2},
}


@dataclass
class ScoreTable:
    """Scored trials with speakers as integer codes.

    Attributes
    ----------
    scores : ndarray of float64, shape (N,)
    is_target : ndarray of bool, shape (N,)
    enrol_spk, test_spk : ndarray of int32, shape (N,)
        Codes into ``speakers``.
    speakers : ndarray of str, shape (S,)
    path, format : str
        Where the trials came from and the detected (or forced) format.
    enrol_utt, test_utt : ndarray of int32, shape (N,), optional
        Codes into ``utterances`` (str, shape (U,)): which trial is which, to match two systems'
        score files of the same trial list (``arwsv compare``).
    """

    scores: np.ndarray
    is_target: np.ndarray
    enrol_spk: np.ndarray
    test_spk: np.ndarray
    speakers: np.ndarray
    path: str
    format: str
    enrol_utt: np.ndarray | None = None
    test_utt: np.ndarray | None = None
    utterances: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)


def speaker_rule(regex: str | None = None):
    """Function mapping an utterance id to its speaker id.

    Default: for ``spk/video/utt.wav`` paths (3 or more components) the component two levels
    above the file, so relative VoxCeleb paths and absolute paths into a VoxCeleb tree both
    give ``idXXXXX``; for shorter ids the first ``/``-separated component. With ``regex``: the
    first capture group of the first match (the whole match if the pattern has no group).
    """
    if regex is None:
        def rule(utt: str) -> str | None:
            parts = [p for p in utt.split("/") if p]
            return parts[-3] if len(parts) >= 3 else (parts[0] if parts else None)
        return rule
    try:
        pattern = re.compile(regex)
    except re.error as err:
        raise InputError(f"--spk-regex {regex!r} is not a valid regular expression: {err}") from None

    def rule(utt: str) -> str | None:
        m = pattern.search(utt)
        if m is None:
            return None
        return m.group(1) if pattern.groups else m.group(0)
    return rule


def _detect_headerless(sniffed: TextTable) -> str:
    kinds = sniffed.column_kinds()
    n = len(kinds)
    where = (sniffed.path, sniffed.line_numbers[0])
    if n == 4:
        if kinds[3] == "label" and kinds[2] in ("number", "label") and \
                not any(is_number(r[3]) for r in sniffed.data_rows if len(r) > 3):
            return "wespeaker"  # column 4 holds words (target/nontarget): column 3 is the score
        if kinds[2] == "label" and kinds[3] in ("number", "label") and kinds[0] == kinds[1] == "text":
            return "speechbrain"
        if kinds[0] == "label" and kinds[3] in ("number", "label") and kinds[1] == kinds[2] == "text":
            return "voxceleb"
    if n == 3 and kinds[2] in ("number", "label") and kinds[0] == kinds[1] == "text":
        return "kaldi"
    if n == 3 and kinds[0] == "label":
        raise InputError("looks like a VoxCeleb trial list (label enrol test) without scores; give the scores "
                         "file as SCORES and this file as --trials", *where)
    if n == 1 and kinds[0] in ("number", "label"):
        return "kaldi"
    raise InputError(f"cannot tell the score-file format from {n} columns of kinds {', '.join(kinds)}; "
                     "expected speechbrain (enrol test label score), wespeaker (enrol test score target), "
                     "voxceleb (label enrol test score), kaldi (enrol test score, with --trials) or a header; "
                     "use --format or --enrol-col/--test-col/--label-col/--score-col", *where)


def _resolve_columns(sniffed: TextTable, fmt: str, overrides: dict) -> dict:
    """role -> 0-based column index."""
    where = (sniffed.path, sniffed.line_numbers[0])
    roles = {}
    if fmt == "csv":
        if not sniffed.has_header:
            raise InputError("--format csv needs a header line naming the columns", *where)
        names = [norm_name(h) for h in sniffed.header]
        for role in ROLES:
            hits = [i for i, name in enumerate(names) if name in _ROLE_NAMES[role]]
            if len(hits) == 1:
                roles[role] = hits[0]
            elif len(hits) > 1 and not overrides.get(role):
                both = " and ".join(repr(sniffed.header[i]) for i in hits)
                raise InputError(f"columns {both} could each be the {role}; choose one with --{role}-col", *where)
    elif fmt != "auto":
        roles = dict(_LAYOUTS[fmt])
    for role, spec in overrides.items():
        if spec is not None:
            roles[role] = sniffed.column(spec, f"--{role.replace('_', '-')}-col")
    return roles


def parse_labels(values: "pd.Series", path, first_line_of_row) -> np.ndarray:
    """Map label tokens to bool; fail on the first token outside the accepted set."""
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise InputError("missing label", path, first_line_of_row(row))
    lut = np.empty(len(uniques), dtype=bool)
    for i, token in enumerate(uniques):
        key = str(token).strip().lower()
        if key not in _LABELS:
            row = int(np.flatnonzero(codes == i)[0])
            raise InputError(f"label {token!r} is not one of 1/0, 1/-1, true/false, target/nontarget",
                             path, first_line_of_row(row))
        lut[i] = _LABELS[key]
    return lut[codes]


def _find_bad_number(path: Path, sniffed: TextTable, column: int, role: str):
    """Slow path after pandas refused a number: locate the first offending line."""
    skip = sniffed.has_header
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if skip:
                skip = False
                continue
            fields = sniffed.split(line.rstrip("\r\n"))
            if column >= len(fields):
                raise InputError(f"missing {role} (expected at least {column + 1} columns)", path, number)
            if not is_number(fields[column]):
                raise InputError(f"{role} {fields[column]!r} is not a number", path, number)
    raise InputError(f"cannot parse the {role} column", path)


def _chunks(sniffed: TextTable, roles: dict, text_roles: list, float_roles: list):
    """Yield (first_row, DataFrame with columns named by role) over the whole file."""
    import pandas as pd

    used = {roles[r]: r for r in text_roles + float_roles}
    # every column is read (no usecols), so that a row with an extra field is an error, not ignored
    dtype = {i: str for i in range(max(sniffed.width, max(used) + 1))} | {roles[r]: np.float64 for r in float_roles}
    path = sniffed.path
    try:
        reader = pd.read_csv(path, sep=sniffed.sep, header=None, skiprows=sniffed.line_numbers[0]
                             if sniffed.has_header else None, dtype=dtype, quoting=sniffed.quoting,
                             skipinitialspace=sniffed.needs_strip, chunksize=CHUNK_ROWS, engine="c",
                             skip_blank_lines=True, encoding="utf-8")
        first = 0
        for chunk in reader:
            missing = [index for index in used if index not in chunk.columns]
            if missing:
                raise InputError(f"expected at least {max(missing) + 1} columns, found {chunk.shape[1]}", path,
                                 sniffed.line_numbers[0])
            chunk = chunk[list(used)].rename(columns=used)
            if sniffed.needs_strip:  # 'a, b' style files: spaces around fields are not part of ids
                for role in text_roles:
                    chunk[role] = chunk[role].str.strip()
            yield first, chunk
            first += len(chunk)
    except pd.errors.EmptyDataError:
        raise InputError("no trials after the header", path) from None
    except UnicodeDecodeError:  # (a ValueError too, so caught first)
        raise InputError("not valid UTF-8 text (binary or another encoding?)", path,
                         first_undecodable_line(path)) from None
    except ValueError as err:
        text = str(err)
        match = re.search(r"line (\d+)", text)
        if "Expected" in text and match:
            counts = re.search(r"Expected (\d+) fields.*saw (\d+)", text)
            detail = f"expected {counts.group(1)}, found {counts.group(2)}" if counts else text.strip()
            raise InputError(f"wrong number of columns: {detail}", path, int(match.group(1))) from None
        for role in float_roles:
            _find_bad_number(path, sniffed, roles[role], role)
        raise InputError(f"cannot parse: {text.splitlines()[0]}", path) from None


class _Codes:
    """Incremental string -> int32 code dictionary (shared by enrol and test columns)."""

    def __init__(self):
        self._index: dict[str, int] = {}
        self._names = None  # the strings in code order, when one plain file made them all (dict on demand)
        # (PlainFile, starts, ends): where in a file each code's string lies, when one plain file made them all
        self.spans = None

    @property
    def index(self) -> dict:
        if self._names is not None:
            self._index, self._names = dict(zip(self._names, range(len(self._names)))), None
        return self._index

    @index.setter
    def index(self, value: dict) -> None:
        self._index, self._names = value, None

    def __len__(self) -> int:
        return len(self._names) if self._names is not None else len(self._index)

    def set_names(self, names: list) -> None:
        """The codes 0.. of a fresh dictionary are these (distinct) strings."""
        self._index, self._names = {}, names

    def encode(self, values: np.ndarray) -> np.ndarray:
        import pandas as pd

        self.spans = None
        codes, uniques = pd.factorize(values)
        index = self.index
        lut = np.fromiter((index.setdefault(u, len(index)) for u in uniques), np.int32, len(uniques))
        return lut[codes]

    def strings(self) -> np.ndarray:
        return np.array(self._names if self._names is not None else list(self._index), dtype=object)


def _chunk_order(n: int, chunk: int) -> np.ndarray:
    """Positions in ``concat(enrol, test)`` (2n) in the order the chunked reader codes them: each chunk's
    enrol values, then its test values."""
    parts = []
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        parts += [np.arange(lo, hi), np.arange(n + lo, n + hi)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _fast_labels(file, starts, ends):
    """Bool labels of a plain file's label fields, or None (an unknown or missing token: pandas names its line)."""
    from arwsv.io.fastread import NA_TOKENS, decode_spans, factorize_spans

    def verdict(token: str):
        key = token.strip().lower()
        return None if token in NA_TOKENS or key not in _LABELS else _LABELS[key]

    lengths = ends - starts
    if len(lengths) and (lengths == 1).all():  # '0' / '1'
        byte = file.bytes[starts]
        lut = np.zeros(256, dtype=bool)
        for value in np.flatnonzero(np.bincount(byte, minlength=256)).tolist():
            label = verdict(chr(value))
            if label is None:
                return None
            lut[value] = label
        return lut[byte]
    result = factorize_spans(file, starts, ends)
    if result is None:
        return None
    codes, first = result
    lut = []
    for token in decode_spans(file, starts[first], ends[first]):
        label = verdict(token)
        if label is None:
            return None
        lut.append(label)
    return np.array(lut, dtype=bool)[codes]


def _fast_rows(sniffed: TextTable, roles: dict, utt_codes: _Codes):
    """:func:`_read_rows` for a plain file (:mod:`arwsv.io.fastread`): the same codes, scores and labels,
    read with numpy; None when the file is not plain (then pandas reads it, and names any bad line)."""
    from arwsv.io.fastread import NA_TOKENS, decode_spans, factorize_spans, parse_decimals, plain_fields

    if sniffed.needs_strip or not roles or max(roles.values()) >= sniffed.width:
        return None
    file = plain_fields(sniffed.path, sniffed.sep, sniffed.has_header, sniffed.width)
    if file is None:
        return None
    n = len(file)
    out = {"enrol": None, "test": None, "score": None, "label": None}
    if "enrol" in roles:
        e, t = roles["enrol"], roles["test"]
        order = _chunk_order(n, CHUNK_ROWS)
        starts = np.concatenate([file.starts[:, e], file.starts[:, t]])[order]
        ends = np.concatenate([file.ends[:, e], file.ends[:, t]])[order]
        result = factorize_spans(file, starts, ends)
        if result is None:
            return None
        codes, first = result
        names = decode_spans(file, starts[first], ends[first])
        if not NA_TOKENS.isdisjoint(names):
            return None  # pandas reads it as missing: its reader names the line
        if not len(utt_codes):
            utt_codes.set_names(names)
            utt_codes.spans = (file, starts[first], ends[first])
            lut = np.arange(len(names), dtype=np.int32)
        else:
            lut = np.fromiter((utt_codes.index.setdefault(u, len(utt_codes.index)) for u in names), np.int32,
                              len(names))
            utt_codes.spans = None
        both = np.empty(2 * n, dtype=np.int32)
        both[order] = lut[codes]
        out["enrol"], out["test"] = both[:n], both[n:]
    if "score" in roles:
        out["score"] = parse_decimals(file, file.starts[:, roles["score"]], file.ends[:, roles["score"]])
        if out["score"] is None:
            return None
    if "label" in roles:
        out["label"] = _fast_labels(file, file.starts[:, roles["label"]], file.ends[:, roles["label"]])
        if out["label"] is None:
            return None
    return out, LineMap(sniffed.path, sniffed.has_header, sep=sniffed.sep)


def _read_rows(sniffed: TextTable, roles: dict, utt_codes: _Codes, extra_text: dict | None = None):
    """Read every row: utterance codes, scores (if any), labels (if any), extra text columns."""
    if not extra_text:
        index_before = dict(utt_codes.index) if len(utt_codes) else {}
        fast = _fast_rows(sniffed, roles, utt_codes)
        if fast is not None:
            return fast
        utt_codes.index = index_before  # (a file found not plain after its codes were made)
    text_roles = [r for r in ("enrol", "test") if r in roles] + (["label"] if "label" in roles else [])
    text_roles += list(extra_text or {})
    all_roles = dict(roles) | dict(extra_text or {})
    float_roles = ["score"] if "score" in roles else []
    lines = LineMap(sniffed.path, sniffed.has_header, sep=sniffed.sep)
    out = {"enrol": [], "test": [], "score": [], "label": []} | {k: [] for k in extra_text or {}}
    n_rows = 0
    for first, chunk in _chunks(sniffed, all_roles, text_roles, float_roles):
        def line_of(row, first=first):
            return lines(first + row)
        for role in [r for r in text_roles if r != "label"]:
            missing = chunk[role].isna().to_numpy()
            if missing.any():
                raise InputError(f"missing {role} column value", sniffed.path, line_of(int(np.flatnonzero(missing)[0])))
        if "enrol" in roles:
            both = utt_codes.encode(np.concatenate([chunk["enrol"].to_numpy(object), chunk["test"].to_numpy(object)]))
            out["enrol"].append(both[: len(chunk)])
            out["test"].append(both[len(chunk):])
        for role in extra_text or {}:
            out[role].append(chunk[role].to_numpy(object))
        if float_roles:
            score = chunk["score"].to_numpy(np.float64)
            bad = ~np.isfinite(score)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raw = "missing" if np.isnan(score[row]) else repr(float(score[row]))
                raise InputError(f"score is {raw} ({int(bad.sum())} non-finite scores in this file); "
                                 "every trial needs a finite score", sniffed.path, line_of(row))
            out["score"].append(score)
        if "label" in roles:
            out["label"].append(parse_labels(chunk["label"], sniffed.path, line_of))
        n_rows += len(chunk)
    if n_rows == 0:
        raise InputError("no trials after the header", sniffed.path)
    return {k: (np.concatenate(v) if v else None) for k, v in out.items()}, lines


def _read_trial_rows(trials_path, utt_codes: _Codes):
    """Rows of a trial list in VoxCeleb (``label enrol test``) or Kaldi (``enrol test target``) format."""
    trials = TextTable(trials_path, label_tokens=_LABELS, prefer_whitespace=True)
    trials.check_widths()
    kinds = trials.column_kinds()
    if len(kinds) == 3 and kinds[0] == "label":
        t_roles = {"label": 0, "enrol": 1, "test": 2}
    elif len(kinds) == 3 and kinds[2] == "label":
        t_roles = {"enrol": 0, "test": 1, "label": 2}
    else:
        raise InputError("a trial list must be 'enrol test target|nontarget' (Kaldi) or 'label enrol test' "
                         f"(VoxCeleb); found {len(kinds)} columns", trials_path, trials.line_numbers[0])
    return _read_rows(trials, t_roles, utt_codes)


def read_trials(path) -> "pd.DataFrame":
    """A trial list (VoxCeleb or Kaldi format) as a DataFrame ``label (0/1), enrol, test``."""
    import pandas as pd

    codes = _Codes()
    rows, _ = _read_trial_rows(Path(path), codes)
    utterances = codes.strings()
    return pd.DataFrame({"label": rows["label"].astype(np.int8), "enrol": utterances[rows["enrol"]],
                         "test": utterances[rows["test"]]})


def _join_trials(scores_file: TextTable, fmt_roles: dict, trials_path: Path, utt_codes: _Codes):
    """Kaldi style: labels from a trials file, scores from SCORES, joined on (enrol, test)."""
    t_rows, t_lines = _read_trial_rows(trials_path, utt_codes)
    if "enrol" not in fmt_roles:  # one score per line, in the order of the trials
        s_rows, _ = _read_rows(scores_file, fmt_roles, utt_codes)
        if len(s_rows["score"]) != len(t_rows["label"]):
            raise InputError(f"has {len(s_rows['score'])} scores but --trials {trials_path} has "
                             f"{len(t_rows['label'])} trials; a one-column score file must match line by line",
                             scores_file.path)
        return t_rows["enrol"], t_rows["test"], s_rows["score"], t_rows["label"]
    s_rows, s_lines = _read_rows(scores_file, fmt_roles, utt_codes)
    s_keys = (s_rows["enrol"].astype(np.int64) << 32) | s_rows["test"].astype(np.int64)
    t_keys = (t_rows["enrol"].astype(np.int64) << 32) | t_rows["test"].astype(np.int64)
    order = np.argsort(s_keys, kind="stable")
    sorted_keys = s_keys[order]
    dup = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
    if len(dup):
        first, second = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise InputError(f"duplicate score for the same (enrol, test) pair (first on line {s_lines(first)})",
                         scores_file.path, s_lines(second))
    pos = np.minimum(np.searchsorted(sorted_keys, t_keys), len(sorted_keys) - 1)
    found = sorted_keys[pos] == t_keys
    if not found.all():
        row = int(np.flatnonzero(~found)[0])
        raise InputError(f"{int((~found).sum())} trials have no score in {scores_file.path} (first shown)",
                         trials_path, t_lines(row))
    return t_rows["enrol"], t_rows["test"], s_rows["score"][order[pos]], t_rows["label"]


def read_scores(path, *, fmt: str = "auto", trials=None, columns: dict | None = None,
                spk_regex: str | None = None, spk_columns: tuple | None = None) -> ScoreTable:
    """Read a score file (see module docstring) into a :class:`ScoreTable`.

    Parameters
    ----------
    path : path-like
        The score file.
    fmt : one of ``FORMATS``
    trials : path-like, optional
        Trial list with labels, for ``kaldi`` score files.
    columns : dict role -> name or 1-based number, optional
        Forced column roles (``enrol``, ``test``, ``label``, ``score``).
    spk_regex : str, optional
        Regular expression extracting the speaker from an utterance id (see :func:`speaker_rule`).
    spk_columns : (enrol_col, test_col), optional
        Read speaker ids from these columns instead (header names or 1-based numbers).
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    sniffed = TextTable(path, label_tokens=_LABELS, prefer_whitespace=True)
    if sniffed.has_header:
        sniffed.check_header()
    sniffed.check_widths()
    overrides = {k: v for k, v in (columns or {}).items() if v is not None}
    if fmt == "auto":
        fmt = "csv" if sniffed.has_header else (None if len(overrides) == 4 else _detect_headerless(sniffed))
        fmt = fmt or "columns"
    roles = _resolve_columns(sniffed, "auto" if fmt == "columns" else fmt, overrides)
    if fmt == "kaldi" and len(sniffed.rows[0]) == 1:
        roles = {"score": 0}
    needed = (["enrol", "test"] if roles.keys() != {"score"} else []) + ["score"] + ([] if fmt == "kaldi" else ["label"])
    missing = [r for r in needed if r not in roles]
    if missing:
        cols = f" (columns: {', '.join(sniffed.header)})" if sniffed.header else ""
        raise InputError(f"cannot find the {' and '.join(missing)} column{'s' if len(missing) > 1 else ''}{cols}; "
                         f"name {'them' if len(missing) > 1 else 'it'} with "
                         + " ".join(f"--{r}-col" for r in missing), path, sniffed.line_numbers[0])
    if len(set(roles.values())) < len(roles):
        raise InputError(f"two roles share one column: {roles}", path)
    utt_codes = _Codes()
    spk_cols = {}
    if spk_columns is not None:
        spk_cols = _resolve_columns(sniffed, "auto", {"enrol_spk": spk_columns[0], "test_spk": spk_columns[1]})
    if fmt == "kaldi":
        if trials is None:
            raise InputError("kaldi-style scores (enrol test score) have no labels: pass the trial list with --trials",
                             path, sniffed.line_numbers[0])
        if spk_cols:
            raise InputError("--enrol-spk-col/--test-spk-col cannot be used with --trials; use --spk-regex")
        enrol, test, scores, labels = _join_trials(sniffed, roles, Path(trials), utt_codes)
        extra = {}
    else:
        if trials is not None:
            raise InputError(f"already has labels ({fmt} format); drop --trials", path)
        rows, lines = _read_rows(sniffed, roles, utt_codes, spk_cols)
        enrol, test, scores, labels = rows["enrol"], rows["test"], rows["score"], rows["label"]
        extra = {k: rows[k] for k in spk_cols}
    if extra:
        spk = _Codes()
        both = spk.encode(np.concatenate([extra["enrol_spk"], extra["test_spk"]]).astype(str))
        enrol_spk, test_spk, speakers = both[: len(enrol)], both[len(enrol):], spk.strings()
    else:
        enrol_spk, test_spk, speakers = _speakers_from_utterances(utt_codes, enrol, test, spk_regex, path)
    return ScoreTable(scores=scores, is_target=labels, enrol_spk=enrol_spk, test_spk=test_spk,
                      speakers=speakers, path=str(path), format=fmt, enrol_utt=enrol, test_utt=test,
                      utterances=utt_codes.strings())


def _speakers_from_utterances(utt_codes: _Codes, enrol, test, spk_regex, path):
    if spk_regex is None and utt_codes.spans is not None and len(utt_codes.spans[1]) == len(utt_codes):
        from arwsv.io.fastread import decode_spans, default_speaker_spans, factorize_spans

        file, starts, ends = utt_codes.spans
        spans = default_speaker_spans(file, starts, ends)
        found = None if spans is None else factorize_spans(file, *spans)
        if found is not None:  # the default rule on the bytes: the same speakers, in the same order
            codes, first = found
            spk_codes = codes.astype(np.int32)
            speakers = decode_spans(file, spans[0][first], spans[1][first])
            return spk_codes[enrol], spk_codes[test], np.asarray(speakers, dtype=object)
    import pandas as pd

    utterances = utt_codes.strings()
    rule = speaker_rule(spk_regex)
    names = [rule(u) for u in utterances]
    bad = [u for u, n in zip(utterances, names) if not n]
    if bad:
        raise InputError(f"cannot find a speaker id in utterance {bad[0]!r} ({len(bad)} such utterances); "
                         "set --spk-regex or --enrol-spk-col/--test-spk-col", path)
    spk_codes, speakers = pd.factorize(np.asarray(names, dtype=object))
    spk_codes = spk_codes.astype(np.int32)
    return spk_codes[enrol], spk_codes[test], np.asarray(speakers, dtype=object)
