"""Does the rule see harm without labels? Each candidate of each corpus-seed: the rule's verdict against the H list's.

Item 3 of issue 23: "where a method hurts, the rule must see it without labels and choose otherwise; say how often
it does". For every finished corpus-seed of the selection study and every candidate the rule judged (the
reweightings and post-hoc AS-norm; ARW-PW is not a candidate), this puts side by side

- **the rule's view** (``<corpus>/seed<S>/selection.json``, no labels): chosen, eligible but not chosen, or refused;
- **the H list's view** (``summary.json``, that seed's own paired interval against its uniform model; labels joined
  there for the report only): *harm* (an interval of the overall EER, gender gap or country std above 0), *meets*
  (no harm and a gap's interval below 0: the issue's target on one corpus-seed), or *neutral* (neither).

and counts, split by whether the second rule was designed on that corpus-seed (seed 0 of bench, uncrowded, shares,
crowded) or not: harmful candidates refused (the rule saw the harm), harmful candidates chosen (it did not), and
candidates that met the target but were refused (gains the rule missed). Last, each corpus-seed's choice under both
criteria of :func:`arwsv.selection.rule.select` (``worst``, the study's rule; ``spread``), recomputed from the rows
kept in ``selection.json`` (the recomputed ``worst`` choice must be the recorded one) and judged on the H list.

    python analyses/bench/rule_vs_harm.py --study results/select_study --out results/select_study/rule_vs_harm.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling scorecard.py

from scorecard import GAPS, METRICS, _shown  # noqa: E402  (the scorecard's metrics and Regenerate path)

# corpus-seeds whose numbers the second rule (commit 342858d) was written after: in-sample for it
DESIGNED_ON = {("bench", 0), ("uncrowded", 0), ("shares", 0), ("crowded", 0)}
# corpus-seeds whose numbers existed when criterion `spread` was written (commit 9a35c49): in-sample for it
SPREAD_SEEN = {(c, 0) for c in ("bench", "uncrowded", "shares", "crowded", "espeak", "reseeded")} | \
    {(c, 1) for c in ("espeak", "uncrowded", "shares", "crowded")}


def h_verdict(row: dict, seed: int) -> str:
    """``harm`` / ``meets`` / ``neutral`` / ``n/a`` of one system's summary row (``summary.json``), from seed ``seed``'s
    own paired intervals (lower is better for all three metrics)."""
    intervals = {m: row[m].get("per_seed", {}).get(str(seed), {}).get("ci") for m in METRICS}
    if not all(intervals.values()):
        return "n/a"
    if any(intervals[m][0] > 0 for m in METRICS):
        return "harm"
    return "meets" if any(intervals[m][1] < 0 for m in GAPS) else "neutral"


def rule_verdict(selection: dict, candidate: str) -> str:
    """``chosen`` / ``eligible`` (allowed but another won) / ``refused`` from a ``selection.json``."""
    if selection["selection"]["selected"] == candidate:
        return "chosen"
    return "eligible" if candidate in selection["selection"]["eligible"] else "refused"


def load(study: Path) -> tuple:
    """``summary.json`` and every ``<corpus>/seed<S>/selection.json`` of ``study``, each read once:
    ``(summary, {(corpus, seed): selection})``."""
    summary = json.loads((study / "summary.json").read_text())
    selections = {}
    for path in sorted(study.glob("*/seed*/selection.json")):
        kept = json.loads(path.read_text())
        kept["_path"] = str(path)
        selections[(path.parents[1].name, int(path.parent.name[len("seed"):]))] = kept
    return summary, selections


def rows(summary: dict, selections: dict) -> list:
    """One dict per corpus-seed and candidate (not the uniform baseline) with both verdicts."""
    out = []
    for (corpus, seed), selection in sorted(selections.items()):
        if corpus not in summary:
            continue
        for entry in selection["candidates"]:
            name = entry["candidate"]
            if name == "uniform":
                continue
            row = summary[corpus]["summary"].get(name)
            out.append({"corpus": corpus, "seed": seed, "candidate": name,
                        "designed_on": (corpus, seed) in DESIGNED_ON,
                        "rule": rule_verdict(selection, name),
                        "h": h_verdict(row, seed) if row else "n/a"})
    return out


def choices(selections: dict) -> list:
    """Per corpus-seed: ``{"corpus", "seed", "designed_on", "worst": name, "spread": name}`` recomputed with
    :func:`arwsv.selection.rule.select` from the rows its ``selection.json`` keeps."""
    from arwsv.selection.rule import CRITERIA, select

    out = []
    for (corpus, seed), kept in sorted(selections.items()):
        limit = kept["settings"]["max_eer_increase"] / 100
        picked = {c: select(kept["candidates"], max_eer_increase=limit, criterion=c)["selected"] for c in CRITERIA}
        if picked["worst"] != kept["selection"]["selected"]:
            raise ValueError(f"{kept['_path']}: the rule recomputed from its rows chose {picked['worst']}, the file "
                             f"says {kept['selection']['selected']}")
        out.append({"corpus": corpus, "seed": seed, "designed_on": (corpus, seed) in DESIGNED_ON,
                    "spread_seen": (corpus, seed) in SPREAD_SEEN, **picked})
    return out


def counts(table: list) -> dict:
    """The tallies of the module docstring over ``table`` (rows with an H verdict only)."""
    judged = [r for r in table if r["h"] != "n/a"]
    harm = [r for r in judged if r["h"] == "harm"]
    meets = [r for r in judged if r["h"] == "meets"]
    return {"judged": len(judged), "harm": len(harm),
            "harm_refused": sum(r["rule"] == "refused" for r in harm),
            "harm_chosen": sum(r["rule"] == "chosen" for r in harm),
            "meets": len(meets), "meets_refused": sum(r["rule"] == "refused" for r in meets),
            "meets_chosen": sum(r["rule"] == "chosen" for r in meets)}


def main() -> None:
    from arwsv.errors import InputError
    from arwsv.io.files import atomic_write

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=ROOT / "results" / "select_study")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not (args.study / "summary.json").is_file():
        print(InputError(f"{args.study / 'summary.json'} missing: run arwsv study --select first"), file=sys.stderr)
        raise SystemExit(2)
    summary, selections = load(args.study)
    table = rows(summary, selections)
    names = sorted({r["candidate"] for r in table})
    lines = ["# Does the rule see harm without labels?", "",
             f"Regenerate: `python analyses/bench/rule_vs_harm.py --study {_shown(args.study)} --out {_shown(args.out)}`",
             "",
             "Every candidate the rule judged, per corpus-seed. Rule (no labels, `selection.json`): chosen / eligible (allowed, "
             "another won) / refused. H list (that seed's own 95 % paired interval against its uniform model, "
             "`summary.json`; labels joined for this table only): harm (EER, gender gap or country std above 0), meets "
             "(no harm and a gap below 0), neutral. Designed on: the second rule was written after that corpus-seed's "
             "numbers.", "",
             "| corpus | seed | designed on | " + " | ".join(names) + " |"]
    lines.append("|---|---|---|" + "---|" * len(names))
    keyed = {(r["corpus"], r["seed"], r["candidate"]): r for r in table}
    for corpus, seed in sorted({(r["corpus"], r["seed"]) for r in table}, key=lambda k: (k[1], k[0])):
        cells = [f"{keyed[(corpus, seed, n)]['rule']}, {keyed[(corpus, seed, n)]['h']}" if (corpus, seed, n) in keyed
                 else "" for n in names]
        lines.append(f"| {corpus} | {seed} | {'yes' if (corpus, seed) in DESIGNED_ON else 'no'} | " + " | ".join(cells) + " |")
    lines += ["", "| corpus-seeds | candidates judged | harmful: refused / chosen (of n) | met the target: chosen / "
              "refused (of n) |", "|---|---|---|---|"]
    groups = [("designed on", [r for r in table if r["designed_on"]]),
              ("not designed on", [r for r in table if not r["designed_on"]]), ("all", table)]
    groups += [(f"all, `{n}` only", [r for r in table if r["candidate"] == n]) for n in names]
    for label, subset in groups:
        c = counts(subset)
        lines.append(f"| {label} | {c['judged']} | {c['harm_refused']} / {c['harm_chosen']} (of {c['harm']}) | "
                     f"{c['meets_chosen']} / {c['meets_refused']} (of {c['meets']}) |")

    def judged(corpus, seed, name):
        row = summary.get(corpus, {}).get("summary", {}).get(name)
        return "no change" if name == "uniform" else h_verdict(row, seed) if row else "n/a"

    picks = choices(selections)
    lines += ["", "Each corpus-seed's choice under the rule's two criteria (recomputed from the kept rows), and its H "
              "verdict (uniform: no change by definition).", "",
              "| corpus | seed | second rule designed on it | seen before `spread` was written | criterion `worst` "
              "(the study's rule) | criterion `spread` |",
              "|---|---|---|---|---|---|"]
    for p in sorted(picks, key=lambda p: (p["seed"], p["corpus"])):
        lines.append(f"| {p['corpus']} | {p['seed']} | {'yes' if p['designed_on'] else 'no'} | "
                     f"{'yes' if p['spread_seen'] else 'no'} | "
                     + " | ".join(f"{p[c]}, {judged(p['corpus'], p['seed'], p[c])}" for c in ("worst", "spread")) + " |")
    lines += ["", "| corpus-seeds | n | `worst`: harm / meets | `spread`: harm / meets |", "|---|---|---|---|"]
    for label, subset in (("second rule designed on", [p for p in picks if p["designed_on"]]),
                          ("second rule not designed on", [p for p in picks if not p["designed_on"]]),
                          ("seen before `spread` was written", [p for p in picks if p["spread_seen"]]),
                          ("after (`spread` out of sample)", [p for p in picks if not p["spread_seen"]]),
                          ("all", picks)):
        tally = {c: [judged(p["corpus"], p["seed"], p[c]) for p in subset] for c in ("worst", "spread")}
        lines.append(f"| {label} | {len(subset)} | " + " | ".join(
            f"{tally[c].count('harm')} / {tally[c].count('meets')}" for c in ("worst", "spread")) + " |")
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
