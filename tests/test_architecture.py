"""The layers of taper/ (docs/architecture.md), read from the source with ``ast``: imports point
inward (views -> services -> domain and models), views leave the database to services, route
functions stay short, and each blueprint is made in its package's ``__init__.py``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TAPER = Path(__file__).resolve().parent.parent / "taper"
BLUEPRINT_PACKAGES = ("admin", "auth", "clinician", "patient", "files")
MAX_VIEW_LINES = 29  # "under 30 lines", from the def line to the last line


def modules(*parts: str) -> list[Path]:
    """The Python files under taper/<parts> (a package, or one module)."""
    path = TAPER.joinpath(*parts)
    if path.suffix == ".py":
        return [path] if path.exists() else []
    return sorted(path.rglob("*.py"))


def tree(path: Path) -> ast.Module:
    """The parsed source of one module."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def name(path: Path) -> str:
    """A module's path from the project root, as messages show it."""
    return path.relative_to(TAPER.parent).as_posix()


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything a module imports; ``from a import b`` gives a.b too."""
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def starts_with(dotted: str, prefixes: tuple[str, ...]) -> bool:
    """Is the dotted name one of the prefixes, or inside one?"""
    return any(dotted == p or dotted.startswith(p + ".") for p in prefixes)


def offenders(paths: list[Path], prefixes: tuple[str, ...]) -> list[str]:
    """One line per import statement that brings in a name under one of the prefixes."""
    found: dict[str, str] = {}
    for path in paths:
        for line, dotted in imported(path):
            if starts_with(dotted, prefixes):
                found.setdefault(f"{name(path)}:{line}", dotted)
    return [f"{where} imports {dotted}" for where, dotted in sorted(found.items())]


BLUEPRINTS = tuple(f"taper.{package}" for package in BLUEPRINT_PACKAGES)


def test_the_domain_imports_no_framework_database_service_or_blueprint():
    paths = modules("domain")
    assert paths
    banned = ("flask", "sqlalchemy", "taper.extensions", "taper.services", *BLUEPRINTS)
    found = offenders(paths, banned)
    found += [
        f"{name(path)}:{line} imports {dotted}"
        for path in paths
        for line, dotted in imported(path)
        if dotted.split(".")[0].startswith("flask_")
    ]
    assert not found, "\n".join(found)


def view_modules() -> list[Path]:
    """Every module of the blueprint packages."""
    return [path for package in BLUEPRINT_PACKAGES for path in modules(package)]


# Modules of the blueprint packages that are not views and may reach the database: none today
# (taper/auth/throttle.py keeps its counts in the rate limiter's storage, not the database).
NOT_VIEWS: frozenset[str] = frozenset()


def test_views_leave_the_database_to_services():
    """No blueprint module imports ``taper.extensions.db`` or SQLAlchemy, or uses
    ``db.session``: a view calls one service function, which reads, audits and commits."""
    paths = [path for path in view_modules() if name(path) not in NOT_VIEWS]
    found = offenders(paths, ("sqlalchemy", "taper.extensions.db"))
    for path in paths:
        found += [
            f"{name(path)}:{node.lineno} uses db.session"
            for node in ast.walk(tree(path))
            if isinstance(node, ast.Attribute)
            and node.attr == "session"
            and isinstance(node.value, ast.Name)
            and node.value.id == "db"
        ]
    assert not found, "\n".join(found)


def is_route(decorator: ast.expr) -> bool:
    """``@bp.get(...)``, ``@bp.post(...)`` or ``@bp.route(...)``."""
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in ("get", "post", "route")
        and isinstance(decorator.func.value, ast.Name)
        and decorator.func.value.id == "bp"
    )


def route_functions() -> Iterator[tuple[Path, ast.FunctionDef]]:
    """Every function of taper/ decorated as a route."""
    for path in modules():
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.FunctionDef) and any(map(is_route, node.decorator_list)):
                yield path, node


def test_every_route_function_is_under_30_lines():
    functions = list(route_functions())
    assert len(functions) > 30  # the walk found the views
    long = [
        f"{name(path)}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for path, node in functions
        if node.end_lineno - node.lineno + 1 > MAX_VIEW_LINES
    ]
    assert not long, "\n".join(long)


def blueprint_calls(path: Path) -> list[int]:
    """The lines of a module that call ``Blueprint(...)``."""
    return [
        node.lineno
        for node in ast.walk(tree(path))
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "Blueprint")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "Blueprint")
        )
    ]


def test_every_blueprint_is_made_in_its_packages_init():
    places = {name(path): lines for path in modules() if (lines := blueprint_calls(path))}
    assert places
    wrong = [p for p in places if not (p.endswith("/__init__.py") or p == "taper/main.py")]
    assert not wrong, f"Blueprint(...) outside a package's __init__.py: {wrong}"
    assert all(len(lines) == 1 for lines in places.values()), places


def test_services_never_import_a_blueprint_package():
    paths = modules("services")
    assert paths
    found = offenders(paths, (*BLUEPRINTS, "taper.main"))
    assert not found, "\n".join(found)
