"""Loading one of bench/'s scripts as a module in a test (bench/ is a folder of scripts, not a
package)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent.parent / "bench"


@contextmanager
def bench_script(filename: str) -> Iterator[ModuleType]:
    """bench/``filename`` as a module for the duration of the block."""
    name = "bench_" + Path(filename).stem
    spec = importlib.util.spec_from_file_location(name, BENCH / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
