"""The Nu HTML Checker step of the e2e run finds what it is there to find (no browser)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Pages

pytestmark = pytest.mark.e2e

PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Plan</title></head>'
    "<body><main>{}</main></body></html>"
)


def test_the_checker_names_the_page_and_the_repeated_id(tmp_path):
    kept = Pages(tmp_path / "html")
    two_forms = (
        '<form method="post"><input type="hidden" id="csrf_token" name="csrf_token" value="a">'
        '<input type="submit" id="submit" value="Hold"></form>'
        '<form method="post"><input type="hidden" id="csrf_token" name="csrf_token" value="a">'
        '<input type="submit" id="submit2" value="End the hold"></form>'
    )
    (kept.folder / "001-get-plan.html").write_text(PAGE.format(two_forms))
    kept.urls["001-get-plan.html"] = "GET http://127.0.0.1/clinician/plans/1"
    (kept.folder / "002-get-ok.html").write_text(PAGE.format("<p>Fine.</p>"))
    kept.urls["002-get-ok.html"] = "GET http://127.0.0.1/ok"

    errors = kept.check()

    assert len(errors) == 1, errors
    assert errors[0].startswith("GET http://127.0.0.1/clinician/plans/1: line 1: ")
    assert "Duplicate ID" in errors[0]
    assert "csrf_token" in errors[0]
    assert (tmp_path / "vnu.json").exists()


def test_nothing_kept_nothing_to_check(tmp_path):
    assert Pages(tmp_path / "html").check() == []
