"""Long lists are shown a page at a time, so a page costs what is on it, not the whole list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
PAGE_SIZE = 50


@dataclass
class Page(Generic[T]):
    rows: list[T]
    number: int
    pages: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * PAGE_SIZE


def page_of(total: int, asked: int) -> Page:
    """An empty page ``asked`` for, clamped to 1..last (an out-of-range number shows the last)."""
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return Page([], min(max(asked, 1), pages), pages, total)
