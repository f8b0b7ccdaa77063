"""``flask --app taper redflags screen``: notes on standard input, a line of keys for each."""

from __future__ import annotations

import json

import pytest

NOTES = (
    "I had a fit last night\n"
    "no fits since Monday\n"
    "\n"
    "Me quiero morir y me duele el pecho\r\n"
    "fit as a fiddle"
)


def test_screen_prints_a_line_of_keys_or_none_for_each_note(runner):
    result = runner.invoke(args=["redflags", "screen"], input=NOTES)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["seizure", "none", "none", "suicidal,chest_pain", "none"]


def test_screen_with_details_quotes_the_words_and_says_past(runner):
    result = runner.invoke(args=["redflags", "screen", "--details"], input=NOTES)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        'seizure "a fit" (past)',
        "none",
        "none",
        'suicidal "Me quiero morir", chest_pain "me duele el pecho"',
        "none",
    ]


def test_screen_of_no_input_prints_nothing(runner):
    result = runner.invoke(args=["redflags", "screen"], input="")
    assert result.exit_code == 0
    assert result.output == ""


@pytest.fixture
def clinic_file(tmp_path):
    path = tmp_path / "clinic.json"
    path.write_text(
        json.dumps({"target_rules": [{"literal": "shaking all over", "category": "seizure"}]}),
        encoding="utf-8",
    )
    return path


def test_screen_uses_a_clinic_file_given_as_an_option(runner, clinic_file):
    result = runner.invoke(
        args=["redflags", "screen", "--rules", str(clinic_file)], input="shaking all over\n"
    )
    assert result.output.splitlines() == ["seizure"]
    result = runner.invoke(args=["redflags", "screen"], input="shaking all over\n")
    assert result.output.splitlines() == ["none"]


def test_screen_uses_the_configured_clinic_file(app_factory, clinic_file):
    app = app_factory(RED_FLAG_PHRASES_FILE=str(clinic_file))
    result = app.test_cli_runner().invoke(args=["redflags", "screen"], input="shaking all over\n")
    assert result.output.splitlines() == ["seizure"]


def test_screen_reports_a_broken_clinic_file_and_fails(runner, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"target_rules": [{"literal": "x", "category": "fits"}]}', encoding="utf-8")
    result = runner.invoke(args=["redflags", "screen", "--rules", str(path)], input="a fit\n")
    assert result.exit_code == 1
    assert "broken.json" in result.output
    assert "unknown category 'fits'" in result.output
