"""The package layout: imports go one way between subpackages, and no module imports itself back.

The order is read from the layer diagram in ``arwsv/__init__.py``'s docstring, so the documented
direction and the checked one cannot drift apart. Every import counts, also those inside functions
(the package imports torch lazily, so most imports are there), and ``importlib.import_module``
with a literal name (an f-string counts as its literal start: ``f"arwsv.commands.{name}"`` is an
import of ``arwsv.commands``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "arwsv"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path, modules) -> set:
    """The package's own modules that ``path`` imports (absolute or relative; ``from a import b``
    counts as ``a.b`` where that is a module, else as ``a``)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == \
                "import_module" and node.args:
            # importlib.import_module("a.b"), or f"a.b.{name}": the part known before the name
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                found.add(str(arg.values[0].value).rstrip("."))
    resolved = set()
    for target in found:
        while target not in modules and "." in target:  # `import a.b.function`-like names -> a.b
            target = target.rpartition(".")[0]
        if target in modules and target != name:
            resolved.add(target)
    return resolved


def import_graph(root: Path) -> dict:
    """``{module: {imported modules}}`` over every ``.py`` file of the package at ``root``."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    return {name: imports_of(path, root, modules) for name, path in modules.items()}


def declared_layers(doc: str) -> dict:
    """``{unit: rank}`` from the docstring's layer diagram (first line = top, highest rank)."""
    block = doc.split("::", 1)[1].strip("\n").split("\n\n")[0].splitlines()
    names = [line.strip().split("  ")[0] for line in block]
    return {unit.strip(): len(names) - i for i, line in enumerate(names)
            for unit in line.replace("|", ",").split(",")}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def direction_errors(graph: dict, ranks: dict) -> list:
    """Imports from a unit to one of the same or a higher rank that is not itself."""
    errors = []
    for src, targets in sorted(graph.items()):
        for dst in sorted(targets):
            a, b = unit_of(src), unit_of(dst)
            if b == "__init__" or a == b:  # the root package only holds __version__
                continue
            if a not in ranks or b not in ranks:
                errors.append(f"{src} -> {dst}: {a if a not in ranks else b} is not in the layer diagram")
            elif ranks[b] >= ranks[a]:
                errors.append(f"{src} -> {dst}: {a} may not import {b}")
    return errors


def cycles(graph: dict) -> list:
    """One cycle per strongly connected group of modules (Tarjan), as a list of names."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_arwsv_imports_go_one_way_with_no_cycle():
    import arwsv

    graph = import_graph(PACKAGE)
    ranks = declared_layers(arwsv.__doc__)
    top_units = {unit_of(m) for m in graph} - {"__init__"}
    assert top_units <= set(ranks), f"not in the layer diagram: {sorted(top_units - set(ranks))}"
    assert direction_errors(graph, ranks) == []
    assert cycles(graph) == []
    assert sum(len(t) for t in graph.values()) > 100  # the walk really sees the package's imports


def test_every_subpackage_says_what_lives_there_and_what_it_may_import():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init} has no docstring"
        if init.parent != PACKAGE:
            assert "may import" in doc.lower(), f"{init} does not say what it may import"


def _tree(tmp_path, files: dict) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": '"""x::\n\n    top\n    mid\n    low\n"""', **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize("files, expect", [
    ({"low/a.py": "import pkg.mid.b\n", "mid/__init__.py": "", "mid/b.py": "", "low/__init__.py": ""},
     "low may not import mid"),
    ({"mid/__init__.py": "", "mid/b.py": "def f():\n    from ..top import c\n", "top/__init__.py": "",
      "top/c.py": ""}, "mid may not import top"),
    ({"mid/__init__.py": "", "mid/b.py": "from pkg.mid import c\n", "mid/c.py": "from . import b\n"}, "cycle"),
    ({"low/__init__.py": "", "low/a.py": "import importlib\nimportlib.import_module('pkg.mid.b')\n",
      "mid/__init__.py": "", "mid/b.py": ""}, "low may not import mid"),
    ({"low/__init__.py": "", "low/a.py": "from importlib import import_module\nimport_module(f'pkg.top.{x}')\n",
      "top/__init__.py": ""}, "low may not import top"),
    ({"top/__init__.py": "", "top/a.py": "from pkg.mid.b import f\nfrom pkg import low\n", "mid/__init__.py": "",
      "mid/b.py": "", "low/__init__.py": ""}, None),
])
def test_the_checker_catches_upward_imports_and_cycles(tmp_path, files, expect):
    root = _tree(tmp_path, files)
    graph = import_graph(root)
    ranks = declared_layers(ast.get_docstring(ast.parse((root / "__init__.py").read_text())))
    assert ranks == {"top": 3, "mid": 2, "low": 1}
    errors = direction_errors(graph, ranks) + [f"cycle {c}" for c in cycles(graph)]
    if expect is None:
        assert errors == [] and graph["pkg.top.a"] == {"pkg.mid.b", "pkg.low"}
    else:
        assert len(errors) == 1 and expect in errors[0]
