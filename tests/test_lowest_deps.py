"""The lowest-dependencies check installs exactly the floors pyproject.toml declares (scripts/test-lowest).

``scripts/lowest_constraints.py`` turns each ``pkg>=X`` into ``pkg==X``; these tests hold that derivation to an
independent parse (``packaging``), so a dependency added without a floor, or a floor the constraints drop, fails
here instead of silently leaving a version untested.
"""

from __future__ import annotations

import importlib.util
import re
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # standard library from Python 3.11; the check runs there
ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lowest_constraints", ROOT / "scripts" / "lowest_constraints.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_declared_floor_is_pinned_in_the_constraints() -> None:
    lc, project = _script(), _pyproject()["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    lines = set(lc.constraints(lc.floors(_pyproject(), ("dev",))).splitlines())
    expected = set()
    for text in declared:
        req = Requirement(text)
        lower = [s.version for s in req.specifier if s.operator == ">="]
        assert len(lower) == 1, f"pyproject.toml: {text!r} declares no single '>=' floor"
        expected.add(f"{canonicalize_name(req.name)}=={lower[0]}")
    assert lines == expected
    assert {"torch", "lightning", "torchmetrics", "av", "numpy"} <= {line.split("==")[0] for line in lines}


def test_torch_floor_is_the_build_the_scripts_install() -> None:
    """The check installs the machine's CPU torch; a different floor would make pip look for a CUDA wheel."""
    pins = _script().floors(_pyproject())
    for name in ("scripts/_env.sh", "scripts/test-lowest"):
        spec = re.search(r"XMODAL_TORCH:-torch==([0-9.]+)", (ROOT / name).read_text())
        assert spec is not None, f"{name}: no default torch pin"
        assert spec[1].split(".")[:2] == pins["torch"].split(".")[:2], name


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        ("numpy", "needs exactly one '>=' floor"),
        ("numpy<3", "needs exactly one '>=' floor"),
        ("numpy>=1.2,>=1.3", "needs exactly one '>=' floor"),
        ("numpy>=1.2; python_version<'3.12'", "markers are not supported"),
    ],
)
def test_a_requirement_without_a_usable_floor_is_refused(requirement: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _script().floors({"project": {"dependencies": [requirement]}})


def test_floor_derivation_normalizes_names_and_keeps_upper_bounds_out() -> None:
    lc = _script()
    doc = {"project": {"dependencies": ["Scikit_Learn>=1.3", "rich[jupyter] >= 13.0, <16"],
                       "optional-dependencies": {"dev": ["pytest>=8.0"]}}}
    assert lc.floors(doc) == {"scikit-learn": "1.3", "rich": "13.0"}
    assert lc.constraints(lc.floors(doc, ("dev",))) == "pytest==8.0\nrich==13.0\nscikit-learn==1.3\n"
    with pytest.raises(ValueError, match=r"no \[project.optional-dependencies\] group 'docs'"):
        lc.floors(doc, ("docs",))


def test_verify_reports_a_version_other_than_the_floor() -> None:
    lc, installed = _script(), version("pytest")
    assert lc.mismatches({"pytest": installed}) == []
    assert lc.mismatches({"pytest": installed + ".0"}) == []  # 8.4 is 8.4.0, as pip's '==' reads it
    assert lc.mismatches({"pytest": "0.1"}) == [f"pytest: installed {installed}, floor 0.1"]
    assert lc.mismatches({"no-such-package-xmodal": "1.0"}) == ["no-such-package-xmodal: not installed (floor 1.0)"]
