"""The documents point at code that exists: every test docs/security.md names is in the
suite, and the README's layout section names every package of taper/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)((?:::\w+)?)`|`::(\w+)`")


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def test_every_test_named_in_the_security_map_exists():
    missing = []
    for line in (ROOT / "docs" / "security.md").read_text().splitlines():
        current: Path | None = None
        for match in TEST_REF.finditer(line):
            file, name, bare = match.groups()
            if file:
                current = ROOT / file
                if not current.exists():
                    missing.append(file)
                    current = None
                    continue
                name = name[2:] if name else ""
            else:
                name = bare
            if name and current is not None and name not in _test_names(current):
                missing.append(f"{current.relative_to(ROOT)}::{name}")
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"


def test_readme_layout_names_every_package():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    packages = sorted(
        p.parent.relative_to(ROOT).as_posix()
        for p in (ROOT / "taper").rglob("__init__.py")
        if "__pycache__" not in p.parts
    )
    unnamed = [p for p in packages if f"`{p}/`" not in layout]
    assert not unnamed, f"README layout does not list: {unnamed}"
