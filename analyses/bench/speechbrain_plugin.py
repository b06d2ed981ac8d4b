"""The SpeechBrain plug-in measured: the SpeechBrain recipe with crowding against the same recipe without it.

Steps, each skipped when a previous run left its output (so a killed run resumes; the SpeechBrain trainings
resume from their own checkpoints):

1. ``recipes/speechbrain/train_speaker_embeddings.py recipes/speechbrain/hparams/ecapa_crowding.yaml`` with
   ``reweighting: {method: none, crowding_reference: null}`` on the corpus: the recipe's baseline (``WORK/none``);
2. its last checkpoint put in SpeechBrain's pretrained layout (``WORK/none/model``: ``hyperparams.yaml`` +
   ``embedding_model.ckpt``), the reference model of step 3, as a user would give a downloaded ECAPA;
3. the same recipe, same seed and budget, with its crowding block (``WORK/crowding``);
4. both models score the H list (``arwsv score``), kept as ``OUT/<name>.npz`` (scores and the list's SHA-256);
5. ``arwsv compare`` with a paired speaker bootstrap: ``OUT/README.md`` and ``OUT/compare.json``.

Labels are joined in step 5 only. ``--quick``: a tiny corpus and model, to check the pipeline.

    python analyses/bench/speechbrain_plugin.py --data data/bench --work exp/speechbrain_plugin \\
        --out results/speechbrain_plugin --epochs 6 --n-speakers 2000
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SCRIPT = ROOT / "recipes" / "speechbrain" / "train_speaker_embeddings.py"
HPARAMS = ROOT / "recipes" / "speechbrain" / "hparams" / "ecapa_crowding.yaml"
QUICK = ["--sentence_len=0.5", "--batch_size=8"]


def train(name: str, args, extra: list) -> Path:
    """Run the SpeechBrain recipe for one system (SpeechBrain resumes from its own checkpoints)."""
    out = args.work / name
    done = out / "done"
    if not done.is_file():
        command = [sys.executable, str(SCRIPT), str(HPARAMS), f"--data_folder={args.data}", f"--output_folder={out}",
                   f"--seed={args.seed}", f"--number_of_epochs={args.epochs}", f"--out_n_neurons={args.n_speakers}",
                   f"--device={args.device}", *extra, *(QUICK if args.quick else [])]
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True, cwd=ROOT)
        done.write_text("trained\n")
    return out


def pretrained_layout(run: Path) -> Path:
    """``RUN/model``: the run's hyperparams.yaml and its newest checkpoint's embedding model (SpeechBrain's layout)."""
    model = run / "model"
    if not (model / "embedding_model.ckpt").is_file():
        checkpoints = sorted((run / "save").glob("CKPT+*"))
        if not checkpoints:
            raise SystemExit(f"{run}: no SpeechBrain checkpoint under save/")
        model.mkdir(exist_ok=True)
        shutil.copyfile(run / "hyperparams.yaml", model / "hyperparams.yaml")
        shutil.copyfile(checkpoints[-1] / "embedding_model.ckpt", model / "embedding_model.ckpt")
    return model


def score(name: str, model: Path, args) -> Path:
    """``OUT/<name>.npz``: the model's scores of the H list (list order) and the list's SHA-256."""
    from arwsv.io.files import atomic_write

    trials = args.data / "trials" / "H.txt"
    digest = hashlib.sha256(trials.read_bytes()).hexdigest()
    path = args.out / f"{name}.npz"
    if path.is_file():
        with np.load(path) as saved:
            if str(saved["trials_sha256"]) == digest:
                return path
    scores_file = args.work / f"{name}_H.txt"
    subprocess.run([sys.executable, "-m", "arwsv", "score", str(model), str(trials), "--manifest",
                    str(args.data / "test.csv"), "--out", str(scores_file), "--device", args.device, "--quiet"],
                   check=True, cwd=ROOT)
    order = {(e, t): i for i, (_, e, t) in enumerate(line.split() for line in trials.read_text().splitlines())}
    scores = np.zeros(len(order))
    for line in scores_file.read_text().splitlines():
        enrol, test, _, value = line.split()
        scores[order[(enrol, test)]] = float(value)
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, mode="wb") as handle:
        np.savez_compressed(handle, scores=scores, trials_sha256=np.array(digest))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a corpus of arwsv prepare toy (manifests, H list)")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--n-speakers", type=int, required=True, help="training speakers (the classifier's size)")
    parser.add_argument("--seed", type=int, default=1986)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from arwsv.cli import main as arwsv

    none = train("none", args, ["--reweighting={method: none, crowding_reference: null}", "--reference_model=null"])
    reference = pretrained_layout(none)
    crowding = train("crowding", args, [f"--reference_model={reference}"])
    files = {}
    for name, model in (("none", reference), ("crowding", pretrained_layout(crowding))):
        score(name, model, args)
        files[name] = args.work / f"{name}_H.txt"
    command = (f"python analyses/bench/speechbrain_plugin.py --data {args.data} --work {args.work} --out {args.out} "
               f"--epochs {args.epochs} --n-speakers {args.n_speakers} --seed {args.seed} --bootstrap {args.bootstrap}"
               + (" --quick" if args.quick else ""))
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        arwsv(["compare", str(files["none"]), str(files["crowding"]), "--meta", str(args.data / "meta.csv"),
               "--names", "recipe", "recipe + crowding", "--bootstrap", str(args.bootstrap), "--seed", "0",
               "--json", str(args.out / "compare.json")])
    from arwsv.io.files import atomic_write

    with atomic_write(args.out / "README.md") as handle:
        handle.write("\n".join([
            "# The SpeechBrain plug-in: the recipe with crowding against the same recipe without it", "",
            f"Regenerate: `{command}`", "",
            "`recipes/speechbrain/train_speaker_embeddings.py` with `hparams/ecapa_crowding.yaml` (SpeechBrain's "
            "AAM-softmax ECAPA recipe through `ARWBrain`), once with `reweighting: {method: none}` and once with its "
            "crowding block, the reference model being the first run in SpeechBrain's pretrained layout; same seed "
            f"({args.seed}) and budget ({args.epochs} epochs). H list of `{args.data}`, paired speaker bootstrap.", "",
            "```", printed.getvalue().rstrip(), "```", ""]))
    print(printed.getvalue())


if __name__ == "__main__":
    main()
