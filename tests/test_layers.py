"""The package's layers, checked on the source: a module never imports a layer above its own.

``data``, ``models``, ``losses`` and ``training`` sit below ``methods`` (pretraining) and ``eval`` (evaluation),
which sit below ``cli``; ``eval`` never imports ``methods`` (fine-tuning runs on ``training``, issue 14 item 8).
Imports inside functions count too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "xmodal"
FORBIDDEN = {
    "data": {"models", "losses", "training", "methods", "eval", "cli"},
    "losses": {"training", "methods", "eval", "cli"},
    "models": {"training", "methods", "eval", "cli"},
    "training": {"methods", "eval", "cli"},
    "eval": {"methods", "cli"},
    "methods": {"cli"},  # methods/cmkd_run.py reports with eval.selection.mean_std: allowed one way only
}


def imported_packages(path: Path) -> set[str]:
    """Second-level ``xmodal.<pkg>`` names a module imports (absolute imports; the project uses no relative)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("xmodal.") and n.count(".") >= 1}
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_one_above_it(layer: str) -> None:
    bad = {str(p.relative_to(SRC)): sorted(imported_packages(p) & FORBIDDEN[layer])
           for p in (SRC / layer).rglob("*.py")}
    assert not {k: v for k, v in bad.items() if v}, f"{layer}/ imports a higher layer: {bad}"


def test_the_scanner_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from xmodal.methods.base import BaseMethod\n    import xmodal.cli.main\n")
    assert imported_packages(module) == {"methods", "cli"}
