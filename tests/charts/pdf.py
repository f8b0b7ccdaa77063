"""Reading the visit report PDF in tests: its text and the font sizes it uses.

matplotlib writes each text as a text object (BT … ET) in a zlib-compressed content stream,
with its font size (``/F1 10 Tf``) and its characters as PDF strings (characters past
Latin-1, such as "→", are drawn as glyph shapes and are not in the text)."""

from __future__ import annotations

import re
import zlib


def _streams(pdf: bytes):
    for stream in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            yield zlib.decompress(stream.group(1))
        except zlib.error:
            continue


def _string(raw: bytes) -> str:
    return re.sub(
        rb"\\([0-7]{1,3}|.)",
        lambda m: bytes([int(m.group(1), 8)]) if m.group(1)[:1].isdigit() else m.group(1),
        raw,
    ).decode("latin-1")


def text_objects(pdf: bytes) -> list[tuple[float, str]]:
    """Each text object drawn: (font size in points, its text)."""
    found = []
    for content in _streams(pdf):
        for block in re.finditer(rb"(?m)^BT$(.*?)^ET$", content, re.S):
            size = re.search(rb"/\S+ ([\d.]+) Tf", block.group(1))
            strings = re.findall(rb"\(((?:\\.|[^\\)])*)\)", block.group(1), re.S)
            text = "".join(_string(s) for s in strings)
            if size and text.strip():
                found.append((float(size.group(1)), text))
    return found


def pdf_text(pdf: bytes) -> str:
    """The text the PDF draws, a line a text object."""
    return "\n".join(text for _, text in text_objects(pdf))


def page_count(pdf: bytes) -> int:
    """How many pages the PDF has (its page tree's /Count)."""
    return int(re.search(rb"/Type /Pages[^>]*?/Count (\d+)", pdf, re.S).group(1))
