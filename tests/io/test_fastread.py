"""The numpy reader of plain score files (arwsv.io.fastread) reads exactly what the pandas reader reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import arwsv.io.scorefile as scorefile
from arwsv.io import fastread
from arwsv.io.metadata import read_metadata
from arwsv.io.scorefile import read_scores, speaker_rule

FIELDS = ("scores", "is_target", "enrol_spk", "test_spk", "speakers", "enrol_utt", "test_utt", "utterances")


def _both(monkeypatch, path, **kwargs):
    """(fast, pandas) readings of one file; the first must have taken the numpy path."""
    taken = []
    original = scorefile._fast_rows

    def spy(*args):
        out = original(*args)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(scorefile, "_fast_rows", spy)
    fast = read_scores(path, **kwargs)
    monkeypatch.setattr(scorefile, "_fast_rows", lambda *args: None)
    slow = read_scores(path, **kwargs)
    monkeypatch.setattr(scorefile, "_fast_rows", original)
    return fast, slow, taken


def _same(fast, slow):
    assert fast.format == slow.format
    for name in FIELDS:
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.dtype == b.dtype, name
        if a.dtype.kind == "f":
            assert np.array_equal(a.view(np.int64), b.view(np.int64)), name  # to the last bit
        else:
            assert np.array_equal(a, b), name


def _rows(simulated, n=None):
    trials, _ = simulated
    return trials if n is None else trials.iloc[:n]


def _write(path, text: str):
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("layout", ["real", "speechbrain", "wespeaker", "voxceleb", "tab", "lf", "nofinal", "mixed",
                                    "words", "bool", "pm1", "extra_column", "absolute_paths", "utf8", "short_ids"])
def test_the_numpy_reader_reads_what_pandas_reads(tmp_path, simulated, monkeypatch, layout):
    t = _rows(simulated)
    e, s, lab, sc = t["enrol"].tolist(), t["test"].tolist(), t["label"].tolist(), t["score"].tolist()
    sc = [f"{v:.6f}" for v in sc]
    end = "\r\n"
    if layout == "real":
        text = "ref_file,com_file,sc,lab\r\n" + "".join(f"{a},{b},{x},{y}\r\n" for a, b, x, y in zip(e, s, sc, lab))
    elif layout == "speechbrain":
        text = "".join(f"{a} {b} {y} {x}\n" for a, b, x, y in zip(e, s, sc, lab))
    elif layout == "wespeaker":
        text = "".join(f"{a} {b} {x} {'target' if y else 'nontarget'}\n" for a, b, x, y in zip(e, s, sc, lab))
    elif layout == "voxceleb":
        text = "".join(f"{y} {a} {b} {x}\n" for a, b, x, y in zip(e, s, sc, lab))
    elif layout == "tab":
        text = "enrol\ttest\tscore\tlabel\n" + "".join(f"{a}\t{b}\t{x}\t{y}\n" for a, b, x, y in zip(e, s, sc, lab))
    elif layout in ("lf", "nofinal", "mixed"):
        ends = {"lf": ["\n"] * len(e), "nofinal": ["\r\n"] * (len(e) - 1) + [""],
                "mixed": ["\r\n" if i % 3 else "\n" for i in range(len(e))]}[layout]
        text = "ref_file,com_file,sc,lab\r\n" + "".join(f"{a},{b},{x},{y}{z}" for a, b, x, y, z in zip(e, s, sc, lab, ends))
    elif layout in ("words", "bool", "pm1"):
        yes, no = {"words": ("Target", "nontarget"), "bool": ("True", "false"), "pm1": ("1", "-1")}[layout]
        text = "enrol,test,score,label" + end + "".join(f"{a},{b},{x},{yes if y else no}{end}" for a, b, x, y in
                                                         zip(e, s, sc, lab))
    elif layout == "extra_column":
        text = "system,ref_file,com_file,sc,lab\n" + "".join(f"ecapa,{a},{b},{x},{y}\n" for a, b, x, y in
                                                            zip(e, s, sc, lab))
    elif layout == "absolute_paths":
        text = "".join(f"/data/vox1/wav/{a} /data/vox1/wav/{b} {y} {x}\n" for a, b, x, y in zip(e, s, sc, lab))
    elif layout == "utf8":
        text = "".join(f"{a.replace('/', 'é/', 1)} {b.replace('/', 'é/', 1)} {y} {x}\n" for a, b, x, y in
                       zip(e, s, sc, lab))
    else:  # ids without '/': the first component is the speaker
        text = "".join(f"{a.split('/')[0]}-{i} {b.split('/')[0]}-{i} {y} {x}\n" for i, (a, b, x, y) in
                       enumerate(zip(e, s, sc, lab)))
    fast, slow, taken = _both(monkeypatch, _write(tmp_path / "scores.txt", text))
    assert taken == [True]
    _same(fast, slow)


def test_chunked_codes_keep_their_order(tmp_path, simulated, monkeypatch):
    # the pandas reader numbers utterances chunk by chunk (enrol column, then test column): so does numpy's
    monkeypatch.setattr(scorefile, "CHUNK_ROWS", 777)
    t = _rows(simulated)
    text = "".join(f"{a} {b} {y} {x}\n" for a, b, x, y in t[["enrol", "test", "score", "label"]].itertuples(index=False))
    fast, slow, taken = _both(monkeypatch, _write(tmp_path / "s.txt", text))
    assert taken == [True]
    _same(fast, slow)


def test_kaldi_scores_with_a_trial_list(tmp_path, simulated, monkeypatch):
    t = _rows(simulated)
    trials = _write(tmp_path / "trials", "".join(f"{y} {a} {b}\n" for a, b, y in t[["enrol", "test", "label"]]
                                                  .itertuples(index=False)))
    shuffled = t.sample(frac=1.0, random_state=1)
    scores = _write(tmp_path / "scores", "".join(f"{a} {b} {x}\n" for a, b, x in shuffled[["enrol", "test", "score"]]
                                                  .itertuples(index=False)))
    fast, slow, taken = _both(monkeypatch, scores, trials=trials)
    assert taken == [True, True]
    _same(fast, slow)


@pytest.mark.parametrize("case", ["quotes", "spaces_after_commas", "bom", "exponent", "long_digits", "blank_line",
                                  "nan_score", "na_id", "lone_cr", "spk_regex"])
def test_other_files_go_to_pandas_and_read_the_same(tmp_path, simulated, monkeypatch, case):
    t = _rows(simulated, 400)
    rows = list(t[["enrol", "test", "score", "label"]].itertuples(index=False))
    lines = [f"{a},{b},{x:.6f},{y}" for a, b, x, y in rows]
    kwargs = {}
    if case == "quotes":
        lines = [f'"{a}",{b},{x:.6f},{y}' for a, b, x, y in rows]
    elif case == "spaces_after_commas":
        lines = [f"{a}, {b}, {x:.6f}, {y}" for a, b, x, y in rows]
    elif case == "exponent":
        lines = [f"{a},{b},{x:.4e},{y}" for a, b, x, y in rows]
    elif case == "long_digits":  # more than 15 digits: pandas' own converter reads them
        lines = [f"{a},{b},{x + 1 / 3:.17g},{y}" for a, b, x, y in rows]
    elif case == "blank_line":
        lines.insert(200, "")
    elif case == "spk_regex":
        kwargs["spk_regex"] = r"^(id\d+)/"
    text = "enrol,test,score,label\n" + "\n".join(lines) + "\n"
    if case == "bom":
        text = "\ufeff" + text
    if case == "lone_cr":
        text = text.replace("\n", "\r")
    path = _write(tmp_path / "s.csv", text)
    if case in ("nan_score", "na_id"):  # the pandas reader refuses them, naming the line, as before
        data = path.read_text().splitlines()
        data[300] = data[300].replace(data[300].split(",")[2], "nan") if case == "nan_score" else "NA," + \
            data[300].split(",", 1)[1]
        path.write_text("\n".join(data) + "\n")
        with pytest.raises(scorefile.InputError) as err:
            read_scores(path)
        assert err.value.line == 301
        return
    fast, slow, taken = _both(monkeypatch, path, **kwargs)
    if case != "spk_regex":
        assert taken == [False]
    _same(fast, slow)


def test_decimals_are_the_floats_pandas_reads():
    rng = np.random.default_rng(0)
    tokens = []
    for _ in range(20000):
        digits = int(rng.integers(1, 16))
        dot = int(rng.integers(0, digits + 1))
        body = "".join(rng.choice(list("0123456789"), digits))
        token = body[:dot] + "." + body[dot:] if rng.random() < 0.9 else body
        tokens.append(rng.choice(["", "-", "+"], p=[0.6, 0.3, 0.1]) + token)
    tokens += ["0", "-0", "-0.000000", "1.", ".5", "-.5", "+0.5", "123456789012345", "0.00000000000001",
               "999999999999999", "-99999999999999.9"]
    text = "\n".join(tokens) + "\n"
    expected = pd.read_csv(__import__("io").StringIO(text), header=None, dtype=np.float64, engine="c")[0].to_numpy()
    data = bytearray(text.encode() + bytes(8))
    lines = np.flatnonzero(np.frombuffer(data, np.uint8)[: len(text)] == 10)
    starts = np.concatenate(([0], lines[:-1] + 1))
    plain = fastread.PlainFile(data, len(text), starts[:, None], lines[:, None])
    got = fastread.parse_decimals(plain, starts, lines)
    assert np.array_equal(got.view(np.int64), expected.view(np.int64))
    for bad in ("1e5", "nan", "1.2.3", "-", ".", "1234567890123456", "1 ", "0x1"):
        data = bytearray(bad.encode() + bytes(8))
        one = fastread.PlainFile(data, len(bad), np.array([[0]]), np.array([[len(bad)]]))
        assert fastread.parse_decimals(one, np.array([0]), np.array([len(bad)])) is None, bad


def test_missing_tokens_are_pandas_own():
    from pandas._libs.parsers import STR_NA_VALUES

    assert fastread.NA_TOKENS == frozenset(STR_NA_VALUES)


@pytest.mark.parametrize("utt", ["id1/v/1.wav", "/abs/vox/id1/v/1.wav", "id1/1.wav", "id1", "a/b/c/d/e", "x/y/z",
                                 "spk-01/utt", "/id1/v/1.wav", "/id1/1.wav", "/id1", "/a/b"])
def test_speaker_of_a_path_as_the_rule_says(tmp_path, utt):
    data = bytearray(utt.encode() + bytes(8))
    plain = fastread.PlainFile(data, len(utt), np.array([[0]]), np.array([[len(utt)]]))
    spans = fastread.default_speaker_spans(plain, np.array([0]), np.array([len(utt)]))
    assert utt[spans[0][0]:spans[1][0]] == speaker_rule()(utt)
    for odd in ("/id1/v/1.wav/", "id1//v/1.wav", "x/"):  # empty components inside or at the end: the rule itself
        data = bytearray(odd.encode() + bytes(8))
        plain = fastread.PlainFile(data, len(odd), np.array([[0]]), np.array([[len(odd)]]))
        assert fastread.default_speaker_spans(plain, np.array([0]), np.array([len(odd)])) is None


@pytest.mark.parametrize("text", [
    "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\nid10001\tA\tm\tIreland\tdev\r\nid10002\tB\tF\tUSA\ttest\n",
    "VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \nid00012 ,n1 ,m ,dev \nid00015 ,n2 ,f ,dev \n\nid00017 ,n3 ,woman ,test",
    'id,gender,nationality\ns1,"m",USA\ns2,f,"Côte d\'Ivoire"\n',  # quotes: pandas
    "id gender nationality\ns1 m USA\ns2 f UK\n",  # whitespace: pandas
    "id,gender,nationality\ns1,m\ns2,f,UK\n",  # a short row: pandas
])
def test_metadata_reads_the_same_with_or_without_pandas(tmp_path, monkeypatch, text):
    import arwsv.io.metadata as metadata

    path = tmp_path / "meta.csv"
    path.write_text(text)
    try:
        plain = read_metadata(path)
    except scorefile.InputError as err:
        plain = err
    monkeypatch.setattr(metadata, "_plain_rows", lambda *args: None)
    try:
        pandas_only = read_metadata(path)
    except scorefile.InputError as err:
        assert str(plain) == str(err)
        return
    speakers = np.array(["s1", "s2", "id10001", "id10002", "id00012", "id00017", "nobody"], dtype=object)
    assert plain.columns == pandas_only.columns
    for column in plain.columns:
        assert list(plain.values(column, speakers)) == list(pandas_only.values(column, speakers))
    assert list(plain.has(speakers)) == list(pandas_only.has(speakers))
    assert plain.table.equals(pandas_only.table)
