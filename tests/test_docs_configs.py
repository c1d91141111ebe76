"""docs/architecture.md indexes every config dataclass with its module (the one place to find them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "xmodal"


def config_dataclasses() -> set[tuple[str, str]]:
    """``(class, module)`` of every ``@dataclass`` whose name ends in ``Config`` under src/xmodal."""
    found = set()
    for path in SRC.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name.endswith("Config") and any(
                    "dataclass" in ast.unparse(d) for d in node.decorator_list):
                module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
                found.add((node.name, module))
    return found


def test_architecture_doc_lists_every_config_dataclass_with_its_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    listed = set(re.findall(r"^\| `(\w+Config)` \| `([\w.]+)` \|", text, flags=re.M))
    found = config_dataclasses()
    assert len(found) > 30
    assert found - listed == set(), "add these to the table in docs/architecture.md"
    assert listed - found == set(), "these rows name a class or module that does not exist"
