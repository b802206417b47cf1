"""The package's layering, enforced: a module imports only from its own package or from layers
below it (docs/architecture.md draws the same picture). Every import counts, including those
inside functions. simpy is imported only by ``sim/``, plotly only by ``report/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "tersim"

# lowest first; packages on one line are independent of each other
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "_version", "runtime", "breakdown"),
    ("tech", "files"),
    ("config", "shipped"),
    ("hw",),
    ("workload",),
    ("mapping", "functional"),
    ("sim", "cost"),
    ("run",),
    ("dse", "report"),
    ("api",),
    ("cli", "__init__"),
    ("__main__",),
)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}
ONLY_IMPORTER = {"simpy": "sim", "plotly": "report"}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "tersim":  # `from tersim import x`: x is the module
                out += [(node.lineno, f"tersim.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
    return out


FILES = sorted(SRC.rglob("*.py"))


def test_every_package_has_a_layer() -> None:
    assert {_package(f) for f in FILES} <= set(LAYER_OF)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_down(path: Path) -> None:
    own = _package(path)
    problems = []
    for line, module in _imports(path):
        top = module.split(".")[0]
        if top in ONLY_IMPORTER and ONLY_IMPORTER[top] != own:
            problems.append(f"line {line}: {module} (only {ONLY_IMPORTER[top]}/ may)")
        if top != "tersim" or module == "tersim":
            continue
        target = module.split(".")[1]
        if target == own:
            continue
        if LAYER_OF[target] >= LAYER_OF[own]:
            problems.append(f"line {line}: {own} (layer {LAYER_OF[own]}) imports {module}")
    assert not problems, "\n".join(problems)


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    """The walk sees imports inside functions too (a test that the test can fail)."""
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from tersim.run.pipeline import run\n    import simpy\n")
    assert (2, "tersim.run.pipeline") in _imports(bad)
    assert (3, "simpy") in _imports(bad)
