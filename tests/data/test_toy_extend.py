"""Oracle data: new speakers added to chosen cells of a toy corpus, nothing existing changed."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from arwsv.cli import main
from arwsv.data.manifest import read_manifest
from arwsv.data.toy.config import ToyConfig
from arwsv.data.toy.corpus import generate_corpus

SMALL = dict(speakers=24, utts_per_speaker=4, seconds=0.5, test_speakers=8, countries=2, dev_share=0.25)


def _digests(root):
    return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    root = tmp_path_factory.mktemp("oracle")
    base = root / "base"
    generate_corpus(ToyConfig(**SMALL), base, jobs=1, progress=False, noise=True)
    before = _digests(base)
    assert main(["prepare", "toy-extend", "--base", str(base), "--add", "f/Borduria=3", "--add", "m/Arcadia=2",
                 "--out", str(root / "ext"), "--jobs", "1"]) == 0
    return base, root / "ext", before


def test_the_base_and_its_test_side_are_unchanged(extended):
    base, ext, before = extended
    assert _digests(base) == before  # the base is only read
    for name in ["test.csv", "trials/O.txt", "trials/E.txt", "trials/H.txt", "noise/noise.csv", "noise_heldout/rirs.csv"]:
        assert (ext / name).read_bytes() == (base / name).read_bytes(), name
    for name in ("train.csv", "dev.csv", "meta.csv"):  # the base's lines first, byte for byte
        assert (ext / name).read_bytes().startswith((base / name).read_bytes()), name
    assert not any((ext / "wav").glob("toy000[01]*"))  # no base audio copied: its rows point at the base


def test_the_new_speakers_fill_the_asked_cells(extended):
    base, ext, _ = extended
    old = set(pd.concat([read_manifest(base / "train.csv"), read_manifest(base / "dev.csv")])["spk_id"])
    rows = pd.concat([read_manifest(ext / "train.csv"), read_manifest(ext / "dev.csv")])  # no duplicate IDs
    new = rows[~rows["spk_id"].isin(old)]
    per_cell = new.groupby(["gender", "nationality"])["spk_id"].nunique().to_dict()
    assert per_cell == {("f", "Borduria"): 3, ("m", "Arcadia"): 2}
    assert (new.groupby("spk_id").size() == SMALL["utts_per_speaker"]).all()
    assert all((ext / "wav" / f"{i}.wav").is_file() for i in new["ID"])
    meta = pd.read_csv(ext / "meta.csv", sep="\t")
    assert set(meta["VoxCeleb1 ID"]) == old | set(pd.read_csv(base / "test.csv")["spk_id"]) | set(new["spk_id"])
    description = json.loads((ext / "corpus.json").read_text())
    assert description["extension"]["cells"] == {"f/Borduria": 3, "m/Arcadia": 2}
    assert description["config"] == json.loads((base / "corpus.json").read_text())["config"]


def test_rerun_same_bytes(extended, tmp_path):
    base, ext, _ = extended
    first = _digests(ext)
    assert main(["prepare", "toy-extend", "--base", str(base), "--add", "f/Borduria=3", "--add", "m/Arcadia=2",
                 "--out", str(ext), "--jobs", "2"]) == 0
    assert _digests(ext) == first


def test_an_added_speaker_is_drawn_as_its_cell_is():
    """Many added speakers of one cell (voices only, no audio): their vocal-tract lengths have the cell's mean
    and spread (the generator's N(1.16, 0.05 x spread) for women), and differ from every base speaker."""
    from arwsv.data.toy.corpus import draw_speakers
    from arwsv.data.toy.extend import _new_speakers

    config = ToyConfig(speakers=40, test_speakers=8, countries=2, female_spread=0.8, country_spreads=(1.0, 0.7))
    added = _new_speakers(config, {("f", "Borduria"): 2000}, first_index=40)
    vtl = np.array([s.voice.vtl for _, s in added])
    sd = 0.05 * config.speaker_spread("f", 1)
    assert abs(vtl.mean() - 1.16) < 4 * sd / np.sqrt(len(vtl))
    assert vtl.std(ddof=1) == pytest.approx(sd, rel=0.1)
    assert {s.accent_index for _, s in added} == {1} and {s.split for _, s in added} == {"train"}
    base, _ = draw_speakers(config)
    assert not {s.voice.vtl for s in base} & set(vtl.tolist())
    assert [s.spk_id for _, s in added[:2]] == ["toy00041", "toy00042"]


@pytest.mark.parametrize("add,message", [("f/Atlantis=3", "no country 'Atlantis'"), ("x/Arcadia=3", "expected GENDER"),
                                         ("f/Arcadia=0", "count must be >= 1")])
def test_bad_cells(extended, tmp_path, capsys, add, message):
    base, _, _ = extended
    assert main(["prepare", "toy-extend", "--base", str(base), "--add", add, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x").exists()


def test_bad_bases(extended, tmp_path, capsys):
    base, ext, _ = extended
    cases = [(tmp_path, "no corpus.json"), (ext, "itself an extension"), (base, "must be a new folder")]
    for folder, message in cases:
        out = base if message == "must be a new folder" else tmp_path / "x"
        assert main(["prepare", "toy-extend", "--base", str(folder), "--add", "f/Arcadia=1", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "x").exists()
