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


# A setting read from the environment: _env("NAME", ...), _env_int(...), _FromEnvironment(...),
# os.environ.get("NAME" ...) and os.environ["NAME"] (config.py, the gunicorn config).
SETTING = re.compile(
    r"""(?:_env(?:_int|_bool)?|_FromEnvironment|environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"|"""
    r"""environ\["([A-Z][A-Z0-9_]+)"\]"""
)


def test_readme_configuration_names_every_setting():
    """Every variable config.py or deploy/gunicorn.conf.py reads is in the README's
    configuration table (TAPER_* test knobs of the suite itself are not settings)."""
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set()
    for source in ("config.py", "deploy/gunicorn.conf.py"):
        for match in SETTING.finditer((ROOT / source).read_text()):
            names.add(match.group(1) or match.group(2))
    assert len(names) > 40  # the pattern still finds them
    missing = sorted(name for name in names if f"`{name}`" not in table)
    assert not missing, f"README configuration table does not list: {missing}"
