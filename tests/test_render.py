"""Rendering to the byte (SPEC §3): golden files, properties and edge cases."""

from __future__ import annotations

import csv
import io
import os
from itertools import product as combinations
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from feeds.config import FeedConfig
from feeds.render import DELIMITERS, field_escaper, line_encoder, render, render_feed

from conftest import feed

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
REGENERATE = os.environ.get("REGEN_GOLDEN") == "1"


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


def test_feeds_of_one_catalogue_in_one_format_share_one_rendering(awkward, monkeypatch):
    import dataclasses

    import feeds.render as module

    awkward = dataclasses.replace(awkward, _shared={}, _keys={})  # the fixture's catalogue is the session's
    renders = []
    real = module.render
    monkeypatch.setattr(module, "render", lambda *a, **k: renders.append(k["escape_method"]) or real(*a, **k))
    sitc = feed(delivery_method="SITC", delivery_email=None, sitc_confirm=True, sitc_filename="s.csv")
    first, again = rendered(awkward, feed()), rendered(awkward, sitc)  # SITC's fixed format is the default one
    escaped = rendered(awkward, feed(escape_method="ESCAPED"))
    fewer = rendered(awkward, feed(columns=["name"]))
    assert first == again and escaped != first and fewer != first
    assert renders == ["QUOTED", "ESCAPED", "QUOTED"]  # the copy cost no rendering
    check_golden("comma-quoted-header.csv", again)

    fresh = dataclasses.replace(awkward, _shared={}, _keys={})
    monkeypatch.setattr(module, "SHARED_FILE_LIMIT", 100)  # too large to keep: each feed renders its own
    renders.clear()
    assert rendered(fresh, feed()) == first and rendered(fresh, sitc) == first
    assert renders == ["QUOTED", "QUOTED"]


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
