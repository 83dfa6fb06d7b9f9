"""The sandbox's generated catalogue: deterministic, and as awkward as real ones.

Product ``i`` is a pure function of (seed, i), so a catalogue of a million
products costs no memory until a page of it is asked for, and the same seed
always gives the same bytes. The mix holds what breaks naive feed writers
(SPEC §9): delimiters, quotes, backslashes, CR, LF and CRLF in names,
non-ASCII text, leading and trailing spaces, missing EANs, MPNs and vendors,
null, zero and negative stock, subscription products, prices such as 5,
110.1 and 2.675, and the occasional product without a product code.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

VENDORS: list[dict[str, Any]] = [
    {"id": 1, "name": "Yealink"},
    {"id": 2, "name": "Poly, Inc."},
    {"id": 3, "name": "Snom \"Business\" Phones"},
    {"id": 4, "name": "Gigaset Communications GmbH"},
    {"id": 5, "name": "Grandstream; Networks"},
    {"id": 6, "name": "Jabra"},
    {"id": 7, "name": "Fanvil Téchnology"},
    {"id": 8, "name": "Cisco\\Meraki"},
    {"id": 9, "name": "Mitel"},
    {"id": 10, "name": "Dropbox"},
    {"id": 11, "name": "Acronis"},
    {"id": 12, "name": "  Spaced Vendor  "},
]
UNKNOWN_VENDOR_ID = 999

_WORDS = [
    "Phone", "Headset", "Handset", "Base Station", "Conference Unit", "Power Supply",
    "Wall Mount", "Expansion Module", "Licence", "Cable", "Gateway", "Switch",
]
_ADJECTIVES = ["Desk", "Wireless", "Dual", "Pro", "Lite", "Colour", "Gigabit", "DECT", "SIP", "USB"]
_AWKWARD = [
    "Delimiters, should be quoted",
    "Semi; colon",
    'Quote "Edition"',
    "Back\\slash",
    "Line\nbreak",
    "Windows\r\nline",
    "Old Mac\rline",
    "Tab\tseparated",
    "Café Straße",
    "日本語モデル",
    "Emoji 📞 phone",
    "  leading and trailing  ",
    "Both, \"quoted\"; and\\escaped\r\n",
    "",
]
_PRICES = [5, 110.1, 2.675, 0.005, 100.12, 12345678.9, 1e-07, 0, 19.99, 0.1, 1.005]


def product(seed: int, index: int) -> dict[str, Any]:
    """Product number ``index`` (0-based) of the catalogue ``seed``."""
    rng = random.Random(seed * 1_000_003 + index)
    pid = index + 1
    roll = rng.random()
    item: dict[str, Any] = {"id": pid}

    if roll < 0.15:
        name = rng.choice(_AWKWARD)
    else:
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_WORDS)} {pid}"
    item["name"] = name

    code_roll = rng.random()
    if code_roll < 0.01:
        pass  # no product_code at all: left out of feeds
    elif code_roll < 0.015:
        item["product_code"] = None
    elif code_roll < 0.03:
        item["product_code"] = rng.choice(["AB;12-", "X,Y-", "Q\"T-", "É-", "lower-", "Z\\"]) + str(pid)
    else:
        item["product_code"] = f"SKU-{rng.randrange(100000, 999999)}-{pid}"

    mpn_roll = rng.random()
    if mpn_roll < 0.5:
        item["mpn"] = f"MPN{pid:07d}"
    elif mpn_roll < 0.6:
        item["mpn"] = ""
    elif mpn_roll < 0.7:
        item["mpn"] = None

    ean_roll = rng.random()
    if ean_roll < 0.6:
        item["ean"] = f"{rng.randrange(10**12, 10**13)}"
    elif ean_roll < 0.7:
        item["ean"] = None

    vendor_roll = rng.random()
    if vendor_roll < 0.85:
        item["vendor"] = rng.choice(VENDORS)["id"]
    elif vendor_roll < 0.9:
        item["vendor"] = None
    elif vendor_roll < 0.95:
        item["vendor"] = UNKNOWN_VENDOR_ID

    price_roll = rng.random()
    if price_roll < 0.3:
        item["price"] = rng.choice(_PRICES)
    elif price_roll < 0.32:
        item["price"] = None
    else:
        item["price"] = round(rng.uniform(1, 2000), 2)
    rrp_roll = rng.random()
    if rrp_roll < 0.1:
        item["rrp"] = None
    elif rrp_roll < 0.3:
        item["rrp"] = rng.choice(_PRICES)
    else:
        item["rrp"] = round(rng.uniform(1, 2500), 2)

    kind = rng.random()
    if kind < 0.15:
        item["subscription_type"] = rng.choice(["DROPBOX", "ACRONIS"])
        item["subscription_product_type"] = "BASE"
        item["is_shippable"] = False
    elif kind < 0.25:
        pass  # is_shippable absent, no subscription: physical
    elif kind < 0.3:
        item["is_shippable"] = None
    else:
        item["is_shippable"] = True

    stock_roll = rng.random()
    if stock_roll < 0.55:
        item["stock"] = rng.randrange(1, 10000)
    elif stock_roll < 0.7:
        item["stock"] = 0
    elif stock_roll < 0.8:
        item["stock"] = None
    elif stock_roll < 0.85:
        item["stock"] = -rng.randrange(1, 50)

    # Fields this product does not read, as Hub sends them (and one it might add).
    item["description"] = f"{name[:40]} for business"
    item["type"] = rng.randrange(1, 12)
    item["thumb_url"] = f"https://hub.example.com/img/{pid}.png"
    item["show_in_webstore"] = True
    item["weight_unit"] = "GRAMS"
    item["weight"] = round(rng.uniform(10, 2000), 2)
    if pid % 7 == 0:
        item["future_field"] = {"added": "in a minor release"}
    return item


def products(seed: int, start: int, stop: int) -> list[dict[str, Any]]:
    return [product(seed, i) for i in range(start, stop)]


@dataclass
class Catalogue:
    """The products the sandbox serves: generated lazily, or a given list."""

    count: int = 250
    seed: int = 1
    items: list[dict[str, Any]] | None = None
    _inserted: int = 0

    def __len__(self) -> int:
        return len(self.items) if self.items is not None else self.count

    def slice(self, start: int, stop: int) -> list[dict[str, Any]]:
        if self.items is not None:
            return self.items[start:stop]
        return products(self.seed, start, min(stop, self.count))

    def materialise(self) -> list[dict[str, Any]]:
        if self.items is None:
            self.items = products(self.seed, 0, self.count)
        return self.items

    def shift(self, remove: bool) -> None:
        items = self.materialise()
        if remove:
            if items:
                items.pop(0)
        else:
            self._inserted += 1
            new_id = max((p.get("id", 0) for p in items), default=0) + 1
            items.insert(0, {"id": new_id, "name": f"New product {self._inserted}",
                             "product_code": f"AAA-NEW-{self._inserted}", "price": 1, "stock": 1})
