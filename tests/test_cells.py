"""The one formula-injection rule (alma_tools.cells)."""

import datetime as dt

import pytest

from alma_tools.cells import is_formula_like, safe_text


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)", "\t=1", "\r=1", "\r\n+cmd|' /C calc'!A0"],
)
def test_formula_like_text_is_prefixed(text):
    assert is_formula_like(text)
    assert safe_text(text) == "'" + text


@pytest.mark.parametrize(
    "value",
    ["Returned; reshelve to Main stacks", "990636224614163681", "", " =x", None, 3.5, dt.date(2026, 1, 1), 1],
)
def test_other_values_pass_through(value):
    assert not is_formula_like(value)
    assert safe_text(value) == value
