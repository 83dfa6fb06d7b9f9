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


def test_what_a_run_says_after_it_ended_masks_its_own_password(tmp_path):
    """The summary line and alerts are made after the run's scope closed; they still mask its password."""
    settings = make_settings(tmp_path, delivery={"attempts": 1})
    feed = {**FTP_FEED, "delivery_server": "127.0.0.1", "delivery_port": 9, "delivery_password": "hunter2-secret"}
    result, _, _ = run(settings, sandbox_with(feed))
    result.error = f"{result.error} (the server said: bad password hunter2-secret)"
    assert "hunter2-secret" not in result.summary() and "********" in result.summary()
    assert redact.redact("hunter2-secret") == "hunter2-secret"  # outside the run, other output is not touched
