"""Feed configuration validation (SPEC §2): every rule, every problem at once."""

from __future__ import annotations

import json

import pytest

from feeds.config import FeedConfig, check_documents, check_feed, json_schema, masked

EMAIL = {
    "organisation": 1, "name": "Email feed", "active": True, "timeslot": 150,
    "columns": ["name", "ean", "mpn", "stock", "price"],
    "delivery_method": "EMAIL", "delivery_email": "feed@example.com",
}
FTP = {
    "organisation": 1, "name": "FTP feed", "active": False, "timeslot": 150,
    "columns": ["name", "stock", "price"], "delivery_method": "FTP",
    "delivery_user": "user", "delivery_password": "pw-secret-1", "delivery_server": "ftp.example.com",
    "delivery_procotol": "SFTP", "delivery_port": 22,
}
SITC = {
    "organisation": 1, "name": "SITC feed", "active": True, "timeslot": 150,
    "columns": ["name", "stock", "price", "vendor", "rrp"],
    "delivery_method": "SITC", "sitc_confirm": True, "sitc_filename": "Example-SITC.csv",
}


def errors(raw):
    return [str(p) for p in check_feed(raw).errors]


def warnings(raw):
    return [str(p) for p in check_feed(raw).warnings]


@pytest.mark.parametrize("base", [EMAIL, FTP, SITC])
def test_reference_examples_are_valid(base):
    check = check_feed(base)
    assert check.errors == [] and check.warnings == []
    assert isinstance(check.feed, FeedConfig)


def test_defaults():
    feed = check_feed(EMAIL).feed
    assert feed.show_headers is True and feed.delimiter == "COMMA"
    assert feed.escape_method == "QUOTED" and feed.show_empty_stock is False
    assert FeedConfig.model_validate({**FTP, "delivery_port": None, "delivery_procotol": "FTPS"}).port == 21
    assert FeedConfig.model_validate({**FTP, "delivery_port": None}).port == 22


def test_null_optional_fields_mean_the_default():
    feed = check_feed({**EMAIL, "show_headers": None, "delimiter": None, "escape_method": None, "active": None}).feed
    assert feed.show_headers is True and feed.delimiter == "COMMA" and feed.active is True


def test_both_spellings_of_the_protocol_field_are_read_and_hubs_is_written():
    alt = {k: v for k, v in FTP.items() if k != "delivery_procotol"} | {"delivery_protocol": "FTPS"}
    feed = check_feed(alt).feed
    assert feed.delivery_protocol == "FTPS"
    body = feed.to_hub()
    assert body["delivery_procotol"] == "FTPS" and "delivery_protocol" not in body
    assert body["delivery_password"] == "pw-secret-1"


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"timeslot": 45}, "timeslot: 45 is not a multiple of 30 (try 30 or 60)"),
        ({"timeslot": 1440}, "timeslot: 1440 is out of range"),
        ({"timeslot": -30}, "timeslot: -30 is out of range"),
        ({"timeslot": "30"}, "timeslot: must be a whole number, not a string (\"30\"); write it without quotes: 30"),
        ({"timeslot": 30.0}, "timeslot: must be a whole number"),
        ({"timeslot": True}, "timeslot: must be a whole number, not a boolean"),
        ({"organisation": 0}, "organisation: 0 is out of range"),
        ({"organisation": None}, "organisation: must be a whole number, not null"),
        ({"name": ""}, "name: is empty"),
        ({"name": "   "}, "name: is only spaces"),
        ({"name": "x" * 256}, "name: is too long (256 characters); use at most 255"),
        ({"name": "Line\nbreak"}, "name: contains a line break"),
        ({"active": "yes"}, "active: must be true or false"),
        ({"columns": []}, "columns: is empty"),
        ({"columns": "name"}, "columns: must be a list, not a string"),
        ({"columns": ["name", "prize"]}, "columns[1]: \"prize\" is not a column; use one of stock, mpn, price, rrp, vendor, name, ean (did you mean 'price'?)"),
        ({"columns": ["name", "name"]}, "columns: 'name' appears more than once"),
        ({"columns": ["sku"]}, "columns[0]: \"sku\" is not listed: every file starts with the SKU; list the columns after it"),
        ({"delimiter": "TAB"}, "delimiter: \"TAB\" is not allowed; use one of COMMA, SEMI_COLON"),
        ({"delimiter": "comma"}, "(did you mean 'COMMA'?)"),
        ({"escape_method": "QUOTE"}, "escape_method: \"QUOTE\" is not allowed; use one of ESCAPED, QUOTED, STRIPPED (did you mean 'QUOTED'?)"),
        ({"show_empty_stock": 1}, "show_empty_stock: must be true or false"),
        ({"delivery_method": "SMS"}, "delivery_method: \"SMS\" is not allowed; use one of EMAIL, FTP, SITC"),
        ({"delivery_email": None}, "delivery_email: is required for an EMAIL feed"),
        ({"delivery_email": "a@example.com\r\nBcc: x@example.net"}, "delivery_email: contains a line break, which could inject mail headers"),
        ({"delivery_email": "a@example.com, b@example.com"}, "delivery_email: holds more than one address"),
        ({"delivery_email": "a@example.com;b@example.com"}, "delivery_email: holds more than one address"),
        ({"delivery_email": "Orders <a@example.com>"}, "delivery_email: has a display name"),
        ({"delivery_email": "not-an-address"}, "delivery_email: has no @; an address is a mailbox, @ and a domain, such as orders@example.com"),
        ({"delivery_email": "orders@example"}, "delivery_email: is not a valid email address (the part after the @-sign is not valid: it should have a period)"),
        ({"delivery_email": "x" * 300 + "@example.com"}, "delivery_email: is too long"),
        ({"filename": "../up.csv"}, "filename: gives the file name \"../up.csv\", which contains a path separator"),
        ({"filename": "/etc/x.csv"}, "contains a path separator"),
        ({"filename": ".hidden.csv"}, "starts with '.'"),
        ({"filename": "a\x00b.csv"}, "contains a NUL byte"),
        ({"filename": "x" * 256}, "filename: is too long"),
    ],
)
def test_email_feed_rules(patch, expected):
    found = errors({**EMAIL, **patch})
    assert any(expected in e for e in found), found


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"delivery_server": "ftp://ftp.example.com:2121/in"}, "delivery_server: is a URL; give the host name only, such as 'ftp.example.com'"),
        ({"delivery_server": "ftp.example.com:21"}, "delivery_server: contains a port"),
        ({"delivery_server": "user@ftp.example.com"}, "delivery_server: contains a user name"),
        ({"delivery_server": "ftp.example.com/in"}, "delivery_server: contains a path"),
        ({"delivery_server": "ftp example.com"}, "delivery_server: contains spaces"),
        ({"delivery_server": "-bad-.example.com"}, "delivery_server: is not a valid host name"),
        ({"delivery_server": None}, "delivery_server: is required for an FTP feed"),
        ({"delivery_port": 0}, "delivery_port: 0 is out of range; use 1 to 65535"),
        ({"delivery_port": 65536}, "delivery_port: 65536 is out of range"),
        ({"delivery_procotol": "SCP"}, "delivery_procotol: \"SCP\" is not allowed; use one of FTP, FTPS, SFTP"),
        ({"delivery_procotol": None}, "delivery_procotol: is required for an FTP feed"),
        ({"delivery_user": None}, "delivery_user: is required"),
        ({"delivery_user": "a\r\nDELE x"}, "delivery_user: contains a line break"),
        ({"delivery_password": None}, "delivery_password: is required"),
        ({"delivery_password": 1234}, "delivery_password: must be a string, not a whole number"),
        ({"delivery_path": "/in/../etc"}, "delivery_path: contains '..'"),
        ({"delivery_path": "/in\x00"}, "delivery_path: contains a control character"),
    ],
)
def test_ftp_feed_rules(patch, expected):
    found = errors({**FTP, **patch})
    assert any(expected in e for e in found), found


def test_ip_addresses_are_servers():
    assert errors({**FTP, "delivery_server": "192.0.2.10"}) == []
    assert errors({**FTP, "delivery_server": "2001:db8::1"}) == []


def test_a_password_never_appears_in_a_problem():
    for bad in ["pw\r\nsecret-xyz", 12345678]:
        raw = {**FTP, "delivery_password": bad}
        text = " ".join(errors(raw) + warnings(raw))
        assert "secret-xyz" not in text and "12345678" not in text
        assert "delivery_password" in text


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"sitc_confirm": False}, "sitc_confirm: must be true"),
        ({"sitc_confirm": None}, "sitc_confirm: is required for a SITC feed: true, to confirm"),
        ({"sitc_filename": None}, "sitc_filename: is required for a SITC feed"),
        ({"sitc_filename": "../../etc/passwd"}, "sitc_filename: contains a path separator"),
        ({"sitc_filename": "a\\b.csv"}, "sitc_filename: contains a path separator"),
        ({"sitc_filename": ".."}, "sitc_filename: is '..'"),
        ({"sitc_filename": "."}, "sitc_filename: is '.'"),
        ({"sitc_filename": "x\ny.csv"}, "sitc_filename: contains a control character"),
        ({"sitc_filename": "é" * 128 + ".csv"}, "sitc_filename: is 260 bytes long in UTF-8; use at most 255"),
    ],
)
def test_sitc_feed_rules(patch, expected):
    found = errors({**SITC, **patch})
    assert any(expected in e for e in found), found


def test_every_problem_is_reported_at_once():
    raw = {**EMAIL, "timeslot": 45, "columns": ["prize"], "delimiter": "TAB", "delivery_email": "a@b.c, d@e.f"}
    paths = [p.path for p in check_feed(raw).errors]
    assert paths == ["timeslot", "columns[0]", "delimiter", "delivery_email"]


def test_missing_everything():
    paths = {p.path for p in check_feed({}).errors}
    assert {"organisation", "name", "timeslot", "columns", "delivery_method"} <= paths


def test_not_an_object():
    assert errors(["x"]) == ["must be a feed configuration object, not a list"]


def test_unknown_fields_warn_with_a_suggestion():
    found = warnings({**EMAIL, "delimeter": "COMMA", "colour": "blue"})
    assert "delimeter: is not a feed configuration field and is ignored (did you mean 'delimiter'?)" in found
    assert "colour: is not a feed configuration field and is ignored" in found
    assert check_feed({**EMAIL, "delimeter": "COMMA"}).feed is not None


def test_fields_the_method_ignores_warn():
    assert "delivery_email: is ignored by an FTP feed (it is for EMAIL delivery)" in warnings({**FTP, "delivery_email": "a@example.com"})
    assert any(w.startswith("delivery_server: is ignored by an EMAIL feed") for w in warnings({**EMAIL, "delivery_server": "x.example.com"}))
    assert any(w.startswith("sitc_filename: is ignored by an EMAIL feed") for w in warnings({**EMAIL, "sitc_filename": "a.csv"}))
    assert "filename: is ignored by a SITC feed, which uses sitc_filename" in warnings({**SITC, "filename": "a.csv"})


def test_format_fields_on_a_sitc_feed_warn():
    found = warnings({**SITC, "delimiter": "SEMI_COLON", "escape_method": "ESCAPED", "show_headers": False})
    assert len(found) == 3 and all("SITC feeds always use" in w for w in found)
    assert warnings({**SITC, "delimiter": "COMMA"}) == []
    feed = check_feed({**SITC, "delimiter": "SEMI_COLON"}).feed
    assert feed.effective_format() == ("COMMA", "QUOTED", True)


def test_an_unusual_port_warns():
    assert any("usual port" in w for w in warnings({**FTP, "delivery_procotol": "FTP", "delivery_port": 22}))


def test_eleven_feeds_of_one_organisation_is_an_error():
    feeds = [{**EMAIL, "name": f"f{i}"} for i in range(11)]
    (checks,) = check_documents([("x.json", feeds)])
    assert all(c.ok for c in checks[:10])
    assert "feeds[10].organisation: organisation 1 has 11 feeds in this validation run; Hub allows at most 10 per organisation" == str(checks[10].errors[0])
    (other,) = check_documents([("y.json", feeds[:10] + [{**EMAIL, "organisation": 2}])])
    assert all(c.ok for c in other)


def test_the_limit_counts_across_files():
    docs = [(f"{i}.json", {**EMAIL, "name": f"f{i}"}) for i in range(11)]
    results = check_documents(docs)
    assert [bool(r[0].errors) for r in results] == [False] * 10 + [True]


def test_a_repeated_id_is_an_error():
    (checks,) = check_documents([("x.json", [{**EMAIL, "id": 4}, {**SITC, "id": 4}])])
    assert checks[0].ok and "feeds[1].id: id 4 is given twice" in str(checks[1].errors[0])


def test_long_values_are_cut_short_in_messages():
    raw = {**EMAIL, "delimiter": "X" * 1_000_000}
    message = errors(raw)[0]
    assert len(message) < 300 and "1000000 characters" in message


def test_masked_hides_the_password_and_keeps_unknown_fields():
    shown = masked({**FTP, "new_field": 1})
    assert shown["delivery_password"] == "********" and shown["new_field"] == 1


def test_schema_is_json_schema_with_the_rules():
    schema = json_schema()
    json.dumps(schema)
    props = schema["properties"]
    assert props["timeslot"]["multipleOf"] == 30 and props["timeslot"]["maximum"] == 1410
    assert props["columns"]["uniqueItems"] is True
    assert "delivery_procotol" in props
    assert set(schema["required"]) == {"organisation", "name", "timeslot", "columns", "delivery_method"}
    assert any(rule["then"].get("required") == ["delivery_email"] for rule in schema["allOf"])


def test_two_sitc_feeds_with_one_file_name_warn():
    (checks,) = check_documents([("x.json", [SITC, {**SITC, "organisation": 2}])])
    assert checks[0].warnings == []
    assert "is also the sitc_filename of x.json feeds[0]" in str(checks[1].warnings[0])
    assert checks[1].ok


@pytest.mark.parametrize("address, expected", [
    ("bob@@x", "has 2 @ signs; an address has exactly one, between the mailbox and the domain, such as orders@example.com"),
    ("a@b@example.com", "has 2 @ signs; an address has exactly one"),
    ("@example.com", "has nothing before the @; give the mailbox too"),
    ("orders@", "has nothing after the @; give the domain too"),
    ("orders@example.com;", "contains ';', which separates addresses; give one address alone"),
    ("or ders@example.com", "contains a space; give the address without spaces"),
    ("a@example.com b@example.com", "holds more than one address; give exactly one"),
])
def test_a_malformed_address_is_told_by_its_form_not_as_several(address, expected):
    (found,) = errors({**EMAIL, "delivery_email": address})
    assert found.startswith(f"delivery_email: {expected}"), found
    assert "more than one address" not in found or " " in address


@pytest.mark.parametrize("patch, expected", [
    ({"delimiter": ";"}, "delimiter: \";\" is not allowed; use one of COMMA, SEMI_COLON (did you mean 'SEMI_COLON', the name of \";\"?)"),
    ({"delimiter": ","}, "(did you mean 'COMMA', the name of \",\"?)"),
    ({"delimiter": "semi-colon"}, "(did you mean 'SEMI_COLON'?)"),
    ({"escape_method": '"'}, "(did you mean 'QUOTED', which encloses fields in quotes?)"),
    ({"escape_method": "\\"}, "(did you mean 'ESCAPED', which escapes with a backslash?)"),
    ({"delivery_method": "SFTP"}, "delivery_method: \"SFTP\" is not allowed; use one of EMAIL, FTP, SITC (did you mean 'FTP' with \"delivery_procotol\": \"SFTP\"?)"),
    ({"delivery_method": "ftps"}, "(did you mean 'FTP' with \"delivery_procotol\": \"FTPS\"?)"),
    ({"delivery_method": "mail"}, "(did you mean 'EMAIL'?)"),
    ({"columns": ["name", "qty"]}, "columns[1]: \"qty\" is not a column; use one of stock, mpn, price, rrp, vendor, name, ean (did you mean 'stock'?)"),
])
def test_a_value_written_for_its_name_suggests_the_name(patch, expected):
    found = errors({**EMAIL, **patch})
    assert any(expected in e for e in found), found


def test_a_protocol_written_as_people_say_it_suggests_the_name():
    assert "(did you mean 'SFTP'?)" in errors({**FTP, "delivery_procotol": "ssh"})[0]


def test_a_misspelt_required_field_is_one_error_naming_the_misspelling():
    raw = {key: value for key, value in EMAIL.items() if key != "name"} | {"nmae": "Email feed"}
    check = check_feed(raw)
    assert [str(p) for p in check.errors] == ['name: is required; did you misspell it as "nmae"? rename that field to name']
    assert check.warnings == []  # said once, in the error


def test_a_misspelt_field_a_method_requires_is_one_error():
    raw = {key: value for key, value in FTP.items() if key != "delivery_password"} | {"delivery_pasword": "pw-secret-1"}
    check = check_feed(raw)
    assert [str(p) for p in check.errors] == ['delivery_password: is required for an FTP feed; did you misspell it as '
                                              '"delivery_pasword"? rename that field to delivery_password']
    assert check.warnings == [] and "pw-secret-1" not in str(check.errors)


def test_a_misspelt_optional_field_still_warns():
    check = check_feed({**EMAIL, "delimeter": "SEMI_COLON"})
    assert check.errors == [] and [str(p) for p in check.warnings] == [
        "delimeter: is not a feed configuration field and is ignored (did you mean 'delimiter'?)"]


def test_a_misspelling_beside_the_field_itself_is_a_warning():
    check = check_feed({**EMAIL, "nmae": "x"})
    assert check.errors == [] and "nmae: is not a feed configuration field" in str(check.warnings[0])


def test_an_empty_list_says_so_and_counts_no_feed():
    ((check,),) = check_documents([("x.json", [])])
    assert str(check.errors[0]) == ("is an empty list, so it holds no feed; give one feed configuration object, "
                                    "or a list of at least one")
    assert not check.is_feed


def test_the_article_follows_the_sound_of_the_method():
    from feeds.config.messages import a_or_an

    assert [a_or_an(word) for word in ("EMAIL", "FTP", "SITC", "HTTP", "SFTP")] == [
        "an EMAIL", "an FTP", "a SITC", "an HTTP", "an SFTP"]
