"""One feed run end to end (runner.py): the run's own secrets scope, refusals before anything is sent."""

from __future__ import annotations

import logging

from feeds import redact

from delivery_helpers import email_feed, make_settings, run, sandbox_with

FTP_FEED = {"organisation": 1, "name": "Poisoned", "timeslot": 0, "columns": ["name"], "delivery_method": "FTP",
            "delivery_procotol": "FTP", "delivery_server": "ftp.example.com", "delivery_user": "reseller",
            "delivery_password": "delivered"}


def test_a_feeds_password_is_masked_in_its_own_run_only(tmp_path, caplog):
    """A password that is a common word must not mangle another feed's log lines and ledger rows (SPEC §11)."""
    settings = make_settings(tmp_path, delivery={"outbox": str(tmp_path / "outbox")})
    sandbox = sandbox_with(FTP_FEED, email_feed(name="Mail feed"))
    caplog.set_level(logging.INFO, logger="feeds")
    first, _, _ = run(settings, sandbox, 1)
    second, row, _ = run(settings, sandbox, 2)
    assert first.status == second.status == "delivered"
    lines = [r.getMessage() for r in caplog.records if r.name == "feeds.run"]
    assert any(line.startswith("feed 2 (Mail feed): delivered ") for line in lines), lines
    assert row["status"] == "delivered" and "********" not in (row["destination"] or "")
    assert "delivered" not in redact.OPERATOR.values()
    with redact.run_scope() as scope:
        scope.add("delivered")
        assert redact.redact("it was delivered") == "it was ********"
    assert redact.redact("it was delivered") == "it was delivered"


def test_an_invalid_configuration_fails_before_anything_is_fetched(tmp_path):
    settings = make_settings(tmp_path)
    sandbox = sandbox_with({**FTP_FEED, "delivery_server": "ftp://example.com/x"})
    result, row, attempts = run(settings, sandbox, 1)
    assert result.status == "failed" and "delivery_server" in result.error and "is a URL" in result.error
    assert attempts == [] and sandbox.recorded.counts["GET /products"] == 0
    assert row["status"] == "failed" and row["error"] == result.error
