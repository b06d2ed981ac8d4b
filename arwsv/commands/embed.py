"""``arwsv embed MODEL_DIR MANIFEST --out EMB``: speaker embeddings of every utterance."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("embed", help="extract embeddings of a manifest with a trained model",
                       description="Write EMB (.npz with ids and embeddings) for every row of MANIFEST.")
    p.add_argument("model_dir", help="output folder of arwsv train")
    p.add_argument("manifest", help="manifest CSV (e.g. test.csv from arwsv prepare)")
    p.add_argument("--out", required=True, help="embeddings file to write (.npz)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch-seconds", type=float, default=120.0, help="padded audio per batch")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    from arwsv.data.dataio import load_manifest_rows
    from arwsv.inference.embed import extract, load_model, save_embeddings
    from arwsv.errors import InputError
    from arwsv.io.files import check_writable
    from arwsv.data.manifest import read_manifest

    check_writable(args.out)
    read_manifest(args.manifest)  # clear errors for a missing or malformed manifest
    if args.batch_seconds <= 0:
        raise InputError("--batch-seconds must be > 0")
    features, model, _ = load_model(args.model_dir, args.device)
    ids, emb = extract(features, model, load_manifest_rows(args.manifest), device=args.device,
                       batch_seconds=args.batch_seconds, progress=not args.quiet)
    save_embeddings(args.out, ids, emb)
    print(f"wrote {len(ids)} embeddings of size {emb.shape[1]} to {args.out}")
    return 0
