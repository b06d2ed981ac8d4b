"""``arwsv study``: the toy fairness study, every variant over several seeds, and a sensitivity grid.

For each variant of :data:`arwsv.experiments.demo.VARIANTS` (baseline, ARW = PW + region priors, PW without
region priors, APS, PL, the label-using oracle) and each training seed, the default toy corpus is
trained on with the same budget, the H list scored and evaluated with a speaker bootstrap. The
table gives mean ± std over seeds of overall EER, gender gap and country std (plus the change of the
mean against the baseline); a second table lists every run with its bootstrap interval. The grid
varies one ARW knob at a time around the toy recipe (k-means regions, adversary learning rate,
warm-up length) at the first seed and plots the three metrics against it.

Writes ``OUT/toy_study.md``, ``OUT/toy_study.json`` and ``OUT/toy_sensitivity.png``. Models go
to ``WORK/<variant>_seed<S>`` (shared with ``arwsv demo``, and reused when their recipe is unchanged).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from arwsv.experiments.demo import QUICK_ARW, VARIANTS, evaluate_model, toy_corpus, train_variant
from arwsv.evaluation.groups import _dig

__all__ = ["run_study", "METRICS", "GRID"]

METRICS = {  # key -> (label, path into the eval report)
    "eer": ("overall EER (%)", ("overall", "eer")),
    "gender_gap": ("gender gap (pp)", ("attributes", "gender", "summary", "eer_gap_abs")),
    "country_std": ("country std (pp)", ("attributes", "nationality", "summary", "eer_std")),
}
GRID = {  # knob -> values tried (the toy recipe's own value is one of them)
    "region_priors": [2, 4, 8],
    "adversary_lr": [0.0001, 0.0003, 0.001],
    "warmup_steps": [50, 150, 300],
}
QUICK_GRID = {"region_priors": [2, 3], "adversary_lr": [0.0003, 0.003], "warmup_steps": [0, 2]}


def _measure(report: dict) -> dict:
    out = {}
    for key, (_, path) in METRICS.items():
        *head, last = path
        node = _dig(report, tuple(head))
        ci = (node.get("ci") or {}).get(last)
        out[key] = {"value": node[last], "ci": ci}
    return out


def _mean_std(values: list) -> tuple:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return float("nan"), float("nan")
    return statistics.fmean(finite), statistics.pstdev(finite) if len(finite) > 1 else 0.0


def _summary(runs: dict, variants: list) -> dict:
    """{variant: {metric: {mean, std, values, change_vs_baseline}}}."""
    table = {}
    for name in variants:
        row = {}
        for key in METRICS:
            values = [runs[name][s][key]["value"] for s in sorted(runs[name])]
            mean, std = _mean_std(values)
            row[key] = {"mean": mean, "std": std, "values": values}
        table[name] = row
    if "baseline" in table:
        for name, row in table.items():
            for key, cell in row.items():
                base = table["baseline"][key]["mean"]
                cell["change_vs_baseline"] = (cell["mean"] - base) / base * 100 if base else float("nan")
    return table


def _pct(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.2f}"


def _markdown(summary: dict, runs: dict, grid: dict, command: str, seeds: list, bootstrap: int) -> str:
    lines = ["# Toy fairness study: ARW variants against the baseline", "", f"Regenerate: `{command}`", "",
             f"Default toy corpus (planted gender and country imbalance), H trial list, training seeds {seeds}, "
             "the same recipe and budget for every variant (`recipes/toy/arw.yaml`, only the `reweighting` block "
             f"changes). Mean ± population std over seeds; change = relative change of the mean against the "
             f"baseline (negative = lower). Per-run 95 % intervals come from a {bootstrap}-replicate speaker "
             "bootstrap (`arwsv eval --bootstrap`).", "",
             "| variant | " + " | ".join(label for label, _ in METRICS.values()) + " |",
             "|---|" + "---|" * len(METRICS)]
    for name, row in summary.items():
        cells = []
        for key in METRICS:
            cell = row[key]
            change = cell.get("change_vs_baseline")
            shown = f"{_pct(cell['mean'])} ± {_pct(cell['std'])}"
            if name != "baseline" and change is not None and math.isfinite(change):
                shown += f" ({change:+.0f} %)"
            cells.append(shown)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Every run (95 % speaker-bootstrap interval)", "",
              "| variant | seed | " + " | ".join(label for label, _ in METRICS.values()) + " |",
              "|---|---|" + "---|" * len(METRICS)]
    for name in summary:
        for seed in sorted(runs[name]):
            cells = []
            for key in METRICS:
                m = runs[name][seed][key]
                band = f" [{_pct(m['ci'][0])}, {_pct(m['ci'][1])}]" if m["ci"] else ""
                cells.append(_pct(m["value"]) + band)
            lines.append(f"| {name} | {seed} | " + " | ".join(cells) + " |")
    if grid:
        scale = ""
        if "baseline" in summary and len(seeds) > 1:
            spread = ", ".join(f"{_pct(summary['baseline'][k]['std'])} ({label.split(' (')[0]})" for k, (label, _)
                               in METRICS.items())
            scale = f" For scale, the baseline's seed-to-seed std: {spread}."
        lines += ["", f"## Sensitivity of ARW (PW + regions), seed {seeds[0]}", "",
                  "One knob at a time around the toy recipe, one seed; `toy_sensitivity.png` plots the same "
                  f"numbers (dotted: the baseline of that seed).{scale}", "",
                  "| knob | value | " + " | ".join(label for label, _ in METRICS.values()) + " |",
                  "|---|---|" + "---|" * len(METRICS)]
        for knob, points in grid.items():
            for value, metrics in points:
                lines.append(f"| {knob} | {value:g} | " + " | ".join(_pct(metrics[k]["value"]) for k in METRICS) + " |")
    return "\n".join(lines) + "\n"


def _grid_plot(grid: dict, baseline: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from arwsv.io.files import atomic_write

    # overall EER on top, the two gaps below: they differ by an order of magnitude
    fig, axes = plt.subplots(2, len(grid), figsize=(4.2 * len(grid), 6.4), squeeze=False, sharex="col")
    rows = {"eer": 0, "gender_gap": 1, "country_std": 1}
    for col, (knob, points) in enumerate(grid.items()):
        xs = [value for value, _ in points]
        for key, (label, _) in METRICS.items():
            ax = axes[rows[key]][col]
            line, = ax.plot(xs, [100 * m[key]["value"] for _, m in points], marker="o", label=label)
            if baseline is not None:
                ax.axhline(100 * baseline[key]["value"], color=line.get_color(), linestyle=":", linewidth=1)
        for row in range(2):
            if knob == "adversary_lr":
                axes[row][col].set_xscale("log")
        axes[0][col].set(title=f"ARW, varying {knob}", ylabel="overall EER (%)")
        axes[1][col].set(xlabel=knob, ylabel="gap (pp)")
    axes[0][0].legend(fontsize=8, title="dotted: baseline", title_fontsize=8)
    axes[1][0].legend(fontsize=8, title="dotted: baseline", title_fontsize=8)
    fig.tight_layout()
    with atomic_write(path, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def run_study(*, out="results", work="exp/arwsv", seeds=(0, 1, 2), variants=None, grid: bool = True,
              bootstrap: int = 200, quick: bool = False, trials: str = "H", progress: bool = True) -> dict:
    """Train and evaluate every variant x seed (and the grid); returns what ``toy_study.json`` holds."""
    from tqdm.auto import tqdm

    from arwsv.io.files import atomic_write
    from arwsv.training.recipe import load_recipe
    from arwsv.evaluation.report import to_json

    variants = list(variants or VARIANTS)
    seeds = list(seeds)
    out, work = Path(out), Path(work)
    if quick:  # tiny models live apart: the full ones (an hour of CPU for the study) must never be replaced
        work = work / "quick"
    out.mkdir(parents=True, exist_ok=True)
    data = toy_corpus(work, 0, quick, progress)
    knobs = QUICK_GRID if quick else GRID
    defaults = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "toy" / "arw.yaml",
                           {"data_folder": str(data)})[0]["reweighting"].as_dict()
    if quick:
        defaults.update(QUICK_ARW)
    jobs = [(name, seed, None, None) for name in variants for seed in seeds]
    if grid:
        for knob, values in knobs.items():
            default = defaults[knob]
            jobs += [("arw", seeds[0], knob, v) for v in values if v != default]
    runs, points = {}, {knob: [] for knob in knobs} if grid else {}
    bar = tqdm(jobs, desc="study", unit="model", disable=not progress or None)
    for name, seed, knob, value in bar:
        bar.set_postfix_str(f"{name} seed {seed}" + (f" {knob}={value:g}" if knob else ""))
        folder = f"arw_{knob}{value:g}_seed{seed}" if knob else None
        model = train_variant(name, data, work, seed, quick, progress=False,
                              reweighting={knob: value} if knob else None, folder=folder)
        report, _ = evaluate_model(model, data, trials, 0 if quick else bootstrap, seed, progress=False)
        measured = _measure(report)
        if knob:
            points[knob].append((value, measured))
        else:
            runs.setdefault(name, {})[seed] = measured
    if grid and "arw" in runs:  # the recipe's own value is the seed-0 ARW run of the main table
        for knob in knobs:
            default = defaults[knob]
            points[knob] = sorted(points[knob] + [(default, runs["arw"][seeds[0]])], key=lambda p: p[0])
    summary = _summary(runs, variants)
    command = "arwsv study" + (" --quick" if quick else "") + \
        (f" --seeds {' '.join(map(str, seeds))}" if seeds != [0, 1, 2] else "") + \
        (f" --variants {' '.join(variants)}" if variants != list(VARIANTS) else "") + ("" if grid else " --no-grid") + \
        (f" --bootstrap {bootstrap}" if bootstrap != 200 else "")
    text = _markdown(summary, runs, points, command, seeds, 0 if quick else bootstrap)
    result = {"command": command, "trials": trials, "seeds": seeds, "quick": quick, "summary": summary,
              "runs": {name: {str(s): m for s, m in per.items()} for name, per in runs.items()},
              "grid": {knob: [{"value": v, **{k: m[k] for k in METRICS}} for v, m in pts] for knob, pts in points.items()}}
    with atomic_write(out / "toy_study.md") as handle:
        handle.write(text)
    with atomic_write(out / "toy_study.json") as handle:
        handle.write(to_json(result))
    if grid:
        base = runs.get("baseline", {}).get(seeds[0])
        _grid_plot(points, base, out / "toy_sensitivity.png")
    print(text)
    return result
