"""The README's VoxCeleb commands, exactly as written, on a fixture in VoxCeleb's, MUSAN's and RIRS_NOISES' real
layouts (size overrides only: a tiny model, one epoch, the CPU). Fails if any command stops."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from arwsv.cli import main

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
VOX1 = {"id10001": ("m", "Ireland"), "id10002": ("m", "India"), "id10003": ("f", "India"),
        "id10004": ("f", "USA"), "id10270": ("m", "France"), "id10271": ("f", "France")}
VOX2 = {f"id000{12 + i}": "mf"[i % 2] for i in range(6)}
SIZE = ["--n_mels=24", "--emb_dim=32", "--embedding_model.channels=[32,32,32,32,96]",
        "--embedding_model.attention_channels=16", "--embedding_model.se_channels=16", "--speakers_per_batch=4",
        "--epochs=1", "--log_every=1", "--ckpt_every=5", "--n_speakers=6"]


def readme_commands() -> list:
    """The shell lines of the README's "Train on VoxCeleb" code block, continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## 2. Train on VoxCeleb"):]
    block = section[section.index("```bash") + len("```bash"):]
    block = block[:block.index("```")]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line.split("#")[0]) for line in joined.splitlines() if line.split("#")[0].strip()]


def _wav(path: Path, seconds: float, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    voice = 0.2 * np.sin(2 * np.pi * (100 + 15 * (seed % 11)) * t) + 0.02 * rng.standard_normal(len(t))
    sf.write(path, voice.astype(np.float32), RATE, subtype="PCM_16")


def _fake_ffmpeg(folder: Path) -> None:
    """An 'ffmpeg' (the machine has none) that writes 4 s of a voice seeded by the input's path to its last argument."""
    script = folder / "ffmpeg"
    script.write_text(f"#!{sys.executable}\nimport sys, zlib, numpy as np, soundfile as sf\n"
                      "seed = zlib.crc32(sys.argv[sys.argv.index('-i') + 1].encode())\n"
                      "t = np.arange(64000) / 16000\n"
                      "x = 0.2 * np.sin(2 * np.pi * (90 + seed % 200) * t)"
                      " + 0.02 * np.random.default_rng(seed).standard_normal(len(t))\n"
                      "sf.write(sys.argv[-1], x.astype(np.float32), 16000, format='WAV', subtype='PCM_16')\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def build_fixture(root: Path) -> dict:
    """VoxCeleb1 (wav) and VoxCeleb2 (m4a) folders, their metadata, the three trial lists, MUSAN and RIRS_NOISES."""
    seed = 0
    for spk in VOX1:
        for video in ("1zcIwhmdeo4", "7w0IBEWc9Qw"):
            for utt in (1, 2):
                seed += 1
                _wav(root / "vox1" / "wav" / spk / video / f"{utt:05d}.wav", 4.0, seed)
    (root / "vox1_meta.csv").write_text("VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n" + "".join(
        f"{spk}\tname{i}\t{g}\t{n}\t{'test' if spk >= 'id10270' else 'dev'}\n" for i, (spk, (g, n)) in enumerate(VOX1.items())))
    (root / "vox2_meta.csv").write_text("VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \n" + "".join(
        f"{spk} ,n{spk[2:]} ,{g} ,dev \n" for spk, g in VOX2.items()))
    for spk in VOX2:
        for video in ("abcDEF12345", "ghiJKL67890"):
            for utt in (1, 2):
                path = root / "vox2" / "dev" / "aac" / spk / video / f"{utt:05d}.m4a"
                path.parent.mkdir(parents=True, exist_ok=True)
                if shutil.which("ffmpeg"):  # a real AAC file
                    _wav(path.with_suffix(".src.wav"), 4.0, seed := seed + 1)
                    os.system(f"ffmpeg -loglevel error -y -i {path.with_suffix('.src.wav')} -c:a aac {path}")
                    path.with_suffix(".src.wav").unlink()
                else:
                    path.write_bytes(hashlib.sha256(str(path).encode()).digest())  # not decodable: the fake converts
    utts = [f"{spk}/{video}/{utt:05d}.wav" for spk in VOX1 for video in ("1zcIwhmdeo4", "7w0IBEWc9Qw") for utt in (1, 2)]
    lines = []
    for i, enrol in enumerate(utts):
        same = [u for u in utts if u.split("/")[0] == enrol.split("/")[0] and u != enrol]
        other = [u for u in utts if u.split("/")[0] != enrol.split("/")[0]]
        lines += [f"1 {enrol} {same[i % len(same)]}", f"0 {enrol} {other[i % len(other)]}"]
    for name in ("veri_test2.txt", "list_test_hard2.txt", "list_test_all2.txt"):
        (root / name).write_text("\n".join(lines) + "\n")
    for kind, count in (("noise", 3), ("music", 2), ("speech", 4)):
        for i in range(count):
            _wav(root / "musan" / kind / f"{kind}-src" / f"{kind}-{i:04d}.wav", 1.5, 1000 + i)
    for i in range(2):
        rir = np.zeros(2000, np.float32)
        rir[0] = 1.0
        rir[1:] = 0.3 * np.random.default_rng(i).standard_normal(1999) * np.exp(-np.arange(1999) / 300)
        folder = root / "RIRS_NOISES" / "simulated_rirs" / "smallroom" / f"Room{i + 1:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"Room{i + 1:03d}-00001.wav", rir, RATE, subtype="PCM_16")
    (root / "RIRS_NOISES" / "real_rirs_isotropic_noises").mkdir(parents=True)
    sf.write(root / "RIRS_NOISES" / "real_rirs_isotropic_noises" / "RVB2014_type1_rir_largeroom1_near_angla.wav",
             np.pad(np.array([1.0, 0.5, 0.25], np.float32), (0, 500)), RATE, subtype="PCM_16")
    return {"/data/vox1": root / "vox1", "/data/vox2": root / "vox2", "/data/musan": root / "musan",
            "/data/RIRS_NOISES": root / "RIRS_NOISES"}


def test_the_readme_voxceleb_commands_run_as_written(tmp_path, monkeypatch, capsys):
    commands = readme_commands()
    assert [c[:2] for c in commands] == [["arwsv", "prepare"], ["arwsv", "prepare"], ["arwsv", "train"],
                                         ["arwsv", "train"], ["arwsv", "train"], ["arwsv", "score"], ["arwsv", "eval"]]
    paths = build_fixture(tmp_path)
    if not shutil.which("ffmpeg"):
        (tmp_path / "bin").mkdir()
        _fake_ffmpeg(tmp_path / "bin")
        monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.chdir(tmp_path)  # the README's relative paths (data/voxceleb, exp/..., vox1_meta.csv) live here
    for command in commands:
        args = [str(paths.get(a, a)) for a in command[1:]]
        args = [str(ROOT / a) if a.startswith("recipes/") else a for a in args]
        if args[0] == "train":  # size overrides only
            args = ["cpu" if a == "cuda" else a for a in args] + SIZE + ["--quiet"]
            if "ecapa_crowding.yaml" in args[1]:
                args += ["--reweighting.crowding_clusters=2", "--reweighting.crowding_restarts=1",
                         "--reweighting.warmup_steps=0"]
        if args[0] == "eval":
            args = [("1" if a == "500" else a) for a in args]
        if args[0] == "score":
            args.append("--quiet")
        code = main(args)
        captured = capsys.readouterr()
        assert code == 0, f"`{' '.join(command)}` stopped: {captured.err[-2000:]}"
    prepared = tmp_path / "data" / "voxceleb"
    assert (prepared / "noise" / "rirs.csv").is_file() and (prepared / "trials" / "list_test_hard2.txt").is_file()
    import json
    import pandas as pd

    train = pd.read_csv(prepared / "train.csv", dtype={"spk_id": str})
    assert set(train["spk_id"]) <= set(VOX2)  # the three lists took every VoxCeleb1 speaker out of training
    baseline = json.loads((tmp_path / "exp" / "voxceleb" / "ecapa_baseline_seed1986" / "train_report.json").read_text())
    assert any(k.startswith("speed") for k in baseline["augmented"])
    assert any(k in baseline["augmented"] for k in ("noise", "music", "babble", "reverb"))
    assert (tmp_path / "exp" / "voxceleb" / "ecapa_baseline_lmf_seed1986" / "final" / "embedding_model.ckpt").is_file()
    assert (tmp_path / "scores.txt").is_file()
