"""``arwsv virtual-speakers MODEL --manifest TRAIN.csv --out DIR``: targeted virtual speakers, sized to their region."""

from __future__ import annotations

from types import SimpleNamespace

from arwsv.errors import InputError

# The planner's defaults (arwsv.selection.virtual.VirtualPlanSettings; a test checks they agree): written here so that
# `arwsv --help` builds this parser without importing numpy or the selection package.
PLAN_DEFAULTS = SimpleNamespace(clusters=32, targets=12, signal="crowding", copies=2, transforms=("speed", "shift"),
                                magnitudes=(0.01, 0.02, 0.03, 0.05, 0.1), probe_speakers=20, utts=2)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "virtual-speakers", help="plan targeted virtual speakers where a reference model is weakest (no labels)",
        description="Place every training speaker of --manifest in the embedding space of MODEL (a finished arwsv "
                    "train run), cluster them, pick the most crowded (or most difficult) regions, and measure in "
                    "each where perturbed copies land (cosine distance to the source, over the region's median "
                    "nearest-neighbour distance between real speakers): each region takes the transform and "
                    "magnitude whose copies land like new members of it (ratio closest to 1), and each of its "
                    "speakers gets --copies copies. Writes DIR/virtual_speakers.csv (the recipe key "
                    "augment.virtual_speakers; n_speakers grows by its rows), DIR/regions.csv (every speaker's "
                    "region), DIR/landing.json, DIR/landing.md and DIR/landing.png. See arwsv/selection/virtual.py.")
    d = PLAN_DEFAULTS
    p.add_argument("model", help="reference model: a finished arwsv train output folder")
    p.add_argument("--manifest", required=True, help="the training manifest (its speakers get the copies)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--clusters", type=int, default=d.clusters, help=f"k-means regions [default: {d.clusters}]")
    p.add_argument("--targets", type=int, default=d.targets,
                   help=f"regions that get copies, the weakest first [default: {d.targets}]")
    p.add_argument("--signal", choices=["crowding", "difficulty"], default=d.signal,
                   help="what makes a region weak: crowding (mean cosine between its speakers) or difficulty (EER "
                        f"of its own utterance pairs) [default: {d.signal}]")
    p.add_argument("--copies", type=int, default=d.copies, help=f"copies per speaker [default: {d.copies}]")
    p.add_argument("--transforms", default=",".join(d.transforms),
                   help=f"candidate transforms, comma-separated (speed, shift) [default: {','.join(d.transforms)}]")
    p.add_argument("--magnitudes", default=",".join(f"{m:g}" for m in d.magnitudes),
                   help="candidate magnitudes m (factors 1 - m, 1 + m) [default: "
                        f"{','.join(f'{m:g}' for m in d.magnitudes)}]")
    p.add_argument("--probe-speakers", type=int, default=d.probe_speakers,
                   help=f"speakers per region whose copies are measured [default: {d.probe_speakers}]")
    p.add_argument("--utts", type=int, default=d.utts, help=f"utterances per speaker embedded [default: {d.utts}]")
    p.add_argument("--seed", type=int, default=0, help="seed of k-means and of the probe speakers")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def _numbers(text: str, flag: str) -> tuple:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise InputError(f"{flag}: expected comma-separated numbers, got {text!r}") from None


def run(args) -> int:
    import json
    from pathlib import Path

    from arwsv.io.files import atomic_write
    from arwsv.selection.virtual import VirtualPlanSettings, plan_virtual_speakers

    settings = VirtualPlanSettings(clusters=args.clusters, targets=args.targets, signal=args.signal,
                                   copies=args.copies, transforms=tuple(t.strip() for t in args.transforms.split(",")),
                                   magnitudes=_numbers(args.magnitudes, "--magnitudes"),
                                   probe_speakers=args.probe_speakers, utts=args.utts, seed=args.seed)
    try:
        settings.check()
    except ValueError as err:
        raise InputError(str(err)) from None
    if args.seed < 0:
        raise InputError("--seed must be >= 0")
    if not Path(args.manifest).is_file():
        raise InputError("no such training manifest", args.manifest)
    table, report = plan_virtual_speakers(args.model, args.manifest, settings, device=args.device,
                                          progress=not args.quiet)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "virtual_speakers.csv") as handle:
        table.to_csv(handle, index=False, lineterminator="\n")
    region_of = report.pop("region_of")
    with atomic_write(out / "regions.csv") as handle:  # every training speaker's region (an analysis can add labels)
        handle.write("spk_id,region\n" + "".join(f"{s},{r}\n" for s, r in region_of.items()))
    with atomic_write(out / "landing.json") as handle:
        handle.write(json.dumps(report, indent=1) + "\n")
    command = (f"arwsv virtual-speakers {args.model} --manifest {args.manifest} --out {args.out} --clusters "
               f"{args.clusters} --targets {args.targets} --signal {args.signal} --copies {args.copies} --transforms "
               f"{args.transforms} --magnitudes {args.magnitudes} --probe-speakers {args.probe_speakers} --utts "
               f"{args.utts} --seed {args.seed}")
    with atomic_write(out / "landing.md") as handle:
        handle.write(landing_markdown(report, command) + "\n")
    plot_landing(report, out / "landing.png")
    print(f"{report['added_identities']} virtual speakers in {len(report['targets'])} regions "
          f"({report['speakers']} training speakers): {out / 'virtual_speakers.csv'}; set n_speakers: "
          f"{report['speakers'] + report['added_identities']}")
    return 0


def landing_markdown(report: dict, command: str) -> str:
    s = report["settings"]
    lines = ["# Targeted virtual speakers: where the copies land", "", f"Regenerate: `{command}`", "",
             f"Reference model `{report['model']}`, {report['speakers']} training speakers, {s['clusters']} regions, "
             f"the {s['targets']} with the highest {s['signal']} targeted; {s['copies']} copies per speaker; "
             f"{report['added_identities']} virtual speakers in all.", "",
             "Landing ratio: a copy's cosine distance to its source over the region's median nearest-neighbour "
             "distance between real speakers (median over the probe speakers and both directions; 1 = lands like a "
             "new member).", "",
             "| region | speakers | crowding | difficulty (EER) | NN distance (median) | chosen | landing ratio | "
             "copy to nearest other speaker |", "|---|---|---|---|---|---|---|---|"]
    for r in report["targets"]:
        c = r["chosen"]
        lines.append(f"| {r['region']} | {r['speakers']} | {r['crowding']:.3f} | {r['difficulty']:.3f} | "
                     f"{r['nn_distance_median']:.4f} | {c['transform']} ±{c['magnitude']:g} | {c['landing_ratio']:.2f} "
                     f"| {c['nearest_other_median']:.4f} |")
    lines += ["", "Every candidate's landing ratio:", "",
              "| region | " + " | ".join(f"{c['transform']} ±{c['magnitude']:g}"
                                       for c in report["targets"][0]["candidates"]) + " |",
              "|---|" + "---|" * len(report["targets"][0]["candidates"])] if report["targets"] else []
    for r in report["targets"]:
        lines.append(f"| {r['region']} | " + " | ".join(f"{c['landing_ratio']:.2f}" for c in r["candidates"]) + " |")
    lines += ["", "All regions:", "", "| region | speakers | crowding | difficulty |", "|---|---|---|---|"]
    for r in report["regions_all"]:
        lines.append(f"| {r['region']} | {r['speakers']} | {r['crowding']:.3f} | {r['difficulty']:.3f} |")
    return "\n".join(lines)


def plot_landing(report: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from arwsv.io.files import atomic_write

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in report["targets"]:
        for transform, marker in (("speed", "o"), ("shift", "s")):
            points = [(c["magnitude"], c["landing_ratio"]) for c in r["candidates"] if c["transform"] == transform]
            if points:
                m, ratio = zip(*points)
                ax.plot(m, ratio, marker=marker, label=f"region {r['region']} {transform}")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("magnitude m (factors 1 - m, 1 + m)")
    ax.set_ylabel("landing ratio (copy-source / NN distance)")
    ax.set_title("Where perturbed copies land, per target region")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_write(path, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
