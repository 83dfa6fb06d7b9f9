"""Products to rows: the value rules of SPEC §3.

A ``Catalogue`` holds each product once, as a ``Record`` (``record.py``) of the
strings a feed can print, sorted by SKU (code-point order) and then by id.
Every feed of a slot shares one catalogue: a feed only picks its columns out of
the records, so feeds cost no copy of the catalogue and no per-feed formatting.

Prices are rounded from the number's JSON text (see ``loads_page``), so 2.675
rounds half-up to 2.68 without binary float drift.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

import msgspec
import orjson

from typing import TYPE_CHECKING

from . import bounded, failpoints
from .errors import HubError
from .record import ID, SKU, Record, row_picker
from .retry import CATALOGUE_READS

if TYPE_CHECKING:
    from .config import FeedConfig
    from .hub import HubClient

log = logging.getLogger("feeds.catalog")

#: Products are read by name (SPEC §1): Hub's default order, popularity, moves while orders come in, so
#: offset pages read over some seconds would repeat some products and skip others.
PRODUCT_ORDER = [("sort_by", "+name")]
_new_record = tuple.__new__
_CENT = Decimal("0.01")
_MONEY_CONTEXT = Context(prec=60)
_MONEY_LIMIT = Decimal(10) ** 30
_NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$")
_KEEP_EXAMPLES = 20


class Unreadable(ValueError):
    """A product value that cannot be printed truthfully."""


_PLAIN_MONEY = re.compile(r"(?:0|[1-9]\d{0,20})(?:\.\d{1,2})?")


class Product(msgspec.Struct, gc=False):
    """The fields of a Hub product that a feed reads (SPEC §1, §3); each any JSON value, judged by the value rules.

    Decoding a page straight into these skips every other field of a product
    without making Python objects of it, and reads in one pass what a dict
    would be built for and then searched.
    """

    id: Any = None
    product_code: Any = None
    name: Any = None
    mpn: Any = None
    ean: Any = None
    vendor: Any = None
    stock: Any = None
    price: Any = None
    rrp: Any = None
    is_shippable: Any = None
    subscription_type: Any = None


_FIELDS = Product.__struct_fields__
_PAGE = msgspec.json.Decoder(list[Product])


def loads_page(data: bytes) -> Any:
    """Decode a page of products: a list of ``Product``, or what JSON decoding gives for any other page.

    msgspec decodes a page of objects into ``Product`` records, keeping
    integers exact at any size and floats as the binary float nearest the
    JSON text, whose shortest ``repr`` is that text for any number of up to
    15 significant digits, so ``money`` still rounds the number Hub wrote
    (2.675 gives 2.68). A page that is not a list of objects (an item that
    is not a product is counted as unreadable) is decoded by orjson; NaN,
    Infinity and numbers beyond a double are not JSON, and that rare page is
    decoded by ``json`` with floats kept as text, so such values end up
    counted as unreadable.
    """
    try:
        return _PAGE.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data, parse_float=str)


def as_product(item: Any) -> Product | None:
    """A page's item as a ``Product``: a decoded object's fields, or None for what is not an object."""
    if type(item) is Product:
        return item
    if type(item) is dict:
        return Product(**{name: item[name] for name in _FIELDS if name in item})
    return None


def money(value: Any) -> str:
    """A JSON number as a decimal with exactly two fraction digits, rounded half-up.

    A price that already has at most two fraction digits (most of them) is
    padded as text; anything else is rounded with ``Decimal`` from the
    number's text, never from a binary float.
    """
    if value is None:
        return ""
    kind = type(value)
    if kind is float:
        text = f"{value:.2f}"
        if float(text) == value and text[-1] != "f":  # not inf
            # At most two decimals (most prices): the two-decimal text is Hub's number itself.
            return text if value else "0.00"
        value, kind = repr(value), str  # the shortest repr: Hub's JSON text (see loads_page)
    if kind is str and _PLAIN_MONEY.fullmatch(value):
        dot = value.find(".")
        if dot < 0:
            return value + ".00"
        return value + "0" if len(value) - dot == 2 else value
    if kind is int and value >= 0:
        return f"{value}.00"
    if isinstance(value, bool):
        raise Unreadable(f"{value!r} is not a number")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str) and _NUMBER.match(value):
        number = Decimal(value.strip())
    else:
        raise Unreadable(f"{str(value)[:40]!r} is not a number")
    if not number.is_finite() or abs(number) >= _MONEY_LIMIT:
        raise Unreadable(f"{value} is not a usable amount")
    try:
        rounded = number.quantize(_CENT, rounding=ROUND_HALF_UP, context=_MONEY_CONTEXT)
    except InvalidOperation:
        raise Unreadable(f"{value} is not a usable amount") from None
    if not rounded:
        return "0.00"
    return f"{rounded:f}"


def whole_stock(value: Any) -> int | None:
    """Stock as a whole number, or None when Hub sent none."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Unreadable(f"stock {value!r} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == int(value):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if re.fullmatch(r"-?\d+\.0*", text):  # a whole number written as JSON float text, 5.0
            return int(text.split(".")[0])
    raise Unreadable(f"stock {str(value)[:40]!r} is not a whole number")


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise Unreadable(f"{what} is {type(value).__name__}, not text")


def is_physical(shippable: Any, subscription_type: Any) -> bool:
    """Physical: shippable, or shippable unknown and not a subscription (SPEC §3)."""
    if shippable is True:
        return True
    if shippable is None:
        return not subscription_type
    return False


@dataclass
class Catalogue:
    """Products ready to print, shared by every feed of a slot."""

    records: list[Record]
    fetched_at: datetime
    without_code: int = 0
    unknown_vendor: int = 0
    without_vendor: int = 0
    unreadable: int = 0
    unreadable_examples: list[str] = field(default_factory=list)
    duplicates: int = 0
    _shared: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)
    _keys: dict[Hashable, threading.Lock] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def once(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """``make()`` done once for every feed of this catalogue that asks for ``key``, and shared.

        The feeds of a slot share one catalogue, and often its results too: a
        file in the same format and columns, the snapshot of its rows. A feed
        that asks while another makes it waits for that result instead of
        making it twice; a ``make`` that raises shares nothing.
        """
        with self._lock:
            lock = self._keys.setdefault(key, threading.Lock())
        with lock:
            if key not in self._shared:
                self._shared[key] = make()
            return self._shared[key]

    def rows(self, feed: FeedConfig) -> Iterator[tuple[str, ...]]:
        """The data rows of ``feed``: SKU first, then its columns in order."""
        return map(row_picker(feed.columns, feed.show_empty_stock), self.records)

    def notes(self, feed: FeedConfig) -> list[str]:
        """What a run's summary says about products that did not print in full."""
        notes = []
        if self.without_code:
            notes.append(f"{self.without_code} without product_code left out")
        if self.unreadable:
            notes.append(f"{self.unreadable} with unreadable values left out")
        if "vendor" in feed.columns and (self.unknown_vendor or self.without_vendor):
            notes.append(f"{self.without_vendor + self.unknown_vendor} without a known vendor")
        return notes


class CatalogueBuilder:
    """Collects pages of products into a ``Catalogue``; one product per id."""

    def __init__(self, vendors: dict[int, str]):
        self.vendors = vendors
        self.by_id: dict[int, Record] = {}
        self.other_ids: set[int] = set()
        self.without_code: set[int] = set()
        self.unknown_vendor: set[int] = set()
        self.without_vendor: set[int] = set()
        self.unreadable: dict[int, str] = {}
        self.no_id = 0
        self.occurrences = 0

    def add(self, items: list[Any]) -> None:
        by_id, other_ids, record_of = self.by_id, self.other_ids, self._record
        self.occurrences += len(items)
        for product in items:
            if type(product) is not Product:
                product = as_product(product)
                if product is None:
                    self.no_id += 1
                    continue
            pid = product.id
            if type(pid) is not int:
                self.no_id += 1
                continue
            if pid in by_id or pid in other_ids:
                self._forget(pid)  # the later page wins: it is the fresher copy
            try:
                record = record_of(pid, product)
            except Unreadable as exc:
                self.unreadable[pid] = str(exc)
                self.other_ids.add(pid)
                continue
            if record is None:
                self.without_code.add(pid)
                self.other_ids.add(pid)
            else:
                by_id[pid] = record

    def _forget(self, pid: int) -> None:
        self.by_id.pop(pid, None)
        self.other_ids.discard(pid)
        for group in (self.without_code, self.unknown_vendor, self.without_vendor):
            group.discard(pid)
        self.unreadable.pop(pid, None)

    def _record(self, pid: int, p: Product) -> Record | None:
        """One product as the strings a feed prints (SPEC §3); None without a product code.

        Written for speed (it runs once per product): the common JSON types
        are tested with ``type() is``, the rest goes to the careful helpers.
        """
        code = p.product_code
        if type(code) is not str:
            if code is None:
                return None
            code = _text(code, "product_code")
        if not code:
            return None
        name = p.name
        if type(name) is not str:
            name = _text(name, "name")
        mpn = p.mpn
        if type(mpn) is not str or not mpn:
            mpn = code
        ean = p.ean
        if type(ean) is not str:
            ean = _text(ean, "ean")
        vendor_id = p.vendor
        vendor = self.vendors.get(vendor_id) if type(vendor_id) is int else None
        if vendor is None:
            vendor = ""
            (self.without_vendor if vendor_id is None else self.unknown_vendor).add(pid)
        stock = p.stock
        if type(stock) is not int:
            stock = whole_stock(stock)
        if stock is not None and stock > 0:
            stock_text = str(stock)
            stock_or_zero = stock_text
        else:
            stock_text = ""
            stock_or_zero = "0" if is_physical(p.is_shippable, p.subscription_type) else ""
        price, rrp = money(p.price), money(p.rrp)
        # COLUMN RULES END
        # In Record's field order; tuple.__new__ skips the NamedTuple constructor's call (0.2 µs a product).
        return _new_record(Record, (code, pid, stock_text, mpn, price, rrp, vendor, name, ean, stock_or_zero))

    @property
    def unique(self) -> int:
        return len(self.by_id) + len(self.other_ids)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for pid in sorted(self.by_id.keys() | self.other_ids):
            digest.update(pid.to_bytes(8, "big", signed=True))
        return digest.hexdigest()

    def build(self, fetched_at: datetime) -> Catalogue:
        # By SKU, then id: two stable sorts on one key each are three times faster than
        # comparing (SKU, id) tuples.
        records = list(self.by_id.values())
        records.sort(key=itemgetter(ID))
        records.sort(key=itemgetter(SKU))
        examples = [f"product {pid}: {why}" for pid, why in list(self.unreadable.items())[:_KEEP_EXAMPLES]]
        return Catalogue(
            records=records,
            fetched_at=fetched_at,
            without_code=len(self.without_code),
            unknown_vendor=len(self.unknown_vendor),
            without_vendor=len(self.without_vendor),
            unreadable=len(self.unreadable) + self.no_id,
            unreadable_examples=examples,
            duplicates=self.occurrences - self.unique - self.no_id,
        )


def load_catalogue(hub: HubClient, *, on_page: Callable[[int, int | None], None] | None = None,
                   deadline: bounded.Bound | None = None) -> Catalogue:
    """Read vendors and every page of products from Hub into a ``Catalogue``, by ``deadline`` if given.

    The deadline covers the whole read (token, vendors, every page, in every
    page thread), however slowly Hub answers; past it the read fails with
    ``bounded.DeadlinePassed``. Without one, the caller's chain's deadline
    holds (a run's), if any.

    Products are read by name (``PRODUCT_ORDER``), an order that does not move
    while the pages are read. Hub still pages by offset, so a product added or
    removed meanwhile shifts the rest: one product is then read twice and
    another not at all. As a second line of defence, when the total Hub
    reports changes between pages, or the products read do not add up to it,
    the whole catalogue is read again (up to ``retry.CATALOGUE_READS`` times). A
    difference that comes back the same on two reads in a row is Hub's own and
    is accepted with a warning; a catalogue that keeps changing is a failure,
    never a file with products missing.
    """
    with bounded.within(deadline):
        return _read(hub, on_page)


def _read(hub: HubClient, on_page: Callable[[int, int | None], None] | None) -> Catalogue:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vendors") as pool:
        pending_vendors = pool.submit(bounded.carried(hub.vendors))  # read while the first product page comes
        vendors: dict[int, str] | None = None
        previous: str | None = None
        problem = ""
        for attempt in range(1, CATALOGUE_READS + 1):
            fetched_at = datetime.now(timezone.utc)
            pages = hub.iter_pages("/products", PRODUCT_ORDER, loads=loads_page)
            first = next(pages)
            if vendors is None:
                vendors = pending_vendors.result()
            builder = CatalogueBuilder(vendors)
            totals: set[int] = set()
            for page in itertools.chain([first], pages):
                failpoints.reached("fetch")
                builder.add(page.items)
                if page.total_count is not None:
                    totals.add(page.total_count)
                if on_page:
                    on_page(page.number, page.total_pages)
            if not totals:
                return _built(builder, fetched_at)
            if len(totals) == 1 and builder.unique == next(iter(totals)):
                return _built(builder, fetched_at)
            problem = (
                f"Hub's product count changed while the pages were read ({', '.join(map(str, sorted(totals)))})"
                if len(totals) > 1
                else f"Hub reported {next(iter(totals))} products but the pages held {builder.unique} different ones"
            )
            fingerprint = builder.fingerprint()
            if len(totals) == 1 and fingerprint == previous:
                log.warning("%s, the same on two reads in a row; using what Hub sent", problem)
                return _built(builder, fetched_at)
            previous = fingerprint if len(totals) == 1 else None
            if attempt < CATALOGUE_READS:
                log.warning("%s; reading the catalogue again (attempt %d of %d)", problem, attempt + 1, CATALOGUE_READS)
        raise HubError(f"the catalogue kept changing while it was read: {problem}; no file was made")


def _built(builder: CatalogueBuilder, fetched_at: datetime) -> Catalogue:
    catalogue = builder.build(fetched_at)
    if catalogue.unreadable:
        log.warning(
            "%d products have values that cannot be printed and are left out: %s",
            catalogue.unreadable,
            "; ".join(catalogue.unreadable_examples[:5]),
        )
    return catalogue
