"""Memory of DataLoader workers over a VoxCeleb2-sized manifest: rows as NumPy arrays vs one dict per row.

Writes a manifest of ``--rows`` 3 s segments (default 2 M, VoxCeleb2-dev's size in 3 s segments) of ``--rows / 2``
files in VoxCeleb2's path layout, loads it both ways (:class:`arwsv.data.dataio.ManifestArrays`, today's, and the
list of dicts of SpeechBrain's ``load_data_csv``, as before), starts ``--workers`` forked DataLoader workers that
each read ``--touch`` random rows (no audio: the files do not exist, so an item costs its row lookup and is marked
unreadable), and reads every worker's memory from ``/proc/<pid>/smaps_rollup``: RSS (what ``top`` shows: includes
pages shared with the parent, torch's libraries among them), PSS (shared pages divided among their users) and USS
(private: what this worker alone adds). Prints one table, measured in one run.

    python benchmarks/bench_manifest_memory.py                 # 2 M rows, 8 workers
    python benchmarks/bench_manifest_memory.py --rows 200000   # quick
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def write_manifest(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    files = rows // 2
    speakers = rng.integers(0, 5994, files)
    videos = rng.integers(0, 10 ** 6, files)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("ID,duration,wav,start,stop,spk_id,gender,nationality\n")
        for f in range(files):
            spk = f"id{speakers[f]:05d}"
            rel = f"{spk}/v{videos[f]:06d}{f:07d}/{f % 1000:05d}"  # unique per file, VoxCeleb2's depth
            wav = f"/data/voxceleb2/dev/aac/{rel}.wav"
            for seg in range(2):
                start, stop = seg * 48000, (seg + 1) * 48000
                handle.write(f"{rel}_{start}_{stop},3.000,{wav},{start},{stop},{spk},m,\n")


def smaps(pid: int) -> dict:
    """RSS, PSS and USS (private clean + dirty) of a process in MB."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if parts[0].rstrip(":") in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                values[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {"rss": values["Rss"], "pss": values["Pss"], "uss": values["Private_Clean"] + values["Private_Dirty"]}


class DictRows:
    """The dataset as before: one dict per row (SpeechBrain's load_data_csv), read per item."""

    def __init__(self, rows):
        self.rows = rows
        speakers = sorted({r["spk_id"] for r in rows})
        self.index = {s: i for i, s in enumerate(speakers)}

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        row = self.rows[i]  # the lookup that writes the row's reference counts
        return {"spk": self.index[row["spk_id"]], "n": len(row["wav"]) + int(float(row["start"]))}


def worker_memory(dataset, workers: int, touch: int, batch: int, seed: int) -> list:
    """Start ``workers`` persistent workers, let each read about ``touch`` random rows, return their memory."""
    import torch

    rng = np.random.default_rng(seed)
    batches = [rng.integers(0, len(dataset), batch).tolist() for _ in range(max(1, touch * workers // batch))]
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                                         collate_fn=lambda items: len(items), persistent_workers=True,
                                         multiprocessing_context="fork")
    iterator = iter(loader)
    for _ in iterator:
        pass
    pids = [w.pid for w in iterator._workers]
    out = [smaps(pid) for pid in pids]
    iterator._shutdown_workers()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--touch", type=int, default=100_000, help="random rows each worker reads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="results/benchmarks.md: replace this benchmark's section")
    args = parser.parse_args()
    import torch  # noqa: F401  (the workers fork a process that has torch, as a training process does)

    from arwsv.data.dataio import CropDataset, ManifestArrays, load_manifest_rows

    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "train.csv"
        start = time.perf_counter()
        write_manifest(manifest, args.rows, args.seed)
        print(f"manifest: {args.rows:,} rows ({manifest.stat().st_size / 2 ** 20:.0f} MB) in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        results = {}
        for name in ("arrays", "dicts"):
            gc.collect()
            before = smaps(os.getpid())["uss"]
            start = time.perf_counter()
            if name == "arrays":
                dataset = CropDataset(ManifestArrays.from_manifest(manifest), 2.0)
            else:
                dataset = DictRows(load_manifest_rows(manifest))
            load_s = time.perf_counter() - start
            held = smaps(os.getpid())["uss"] - before
            memory = worker_memory(dataset, args.workers, args.touch, 256, args.seed)
            results[name] = (load_s, held, memory)
            print(f"{name}: loaded in {load_s:.1f} s, {held:.0f} MB in the training process; per worker (median of "
                  f"{args.workers}): RSS {np.median([m['rss'] for m in memory]):.0f} MB, PSS "
                  f"{np.median([m['pss'] for m in memory]):.0f} MB, USS {np.median([m['uss'] for m in memory]):.0f} MB",
                  flush=True)
            del dataset
    a, d = results["arrays"], results["dicts"]
    med = {k: {m: float(np.median([w[m] for w in r[2]])) for m in ("rss", "pss", "uss")} for k, r in results.items()}
    lines = ["## Manifest memory of DataLoader workers (VoxCeleb2-sized)", "",
             f"Regenerate: `python benchmarks/bench_manifest_memory.py --rows {args.rows} --workers {args.workers} "
             f"--touch {args.touch} --out results/benchmarks.md`", "",
             f"A manifest of {args.rows:,} 3 s segment rows (VoxCeleb2-dev in 3 s segments) of {args.rows // 2:,} files; "
             f"{args.workers} forked DataLoader workers each read about {args.touch:,} random rows; memory per worker from "
             "`/proc/<pid>/smaps_rollup`, median over the workers, both layouts in one run. RSS counts every page the "
             "worker maps, shared ones included (torch's libraries and the parent's untouched pages: the same in both "
             "rows); PSS divides shared pages among their users; USS is what the worker alone holds (pages it copied "
             "on write, e.g. reference counts of the Python objects it read). Target (issue 38): <= 200 MB per worker.", "",
             f"| manifest in memory | load (s) | training process (MB) | worker RSS (MB) | worker PSS (MB) | "
             f"worker USS (MB) | all {args.workers} workers' USS (MB) |", "|---|---|---|---|---|---|---|"]
    for name, key, r in (("NumPy arrays (`ManifestArrays`, now)", "arrays", a),
                         ("one dict per row (`load_data_csv`, before)", "dicts", d)):
        lines.append(f"| {name} | {r[0]:.1f} | {r[1]:.0f} | {med[key]['rss']:.0f} | {med[key]['pss']:.0f} | "
                     f"{med[key]['uss']:.0f} | {sum(w['uss'] for w in r[2]):.0f} |")
    lines += ["", f"Per-worker USS, dicts / arrays: **{med['dicts']['uss'] / max(med['arrays']['uss'], 1e-9):.1f}x**. "
              f"With arrays a worker holds {med['arrays']['uss']:.0f} MB of its own ({med['arrays']['pss']:.0f} MB "
              f"with its share of the shared pages): the target is met for private and proportional memory; the raw "
              f"RSS ({med['arrays']['rss']:.0f} MB) is above it by the shared pages every torch process maps."]
    from _sections import publish

    publish("\n".join(lines), args.out, "bench_manifest_memory")


if __name__ == "__main__":
    main()
