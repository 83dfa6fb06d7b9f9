"""Fuzzing `feeds validate`: whatever the JSON, never a traceback; exit status 0, 1 or 2 only."""

from __future__ import annotations

import json

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from feeds.cli import cli
from feeds.config import FeedConfig

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=6)), max_leaves=25)

FIELDS = list(FeedConfig.model_fields) + ["delivery_procotol", "delimeter"]
awkward_strings = st.one_of(st.text(max_size=60), st.sampled_from([
    "COMMA", "SEMI_COLON", "QUOTED", "ESCAPED", "STRIPPED", "EMAIL", "FTP", "SITC", "FTPS", "SFTP",
    "a@example.com", "a@example.com\r\nBcc: x@y.z", "ftp://h/", "../x.csv", "x\x00y", "%Y%m%d.csv", "%", "",
    "name", "stock", "price",
]))
field_values = st.one_of(scalars, awkward_strings, st.lists(st.one_of(awkward_strings, scalars), max_size=9))
feed_like = st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=len(FIELDS))


def check(document_text: str) -> None:
    result = CliRunner().invoke(cli, ["validate", "--json", "-"], input=document_text)
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and "unexpected" not in result.output
    if result.exit_code != 2:
        json.loads(result.stdout)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json(document):
    check(json.dumps(document))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(feed_like, st.lists(feed_like, max_size=12)))
def test_feed_shaped_json(document):
    check(json.dumps(document))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data):
    result = CliRunner().invoke(cli, ["validate", "-"], input=data)
    assert result.exit_code in (0, 1, 2) and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
