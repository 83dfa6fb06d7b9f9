"""The catalogue: products to records by the value rules of SPEC §3 (prices, stock, vendors, order)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from feeds.catalog import CatalogueBuilder, Product, loads_page, money, whole_stock, Unreadable

from conftest import feed


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


def test_pages_decode_into_products_and_what_msgspec_and_orjson_refuse_is_decoded_by_the_standard_library():
    assert loads_page(b'[{"id": 1, "price": 2.675, "weight": 1e400}]') == [Product(id=1, price=2.675)]
    assert loads_page(b'[{"id": 1, "stock": 123456789012345678901234567890}]')[0].stock == 123456789012345678901234567890
    assert loads_page(b'[{"id": 1}, 7]') == [{"id": 1}, 7]  # not all objects: orjson, and the builder counts it
    page = loads_page(b'[{"id": 1, "price": NaN, "stock": 123456789012345678901234567890}]')
    with pytest.raises(Unreadable):
        money(page[0]["price"])
    assert whole_stock(page[0]["stock"]) == 123456789012345678901234567890
    assert money(loads_page(b'[{"price": 1.23}]')[0].price) == "1.23"


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


@settings(max_examples=200, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e12"), max_value=Decimal("1e12")))
def test_money_always_has_two_fraction_digits_and_rounds_half_up(value):
    text = money(value)
    whole, _, fraction = text.partition(".")
    assert len(fraction) == 2
    assert abs(Decimal(text) - value) <= Decimal("0.005")
    if abs(Decimal(text) - value) == Decimal("0.005"):
        assert abs(Decimal(text)) > abs(value)  # half away from zero
