"""Keep one section per benchmark in results/benchmarks.md, each replaced by its own script."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = ("# Benchmarks\n\nEach section is written by the script it names; ratios are measured in one run "
          "(these machines are noisy).\n")


def update_section(path, name: str, text: str) -> None:
    """Replace (or append) the block between ``<!-- name -->`` markers in ``path``."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from arwsv.io.files import atomic_write

    path = Path(path)
    current = path.read_text() if path.exists() else HEADER
    block = f"<!-- {name} -->\n{text.strip()}\n<!-- /{name} -->\n"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->\n.*?<!-- /{re.escape(name)} -->\n", re.S)
    updated = pattern.sub(lambda _: block, current) if pattern.search(current) else current.rstrip() + "\n\n" + block
    with atomic_write(path) as handle:
        handle.write(updated)


def publish(text: str, out, name: str) -> None:
    """Print a benchmark's section and, when ``out`` is given, put it into that markdown file."""
    print(text)
    if out:
        update_section(out, name, text)
