"""The ARW variants APS and PL and the oracle: their weights, a few training steps, resume."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from arwsv.cli import main
from conftest import TINY_ARW, TINY_MODEL
from arwsv.training.losses import MetricLoss, PairwiseLogisticLoss, pair_targets
from arwsv.training.reweighting import (Adversary, crowding_factors, group_balanced_factors, oracle_weights,
                                       pairwise_weights, sample_weights, similarity_profile)

ROOT = Path(__file__).resolve().parents[2]


def test_similarity_profile_matches_a_loop():
    torch.manual_seed(0)
    emb = torch.randn(7, 5)
    spk = torch.tensor([0, 0, 1, 1, 1, 2, 3])  # speakers 2 and 3 have no same-speaker partner
    profile = similarity_profile(emb, spk)
    unit = emb / emb.norm(dim=1, keepdim=True)
    for i in range(7):
        same = [float(unit[i] @ unit[j]) for j in range(7) if j != i and spk[j] == spk[i]]
        other = [float(unit[i] @ unit[j]) for j in range(7) if spk[j] != spk[i]]
        expected = [np.mean(same) if same else 0.0, min(same) if same else 0.0, np.mean(other), max(other)]
        assert profile[i].tolist() == pytest.approx(expected, abs=1e-6)


def test_group_balanced_factors_give_every_group_the_same_total():
    groups = np.array(["f/A"] * 3 + ["m/A"] * 12 + ["m/B"] * 5)
    factors = group_balanced_factors(groups)
    totals = {g: factors[groups == g].sum() for g in set(groups)}
    assert all(t == pytest.approx(len(groups) / 3) for t in totals.values())
    assert factors.mean() == pytest.approx(1.0)
    lam = oracle_weights(torch.tensor(factors[[0, 3, 15]], dtype=torch.float64))
    assert float(lam.mean()) == pytest.approx(1.0)
    assert float(lam[0] / lam[1]) == pytest.approx(12 / 3)  # proportional: the balance is exact


def _blobs(sizes, spreads, dim=16, seed=0):
    """Unit vectors in well separated blobs (one axis each) of the given sizes and spreads; their labels."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for g, (size, spread) in enumerate(zip(sizes, spreads)):
        centre = np.eye(dim)[g]
        blob = centre + spread * rng.standard_normal((size, dim))
        rows.append(blob / np.linalg.norm(blob, axis=1, keepdims=True))
        labels += [g] * size
    return np.concatenate(rows), np.array(labels)


def _mean_pair_cosine(unit):
    return np.mean([unit[i] @ unit[j] for i in range(len(unit)) for j in range(len(unit)) if i != j])


def test_crowding_factors_without_crowding_are_the_balanced_factors_of_the_clusters():
    unit, labels = _blobs([3, 12, 5], [0.05, 0.05, 0.05])
    factors = crowding_factors(unit, 3, beta=0.0, restarts=3, seed=0)
    assert factors == pytest.approx(group_balanced_factors(labels))  # the clusters are the blobs


def test_crowding_raises_the_tight_cluster_by_exp_beta_times_its_extra_crowding():
    unit, labels = _blobs([10, 10, 10], [0.05, 0.3, 0.3])
    beta = 4.0
    factors = crowding_factors(unit, 3, beta=beta, restarts=2, seed=1)
    crowding = [_mean_pair_cosine(unit[labels == g]) for g in range(3)]  # a loop, not the closed form
    assert crowding[0] > crowding[1]
    for g in (1, 2):
        assert factors[labels == 0][0] / factors[labels == g][0] == pytest.approx(np.exp(beta * (crowding[0] - crowding[g])))
    assert factors.mean() == pytest.approx(1.0) and np.isfinite(factors).all()
    assert np.array_equal(factors, crowding_factors(unit, 3, beta=beta, restarts=2, seed=1))  # deterministic
    # a cluster of one speaker (no pair) takes the mean crowding instead of failing
    lone = np.vstack([unit, np.eye(16)[5]])
    assert np.isfinite(crowding_factors(lone, 4, beta=beta, restarts=1)).all()


def test_pl_weighs_whole_pseudo_groups_and_its_ascent_lifts_the_hard_one():
    torch.manual_seed(0)
    emb = torch.randn(12, 8)
    spk = torch.arange(6).repeat_interleave(2)
    region = torch.tensor([0, 0, 1, 1, 2, 2] * 2)
    adversary = Adversary(input_dim=0, regions=3)
    optimizer = torch.optim.SGD(adversary.parameters(), lr=1.0)
    loss_fn = MetricLoss(pairwise=PairwiseLogisticLoss())
    rows, cols, _ = pair_targets(spk)
    # make region 2 hard: its samples' partners are far from them
    emb[spk >= 4] = torch.randn(4, 8) * 0.01 + torch.tensor([1.0] + [0.0] * 7) * torch.tensor([[1], [-1], [1], [-1]])
    losses = []
    for _ in range(3):
        lam = sample_weights(adversary(None, region))
        for r in range(3):  # one weight per pseudo-group
            assert torch.allclose(lam[region == r], lam[region == r][0].expand((region == r).sum()))
        loss = loss_fn(emb, spk, lam, pairwise_weights(lam, rows, cols))
        losses.append(loss.item())
        optimizer.zero_grad()
        (-loss).backward()
        optimizer.step()
    assert losses[-1] > losses[0]
    with torch.no_grad():
        per_region = [loss_fn.pairwise.pair_terms(emb, spk)[0][(region[rows] == r) & (region[cols] == r)].mean()
                      for r in range(3)]
    # the lifted pseudo-group is the one with the highest loss
    assert int(adversary.region_prior.weight.detach().argmax()) == int(torch.stack(per_region).argmax())
    with pytest.raises(ValueError, match="needs an input"):
        Adversary(input_dim=0, regions=0)


def _train(corpus, out, method, *extra):
    return main(["train", str(ROOT / "recipes" / "toy" / "arw.yaml"), f"--data_folder={corpus}",
                 f"--output_folder={out}", *TINY_MODEL, *TINY_ARW, f"--reweighting.method={method}", "--quiet", *extra])


@pytest.mark.parametrize("method", ["aps", "pl"])
def test_arw_variants_train_with_arw_weights(corpus, tmp_path, method):
    out = tmp_path / method
    assert _train(corpus, out, method, "--epochs=4", "--reweighting.pseudo_groups=3") == 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    weighted = [e for e in log if "lam_mean" in e]
    assert weighted and all(abs(e["lam_mean"] - 2.0) < 1e-5 and e["lam_min"] >= 1.0 for e in weighted)
    assert all(np.isfinite(e["loss"]) for e in log)
    adversary = torch.load(sorted((out / "checkpoints").glob("CKPT+*"))[-1] / "reweighting.ckpt",
                           weights_only=True)["adversary"]  # the method's one checkpoint entry
    if method == "pl":
        assert set(adversary) == {"region_prior.weight"}  # pseudo-group logits and nothing else
        assert float(adversary["region_prior.weight"].abs().max()) > 0  # the adversary moved them
    else:
        assert adversary["mlp.0.weight"].shape[1] == 4  # the similarity profile


def test_oracle_up_weights_the_minority_groups_it_is_told_about(corpus, tmp_path):
    out = tmp_path / "oracle"
    assert _train(corpus, out, "oracle", "--epochs=3") == 0
    weights = pd.read_csv(out / "speaker_weights.csv")
    train = pd.read_csv(corpus / "train.csv", keep_default_na=False).groupby("spk_id").first()
    weights["cell"] = weights["spk_id"].map(train["gender"] + "/" + train["nationality"])
    size = train.assign(cell=train["gender"] + "/" + train["nationality"]).groupby("cell").size()
    mean = weights.groupby("cell")["mean_lambda"].mean()
    # a smaller cell (fewer speakers, same utterances each) gets a larger weight
    small, large = size.idxmin(), size.idxmax()
    if size[small] < size[large]:
        assert mean[small] > mean[large]
    assert not (out / "checkpoints" / next(iter((out / "checkpoints").glob("CKPT+*"))).name / "adversary.ckpt").exists()


def test_oracle_needs_labels_and_pl_needs_regions(corpus, tmp_path, capsys):
    unlabelled = tmp_path / "train.csv"
    frame = pd.read_csv(corpus / "train.csv", keep_default_na=False)
    frame.loc[3, "gender"] = ""
    frame.to_csv(unlabelled, index=False)
    assert _train(corpus, tmp_path / "o", "oracle", f"--train_manifest={unlabelled}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a 'gender' value on every row" in err[0] and str(unlabelled) in err[0]
    assert _train(corpus, tmp_path / "p", "pl", "--reweighting.pseudo_groups=0") == 2
    assert "set reweighting.pseudo_groups >= 2" in capsys.readouterr().err
    # the keys of before the split name their successors; a retired variant's key names the commit that has it
    assert _train(corpus, tmp_path / "p", "pl", "--reweighting.regions=4") == 2
    assert "reweighting.regions is now region_priors (pw, aps" in capsys.readouterr().err
    assert _train(corpus, tmp_path / "p", "pw", "--reweighting.adversary_holdout=0.1") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "left the code" in err[0] and "e14f2a4" in err[0]
    assert not (tmp_path / "p").exists()


def test_per_sample_pair_loss_matches_a_loop():
    """Each sample's balanced mean over its pairs: 1/2 its target pairs' mean + 1/2 its non-target
    pairs' mean (the non-target mean alone for a sample without a partner)."""
    torch.manual_seed(1)
    spk = torch.tensor([0, 0, 1, 1, 1, 2])  # speaker 2 has no partner
    loss = MetricLoss(pairwise=PairwiseLogisticLoss())
    terms = loss(torch.randn(6, 4), spk, terms=True).detach()
    rows, cols, same = pair_targets(spk)
    got = loss.per_sample(terms, 6)
    for i in range(6):
        mine = (rows == i) | (cols == i)
        kinds = [terms.pairs[mine & kind].mean() for kind in (same, ~same) if (mine & kind).any()]
        assert float(got[i]) == pytest.approx(float(sum(kinds) / len(kinds)), rel=1e-6)
    # with an AAM term the sample's AAM loss is added (scaled by aam_weight for the whole loss)
    from arwsv.training.losses import AAMSoftmaxLoss

    both = MetricLoss(pairwise=PairwiseLogisticLoss(), aam=AAMSoftmaxLoss(embed_dim=4, n_speakers=3), aam_weight=0.5)
    parts = both(torch.randn(6, 4), spk, terms=True)
    pairs_only = MetricLoss(pairwise=PairwiseLogisticLoss())
    assert torch.allclose(both.per_sample(parts, 6),
                          pairs_only.per_sample(parts._replace(sample=None), 6) + 0.5 * parts.sample.detach())


def test_crowding_with_a_reference_model_weighs_from_the_warmup_with_that_models_factors(corpus, tmp_path, capsys,
                                                                                        monkeypatch):
    """Two passes: the factors come once from a trained model's embeddings (crop 0 of each speaker's first
    ``crowding_utts`` rows, k-means seeded 0), against the same computed here with the model loaded by hand."""
    from arwsv.data.dataio import CropDataset, load_manifest_rows
    from arwsv.inference.embed import load_model
    from arwsv.training.trainer import MinMaxTrainer

    import arwsv.training.reweighting as reweighting

    ref = tmp_path / "reference"
    assert _train(corpus, ref, "none", "--epochs=1") == 0
    plain, out = tmp_path / "plain", tmp_path / "twopass"
    common = ("--epochs=2", "--reweighting.crowding_restarts=2", "--reweighting.crowding_clusters=3")
    assert _train(corpus, plain, "none", "--epochs=2") == 0
    calls = []
    original = reweighting.crowding_factors
    monkeypatch.setattr(reweighting, "crowding_factors", lambda *a, **k: calls.append(1) or original(*a, **k))
    assert _train(corpus, out, "crowding", *common, f"--reweighting.crowding_reference={ref}") == 0
    assert calls == [1]  # once, before the first step: not again in the second epoch
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert any("lam_mean" in e for e in log if e["epoch"] == 0)  # weighted from the warm-up's end, first epoch
    first = [json.loads(line) for line in (plain / "train_log.jsonl").read_text().splitlines()][0]
    assert first["step"] == log[0]["step"] == 2 and first["loss"] == log[0]["loss"]  # same run until the weights start
    saved = torch.load(sorted((out / "checkpoints").glob("CKPT+*"))[-1] / "reweighting.ckpt", weights_only=True)
    rows = load_manifest_rows(corpus / "train.csv")
    speakers = sorted({r["spk_id"] for r in rows})
    dataset = CropDataset(rows, 0.5, speakers=speakers)
    features, model, _ = load_model(ref)
    with torch.no_grad():
        means = [model(features(torch.stack([dataset[(i, 0)]["sig"] for i in
                                             [j for j, r in enumerate(rows) if r["spk_id"] == s][:2]]))).mean(0)
                 for s in speakers]
    unit = torch.nn.functional.normalize(torch.cat(means), dim=-1).numpy().astype("float64")
    expected = crowding_factors(unit, 3, beta=10.0, restarts=2, seed=0)
    assert np.abs(saved["factors"].numpy() - expected).max() < 1e-4
    record = json.loads((out / "crowding_reference.json").read_text())  # which model the factors came from
    by_hand = hashlib.sha256((ref / "hyperparams.yaml").read_bytes() + (ref / "final" / "embedding_model.ckpt").read_bytes())
    assert record == {"folder": str(ref), "sha256": by_hand.hexdigest()}
    recipe = (out / "hyperparams.yaml").read_text()
    with open(ref / "hyperparams.yaml", "a", encoding="utf-8") as handle:  # the reference changes under the run
        handle.write("# trained again\n")
    capsys.readouterr()
    assert _train(corpus, out, "crowding", *common, f"--reweighting.crowding_reference={ref}", "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not the one this run started from" in err[0], err
    assert (out / "hyperparams.yaml").read_text() == recipe
    assert json.loads((out / "crowding_reference.json").read_text()) == record
    damaged = tmp_path / "damaged"
    shutil.copytree(ref, damaged)
    (damaged / "final" / "embedding_model.ckpt").write_bytes(b"not a checkpoint")
    for extra, message in (([f"--reweighting.crowding_reference={tmp_path / 'none'}"], "crowding_reference: not a "
                                                                                       "trained model folder"),
                           (["--reweighting.crowding_reference=5"], "must be a model folder"),
                           ([f"--reweighting.crowding_reference={damaged}"], "crowding_reference: cannot load the model"),
                           ([f"--reweighting.crowding_reference={ref}", "--reweighting.method=pw"], "go together"),
                           ([], "go together")):  # crowding needs its reference (one pass left the code)
        bad = tmp_path / "bad"
        assert _train(corpus, bad, "crowding", "--reweighting.crowding_clusters=3", *extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not (bad / "checkpoints").exists()


def test_speaker_embeddings_average_the_first_crops_of_each_speaker():
    """What crowding clusters: per speaker, the normalised mean embedding of crop 0 of its first ``utts``
    rows (a speaker with fewer rows uses those it has), against a loop over speakers."""
    from arwsv.training.methods import embed_speaker_crops

    class Crops:
        def __getitem__(self, key):
            return {"sig": torch.from_numpy(np.random.default_rng(key[0]).standard_normal(10)).float()}

    rows_of = [np.array([0, 1, 2]), np.array([3]), np.array([4, 5])]

    class Embed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(10, 4)

        def forward(self, x):
            return self.linear(x)[:, None, :]

    model = Embed()
    got = embed_speaker_crops(Crops(), rows_of, (torch.nn.Identity(), model), utts=2)
    with torch.no_grad():
        means = [model(torch.stack([Crops()[(r, 0)]["sig"] for r in rows[:2]])).mean(0).squeeze(0)
                 for rows in rows_of]
    expected = torch.nn.functional.normalize(torch.stack(means), dim=-1).numpy()
    assert got.shape == (3, 4) and np.abs(got - expected).max() < 1e-6


def test_a_method_of_ones_own_is_a_few_lines(corpus, tmp_path, monkeypatch):
    """A user's method: subclass Reweighter, return λ from weights(view). Here: weigh each sample by how far it is
    from its batch's mean embedding; the trainer calls it after the warm-up and logs its weights."""
    import arwsv.training.methods as methods

    seen = []

    class FarFromTheMean(methods.Reweighter):
        def weights(self, view):
            seen.append(len(view.speakers))
            return 1.0 + (view.embeddings - view.embeddings.mean(0)).norm(dim=1)

    monkeypatch.setattr(methods, "build_reweighter", lambda settings, **_: FarFromTheMean(settings.warmup_steps))
    out = tmp_path / "own"
    assert _train(corpus, out, "none", "--epochs=2") == 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert seen and all(n == 8 for n in seen)  # P x K samples a step, from the warm-up's end on
    assert any(e.get("lam_max", 0) > e.get("lam_min", 0) for e in log)  # its weights reached the loss


def test_a_checkpoint_from_before_the_one_interface_resumes_and_a_retired_one_is_refused(corpus, tmp_path, capsys):
    """Old layout: the adversary, its optimiser and the regions as separate entries. They load into the method's
    one entry and the run resumes exactly; a checkpoint of a retired variant (PL's loss memory) is refused."""
    import shutil

    flags = ("--epochs=2", "--ckpt_every=3", "--keep_checkpoints=10")
    straight, old = tmp_path / "straight", tmp_path / "old"
    assert _train(corpus, straight, "pw", *flags) == 0
    shutil.copytree(straight, old)
    shutil.rmtree(old / "final")
    checkpoints = sorted((old / "checkpoints").glob("CKPT+*"))
    for later in checkpoints[1:]:
        shutil.rmtree(later)
    first = checkpoints[0]  # step 3, mid-epoch
    state = torch.load(first / "reweighting.ckpt", weights_only=True)
    for name, key in (("adversary", "adversary"), ("adversary_optimizer", "optimizer"), ("regions", "regions")):
        torch.save(state[key], first / f"{name}.ckpt")  # as the code before the interface wrote them
    (first / "reweighting.ckpt").unlink()
    recipe = old / "hyperparams.yaml"
    recipe.write_text(recipe.read_text().replace(str(straight), str(old)))
    assert _train(corpus, old, "pw", *flags, "--resume") == 0
    a = torch.load(straight / "final" / "embedding_model.ckpt", weights_only=True)
    b = torch.load(old / "final" / "embedding_model.ckpt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    shutil.rmtree(old)
    shutil.copytree(straight, old)
    recipe.write_text(recipe.read_text().replace(str(straight), str(old)))
    last = sorted((old / "checkpoints").glob("CKPT+*"))[-1]
    torch.save({"sums": torch.zeros(3)}, last / "region_memory.ckpt")
    (last / "reweighting.ckpt").unlink()
    capsys.readouterr()
    assert _train(corpus, old, "pw", *flags, "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "study variant that left the code" in err[0], err
