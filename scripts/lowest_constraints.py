"""Pin every direct dependency of pyproject.toml to its declared floor (``pkg>=X`` → ``pkg==X``).

``scripts/test-lowest`` installs the project under these constraints and runs a fast test subset, so a floor that
the code has outgrown (e.g. an API it calls that appeared later) fails CI instead of a user's install. Usage:

    python scripts/lowest_constraints.py pyproject.toml [--extra dev]        # print pip constraints
    python scripts/lowest_constraints.py pyproject.toml --extra dev --verify  # compare installed versions

Only the standard library is used: it runs before anything is installed. A dependency without a ``>=`` floor is
an error, because "the lowest version" would then be whatever the index happens to hold.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

_REQ = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;]*?)\s*$")
_FLOOR = re.compile(r"^>=\s*(?P<version>[0-9][0-9A-Za-z.+!-]*)$")


def normalize(name: str) -> str:
    """PEP 503 name, so ``scikit_learn`` and ``Scikit-Learn`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def floors(pyproject: dict, extras: tuple[str, ...] = ()) -> dict[str, str]:
    """``{normalized name: floor}`` for ``[project].dependencies`` plus the named optional-dependency groups."""
    project = pyproject.get("project", {})
    groups = project.get("optional-dependencies", {})
    requirements = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in groups:
            raise ValueError(f"pyproject.toml: no [project.optional-dependencies] group {extra!r}")
        requirements += groups[extra]
    out: dict[str, str] = {}
    for requirement in requirements:
        if ";" in requirement:
            raise ValueError(f"pyproject.toml: {requirement!r}: markers are not supported by the lowest-deps check")
        match = _REQ.match(requirement)
        if match is None:
            raise ValueError(f"pyproject.toml: cannot parse requirement {requirement!r}")
        lower = [m for part in match["spec"].split(",") if (m := _FLOOR.match(part.strip()))]
        if len(lower) != 1:
            raise ValueError(f"pyproject.toml: {requirement!r} needs exactly one '>=' floor (e.g. 'pkg>=1.2')")
        name = normalize(match["name"])
        if name in out and out[name] != lower[0]["version"]:
            raise ValueError(f"pyproject.toml: {name} has two floors ({out[name]}, {lower[0]['version']})")
        out[name] = lower[0]["version"]
    return out


def constraints(pins: dict[str, str]) -> str:
    """pip constraints file text: one ``name==floor`` line per dependency, sorted."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def mismatches(pins: dict[str, str]) -> list[str]:
    """Installed versions that differ from the floors (run with the lowest-deps environment's Python)."""
    from importlib.metadata import PackageNotFoundError, version

    def release(v: str) -> tuple[int, ...]:  # 2.13 == 2.13.0 == 2.13.0+cpu, as pip's ``==`` reads them
        head = re.match(r"\d+(?:\.\d+)*", v)
        parts = [int(p) for p in head[0].split(".")] if head else []
        while parts and parts[-1] == 0:
            parts.pop()
        return tuple(parts)

    bad = []
    for name, floor in sorted(pins.items()):
        try:
            installed = version(name)
        except PackageNotFoundError:
            bad.append(f"{name}: not installed (floor {floor})")
            continue
        if release(installed) != release(floor):
            bad.append(f"{name}: installed {installed}, floor {floor}")
    return bad


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    path, rest = Path(argv[0]), argv[1:]
    extras = tuple(rest[i + 1] for i, a in enumerate(rest) if a == "--extra" and i + 1 < len(rest))
    try:
        pins = floors(tomllib.loads(path.read_text()), extras)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as err:
        print(f"lowest_constraints: {err}", file=sys.stderr)
        return 2
    if "--verify" in rest:
        bad = mismatches(pins)
        for line in bad:
            print(f"lowest_constraints: {line}", file=sys.stderr)
        return 1 if bad else 0
    sys.stdout.write(constraints(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
