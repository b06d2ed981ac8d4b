"""Every accepted score-file format reads to the same trials; speaker-id rules."""

from __future__ import annotations

import numpy as np
import pytest

from arwsv.errors import InputError
from arwsv.evaluation.metrics import eer
from arwsv.io.scorefile import read_scores
from conftest import speaker_of

LABELS = {
    "01": ("1", "0"), "pm1": ("1", "-1"), "bool": ("True", "false"), "words": ("target", "nontarget"),
}


def _labels(trials, style):
    yes, no = LABELS[style]
    return np.where(trials["label"] == 1, yes, no)


def _write(path, frame, sep=" ", header=False):
    frame.to_csv(path, sep=sep, header=header, index=False)
    return path


def _check(table, trials):
    assert table.format
    np.testing.assert_allclose(table.scores, trials["score"].to_numpy())
    np.testing.assert_array_equal(table.is_target, trials["label"].to_numpy(bool))
    np.testing.assert_array_equal(table.speakers[table.enrol_spk], speaker_of(trials["enrol"]))
    np.testing.assert_array_equal(table.speakers[table.test_spk], speaker_of(trials["test"]))
    assert eer(table.scores, table.is_target) == pytest.approx(eer(trials["score"], trials["label"]))


@pytest.mark.parametrize("style", list(LABELS))
def test_speechbrain(tmp_path, simulated, style):
    trials, _ = simulated
    frame = trials.assign(label=_labels(trials, style))[["enrol", "test", "label", "score"]]
    table = read_scores(_write(tmp_path / "scores.txt", frame))
    assert table.format == "speechbrain"
    _check(table, trials)


def test_wespeaker(tmp_path, simulated):
    trials, _ = simulated
    frame = trials.assign(label=_labels(trials, "words"))[["enrol", "test", "score", "label"]]
    table = read_scores(_write(tmp_path / "vox1_O_cleaned.kaldi.score", frame))
    assert table.format == "wespeaker"
    _check(table, trials)


def test_voxceleb_trial_list_with_score_column(tmp_path, simulated):
    trials, _ = simulated
    table = read_scores(_write(tmp_path / "scored_veri_test2.txt", trials[["label", "enrol", "test", "score"]]))
    assert table.format == "voxceleb"
    _check(table, trials)


@pytest.mark.parametrize("trial_style", ["kaldi", "voxceleb"])
def test_kaldi_scores_joined_with_trials(tmp_path, simulated, trial_style):
    trials, _ = simulated
    if trial_style == "kaldi":
        key = trials.assign(label=_labels(trials, "words"))[["enrol", "test", "label"]]
    else:
        key = trials[["label", "enrol", "test"]]
    trial_file = _write(tmp_path / "trials", key)
    shuffled = trials.sample(frac=1.0, random_state=0)[["enrol", "test", "score"]]  # order must not matter
    table = read_scores(_write(tmp_path / "scores", shuffled), trials=trial_file)
    assert table.format == "kaldi"
    _check(table, trials)


def test_one_score_per_line_with_trials(tmp_path, simulated):
    trials, _ = simulated
    trial_file = _write(tmp_path / "veri_test2.txt", trials[["label", "enrol", "test"]])
    table = read_scores(_write(tmp_path / "scores", trials[["score"]]), trials=trial_file)
    _check(table, trials)


@pytest.mark.parametrize("sep,names", [(",", ["ref_file", "com_file", "sc", "lab"]),
                                       ("\t", ["Enrol", "Test", "Score", "Label"]),
                                       (",", ["Enrollment Path", "Test Path", "LLR", "is_target"])])
def test_csv_with_header(tmp_path, simulated, sep, names):
    trials, _ = simulated
    frame = trials[["enrol", "test", "score", "label"]].copy()
    frame.columns = names
    frame.insert(0, "system", "ecapa")  # an extra column is ignored
    table = read_scores(_write(tmp_path / "scores.csv", frame, sep=sep, header=True))
    assert table.format == "csv"
    _check(table, trials)


def test_column_overrides(tmp_path, simulated):
    trials, _ = simulated
    frame = trials[["score", "label", "test", "enrol"]].copy()
    frame.columns = ["s", "l", "b", "a"]
    path = _write(tmp_path / "odd.csv", frame, sep=",", header=True)
    with pytest.raises(InputError, match="cannot find the enrol and test and score and label columns"):
        read_scores(path)
    table = read_scores(path, columns={"enrol": "a", "test": "b", "label": "l", "score": "s"})
    _check(table, trials)
    headerless = _write(tmp_path / "odd.txt", frame)
    table = read_scores(headerless, fmt="auto", columns={"enrol": 4, "test": 3, "label": 2, "score": 1})
    _check(table, trials)


def test_speaker_rules(tmp_path, simulated):
    trials, _ = simulated
    absolute = trials.assign(enrol="/data/voxceleb1/wav/" + trials["enrol"],
                             test="/data/voxceleb1/wav/" + trials["test"])
    path = _write(tmp_path / "abs.txt", absolute[["enrol", "test", "label", "score"]])
    _check(read_scores(path), trials)  # spk/video/utt under any prefix
    kaldi_ids = trials.assign(enrol=trials["enrol"].str.replace("/", "-"), test=trials["test"].str.replace("/", "-"))
    path = _write(tmp_path / "ids.txt", kaldi_ids[["enrol", "test", "label", "score"]])
    _check(read_scores(path, spk_regex=r"^(id\d+)-"), trials)
    with_spk = trials.assign(s1=speaker_of(trials["enrol"]), s2=speaker_of(trials["test"]),
                             enrol=np.arange(len(trials)).astype(str) + "a", test=np.arange(len(trials)).astype(str))
    path = _write(tmp_path / "spk.csv", with_spk[["enrol", "test", "label", "score", "s1", "s2"]], sep=",", header=True)
    table = read_scores(path, spk_columns=("s1", "s2"))
    np.testing.assert_array_equal(table.speakers[table.enrol_spk], speaker_of(trials["enrol"]))


def test_large_file_is_read_in_chunks(tmp_path, simulated, monkeypatch):
    import arwsv.io.scorefile as scorefile

    monkeypatch.setattr(scorefile, "CHUNK_ROWS", 777)  # many chunks, codes must stay consistent
    trials, _ = simulated
    _check(read_scores(_write(tmp_path / "s.txt", trials[["enrol", "test", "label", "score"]])), trials)


def test_spaces_after_commas(tmp_path, simulated):
    trials, _ = simulated
    path = tmp_path / "s.csv"
    with open(path, "w") as handle:
        handle.write("enrol, test, label, score\n")
        for e, t, l, s in trials[["enrol", "test", "label", "score"]].itertuples(index=False):
            handle.write(f"{e}, {t}, {l}, {s}\n")
    _check(read_scores(path), trials)


def test_paste_joined_trial_list_and_scores(tmp_path, simulated):
    trials, _ = simulated
    path = tmp_path / "pasted.txt"  # `paste veri_test2.txt scores > pasted.txt`
    path.write_text("".join(f"{l} {e} {t}\t{s}\n" for l, e, t, s in
                            trials[["label", "enrol", "test", "score"]].itertuples(index=False)))
    table = read_scores(path)
    assert table.format == "voxceleb"
    _check(table, trials)


def test_wespeaker_with_binary_scores(tmp_path):
    path = tmp_path / "we.txt"
    path.write_text("a/v/1 a/v/2 1 target\na/v/1 b/v/1 0 nontarget\nb/v/1 b/v/2 0 target\n")
    table = read_scores(path)
    assert table.format == "wespeaker"
    assert table.is_target.tolist() == [True, False, True]


def test_crlf_bom_and_quotes(tmp_path, simulated):
    trials, _ = simulated
    path = tmp_path / "s.csv"
    body = "".join(f'"{e}","{t}",{l},{s}\r\n' for e, t, l, s in
                   trials[["enrol", "test", "label", "score"]].itertuples(index=False))
    path.write_bytes(("enrol,test,label,score\r\n" + body).encode("utf-8"))
    _check(read_scores(path), trials)


@pytest.mark.parametrize("text,message,line", [
    ("a/v/1 a/v/2 1 0.5 x\na/v/1 b/v/1 0 0.2\nb/v/1 b/v/2 1 0.3\n", "wrong number of columns: 5, expected 4", 1),
    ("a/v/1 a/v/2 1\na/v/1 b/v/1 0 0.2\nb/v/1 b/v/2 1 0.3\n", "wrong number of columns: 3, expected 4", 1),
    ("".join(f"a/v/1 b/v/{i} 0 0.{i}\n" for i in range(1, 20)) + "a/v/1 a/v/2 2 0.5\n", "label '2'", 20),
    ("enrol,test,label,score\n", "no trials after the header", None),
    ("a/v/1 b/v/1 0 1_000\na/v/1 a/v/2 1 0.5\n", "score '1_000' is not a number", 1),
    ("enrol,test,label,score,llr\na,b,1,0.5,0.4\n", "could each be the score", 1),
])
def test_bad_rows_are_located(tmp_path, text, message, line):
    path = tmp_path / "s.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_scores(path)
    assert err.value.line == line


def test_undecodable_byte_late_in_file(tmp_path):
    path = tmp_path / "s.txt"
    lines = [f"a/v/1 b/v/{i} 0 0.{i % 10}\n".encode() for i in range(300)]
    lines.append(b"a/v/1 b/v/\xff 0 0.3\n")
    path.write_bytes(b"".join(lines))
    with pytest.raises(InputError, match="not valid UTF-8") as err:
        read_scores(path)
    assert err.value.line == 301


def test_kaldi_duplicate_names_both_lines(tmp_path):
    trials = tmp_path / "trials"
    trials.write_text("a/v/1 a/v/2 target\na/v/1 b/v/1 nontarget\n")
    scores = tmp_path / "scores"
    scores.write_text("a/v/1 a/v/2 0.9\na/v/1 b/v/1 0.1\na/v/1 a/v/2 0.8\n")
    with pytest.raises(InputError, match=r"duplicate score .*\(first on line 1\)") as err:
        read_scores(scores, trials=trials)
    assert err.value.line == 3
