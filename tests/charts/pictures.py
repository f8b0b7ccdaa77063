"""Reading a page's chart pictures: each <picture>'s <source> and <img> attributes."""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser


class _Pictures(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        values = {name: unescape(value or "") for name, value in attrs}
        if tag == "picture":
            self._open = {"sources": [], "img": None}
        elif tag == "source" and self._open is not None:
            self._open["sources"].append(values)
        elif tag == "img" and self._open is not None:
            self._open["img"] = values

    def handle_endtag(self, tag):
        if tag == "picture" and self._open is not None:
            self.found.append(self._open)
            self._open = None


def pictures(page: str) -> list[dict]:
    """Every <picture> on the page: {"sources": [attrs...], "img": attrs}, in order."""
    parser = _Pictures()
    parser.feed(page)
    return parser.found


def chart(page: str, name: str) -> dict:
    """The picture whose <img> shows ``/charts/<id>/<name>.png``."""
    for picture in pictures(page):
        if f"/{name}.png" in picture["img"]["src"]:
            return picture
    raise AssertionError(f"no {name} chart on the page")


def srcset(value: str) -> dict[str, str]:
    """A srcset as {"1x": url, "2x": url}."""
    found = {}
    for part in value.split(","):
        url, _, density = part.strip().partition(" ")
        found[density or "1x"] = url
    return found
