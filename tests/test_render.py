"""Rendering to the byte (SPEC §3): golden files, properties and edge cases."""

from __future__ import annotations

import csv
import io
import json
import os
from decimal import Decimal
from itertools import product as combinations
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from feeds.catalog import CatalogueBuilder, load_catalogue, money, whole_stock, Unreadable
from feeds.config import FeedConfig
from feeds.hub.client import HubClient
from feeds.hub.sandbox import Catalogue, RunningSandbox, Sandbox
from feeds.render import DELIMITERS, field_escaper, line_encoder, render, render_feed

from conftest import hub_settings

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
REGENERATE = os.environ.get("REGEN_GOLDEN") == "1"
ALL_COLUMNS = ["name", "stock", "price", "rrp", "vendor", "mpn", "ean"]


def fixture_data():
    return json.loads((HERE / "data" / "awkward_catalogue.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def awkward():
    """The awkward catalogue, read through the real client from the sandbox, 8 per page."""
    data = fixture_data()
    items = [p for page in data["pages"] for p in page]
    sandbox = Sandbox(catalogue=Catalogue(items=items), vendors=data["vendors"])
    with RunningSandbox(sandbox) as running, HubClient(hub_settings(running.base_url, per_page=8)) as hub:
        return load_catalogue(hub)


def feed(**overrides) -> FeedConfig:
    values = dict(organisation=1, name="Golden", timeslot=0, columns=ALL_COLUMNS,
                  delivery_method="EMAIL", delivery_email="golden@example.com")
    values.update(overrides)
    return FeedConfig.model_validate(values)


def rendered(catalogue, config: FeedConfig) -> bytes:
    out = io.BytesIO()
    result = render_feed(catalogue, config, out)
    data = out.getvalue()
    assert result.bytes == len(data)
    return data


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if REGENERATE:
        path.write_bytes(data)
    assert path.exists(), f"golden file {name} is missing (REGEN_GOLDEN=1 writes it)"
    assert data == path.read_bytes(), f"{name} differs from the golden file"


FORMATS = list(combinations(["COMMA", "SEMI_COLON"], ["QUOTED", "ESCAPED", "STRIPPED"], [True, False]))


@pytest.mark.parametrize("delimiter, method, headers", FORMATS)
def test_golden_files(awkward, delimiter, method, headers):
    data = rendered(awkward, feed(delimiter=delimiter, escape_method=method, show_headers=headers))
    check_golden(f"{delimiter.lower()}-{method.lower()}-{'header' if headers else 'noheader'}.csv", data)


def test_golden_show_empty_stock(awkward):
    check_golden("comma-quoted-header-empty-stock.csv", rendered(awkward, feed(show_empty_stock=True)))


def test_sitc_uses_its_fixed_format_whatever_the_configuration_says(awkward):
    sitc = feed(delivery_method="SITC", delivery_email=None, sitc_confirm=True, sitc_filename="s.csv",
                delimiter="SEMI_COLON", escape_method="STRIPPED", show_headers=False)
    assert rendered(awkward, sitc) == rendered(awkward, feed())


def test_file_level_rules(awkward):
    data = rendered(awkward, feed())
    assert not data.startswith(b"\xef\xbb\xbf")
    data.decode("utf-8")
    assert data.endswith(b"\r\n")
    assert data.split(b"\r\n")[0] == b"sku,name,stock,price,rrp,vendor,mpn,ean"
    # no lone LF or CR outside quoted fields: every record ends with CRLF
    records = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert len(records) == 1 + len(awkward.records)


def test_catalogue_rules(awkward):
    skus = [r[0] for r in awkward.records]
    assert skus == sorted(skus)
    assert skus[:4] == ["10-ten", "9-nine", "ALL-14", "B-upper"]
    assert skus.index("a-lower") > skus.index("TAB-9")
    assert skus[-1] == "ÉCLAIR-10"
    same = [r for r in awkward.records if r[0] == "SAME"]
    assert [r[1] for r in same] == [19, 20]
    assert skus.count("COMMA-2") == 1
    assert awkward.without_code == 3
    assert awkward.unknown_vendor == 1
    assert awkward.duplicates == 1


def test_values_by_column(awkward):
    rows = {row[0]: row for row in awkward.rows(feed(columns=["stock", "mpn", "price", "rrp", "vendor", "name", "ean"]))}
    assert rows["PLAIN-1"] == ("PLAIN-1", "9001", "MPN-1", "100.12", "110.12", "Yealink", "Plain Desk Phone", "5012345678900")
    assert rows["COMMA-2"][3:5] == ("5.00", "110.10")
    assert rows["SEMI-3"][3:5] == ("2.68", "")
    assert rows["QUOTE-4"][3:5] == ("0.01", "0.00")
    assert rows["BACK-5"][3:5] == ("12345678.90", "0.00")
    assert rows["LF-6"][3] == "1.01"
    assert rows["EMPTY-12"][2] == "EMPTY-12"  # empty mpn falls back to the SKU
    assert rows["EMPTY-12"][3] == "" and rows["EMPTY-12"][7] == ""
    assert rows["NULLNAME-13"][6] == "" and rows["NULLNAME-13"][5] == ""
    assert rows["SPACE-11"][2] == "  spaced mpn " and rows["SPACE-11"][5] == "  Spaced Vendor  "


@pytest.mark.parametrize("sku, hidden, shown", [
    ("PLAIN-1", "9001", "9001"),      # positive
    ("SEMI-3", "", "0"),              # zero, physical
    ("QUOTE-4", "", "0"),             # null, physical
    ("BACK-5", "", "0"),              # negative, physical
    ("LF-6", "12", "12"),             # is_shippable null, no subscription: physical
    ("CRLF-7", "", "0"),              # is_shippable absent, no subscription: physical
    ("CR-8", "", ""),                 # subscription, not shippable
    ("TAB-9", "", ""),                # is_shippable absent, subscription: not physical
    ("NEG-24", "", ""),               # negative, subscription
    ("NULLNAME-13", "", "0"),         # is_shippable null, zero
])
def test_stock_and_show_empty_stock(awkward, sku, hidden, shown):
    plain = {r[0]: r[1] for r in awkward.rows(feed(columns=["stock"]))}
    zeros = {r[0]: r[1] for r in awkward.rows(feed(columns=["stock"], show_empty_stock=True))}
    assert (plain[sku], zeros[sku]) == (hidden, shown)


@pytest.mark.parametrize("value, expected", [
    (5, "5.00"), (Decimal("110.1"), "110.10"), (Decimal("2.675"), "2.68"), (2.675, "2.68"),
    (Decimal("0.005"), "0.01"), (Decimal("0.004999"), "0.00"), (Decimal("1E-7"), "0.00"),
    (Decimal("12345678.9"), "12345678.90"), (None, ""), (0, "0.00"), (Decimal("-0.001"), "0.00"),
    (Decimal("-2.675"), "-2.68"), (Decimal("1.005"), "1.01"), (Decimal("100.12"), "100.12"),
    (Decimal("1e20"), "100000000000000000000.00"), ("12.5", "12.50"), (10**17, "100000000000000000.00"),
])
def test_price_edge_cases(value, expected):
    assert money(value) == expected


@pytest.mark.parametrize("value, expected", [
    (2.675, "2.68"), (1.005, "1.01"), (110.1, "110.10"), (1e-07, "0.00"), (12345678.9, "12345678.90"),
    (0.005, "0.01"), (100.0, "100.00"), (1e16, "10000000000000000.00"), (-0.004, "0.00"), (5.5, "5.50"),
])
def test_prices_decoded_as_floats_round_from_their_json_text(value, expected):
    assert money(value) == expected


def test_pages_orjson_refuses_are_decoded_by_the_standard_library():
    from feeds.catalog import loads_page

    assert loads_page(b'[{"id": 1, "price": 2.675}]') == [{"id": 1, "price": 2.675}]
    page = loads_page(b'[{"id": 1, "price": NaN, "stock": 123456789012345678901234567890}]')
    with pytest.raises(Unreadable):
        money(page[0]["price"])
    assert whole_stock(page[0]["stock"]) == 123456789012345678901234567890
    assert money(loads_page(b'[{"price": 1.23}]')[0]["price"]) == "1.23"


@pytest.mark.parametrize("value", ["twelve", True, [1], {"a": 1}, Decimal("NaN"), Decimal("Infinity"), Decimal("1e40"),
                                   float("nan"), float("inf")])
def test_unreadable_prices(value):
    with pytest.raises(Unreadable):
        money(value)


@pytest.mark.parametrize("value, expected", [(5, 5), (None, None), (-3, -3), (Decimal("7.0"), 7), ("12", 12)])
def test_whole_stock(value, expected):
    assert whole_stock(value) == expected


@pytest.mark.parametrize("value", [Decimal("1.5"), "many", True, float("inf"), float("nan"), 2.5])
def test_unreadable_stock(value):
    with pytest.raises(Unreadable):
        whole_stock(value)


def test_products_with_unreadable_values_are_left_out_and_counted():
    builder = CatalogueBuilder({})
    builder.add([
        {"id": 1, "product_code": "A", "price": "twelve"},
        {"id": 2, "product_code": "B", "price": 1, "name": {"x": 1}},
        {"id": 3, "product_code": "C", "price": 1, "stock": 2.5},
        {"id": 4, "product_code": "D", "price": 1},
        {"product_code": "E"},
        "not a product",
    ])
    catalogue = builder.build(None)
    assert [r[0] for r in catalogue.records] == ["D"]
    assert catalogue.unreadable == 5
    assert "product 1" in catalogue.unreadable_examples[0]


def test_a_later_copy_of_a_product_replaces_the_earlier_one():
    builder = CatalogueBuilder({})
    builder.add([{"id": 1, "product_code": "A", "price": 1}])
    builder.add([{"id": 1, "product_code": "Z", "price": 2}])
    catalogue = builder.build(None)
    assert [(r.sku, r.price) for r in catalogue.records] == [("Z", "2.00")]
    assert catalogue.duplicates == 1


def test_a_lone_surrogate_becomes_a_replacement_character():
    out = io.BytesIO()
    render([("A", "bad \ud800 text")], out, header=None)
    assert out.getvalue() == "A,bad \ufffd text\r\n".encode()


# --- properties -------------------------------------------------------------------

awkward_text = st.text(
    alphabet=st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from(list(',;"\\\r\n\t '))),
    max_size=30,
)
rows_strategy = st.lists(st.lists(awkward_text, min_size=2, max_size=6), min_size=1, max_size=20).filter(
    lambda rows: len({len(r) for r in rows}) == 1
)


def unescape_line(line: str, d: str) -> list[str]:
    """The reverse of ESCAPED: split on unescaped delimiters, undo the escapes."""
    fields, current, i = [], [], 0
    mapping = {"\\": "\\", d: d, "n": "\n", "r": "\r"}
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            current.append(mapping[line[i + 1]])
            i += 2
            continue
        if ch == d:
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    fields.append("".join(current))
    return fields


@settings(max_examples=300, deadline=None)
@given(rows=rows_strategy, delimiter=st.sampled_from(["COMMA", "SEMI_COLON"]))
def test_quoted_reads_back_with_pythons_csv(rows, delimiter):
    out = io.BytesIO()
    render(rows, out, header=None, delimiter=delimiter, escape_method="QUOTED")
    text = out.getvalue().decode("utf-8")
    assert text.endswith("\r\n")
    back = list(csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[delimiter], strict=True))
    assert back == rows


@settings(max_examples=300, deadline=None)
@given(rows=rows_strategy, delimiter=st.sampled_from(["COMMA", "SEMI_COLON"]))
def test_escaped_decodes_back_by_the_reverse_rule(rows, delimiter):
    d = DELIMITERS[delimiter]
    out = io.BytesIO()
    render(rows, out, header=None, delimiter=delimiter, escape_method="ESCAPED")
    text = out.getvalue().decode("utf-8")
    lines = text.split("\r\n")
    assert lines[-1] == ""
    assert [unescape_line(line, d) for line in lines[:-1]] == rows


@settings(max_examples=300, deadline=None)
@given(rows=rows_strategy, delimiter=st.sampled_from(["COMMA", "SEMI_COLON"]))
def test_stripped_has_the_right_number_of_fields(rows, delimiter):
    d = DELIMITERS[delimiter]
    out = io.BytesIO()
    render(rows, out, header=None, delimiter=delimiter, escape_method="STRIPPED")
    lines = out.getvalue().decode("utf-8").split("\r\n")
    assert len(lines) == len(rows) + 1
    for line, row in zip(lines, rows):
        assert "\r" not in line and "\n" not in line
        fields = line.split(d)
        assert len(fields) == len(row)
        for got, original in zip(fields, row):
            expected = original.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace(d, "")
            assert got == expected


@settings(max_examples=500, deadline=None)
@given(value=st.text(alphabet=st.sampled_from(list(',;"\\\r\nab ')), max_size=12),
       delimiter=st.sampled_from([",", ";"]), method=st.sampled_from(["QUOTED", "ESCAPED", "STRIPPED"]))
def test_the_fast_path_agrees_with_field_by_field(value, delimiter, method):
    encode = line_encoder(delimiter, method)
    escape = field_escaper(delimiter, method)
    row = ["x", value, "y"]
    assert encode(row) == delimiter.join(escape(v) for v in row)


@settings(max_examples=200, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e12"), max_value=Decimal("1e12")))
def test_money_always_has_two_fraction_digits_and_rounds_half_up(value):
    text = money(value)
    whole, _, fraction = text.partition(".")
    assert len(fraction) == 2
    assert abs(Decimal(text) - value) <= Decimal("0.005")
    if abs(Decimal(text) - value) == Decimal("0.005"):
        assert abs(Decimal(text)) > abs(value)  # half away from zero


def test_file_names():
    from datetime import datetime, timedelta, timezone

    def feed_filename(method, filename, sitc_filename, when):
        feed = FeedConfig.model_validate({
            "organisation": 1, "name": "n", "timeslot": 0, "columns": ["name"], "delivery_method": method,
            "filename": filename, "sitc_filename": sitc_filename,
        })
        return feed.method.file_name(feed, when)

    when = datetime(2026, 11, 26, 23, 5, 9, tzinfo=timezone.utc)
    assert feed_filename("EMAIL", None, None, when) == "Hub Feed 20261126230509.csv"
    assert feed_filename("FTP", "Stock-%Y-%m-%d.csv", None, when) == "Stock-2026-11-26.csv"
    in_paris = when.astimezone(timezone(timedelta(hours=1)))
    assert feed_filename("FTP", "%H%M.csv", None, in_paris) == "2305.csv"  # always UTC
    assert feed_filename("SITC", "ignored-%Y.csv", "My %Y Feed.csv", when) == "My %Y Feed.csv"  # as it is
