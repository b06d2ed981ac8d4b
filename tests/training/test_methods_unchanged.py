"""Every kept reweighting method trains exactly as it did before the one-interface refactor (issue 24).

``method_digests.json`` (beside this file) holds, per method, the SHA-256 of a short run's learned tensors
(final embedding model, loss head and adversary of the last checkpoint), written by the code *before* the
refactor (commit 2fc3649: ``python tests/training/test_methods_unchanged.py --write "PLATFORM"``). The test
trains the same runs with the code of today and compares: a refactor that changes what a method computes, or the
order in which it draws random numbers, fails here.

CPU kernels round differently from one instruction set to another (the same code gave other bits on an AVX512
machine), so the file keeps one digest per platform on which the pre-refactor code was run, and a run must equal
one of them. On a new platform, write its digests with the pre-refactor code checked out (``git worktree add
/tmp/pre 2fc3649``, then ``PYTHONPATH=/tmp/pre python /tmp/pre/tests/training/test_methods_unchanged.py --write``)
and add them with ``python tests/training/test_methods_unchanged.py --add /tmp/pre/tests/training/method_digests.json
"PLATFORM"``: a digest of today's code would make the test compare the code with itself.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DIGESTS = HERE / "method_digests.json"
sys.path.insert(0, str(HERE.parent))
from conftest import TINY_MODEL  # noqa: E402

# method -> (recipe, reweighting overrides); values as before the refactor, keys in today's names
METHODS = {
    "none": ("baseline.yaml", []),
    "pw": ("arw.yaml", ["--reweighting.method=pw"]),
    "aps": ("arw.yaml", ["--reweighting.method=aps"]),
    "pl": ("arw.yaml", ["--reweighting.method=pl", "--reweighting.adversary_lr=0.1"]),
    "oracle": ("arw.yaml", ["--reweighting.method=oracle"]),
    "crowding": ("arw.yaml", ["--reweighting.method=crowding", "--reweighting.crowding_beta=10"]),
    "speaker_factors": ("arw.yaml", ["--reweighting.method=speaker_factors"]),
}
COMMON = ["--epochs=2", "--reweighting.warmup_steps=2", "--quiet"]
ARW_TINY = ["--reweighting.memory_bank=64", "--reweighting.region_refit_every=3"]
K = {"pw": "region_priors", "aps": "region_priors", "pl": "pseudo_groups", "crowding": "crowding_clusters"}  # was regions


def _digest(out: Path) -> str:
    digest = hashlib.sha256()
    last = sorted((out / "checkpoints").glob("CKPT+*"))[-1]
    for path in (out / "final" / "embedding_model.ckpt", last / "loss.ckpt", last / "adversary.ckpt",
                 last / "reweighting.ckpt"):
        if path.is_file():
            state = torch.load(path, weights_only=True)
            if path.name == "reweighting.ckpt":  # the one entry of today's methods: its adversary, if any
                state = state.get("adversary") or {}
            for key in sorted(state):
                digest.update(key.encode())
                digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train(method: str, corpus: Path, work: Path) -> str:
    """One short run of ``method`` on ``corpus``; returns its digest."""
    from arwsv.cli import main

    recipe, extra = METHODS[method]
    out = work / method
    extra = list(extra)
    if method in K:
        extra += ARW_TINY + [f"--reweighting.{K[method]}=3"]
    if method == "crowding":
        if not (work / "none" / "final").is_dir():
            train("none", corpus, work)
        extra.append(f"--reweighting.crowding_reference={work / 'none'}")
    if method == "speaker_factors":
        import pandas as pd

        speakers = sorted(set(pd.read_csv(corpus / "train.csv")["spk_id"]))
        factors = work / "factors.csv"
        pd.DataFrame({"spk_id": speakers, "factor": [1.0 + (i % 3) for i in range(len(speakers))]}) \
            .to_csv(factors, index=False)
        extra.append(f"--reweighting.speaker_factors={factors}")
    argv = ["train", str(ROOT / "recipes" / "toy" / recipe), f"--data_folder={corpus}", f"--output_folder={out}",
            *TINY_MODEL, *COMMON, *extra]
    assert main(argv) == 0
    return _digest(out)


@pytest.mark.parametrize("method", list(METHODS))
def test_method_trains_bit_for_bit_as_before(method, corpus, tmp_path_factory):
    recorded = json.loads(DIGESTS.read_text())
    work = tmp_path_factory.mktemp("unchanged")
    digest = train(method, corpus, work)
    assert digest in recorded["digests"][method], \
        f"{method}: {digest} is none of the pre-refactor digests of {recorded['platforms']} (a new platform? " \
        "see this module's docstring)"


if __name__ == "__main__" and sys.argv[1:2] == ["--add"]:
    # --add FLAT.json "PLATFORM": merge the flat {method: digest} that the pre-refactor code's --write wrote on a new
    # platform (this file's own runs are today's code, so it never writes digests itself)
    flat, platform = json.loads(Path(sys.argv[2]).read_text()), sys.argv[3]
    recorded = json.loads(DIGESTS.read_text())
    recorded["platforms"].append(platform)
    for method, digests in recorded["digests"].items():
        digests.append(flat[method])
    DIGESTS.write_text(json.dumps(recorded, indent=1) + "\n")
