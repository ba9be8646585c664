"""Id checks: Excel's damage is refused with row, column and fix; sound ids and real barcodes never are."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alma_tools import ids
from alma_tools.tables import ITEM_COLUMNS, Table, cell_text, find_table, read_grid

BAD = Path(__file__).parent / "data" / "bad_input"
KINDS = {"mms_id": "mms", "holding_id": "holding", "item_id": "item", "barcode": "barcode"}


def messages(table: Table) -> list[str]:
    """Every message for the id columns of a table, the way the discharge plan asks for them."""
    present = [k for k in ("mms_id", "holding_id", "item_id") if table.has(k)]
    suffix = ids.institution_suffix(*(table.frame[k] for k in present))
    found: list[str] = []
    for key, kind in KINDS.items():
        if table.has(key):
            checked = ids.check_id_column(
                table.text(key),
                table.was_number(key),
                label=table.label(key),
                rows=table.rows,
                kind=kind,  # type: ignore[arg-type]
                suffix=suffix,
            )
            found += checked[checked != ""].tolist()
    return found


def check(
    values: list[object],
    kind: str,
    *,
    suffix: str | None = "3681",
    label: str = "MMS Id",
    csv_text: bool = False,
) -> list[str]:
    """Messages for a column of cells from a sheet, or (``csv_text``) of text from a CSV; rows from 2."""
    text, was_number = cell_text(pd.Series(values, dtype=object))
    rows = pd.Series(range(2, 2 + len(values)))
    number = None if csv_text else was_number
    return ids.check_id_column(text, number, label=label, rows=rows, kind=kind, suffix=suffix).tolist()  # type: ignore[arg-type]


# --- the samples ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["items_to_discharge.csv", "items_to_discharge.xlsx"])
def test_sound_samples_have_no_messages(data_dir: Path, name: str) -> None:
    table = find_table(read_grid(data_dir / name), ITEM_COLUMNS)
    assert ids.institution_suffix(table.frame["mms_id"], table.frame["item_id"]) == "3681"
    assert messages(table) == []


def test_damaged_sample_every_damaged_row_and_no_other(data_dir: Path) -> None:
    """Ground truth from the undamaged export: a row is sound iff all its ids and its barcode exist there."""
    with (data_dir / "items_to_discharge.csv").open(encoding="utf-8-sig", newline="") as handle:
        original = list(csv.DictReader(handle))
    known = {key: {row[key] for row in original} for key in ("MMS Id", "Holding Id", "Item Id", "Barcode")}
    table = find_table(read_grid(data_dir / "items_excel_damaged.csv"), ITEM_COLUMNS)
    assert ids.institution_suffix(table.frame["mms_id"], table.frame["holding_id"]) == "3681"
    damaged = {
        int(row)
        for row, (_, cells) in zip(table.rows, table.frame.iterrows(), strict=True)
        if any(cells[table_key] not in known[label] for table_key, label in _LABELS.items())
    }
    flagged: dict[int, list[str]] = {}
    for message in messages(table):
        row = int(message.split(" in row ")[1].split(" ")[0])
        flagged.setdefault(row, []).append(message)
    assert set(flagged) == damaged
    assert len(damaged) == 26
    assert any("9.93547E+17" in m and m.startswith("MMS Id in row 2 ") for m in flagged[2])
    assert any("lost its last digits (990636224614163000)" in m for m in flagged[3])
    assert any("Barcode in row 6 (860637459)" in m and "perhaps 0860637459" in m for m in flagged[6])
    for group in flagged.values():
        for message in group:
            assert "export the file from Alma again" in message


_LABELS = {"mms_id": "MMS Id", "holding_id": "Holding Id", "item_id": "Item Id", "barcode": "Barcode"}


# --- the corpus --------------------------------------------------------------------------------------

CORPUS = {
    "scientific_and_cut.csv": [
        "MMS Id in row 2 was turned into a number by Excel and is shown as 9.93547E+17",
        "MMS Id in row 3 was turned into a number by Excel and lost its last digits (990636224614164000) "
        "(the ids of this file end in 3681)",
        "MMS Id in row 5 was turned into a number by Excel and lost its last digits (9945540218783680)",
        "Holding Id in row 4 was turned into a number by Excel and lost its last digits (223703886369994000)",
    ],
    "decimal_point_zero.csv": ["Item Id in row 2 was saved as a decimal number (230175722846423681.0)"],
    "thousands_separators.csv": ["MMS Id in row 2 has thousands separators (993,546,848,745,263,681)"],
    "thousands_separators_semicolon.csv": [
        "Holding Id in row 3 has thousands separators (22.743.732.622.293.681)"
    ],
    "ids_with_spaces.csv": [
        "Holding Id in row 3 has a space inside (227437326 22293681)",
        "Item Id in row 4 has a space inside (236989290\u00a004003681)",
    ],
    "leading_apostrophe.csv": ["MMS Id in row 3 starts with an apostrophe ('990636224614163681): remove"],
    "swapped_ids.csv": [
        "Holding Id in row 4 (23698929004003681) does not start with 22 as holding ids do: it looks like an "
        "item id: are the columns swapped?",
        "Item Id in row 4 (223703886369993681) does not start with 23 as item ids do: it looks like a",
    ],
    "excel_error_values.csv": ["Item Id in row 3 holds the Excel error #N/A instead of a value"],
    "barcodes_leading_zeros_lost.csv": [
        "Barcode in row 2 (447203478) looks like Excel turned it into a number and dropped its leading zeros",
        "Barcode in row 8 (407709872) looks like Excel turned it into a number and dropped its leading zeros",
    ],
    "multiline_title.csv": ["MMS Id in row 4 was turned into a number by Excel and lost its last digits"],
    "formulas_and_errors.xlsx": [
        "Holding Id in row 3 holds the Excel error #N/A",
        "Item Id in row 5 holds the Excel error #N/A",
    ],
    "numbers_in_cells.xlsx": [
        "MMS Id in row 2 was turned into a number by Excel and lost its last digits (993546848745264000)",
        "Barcode in row 6 (860637459) looks like Excel turned it into a number and dropped its leading zeros",
    ],
    # read fine and every id sound
    "semicolon.csv": [],
    "tab_separated.txt": [],
    "unicode_text_utf16.txt": [],
    "windows_cp1252.csv": [],
    "really_csv.xlsx": [],
    "title_rows_and_footer.xlsx": [],
    "merged_cells.xlsx": [],
    "hidden_rows.xlsx": [],
    "footer_and_blank_rows.csv": [],
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_id_messages(name: str) -> None:
    found = messages(find_table(read_grid(BAD / name), ITEM_COLUMNS))
    assert len(found) == len(CORPUS[name]), found
    for expected in CORPUS[name]:
        assert any(message.startswith(expected) or expected in message for message in found), (
            expected,
            found,
        )
    for message in found:
        assert " in row " in message and ": " in message  # row, column, then the fix


# --- single rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("9,93547E+17", "mms", "is shown as 9,93547E+17"),
        ("3.21011E+13", "barcode", "is shown as 3.21011E+13"),
        (9.93546848745263681e17, "mms", "lost its last digits (993546848745264000)"),
        ("993546848745263681.0", "mms", "decimal number"),
        ("32101081340380.0", "barcode", "decimal number"),
        ("993 546 848 745 263 681", "mms", "thousands separators"),
        ("#REF!", "item", "holds the Excel error #REF!"),
        ("99x3546848745263681", "mms", "is not an Alma id"),
        ("９９３５４６８４８７４５２６３６８１", "mms", "is not an Alma id"),  # full-width digits
        ("9935 4684 8745263681", "mms", "has a space inside"),
        ("99123", "mms", "has 5 characters (99123), too few"),
        ("9" * 23, "mms", "too many"),
        ("223703886369993681", "mms", "does not start with 99 as MMS ids do: it looks like a holding id"),
        (
            "123456789012345681",
            "item",
            "does not start with 23 as item ids do: check that the column holds item",
        ),
        ("\u2019990636224614163681", "mms", "starts with an apostrophe"),
        ("9945540218783680", "mms", "lost its last digits"),
    ],
)
def test_each_kind_of_damage(value: object, kind: str, expected: str) -> None:
    (message,) = check([value], kind, label="The Column")
    assert message.startswith("The Column in row 2 ")
    assert expected in message


@pytest.mark.parametrize(
    ("value", "kind", "suffix"),
    [
        ("993546848745263681", "mms", "3681"),
        ("  993546848745263681\u00a0", "mms", "3681"),  # spaces at the ends are stripped
        ("9957001503503681", "mms", "3681"),  # 16 digits
        ("990006312214702204", "mms", "3681"),  # another institution's (Network Zone) id: not refused
        ("9945540218783680", "mms", None),  # 16 digits ending in 0, suffix unknown: could be sound
        ("9900000000000000000", "mms", "0000"),  # ends with the institution code itself
        (99123456789012.0, "mms", "3681"),  # 14 digits as a number: exact
        ("", "mms", "3681"),  # blank: the caller decides
        (None, "item", "3681"),
        ("303011kj0", "barcode", None),
        ("0447203478", "barcode", None),
        ("ZM03071184", "barcode", None),
        (32101081340380, "barcode", None),  # 14-digit barcode as a number: exact
        ("32101081340000000", "barcode", None),  # long text barcode ending in zeros: text keeps digits
        ("A 123", "barcode", None),
    ],
)
def test_sound_values_pass(value: object, kind: str, suffix: str | None) -> None:
    assert check([value], kind, suffix=suffix) == [""]


def test_barcode_leading_zeros_need_evidence() -> None:
    # CSV text: other 10-digit barcodes start with 0, so the 9-digit all-digit one lost its zero.
    values = ["0447203478", "0376164196", "0823821445", "447203479", "303011kj0"]
    result = check(values, "barcode", label="Barcode", csv_text=True)
    assert [bool(m) for m in result] == [False, False, False, True, False]
    assert "perhaps 0447203479" in result[3] and "like 0447203478" in result[3]
    # As many short ones as zero-led ones: a file of mixed legitimate lengths, nothing refused.
    assert check(["0447203478", "447203479"], "barcode", csv_text=True) == ["", ""]
    # An XLSX text cell keeps its zeros: never refused, whatever the neighbours.
    text = pd.Series(["0447203478", "0376164196", "447203479"])
    was_number = pd.Series([False, False, False])
    rows = pd.Series([2, 3, 4])
    result = ids.check_id_column(text, was_number, label="Barcode", rows=rows, kind="barcode", suffix=None)
    assert result.tolist() == ["", "", ""]
    # The same value as a number cell is refused.
    was_number = pd.Series([False, False, True])
    result = ids.check_id_column(text, was_number, label="Barcode", rows=rows, kind="barcode", suffix=None)
    assert result.tolist()[2].startswith("Barcode in row 4 (447203479) looks like Excel")


def test_number_cell_of_more_than_15_digits_is_refused_even_without_suffix() -> None:
    (message,) = check([9945540218783680.0], "mms", suffix=None)
    assert "lost its last digits (9945540218783680)" in message


def test_institution_suffix() -> None:
    sound = pd.Series(["993546848745263681", "22743732622293681", "990375196640733681"])
    assert ids.institution_suffix(sound) == "3681"
    cut = pd.Series(["990636224614163000", "993381891928633000", "9.93547E+17"])
    assert ids.institution_suffix(sound, cut) == "3681"  # cut ids do not vote
    assert ids.institution_suffix(cut) is None
    assert (
        ids.institution_suffix(pd.Series(["993546848745263681", "993546848745262204"])) is None
    )  # no majority
    assert ids.institution_suffix() is None
    assert ids.institution_suffix(pd.Series([9.93546848745263681e17, None])) is None  # numbers are cut ids


def test_describe_damage_shares_the_rules() -> None:
    assert ids.describe_damage("9.93547E+17") == ids.WHAT["scientific"]
    assert ids.describe_damage(9.93546848745263681e17) == ids.WHAT["cut"]
    assert ids.describe_damage("990636224614163000") == ids.WHAT["cut"]
    assert ids.describe_damage("993546848745263681.0") == ids.WHAT["decimal"]
    assert ids.describe_damage("#N/A") == ids.WHAT["excel_error"]
    assert ids.describe_damage("223703886369993681", "mms") == ids.WHAT["prefix"]
    for sound in ("993546848745263681", "303011kj0", "0447203478", 12345678.0, None, "", "A 123"):
        assert ids.describe_damage(sound) == "", sound


# --- properties and size -------------------------------------------------------------------------------

_ID = st.tuples(
    st.sampled_from(sorted(ids.PREFIXES.items())),
    st.integers(min_value=9, max_value=13),
    st.randoms(use_true_random=False),
).map(lambda t: (t[0][0], t[0][1] + "".join(str(t[2].randrange(10)) for _ in range(t[1])) + "3681"))


@settings(max_examples=60, deadline=None)
@given(st.lists(_ID, min_size=1, max_size=30))
def test_sound_ids_always_pass_and_their_excel_forms_never_do(items: list[tuple[str, str]]) -> None:
    for kind in {kind for kind, _ in items}:
        values = [value for k, value in items if k == kind]
        assert check(values, kind) == [""] * len(values), values
        as_numbers = check([float(v) for v in values], kind)  # the cells after Excel made them numbers
        for value, message in zip(values, as_numbers, strict=True):
            assert bool(message) == (len(value) > 15), (value, message)
            assert not message or "turned into a number by Excel" in message
        shown = [f"{float(v):.5E}" for v in values]  # what Excel shows, and saves to CSV
        assert all(check(shown, kind, csv_text=True)), shown


_CELL = st.one_of(st.text(max_size=25), st.floats(), st.integers(), st.none(), st.booleans())


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(_CELL, min_size=1, max_size=8),
    kind=st.sampled_from(["mms", "holding", "item", "barcode", "any"]),
    suffix=st.one_of(st.none(), st.from_regex(r"[0-9]{4}", fullmatch=True)),
)
def test_any_cells_get_a_message_or_nothing(values: list[object], kind: str, suffix: str | None) -> None:
    result = check(values, kind, suffix=suffix)
    assert len(result) == len(values)
    assert all(isinstance(m, str) and (not m or m.startswith("MMS Id in row ")) for m in result)
    for value in values:
        assert isinstance(ids.describe_damage(value, kind), str)  # type: ignore[arg-type]
    ids.institution_suffix(pd.Series(values, dtype=object))


@pytest.mark.timing
def test_hundred_thousand_ids_checked_fast() -> None:
    values = pd.Series([f"99{i:012d}3681" for i in range(100_000)], dtype=object)
    values[::1000] = "9.93547E+17"
    rows = pd.Series(range(2, 100_002))
    started = time.perf_counter()
    result = ids.check_id_column(values, None, label="MMS Id", rows=rows, kind="mms", suffix="3681")
    elapsed = time.perf_counter() - started
    assert (result != "").sum() == 100
    assert result.iloc[1000].startswith("MMS Id in row 1002 ")
    assert elapsed < 5, f"{elapsed:.2f} s"
