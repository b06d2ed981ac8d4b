"""Can a label-free grouping of the development speakers stand in for the balanced gender x country cells?

For each grouping (true cells and gender with the labels joined, as the reference; k-means, average-linkage and
Ward clustering of the development speakers; k-means clusters of the training speakers), development trials within
groups: pooled EER, EER with every group weighted alike ("balanced"), worst group, and spread, each candidate's
change against uniform (pp). From the kept pieces of `arwsv study --select`; one seed, no intervals (a screening).

    python analyses/bench/dev_groupings.py bench results/select_study/bench/seed0/dev_groupings.md
"""
import numpy as np, pandas as pd, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from arwsv.evaluation.metrics import eer
from arwsv.selection.run import _read_dev_piece
from arwsv.selection.signals import unit_rows
from sklearn.cluster import KMeans, AgglomerativeClustering
from arwsv.io.files import atomic_write
from pathlib import Path
corpus, out_path = sys.argv[1], Path(sys.argv[2]); lines = []
P=Path(ROOT / f'results/select_study/{corpus}/seed0/pieces'); ref=np.load(ROOT / f'exp/select/{corpus}_seed0/reference.npz')
meta=pd.read_csv(ROOT / f'data/{corpus}/meta.csv',sep='\t')
cell=dict(zip(meta['VoxCeleb1 ID'],meta['Gender']+'/'+meta['Nationality']))
ids,spk,uni=_read_dev_piece(P,'uniform'); spk=spk.astype(str)
names,codes=np.unique(spk,return_inverse=True)
means=np.zeros((len(names),uni.shape[1])); np.add.at(means,codes,unit_rows(uni)); means=unit_rows(means)
cands=['uniform','balance_k32','crowding_k32_b10','crowding_k48_b20','difficulty_k16_b10']
embs={n:unit_rows(_read_dev_piece(P,n)[2]) for n in cands}
def evaluate(group_of_spk, label):
    g=group_of_spk[codes]  # per utterance
    i,j=np.triu_indices(len(ids),1); m=g[i]==g[j]; i,j=i[m],j[m]; tg=g[i]; tgt=codes[i]==codes[j]
    w=np.zeros(len(i))
    for c in np.unique(tg):
        mm=tg==c
        if tgt[mm].any() and (~tgt[mm]).any(): w[mm&tgt]=1/(mm&tgt).sum(); w[mm&~tgt]=1/(mm&~tgt).sum()
    out=[]
    for n in cands:
        s=(embs[n][i]*embs[n][j]).sum(1)
        per=[eer(s[tg==c],tgt[tg==c]) for c in np.unique(tg) if w[tg==c].sum()>0]
        out.append((100*eer(s,tgt),100*eer(s,tgt,weights=w),100*max(per),100*np.std(per)))
    sizes=sorted(np.bincount(group_of_spk).tolist(),reverse=True)
    for k,what in enumerate(['pooled','balanced','worst','std']):
        base=out[0][k]
        lines.append(f"| {label} | {len(sizes)} | {what} | {base:.2f} | " + " | ".join(f"{o[k]-base:+.2f}" for o in out[1:]) + " |")
lab=np.array([cell[s] for s in names]); evaluate(np.unique(lab,return_inverse=True)[1],'LABELS cells')
evaluate(np.unique(np.array([c[0] for c in lab]),return_inverse=True)[1],'LABELS gender')
for G in (2,4,8):
    evaluate(KMeans(G,n_init=10,random_state=0).fit_predict(means),f'kmeans dev G{G}')
for G in (2,4,8):
    evaluate(AgglomerativeClustering(G,linkage='average',metric='cosine').fit_predict(means),f'agglo-avg G{G}')
    evaluate(AgglomerativeClustering(G,linkage='ward').fit_predict(means),f'ward G{G}')
for K in (8,16):
    km=KMeans(K,n_init=4,random_state=0).fit(ref['train'])
    evaluate((means@unit_rows(km.cluster_centers_).T).argmax(1),f'train-kmeans K{K}')

with atomic_write(out_path) as handle:
    handle.write("\n".join([f"# Label-free groupings of the development speakers: `{corpus}` seed 0", "",
                            f"Regenerate: `python analyses/bench/dev_groupings.py {corpus} {out_path}`", "",
                            "Development EER (%) of uniform, and each candidate's change (pp); LABELS rows join the "
                            "labels afterwards (the reference a label-free grouping should reproduce).", "",
                            "| grouping | groups | measure | uniform | " + " | ".join(cands[1:]) + " |",
                            "|---|---|---|---|" + "---|" * (len(cands) - 1), *lines]) + "\n")
print("\n".join(lines))
