"""Item 3's scorecard: for each system of the selection study, on which corpora it meets "no harm" and "a narrowing".

Reads only ``results/select_study/summary.json`` (made by ``arwsv study --select``: every system against the same
seed's uniform model on the H list, the paired speaker-bootstrap interval of the change pooled over seeds, and each
seed's own interval). Per system and corpus:

- **harm**: the pooled interval of the overall EER, the gender gap or the country std lies above 0;
- **narrows**: the pooled interval of the gender gap or of the country std lies below 0;
- **meets**: no harm and narrows (the issue's target on one corpus);
- **seeds with harm**: seeds whose own interval of any of the three lies above 0 (a pooled "no harm" can hide one).

The target on the corpora no choice was tuned on (every corpus but ``bench``): no harm on every one and a narrowing on
at least half. ``selected`` is what the rule chose (it may differ per seed); the others are fixed settings.

    python analyses/bench/scorecard.py --summary results/select_study/summary.json --out results/select_study/scorecard.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

METRICS = ("eer", "gender_gap", "country_std")
GAPS = ("gender_gap", "country_std")
SYSTEMS = ("selected", "crowding_k48_b20", "crowding_k32_b10", "difficulty_k16_b10", "balance_k32", "arw_pw",
           "asnorm_train", "asnorm_unseen")
TUNED_ON = ("bench",)  # the corpus every setting was designed on; the others were fixed before any run


def verdicts(row: dict) -> dict:
    """``{"harm": [metrics], "narrows": [gaps], "seeds_with_harm": [seeds]}`` of one system's summary row."""
    from arwsv.experiments.select_study import verdict  # the study's own helps / hurts reading of an interval

    harm = [m for m in METRICS if verdict(row[m]) == "hurts"]
    narrows = [m for m in GAPS if verdict(row[m]) == "helps"]
    seeds = sorted({int(s) for m in METRICS for s, entry in row[m].get("per_seed", {}).items()
                    if entry.get("ci") and entry["ci"][0] > 0})
    return {"harm": harm, "narrows": narrows, "seeds_with_harm": seeds}


def scorecard(summary: dict) -> list:
    """One dict per system: its verdict per corpus and the count of untuned corpora where it meets the target."""
    rows = []
    for system in SYSTEMS:
        cells, untuned, met, harmed = {}, 0, 0, 0
        for corpus, item in summary.items():
            row = item["summary"].get(system)
            if row is None or "diff_mean" not in row["eer"]:
                continue
            v = verdicts(row)
            v["seeds"] = row["eer"]["paired_seeds"]
            cells[corpus] = v
            if corpus not in TUNED_ON:
                untuned += 1
                met += bool(v["narrows"]) and not v["harm"]
                harmed += bool(v["harm"])
        if cells:
            rows.append({"system": system, "cells": cells, "untuned": untuned, "meets": met, "harms": harmed,
                         "target": untuned > 0 and harmed == 0 and 2 * met >= untuned})
    return rows


def _cell(v: dict) -> str:
    text = ("harm: " + ", ".join(v["harm"])) if v["harm"] else "no harm"
    text += "; narrows " + ", ".join(v["narrows"]) if v["narrows"] else "; no narrowing"
    if v["seeds_with_harm"] and not v["harm"]:
        text += f" (seed {', '.join(map(str, v['seeds_with_harm']))} alone: harm)"
    return f"{text} [{v['seeds']}]"


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (the command works from the root)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main() -> None:
    from arwsv.io.files import atomic_write

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", type=Path, default=ROOT / "results" / "select_study" / "summary.json")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    summary = json.loads(args.summary.read_text())
    rows = scorecard(summary)
    corpora = list(summary)
    lines = ["# Item 3's scorecard: no harm and a narrowing, per system and corpus", "",
             f"Regenerate: `python analyses/bench/scorecard.py --summary {_shown(args.summary)} --out {_shown(args.out)}`",
             "",
             "From the study's pooled paired intervals on the H list (`summary.json`; labels joined there for the "
             "report only). Harm: an interval of the overall EER, gender gap or country std above 0. Narrows: a gap's "
             "interval below 0. In brackets: the seeds pooled. Target on the corpora no choice was tuned on (all but "
             f"{', '.join(TUNED_ON)}): no harm on every one and a narrowing on at least half. For `selected`, the "
             "rule's second version was written after the seed-0 runs of uncrowded, shares and crowded: only espeak and "
             "reseeded are out of sample for it.", "",
             "| system | " + " | ".join(corpora) + " | untuned corpora: meet / harm (of n) | target |",
             "|---|" + "---|" * len(corpora) + "---|---|"]
    for row in rows:
        lines.append(f"| {row['system']} | " + " | ".join(_cell(row["cells"][c]) if c in row["cells"] else "not run"
                                                       for c in corpora)
                     + f" | {row['meets']} / {row['harms']} (of {row['untuned']}) | {'met' if row['target'] else 'missed'} |")
    with atomic_write(args.out) as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
