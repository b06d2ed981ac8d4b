"""``arwsv prepare voxceleb|toy|toy-extend|noise``: build manifests, speaker metadata and trial lists (VoxCeleb, the
toy corpus, oracle speakers added to a toy corpus), and noise/RIR manifests."""

from __future__ import annotations

import argparse
import json
import os

from arwsv.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("prepare", help="prepare VoxCeleb, MUSAN/RIRS_NOISES, or generate the toy corpus",
                       description="Write SpeechBrain manifests (train/dev/test) and trial lists, or the noise and "
                                   "room-impulse-response manifests of data augmentation.")
    kinds = p.add_subparsers(dest="corpus", metavar="CORPUS", required=True)

    v = kinds.add_parser("voxceleb", help="VoxCeleb1/2 as distributed",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                         description="Manifests from VoxCeleb1 (wav) and VoxCeleb2 (m4a or wav) folders.")
    v.add_argument("--vox1", nargs="+", required=True, metavar="DIR", help="VoxCeleb1 folder(s) holding wav/idXXXXX/...")
    v.add_argument("--vox2", nargs="*", default=[], metavar="DIR", help="VoxCeleb2 folder(s) holding dev/aac/idXXXXX/...")
    v.add_argument("--vox1-meta", required=True, help="vox1_meta.csv as distributed")
    v.add_argument("--vox2-meta", help="vox2_meta.csv as distributed")
    v.add_argument("--trials", nargs="*", default=[], metavar="LIST",
                   help="trial lists (veri_test2.txt, list_test_hard2.txt, ...); their speakers leave training")
    v.add_argument("--out", required=True, help="output folder")
    v.add_argument("--seg-dur", type=float, default=None, help="cut training utterances into segments of S seconds")
    v.add_argument("--min-dur", type=float, default=0.0, help="skip utterances shorter than S seconds")
    v.add_argument("--dev-share", type=float, default=0.02, help="share of training utterances held out as dev")
    v.add_argument("--seed", type=int, default=0, help="seed of the dev split")
    v.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel ffmpeg conversions")
    v.set_defaults(run=run_voxceleb)

    t = kinds.add_parser("toy", help="synthetic corpus with gender and country labels",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                         description="Generate the toy corpus (real 16 kHz speech-like waveforms) with a planted "
                                     "demographic imbalance; see arwsv/data/toy/corpus.py for the generative model.")
    from arwsv.data.toy.config import PRESETS, ToyConfig

    d = ToyConfig()
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="named corpus: default (200 speakers, the demo's), bench (2,400 speakers, 400 test "
                        "speakers, the fairness benchmark), voxlike (the benchmark with VoxCeleb1-H-sized gaps) or one of the benchmark's variations no setting was "
                        "tuned on (reseeded, shares, uncrowded, crowded, espeak; arwsv/data/toy/config.py); the "
                        "flags below override its values")
    flags = [("speakers", int, None), ("utts-per-speaker", int, None), ("seconds", float, "length of each utterance"),
             ("female-share", float, "share of female speakers"), ("countries", int, "number of countries (accents)"),
             ("minority-share", float, "share of speakers from the minority countries (all but the first)"),
             ("minority-spread", float, "voice-parameter spread of women and of minority-country speakers, relative to 1"),
             ("test-speakers", int, "held-out evaluation speakers"),
             ("sessions", int, "recording sessions (channels) per speaker"),
             ("reverb-prob", float, "probability a session is reverberant"),
             ("dev-share", float, "share of training utterances held out"),
             ("trials-per-utt", int, "O list: target and non-target trials per test utterance (E and H: 3x)"),
             ("female-spread", float, "voice-parameter spread of women, relative to men (unset: --minority-spread)"),
             ("country-spreads", _floats, "comma-separated spread per country, the majority's first (unset: 1, then "
                                          "--minority-spread)"),
             ("voice-spread", float, "everyone's voice-parameter spread, relative to 1"),
             ("seed", int, None)]
    for flag, kind, text in flags:
        default = getattr(d, flag.replace("-", "_"))
        t.add_argument(f"--{flag}", type=kind, default=argparse.SUPPRESS,  # unset: the preset's value
                       help=f"{text + ' ' if text else ''}[default: {default}]")
    t.add_argument("--backend", choices=["synth", "espeak"], default=None,
                   help="synth: built-in synthesiser; espeak: espeak-ng voices (needs the espeak-ng program) "
                        f"[default: the preset's, else {d.backend}]")
    t.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel worker processes")
    t.set_defaults(run=run_toy)

    e = kinds.add_parser(
        "toy-extend", help="oracle data: add new real speakers to chosen cells of a toy corpus",
        description="Write a new corpus folder: the toy corpus at --base with new training speakers in the cells "
                    "given by --add, drawn as that cell's own speakers were (same accent, voice distribution and "
                    "channels) from RNG streams no existing speaker uses. The base's speakers, utterances, test "
                    "manifest and trial lists are unchanged (their lines and files byte for byte); the base is "
                    "only read. See arwsv/data/toy/extend.py.")
    e.add_argument("--base", required=True, metavar="DIR", help="a folder written by arwsv prepare toy")
    e.add_argument("--add", required=True, action="append", metavar="G/COUNTRY=N",
                   help="new speakers for one cell, e.g. f/Dorne=40 (repeat for more cells)")
    e.add_argument("--out", required=True, metavar="DIR", help="output folder (not the base)")
    e.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel worker processes")
    e.set_defaults(run=run_toy_extend)

    n = kinds.add_parser(
        "noise", help="noise and RIR manifests from MUSAN and RIRS_NOISES",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""Manifests for data augmentation (SpeechBrain's AddNoise / AddReverb read them as they are).

Layouts read (as distributed; wav files only, hidden files skipped):
  --musan DIR   DIR/noise/, DIR/music/, DIR/speech/ (at least one), wav files in any subfolders
                (noise/free-sound/noise-free-sound-0000.wav): categories noise, music, speech
  --rirs DIR    DIR/simulated_rirs/**.wav: category rirs;
                DIR/real_rirs_isotropic_noises/*.wav: files whose name contains "noise" are
                isotropic noises (category noise), the others impulse responses (rirs);
                DIR/pointsource_noises/ is not read

Writes into --out: noise.csv, music.csv, speech.csv, rirs.csv (the categories whose layout was
given; header-only when it holds no file), each "ID,duration,wav,wav_format,wav_opts" (ID =
category/path below DIR without extension; duration in seconds; wav an absolute path), and
noise_report.json (files and seconds per category, source folders, empty categories).
Multi-channel files and files at another rate get a mono copy (first channel, --sample-rate)
under --out/converted/. A missing folder, a folder with neither layout, or a wav file that
cannot be read stops the command before anything is written.""")
    n.add_argument("--musan", metavar="DIR", help="MUSAN folder (holding noise/, music/, speech/)")
    n.add_argument("--rirs", metavar="DIR",
                   help="RIRS_NOISES folder (holding simulated_rirs/, real_rirs_isotropic_noises/)")
    n.add_argument("--out", required=True, metavar="DIR", help="output folder")
    n.add_argument("--sample-rate", type=int, default=16000,
                   help="sample rate of the manifests' audio [default: 16000]")
    n.set_defaults(run=run_noise)


def _floats(text: str) -> tuple:
    """argparse type: "1,0.9,0.8" -> (1.0, 0.9, 0.8)."""
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _print_report(report: dict, out) -> None:
    print(json.dumps(report, indent=1))
    print(f"wrote {out} ({report.get('changed_files', 0)} files changed)")


def run_voxceleb(args) -> int:
    from arwsv.data.voxceleb import prepare_voxceleb

    if args.seg_dur is not None and args.seg_dur <= 0:
        raise InputError("--seg-dur must be > 0")
    if args.min_dur < 0 or not 0 <= args.dev_share < 1:
        raise InputError("--min-dur must be >= 0 and --dev-share in [0, 1)")
    if args.seed < 0:
        raise InputError("--seed must be >= 0")
    report = prepare_voxceleb(vox1=args.vox1, vox2=args.vox2, vox1_meta=args.vox1_meta, vox2_meta=args.vox2_meta,
                              trials=args.trials, out=args.out, seg_dur=args.seg_dur, min_dur=args.min_dur,
                              dev_share=args.dev_share, seed=args.seed, jobs=args.jobs)
    _print_report(report, args.out)
    return 0


def run_toy(args) -> int:
    from dataclasses import fields

    from arwsv.data.toy.config import PRESETS, ToyConfig
    from arwsv.data.toy.corpus import generate_corpus

    values = dict(PRESETS[args.preset])
    if args.backend is not None:
        values["backend"] = args.backend
    for field in fields(ToyConfig):
        given = getattr(args, field.name, None)
        if given is not None and field.name != "backend":
            values[field.name] = given
    config = ToyConfig(**values)
    try:
        config.check()
    except ValueError as err:
        raise InputError(str(err)) from None
    if config.backend == "espeak":
        from arwsv.data.toy.espeak import check_available

        check_available()
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the output folder: {err.strerror}", args.out) from None
    report = generate_corpus(config, args.out, jobs=max(1, args.jobs))
    _print_report(report, args.out)
    return 0


def run_toy_extend(args) -> int:
    from arwsv.data.toy.config import COUNTRY_NAMES
    from arwsv.data.toy.extend import extend_corpus, parse_cells, read_base

    config, _ = read_base(args.base)
    cells = parse_cells(args.add, COUNTRY_NAMES[: config.countries])
    report = extend_corpus(args.base, args.out, cells, jobs=max(1, args.jobs))
    _print_report(report, args.out)
    return 0


def run_noise(args) -> int:
    import sys

    from arwsv.data.noise import prepare_noise

    report = prepare_noise(musan=args.musan, rirs=args.rirs, out=args.out, sample_rate=args.sample_rate)
    _print_report(report, args.out)
    if report["empty"]:
        print(f"arwsv prepare: note: no audio file for {', '.join(report['empty'])}: written header-only",
              file=sys.stderr)
    return 0
