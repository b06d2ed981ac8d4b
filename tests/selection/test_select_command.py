"""``arwsv select`` end to end on a tiny corpus, its settings file, and the ``speaker_factors`` method it trains with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from arwsv.cli import main
from arwsv.errors import InputError
from arwsv.selection.config import Candidate, PostHoc, load_selection_config
from conftest import TINY_MODEL

ROOT = Path(__file__).resolve().parents[2]
TINY_SELECT = """\
dev_share: 0.5
pseudo_groups: 2
bootstrap: 50
warmup_steps: 2
restarts: 2
candidates:
  uniform: {signal: none}
  balance_k2: {signal: balance, clusters: 2}
  difficulty_k2_b10: {signal: difficulty, clusters: 2, beta: 10}
post_hoc:
  asnorm_train: {norm: asnorm, top_k: 5}
"""


def _tiny(extra=()):
    return [f for f in TINY_MODEL if not f.startswith("--n_speakers")] + ["--epochs=1", *extra]


def test_select_trains_every_candidate_writes_the_table_and_resumes(corpus, tmp_path, capsys):
    settings = tmp_path / "select.yaml"
    settings.write_text(TINY_SELECT)
    work, out = tmp_path / "work", tmp_path / "out"
    argv = ["select", str(ROOT / "recipes" / "toy" / "baseline.yaml"), str(settings), "--work", str(work), "--out",
            str(out), "--quiet", f"--data_folder={corpus}", *_tiny()]
    assert main(argv) == 0
    result = json.loads((out / "selection.json").read_text())
    assert [r["candidate"] for r in result["candidates"]] == ["uniform", "balance_k2", "difficulty_k2_b10",
                                                              "asnorm_train"]
    assert 0 < result["dev_trials"]["targets"] < result["dev_trials"]["n"]  # targets and non-targets both
    chosen = result["selection"]["selected"]
    # the choice obeys the default rule (`spread`) as written in the table itself (an independent reading of the rows)
    assert result["settings"]["criterion"] == "spread"
    rows = {r["candidate"]: r for r in result["candidates"]}
    qualifies = [n for n, r in rows.items() if n != "uniform" and r["delta"]["eer"] <= 0
                 and not any(ci is not None and ci[0] > 0 for ci in r["groups_ci"].values())
                 and r["ci"]["std"] is not None and r["ci"]["std"][1] < 0]
    if qualifies:
        assert chosen in qualifies and rows[chosen]["value"]["std"] == min(rows[n]["value"]["std"] for n in qualifies)
    else:
        assert chosen == "uniform"
    # how to use it: the uniform model with AS-norm over the training split for the post-hoc candidate
    model = "uniform" if chosen == "asnorm_train" else chosen
    assert result["selection"]["model"] == str(work / "candidates" / model)
    assert ("--norm asnorm" in result["selection"]["scoring"]) == (chosen == "asnorm_train")
    cohort = np.load(out / "pieces" / "cohort.npz")
    assert sorted(cohort["speakers"]) == sorted(set(pd.read_csv(work / "split" / "train.csv")["spk_id"]))
    assert (out / "selection.png").stat().st_size > 0 and "| uniform |" in (out / "selection.md").read_text()
    # no candidate trained on a development speaker
    dev = set(pd.read_csv(work / "split" / "dev.csv")["spk_id"])
    train = set(pd.read_csv(work / "split" / "train.csv")["spk_id"])
    assert dev and not dev & train and dev | train == set(pd.read_csv(corpus / "train.csv")["spk_id"])
    factors = pd.read_csv(out / "pieces" / "factors" / "balance_k2.csv")
    assert set(factors["spk_id"]) == train and abs(factors["factor"].mean() - 1) < 1e-6
    # a rerun trains nothing again and gives the same table
    stamps = {p: p.stat().st_mtime_ns for p in work.glob("candidates/*/final/*")}
    assert main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in work.glob("candidates/*/final/*")} == stamps
    assert json.loads((out / "selection.json").read_text())["candidates"] == result["candidates"]
    # other settings than the pieces were made with: one line naming the settings record, nothing rewritten
    table = (out / "selection.json").read_bytes()
    split = (work / "split" / "dev.csv").read_bytes()
    changed = tmp_path / "changed.yaml"
    for text, extra, message in ((TINY_SELECT.replace("beta: 10", "beta: 3"), [], "candidate difficulty_k2_b10 was"),
                                 (TINY_SELECT.replace("pseudo_groups: 2", "pseudo_groups: 3"), [], "pseudo_groups 2 -> 3"),
                                 (TINY_SELECT, ["--seed", "1"], "seed 0 -> 1")):
        changed.write_text(text)
        assert main([*argv[:2], str(changed), *argv[3:], *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and str(out / "pieces" / "settings.json") in err[0], err
        assert (out / "selection.json").read_bytes() == table and (work / "split" / "dev.csv").read_bytes() == split
    # the rule's own settings may change: only the table is recomputed
    changed.write_text(TINY_SELECT.replace("bootstrap: 50", "bootstrap: 60"))
    assert main([*argv[:2], str(changed), *argv[3:]]) == 0
    assert json.loads((out / "selection.json").read_text())["settings"]["bootstrap"] == 60
    assert {p: p.stat().st_mtime_ns for p in work.glob("candidates/*/final/*")} == stamps
    assert main([*argv, "--reweighting.method=none"]) == 2
    assert "--reweighting.* is set by arwsv select" in capsys.readouterr().err
    # on another machine (no work folder, no models) the pieces kept in OUT finish the run: nothing trains
    import shutil

    shutil.rmtree(work)
    assert main(argv) == 0
    assert not (work / "candidates").exists()
    assert json.loads((out / "selection.json").read_text())["candidates"] == result["candidates"]
    assert sorted(p.name for p in (out / "pieces" / "dev").glob("*.npz")) == \
        ["balance_k2.npz", "difficulty_k2_b10.npz", "uniform.npz"]
    capsys.readouterr()


def test_speaker_factors_of_the_oracles_values_train_exactly_as_the_oracle(corpus, tmp_path):
    """The same factors through a file give the same run, bit for bit (a second path to the same weights)."""
    frame = pd.read_csv(corpus / "train.csv", keep_default_na=False)
    cell = frame["gender"] + "/" + frame["nationality"]
    counts = cell.map(cell.value_counts())
    per_utt = len(frame) / (cell.nunique() * counts)  # group-balanced, counted in utterances
    factors = tmp_path / "factors.csv"
    pd.DataFrame({"spk_id": frame["spk_id"], "factor": per_utt}).groupby("spk_id").first().reset_index() \
        .to_csv(factors, index=False, float_format="%.17g")
    common = [str(ROOT / "recipes" / "toy" / "arw.yaml"), f"--data_folder={corpus}", *TINY_MODEL, "--epochs=2",
              "--reweighting.warmup_steps=2", "--quiet"]
    assert main(["train", *common, f"--output_folder={tmp_path / 'oracle'}", "--reweighting.method=oracle"]) == 0
    assert main(["train", *common, f"--output_folder={tmp_path / 'file'}", "--reweighting.method=speaker_factors",
                 f"--reweighting.speaker_factors={factors}"]) == 0
    a = torch.load(tmp_path / "oracle" / "final" / "embedding_model.ckpt", weights_only=True)
    b = torch.load(tmp_path / "file" / "final" / "embedding_model.ckpt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a changed factors file refuses --resume
    text = factors.read_text().splitlines()
    text[1] = text[1].split(",")[0] + ",2.5"
    factors.write_text("\n".join(text) + "\n")
    assert main(["train", *common, f"--output_folder={tmp_path / 'file'}", "--reweighting.method=speaker_factors",
                 f"--reweighting.speaker_factors={factors}", "--resume"]) == 2


@pytest.mark.parametrize("content, message", [
    ("spk_id,weight\ntoy00001,1\n", "header must be spk_id,factor"),
    ("spk_id,factor\ntoy00001,-1\n", "is not a number > 0"),
    ("spk_id,factor\ntoy00001,abc\n", "is not a number > 0"),
    ("spk_id,factor\ntoy00001,1\n", "have no factor"),
])
def test_speaker_factors_file_is_checked(corpus, tmp_path, capsys, content, message):
    factors = tmp_path / "f.csv"
    factors.write_text(content)
    assert main(["train", str(ROOT / "recipes" / "toy" / "baseline.yaml"), f"--data_folder={corpus}",
                 f"--output_folder={tmp_path / 'o'}", *TINY_MODEL, "--quiet", "--reweighting.method=speaker_factors",
                 f"--reweighting.speaker_factors={factors}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and str(factors) in err[0]
    assert not (tmp_path / "o" / "final").exists()


def test_selection_settings_are_read_and_checked(tmp_path, capsys, corpus):
    good = tmp_path / "good.yaml"
    good.write_text(TINY_SELECT)
    config = load_selection_config(good)
    assert config.candidates["difficulty_k2_b10"] == Candidate("difficulty", 2, 10.0) and config.dev_share == 0.5
    assert config.post_hoc == {"asnorm_train": PostHoc("asnorm", 5)} and config.criterion == "spread"  # default
    worst = tmp_path / "worst.yaml"
    worst.write_text("criterion: worst\n" + TINY_SELECT)
    assert load_selection_config(worst).criterion == "worst"
    bench = load_selection_config(ROOT / "recipes" / "bench" / "select.yaml")
    assert bench.post_hoc == {"asnorm_train": PostHoc("asnorm", 200)} and bench.dev_utts == 0
    # the VoxCeleb selection file judges the study's candidates at VoxCeleb's scale, by the default criterion; the
    # study's own file keeps the criterion its numbers were made with
    vox = load_selection_config(ROOT / "recipes" / "voxceleb" / "select.yaml")
    assert vox.candidates == bench.candidates and vox.post_hoc == bench.post_hoc
    assert (vox.max_eer_increase, vox.pseudo_groups) == (bench.max_eer_increase, bench.pseudo_groups)
    assert (vox.criterion, bench.criterion) == ("spread", "worst")
    assert vox.dev_utts > 0 and vox.warmup_steps == 5000  # ecapa_crowding.yaml's warm-up
    bad = {"unknown: 1\n" + TINY_SELECT: "unknown key(s) unknown",
           TINY_SELECT.replace("uniform: {signal: none}", "flat: {signal: none}"): "must hold `uniform",
           TINY_SELECT.replace("signal: balance", "signal: loud"): "signal must be one of",
           TINY_SELECT.replace("clusters: 2}", "clusters: 1}", 1): "clusters must be an integer in [2",
           TINY_SELECT.replace("dev_share: 0.5", "dev_share: 0.9"): "dev_share must be a number in",
           "candidates: [1, 2]\n": "`candidates` must be a table",
           TINY_SELECT.replace("norm: asnorm", "norm: znorm"): "norm must be one of asnorm",
           TINY_SELECT.replace("top_k: 5", "top_k: 0"): "top_k must be an integer in [1",
           TINY_SELECT.replace("asnorm_train: {", "balance_k2: {"): "has the name of a trained candidate",
           TINY_SELECT.replace("  asnorm_train: {norm: asnorm, top_k: 5}", "  - 1"): "`post_hoc` must be a table",
           TINY_SELECT.replace("top_k: 5}", "top_k: 5, cohort: dev}"): "expected keys norm, top_k",
           "a: [1\n": "not valid YAML",
           "1: 2\n" + TINY_SELECT: "unknown key(s) 1",
           "criterion: best\n" + TINY_SELECT: "criterion must be one of worst, spread, levels_up, got 'best'",
           "dev_utts: -1\n" + TINY_SELECT: "dev_utts must be an integer in [0, 100000], got -1",
           "dev_utts: 2.5\n" + TINY_SELECT: "dev_utts must be an integer"}
    for i, (text, message) in enumerate(bad.items()):
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(text)
        work = tmp_path / f"w{i}"
        assert main(["select", str(ROOT / "recipes" / "toy" / "baseline.yaml"), str(path), "--work", str(work),
                     f"--data_folder={corpus}"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and str(path) in err[0], (message, err)
        assert not work.exists()  # nothing written
    for flags, message in ((["--jobs", "0"], "--jobs must be >= 1"), (["--seed", "-1"], "--seed must be >= 0"),
                           (["--n_speakers=5"], "is set by arwsv select")):
        assert main(["select", str(ROOT / "recipes" / "toy" / "baseline.yaml"), str(good), "--work",
                     str(tmp_path / "w"), *flags]) == 2
        assert message in capsys.readouterr().err
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("# caf\xe9\n".encode("latin-1") + TINY_SELECT.encode())
    for path, message in ((tmp_path, "is a folder"), (latin, "not UTF-8 text")):
        assert main(["select", str(ROOT / "recipes" / "toy" / "baseline.yaml"), str(path), "--work",
                     str(tmp_path / "w"), f"--data_folder={corpus}"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and str(path) in err[0], err
    assert main(["select", str(tmp_path / "nope.yaml"), str(good)]) == 2
    assert "no such recipe" in capsys.readouterr().err


def test_pieces_settings_record_welcomes_new_candidates_and_refuses_changed_ones(tmp_path):
    import dataclasses

    from arwsv.errors import InputError
    from arwsv.selection.run import check_pieces, pieces_fingerprint

    path = tmp_path / "good.yaml"
    path.write_text(TINY_SELECT)
    config = load_selection_config(path)
    pieces = tmp_path / "pieces"
    check_pieces(pieces, pieces_fingerprint(config, 0, ["b", "a"]))  # no record yet (or pieces from before it)
    first = json.loads((pieces / "settings.json").read_text())
    assert first["run"]["seed"] == 0 and set(first["candidates"]) == set(config.candidates)
    check_pieces(pieces, pieces_fingerprint(config, 0, ["a", "b"]))  # same speakers in another order: same split
    more = dataclasses.replace(config, candidates={**config.candidates, "crowding_k2_b5": Candidate("crowding", 2, 5.0)})
    check_pieces(pieces, pieces_fingerprint(more, 0, ["a", "b"]))
    assert "crowding_k2_b5" in json.loads((pieces / "settings.json").read_text())["candidates"]
    check_pieces(pieces, pieces_fingerprint(config, 0, ["a", "b"]))  # dropping one keeps its record
    assert "crowding_k2_b5" in json.loads((pieces / "settings.json").read_text())["candidates"]
    with pytest.raises(InputError, match="dev_speakers_sha256"):
        check_pieces(pieces, pieces_fingerprint(config, 0, ["a", "c"]))
    with pytest.raises(InputError, match="warmup_steps 2 -> 3"):
        check_pieces(pieces, pieces_fingerprint(dataclasses.replace(config, warmup_steps=3), 0, ["a", "b"]))
    # a record from before `dev_utts` existed was made with all development utterances (0)
    record = json.loads((pieces / "settings.json").read_text())
    del record["run"]["dev_utts"]
    (pieces / "settings.json").write_text(json.dumps(record))
    check_pieces(pieces, pieces_fingerprint(config, 0, ["a", "b"]))
    assert json.loads((pieces / "settings.json").read_text())["run"]["dev_utts"] == 0
    (pieces / "settings.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="dev_utts 0 -> 4"):
        check_pieces(pieces, pieces_fingerprint(dataclasses.replace(config, dev_utts=4), 0, ["a", "b"]))
    (pieces / "settings.json").write_text("[1]")
    with pytest.raises(InputError, match="not a settings record"):
        check_pieces(pieces, pieces_fingerprint(config, 0, ["a", "b"]))


def test_development_trials_that_cannot_exist_stop_before_training(corpus, tmp_path, capsys):
    settings = tmp_path / "select.yaml"
    settings.write_text(TINY_SELECT.replace("pseudo_groups: 2", "pseudo_groups: 1000"))
    work = tmp_path / "work"
    assert main(["select", str(ROOT / "recipes" / "toy" / "baseline.yaml"), str(settings), "--work", str(work),
                 "--quiet", f"--data_folder={corpus}", *_tiny()]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot form non-target trials within 1000 pseudo-groups" in err[0]
    assert str(work / "split" / "dev.csv") in err[0] and not (work / "candidates").exists()


def test_too_many_development_trials_stop_before_anything_is_written(corpus, tmp_path, capsys, monkeypatch):
    """On VoxCeleb every within-pseudo-group pair of all development utterances would be billions of trials: the
    bound M (M / G - 1) / 2 is checked before the split is written, naming the selection file and dev_utts."""
    import arwsv.selection.run as run
    from arwsv.selection.split import development_rows, split_speakers

    settings = tmp_path / "select.yaml"
    settings.write_text(TINY_SELECT)
    manifest = pd.read_csv(corpus / "train.csv", dtype={"spk_id": str})
    _, held_out = split_speakers(manifest["spk_id"], 0.5, 0)
    m = int(manifest["spk_id"].isin(held_out).sum())
    monkeypatch.setattr(run, "MAX_DEV_TRIALS", m * (m / 2 - 1) / 2 - 1)  # just below this corpus's bound
    work = tmp_path / "work"
    argv = ["select", str(ROOT / "recipes" / "toy" / "baseline.yaml"), str(settings), "--work", str(work),
            "--out", str(tmp_path / "out"), "--quiet", f"--data_folder={corpus}", *_tiny()]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(settings) in err[0] and f"{m} development utterances" in err[0], err
    assert "set dev_utts" in err[0]
    assert not any(work.rglob("*")) and not any((tmp_path / "out").rglob("*"))  # the folders made, nothing in them
    # two utterances per speaker: 2 S of them for S development speakers, under the same limit
    rows = [{"id": r.ID, "spk_id": r.spk_id, "wav": r.wav, "start": r.start}
            for r in manifest[manifest["spk_id"].isin(held_out)].itertuples()]
    chosen = development_rows(rows, 2)
    assert len(chosen) == 2 * len(held_out) < m
    per_speaker = manifest[manifest["spk_id"].isin(held_out)]["spk_id"].value_counts().tolist()
    assert sum(min(n, 2) for n in per_speaker) == len(chosen)  # the count the check makes without the rows
    run._check_dev_trial_count(per_speaker, 2, 2, settings)  # passes: counts min(n, 2) per speaker, as chosen holds
    with pytest.raises(InputError, match=f"{m} development utterances"):
        run._check_dev_trial_count(per_speaker, 0, 2, settings)  # 0: every utterance, as the command refused


def test_select_trains_virtual_speaker_candidates_and_judges_them_by_levels_up(corpus, tmp_path):
    """Data candidates: every speaker's x0.9 / x1.1 copies (3 classes each) and a targeted plan made on the uniform
    model (pieces/virtual/<name>.csv); each trains with its classes; the choice follows levels_up as read
    independently from the table (the uniform model's worst pseudo-group better, none worse, overall EER kept)."""
    settings = tmp_path / "select.yaml"
    settings.write_text("dev_share: 0.5\npseudo_groups: 2\nbootstrap: 50\nrestarts: 2\ncriterion: levels_up\n"
                        "candidates:\n  uniform: {signal: none}\n  a1: {signal: virtual_uniform}\n"
                        "  a3_k2_t1: {signal: virtual_targeted, clusters: 2, targets: 1}\n")
    work, out = tmp_path / "work", tmp_path / "out"
    assert main(["select", str(ROOT / "recipes" / "toy" / "baseline.yaml"), str(settings), "--work", str(work),
                 "--out", str(out), "--quiet", f"--data_folder={corpus}", *_tiny()]) == 0
    result = json.loads((out / "selection.json").read_text())
    train = sorted(set(pd.read_csv(work / "split" / "train.csv", dtype={"spk_id": str})["spk_id"]))
    plan = pd.read_csv(out / "pieces" / "virtual" / "a3_k2_t1.csv", dtype={"spk_id": str})
    assert len(plan) and set(plan["spk_id"]) < set(train)
    a1 = json.loads((work / "candidates" / "a1" / "final" / "speakers.json").read_text())
    a3 = json.loads((work / "candidates" / "a3_k2_t1" / "final" / "speakers.json").read_text())
    assert a1["copies"] == 3 and len(a3["virtual_classes"]) == len(plan)
    rows = {r["candidate"]: r for r in result["candidates"]}
    worst = max(rows["uniform"]["groups"], key=rows["uniform"]["groups"].get)
    helps = [n for n, r in rows.items() if n != "uniform" and r["delta"]["eer"] <= 0
             and not any(ci is not None and ci[0] > 0 for ci in r["groups_ci"].values())
             and r["groups_ci"][worst] is not None and r["groups_ci"][worst][1] < 0]
    assert result["selection"]["helps"] == helps
    assert result["selection"]["selected"] in (helps or ["uniform"])



@pytest.mark.parametrize("spec,message", [
    ("{signal: crowding, clusters: 4, beta: 1, targets: 2}", "targets is a virtual_targeted candidate's key"),
    ("{signal: virtual_targeted, clusters: 4, targets: 5}", "targets must be an integer in [1, 4]"),
    ("{signal: virtual_targeted}", "clusters must be an integer in [2,"),
])
def test_virtual_candidates_are_checked(tmp_path, spec, message):
    path = tmp_path / "select.yaml"
    path.write_text(f"candidates:\n  uniform: {{signal: none}}\n  v: {spec}\n")
    with pytest.raises(InputError) as err:
        load_selection_config(path)
    assert message in str(err.value) and str(path) in str(err.value)
    path.write_text("candidates:\n  uniform: {signal: none}\n  a1: {signal: virtual_uniform}\n"
                    "  a3: {signal: virtual_targeted, clusters: 8}\n")
    config = load_selection_config(path)
    assert config.candidates["a3"] == Candidate("virtual_targeted", 8, 0.0, 3) and config.candidates["a1"].virtual
    assert "targets" not in config.candidates["uniform"].record()  # records made before `targets` keep matching
