"""Label-free cluster-conditional calibration (FairCal-like, Salvador et al. 2022) of the uniform model, on H.

Per k-means cluster of the training speakers (by the uniform model of `arwsv study --select`), a logistic
calibration of the development trials touching that cluster; a test trial takes the mean of its two sides'
maps. Fitted without labels (speaker identities of the development speakers only); evaluated on H with the
labels joined (pooled EER, EER in training proportions, gender gap, country std). Writes OUT.

    python analyses/bench/cluster_calibration.py bench results/select_study/bench/seed0/cluster_calibration.md 8 16 32
"""
import sys, numpy as np, pandas as pd
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from pathlib import Path
from arwsv.selection.signals import unit_rows
from arwsv.selection.run import _read_dev_piece
from arwsv.selection.pseudo_groups import DevTrials
from arwsv.io.scorefile import read_trials
from arwsv.evaluation.metrics import eer
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
corpus, out_path = sys.argv[1], Path(sys.argv[2]); seed = 0; lines = []
data = Path(ROOT / f'data/{corpus}'); work = Path(ROOT / f'exp/select/{corpus}_seed{seed}')
P = Path(ROOT / f'results/select_study/{corpus}/seed{seed}/pieces')
cache = ROOT / f'exp/select/{corpus}_seed{seed}/test_embeddings.npz'
if not cache.is_file():
    from arwsv.experiments.select_study import _test_embeddings
    ids, emb = _test_embeddings(work/'candidates'/'uniform', data, 'cpu', False)
    np.savez(cache, ids=ids, emb=emb)
c = np.load(cache); tids, temb = c['ids'], unit_rows(c['emb'])
ref = np.load(work/'reference.npz')
dids, dspk, demb = _read_dev_piece(P, 'uniform'); demb = unit_rows(demb); dspk = dspk.astype(str)
groups = dict(line.split(',') for line in (P/'pseudo_groups.csv').read_text().splitlines()[1:])
dev = DevTrials(dids, dspk, groups)
dscore = (demb[dev.first]*demb[dev.second]).sum(1); dtgt = dev.is_target
trials = read_trials(data/'trials'/'H.txt')
index = {u + '.wav': i for i, u in enumerate(tids)}
a = np.array([index[u] for u in trials['enrol']]); b = np.array([index[u] for u in trials['test']])
hs = (temb[a]*temb[b]).sum(1); ht = trials['label'].to_numpy() == 1 if 'label' in trials else trials['is_target'].to_numpy()
meta = pd.read_csv(data/'meta.csv', sep='\t', dtype=str)
g = dict(zip(meta['VoxCeleb1 ID'], meta['Gender'])); n = dict(zip(meta['VoxCeleb1 ID'], meta['Nationality']))
espk = trials['enrol'].str.split('/').str[0]
share = pd.read_csv(data/'train.csv', dtype={'spk_id': str}).drop_duplicates('spk_id')
cellshare = (share['gender']+'/'+share['nationality']).value_counts(normalize=True)
cell = (espk.map(g)+'/'+espk.map(n)).to_numpy()
wtrain = np.zeros(len(hs))
for cc in np.unique(cell):
    for k in (True, False):
        m = (cell == cc) & (ht == k); wtrain[m] = cellshare.get(cc, 0)/m.sum()
gen = espk.map(g).to_numpy(); nat = espk.map(n).to_numpy()
def report(s, label):
    ge = {x: eer(s[gen == x], ht[gen == x]) for x in np.unique(gen)}
    ne = {x: eer(s[nat == x], ht[nat == x]) for x in np.unique(nat)}
    lines.append(f"| {label} | {100*eer(s, ht):.2f} | {100*eer(s, ht, weights=wtrain):.2f} | {100*abs(ge['f']-ge['m']):.2f} | "
                 f"{100*np.std(list(ne.values())):.2f} |")
report(hs, 'uniform')
for K in [int(x) for x in sys.argv[3:]] or [8, 16, 32]:
    km = KMeans(K, n_init=4, random_state=seed).fit(ref['train'])
    C = unit_rows(km.cluster_centers_)
    dcl = (demb@C.T).argmax(1); tcl = (temb@C.T).argmax(1)
    glob = LogisticRegression(C=1e6).fit(dscore[:, None], dtgt)
    def fit(mask):
        if dtgt[mask].sum() < 5 or (~dtgt[mask]).sum() < 5:
            return glob
        return LogisticRegression(C=1e6).fit(dscore[mask][:, None], dtgt[mask])
    maps = [fit((dcl[dev.first] == k) | (dcl[dev.second] == k)) for k in range(K)]
    def cal(s, c1, c2):
        out = np.zeros(len(s))
        for k in range(K):
            for cl in (c1, c2):
                m = cl == k
                out[m] += 0.5*maps[k].decision_function(s[m][:, None])
        return out
    report(cal(hs, tcl[a], tcl[b]), f'faircal K{K}')
from arwsv.io.files import atomic_write
with atomic_write(out_path) as handle:
    handle.write("\n".join([f"# Label-free cluster-conditional calibration of the uniform model: `{corpus}` seed {seed}", "",
                            f"Regenerate: `python analyses/bench/cluster_calibration.py {' '.join(sys.argv[1:])}`", "",
                            "H list, rates in %, one seed, no intervals (a screening).", "",
                            "| system | H EER | H EER, training proportions | gender gap (pp) | country std (pp) |",
                            "|---|---|---|---|---|", *lines]) + "\n")
print("\n".join(lines))
