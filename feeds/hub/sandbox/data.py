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
    """The products one organisation sees: generated lazily, or a given list.

    Served in two orders. Hub's default, popularity, moves while orders come
    in: with ``moving`` set, that many products climb to the top of it at
    every request, so offset pages read one after another repeat some
    products and skip others, as on the real Hub. By name (``sort_by=+name``)
    the order holds still. ``price_factor`` gives another organisation's
    prices for the same products (a reseller's are not its distributor's).
    """

    count: int = 250
    seed: int = 1
    items: list[dict[str, Any]] | None = None
    moving: int = 0
    price_factor: float = 1.0
    _inserted: int = 0
    _offset: int = 0
    _version: int = 0
    _name_order: tuple[int, list[int]] | None = None

    def __len__(self) -> int:
        return len(self.items) if self.items is not None else self.count

    @property
    def version(self) -> int:
        """Changes whenever the products change (``shift``): page caches key on it."""
        return self._version

    def _at(self, index: int) -> dict[str, Any]:
        item = self.items[index] if self.items is not None else product(self.seed, index)
        if self.price_factor != 1.0:
            item = dict(item)
            for key in ("price", "rrp"):
                value = item.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    item[key] = round(value * self.price_factor, 2)
        return item

    def slice(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Products ``start`` to ``stop`` in popularity order (which moves by ``moving`` per call)."""
        total = len(self)
        stop = min(stop, total)
        if self.moving and total:
            offset = self._offset
            self._offset = (self._offset + self.moving) % total
            return [self._at((i - offset) % total) for i in range(start, stop)]
        if self.items is not None and self.price_factor == 1.0:
            return self.items[start:stop]
        return [self._at(i) for i in range(start, stop)]

    def by_name(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Products ``start`` to ``stop`` ordered by name, then id: an order that holds still."""
        if self._name_order is None or self._name_order[0] != self._version:
            # Names only, not whole products: a million generated products stay cheap to hold.
            names = []
            for i in range(len(self)):
                item = self._at(i)
                names.append((str(item.get("name") or ""), item.get("id") or 0, i))
            names.sort()
            self._name_order = (self._version, [i for _, _, i in names])
        order = self._name_order[1]
        return [self._at(i) for i in order[start:stop]]

    def everything(self) -> list[dict[str, Any]]:
        """Every product, in the order of the list (for filtered and sorted answers)."""
        if self.price_factor == 1.0:
            return list(self.materialise())
        return [self._at(i) for i in range(len(self))]

    def materialise(self) -> list[dict[str, Any]]:
        if self.items is None:
            self.items = products(self.seed, 0, self.count)
        return self.items

    def shift(self, remove: bool) -> None:
        items = self.materialise()
        self._version += 1
        if remove:
            if items:
                items.pop(0)
        else:
            self._inserted += 1
            new_id = max((p.get("id", 0) for p in items), default=0) + 1
            items.insert(0, {"id": new_id, "name": f"New product {self._inserted}",
                             "product_code": f"AAA-NEW-{self._inserted}", "price": 1, "stock": 1})
