"""The table and the figure ``arwsv select`` writes: every candidate against uniform weights, and the choice."""

from __future__ import annotations

from arwsv.selection.rule import CRITERIA, METRICS, groups_better, groups_worse

__all__ = ["selection_markdown", "plot_selection"]

def _short(path) -> str:
    """A path as the user would type it from the repository root."""
    from pathlib import Path

    text = str(path)
    root = str(Path(__file__).resolve().parents[2]) + "/"
    return text[len(root):] if text.startswith(root) else text


def _per_speaker(settings: dict) -> str:
    """How many utterances of each development speaker the trials use, when not all of them."""
    count = settings.get("dev_utts", 0)
    return f"; at most {count} utterances per speaker, spread over its sessions" if count else ""


def _pp(value) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f}"


def selection_markdown(result: dict) -> str:
    choice = result["selection"]
    split = result["split"]
    lines = [f"# Label-free selection: {choice['selected']}", "",
             f"Regenerate: `arwsv select {_short(result['recipe'])} {_short(result.get('selection_file', 'SELECTION.yaml'))} "
             f"--seed {result['seed']}` (with the same recipe overrides, work and output folders)", "",
             f"{split['train_speakers']} training speakers, {split['dev_speakers']} development speakers "
             f"({result['dev_trials']['n']} trials within {len(result['pseudo_groups'])} pseudo-groups, "
             f"{result['dev_trials']['targets']} targets{_per_speaker(result['settings'])}); no demographic label "
             "was read.", "",
             f"**Selected: `{choice['selected']}`**: {choice['reason']}. Model: `{choice['model']}`; score with "
             f"`{choice.get('scoring', 'arwsv score')}`.", "",
             "Each metric in %, and its difference from `uniform` in pp with the 95 % paired speaker-bootstrap "
             f"interval ({result['settings']['bootstrap']} replicates). Rule: eligible if the overall EER (of the "
             "development speakers, who come in the training proportions: a test population like the training one) "
             f"does not rise by more than {result['settings']['max_eer_increase']:g} pp and no pseudo-group is worse "
             "(its own interval above 0); " + CRITERIA[result["settings"].get("criterion", "worst")]["rule"] + " Post-hoc candidates "
             f"({', '.join(result['settings'].get('post_hoc', {})) or 'none'}) score the uniform model; nothing is "
             "trained for them.", "",
             "| candidate | " + " | ".join(METRICS.values()) + " | pseudo-groups worse / better | eligible | helps |",
             "|---|" + "---|" * (len(METRICS) + 3)]
    for row in result["candidates"]:
        cells = []
        for key in METRICS:
            ci = row["ci"][key]
            text = f"{100 * row['value'][key]:.2f}"
            if row["candidate"] != "uniform":
                text += f" ({_pp(row['delta'][key])} [{_pp(ci[0]) if ci else 'n/a'}, {_pp(ci[1]) if ci else 'n/a'}])"
            cells.append(text)
        name = row["candidate"]
        mark = lambda flag: "yes" if flag else ("" if name == "uniform" else "no")  # noqa: E731
        moved = "" if name == "uniform" else f"{len(groups_worse(row))} / {len(groups_better(row))}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {moved} | {mark(name in choice['eligible'])} | "
                     f"{mark(name in choice['helps'])} |")
    lines += ["", "Pseudo-group sizes (development speakers): " +
              ", ".join(f"{g} {n}" for g, n in result["pseudo_groups"].items()), ""]
    return "\n".join(lines)


def plot_selection(result: dict, path) -> None:
    """Per candidate, each pseudo-group's development EER (dots) and the overall EER (bar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from arwsv.io.files import atomic_write

    rows = result["candidates"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(rows), 3.6))
    for x, row in enumerate(rows):
        ax.bar(x, 100 * row["value"]["eer"], color="tab:green" if row["candidate"] == result["selection"]["selected"]
               else "0.8", width=0.6)
        groups = [100 * v for v in row["groups"].values()]
        ax.scatter([x] * len(groups), groups, color="k", s=10, zorder=3)
    ax.set_xticks(range(len(rows)), [r["candidate"] for r in rows], rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("development EER (%)")
    ax.set_title("bars: overall; dots: pseudo-groups; green: selected", fontsize=9)
    fig.tight_layout()
    with atomic_write(path, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
