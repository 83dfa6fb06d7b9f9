"""The ledger's tables (SQLAlchemy Core). Times are ISO-8601 UTC text: they sort as text everywhere."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text

#: 2: runs.changes, snapshots, alert streaks, shared names; 3: shared names kept case-folded and in NFC,
#: runs.worker and runs.publishing, claims.worker, the feed list of the last wake
SCHEMA_VERSION = 3

metadata = MetaData()

meta = Table(
    "feeds_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feed_id", Integer, nullable=False),
    Column("organisation", Integer),
    Column("feed_name", String(255)),
    Column("slot_start", String(32)),
    Column("trigger", String(16), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32)),
    Column("status", String(16), nullable=False),
    Column("method", String(16)),
    Column("rows", Integer),
    Column("bytes", Integer),
    Column("sha256", String(64)),
    Column("filename", String(1024)),
    Column("destination", String(2048)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("archive_path", String(4096)),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("owner", String(255)),
    Column("changes", Text),  # the change summary (SPEC §12), JSON
    Column("worker", String(255)),  # the daemon that ran it: "host:pid" (SPEC §14)
    Column("publishing", String(2048)),  # what was being made visible when the run stopped (a temporary name)
    Column("released_by", String(255)),  # a held run: the run that released it (or who is releasing it now)
    # A feed's newest run is one step down this index (the status page asks it for 10,000 feeds at once).
    Index("ix_runs_feed_id_id", "feed_id", "id"),
    # A feed's last 24 hours of runs are a range of these (the timeline), not a scan of its year.
    Index("ix_runs_feed_id_started_at", "feed_id", "started_at"),
    Index("ix_runs_feed_id_slot_start", "feed_id", "slot_start"),
)

attempts = Table(
    "attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32), nullable=False),
    Column("error", Text),
)

#: what a delivered or held file said per SKU (changes.Snapshot), for the next run's comparison
snapshots = Table(
    "snapshots", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("feed_id", Integer, nullable=False, index=True),
    Column("rows", Integer, nullable=False),
    Column("empty_stock", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

#: the alert streak of each feed: "ok", "failed" or "held" (one alert per streak)
streaks = Table(
    "alert_streaks", metadata,
    Column("feed_id", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("since", String(32), nullable=False),
)

#: alerts to send, one row per recipient ("webhook" or an address), written before they are sent: an alert
#: whose process stopped before it was sent is sent by the next process's sender (``alert_outbox.py``)
alert_outbox = Table(
    "alert_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feed_id", Integer, nullable=False),
    Column("event", String(16), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("payload", Text, nullable=False),  # the webhook's JSON body (its ``text`` is the mail's)
    Column("created_at", String(32), nullable=False),
    Column("owner", String(255), nullable=False),  # the process sending it
    Column("lease_until", String(32), nullable=False),  # after this, another process may send it
    Column("done_at", String(32), index=True),
    Column("outcome", String(16)),  # "sent" or "given up"
)

#: (feed, slot): the guard that delivers each feed once per slot (SPEC §5)
claims = Table(
    "claims", metadata,
    Column("feed_id", Integer, primary_key=True),
    Column("slot_start", String(32), primary_key=True),
    Column("run_id", Integer),
    Column("status", String(16), nullable=False),
    Column("lease_until", String(32), nullable=False),
    Column("owner", String(255)),
    Column("tries", Integer, nullable=False, default=1),
    Column("worker", String(64)),  # the task engine's id of the worker that holds it, in a fleet
    Index("ix_claims_slot_start", "slot_start"),  # the claims of the last 24 hours (the status page)
)

feeds_seen = Table(
    "feeds_seen", metadata,
    Column("feed_id", Integer, primary_key=True),
    Column("first_seen", String(32), nullable=False),
)

#: temporary names on servers that a killed upload may have left
leftovers = Table(
    "leftovers", metadata,
    Column("feed_id", Integer, primary_key=True),
    Column("target", String(1024), primary_key=True),
    Column("path", String(2048), primary_key=True),
)

#: file names every organisation writes to (SITC's one folder), owned by the first that delivered one
shared_names = Table(
    "shared_names", metadata,
    Column("method", String(16), primary_key=True),
    Column("name", String(1024), primary_key=True),
    Column("organisation", Integer, nullable=False),
    Column("feed_id", Integer, nullable=False),
    Column("claimed_at", String(32), nullable=False),
)

host_keys = Table(
    "host_keys", metadata,
    Column("host", String(255), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("key_type", String(64), nullable=False),
    Column("key_base64", Text, nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("first_seen", String(32), nullable=False),
)

#: the feed list of the last wake, secrets masked (every daemon's status page shows it)
feed_list = Table(
    "feed_list", metadata,
    Column("feed_id", Integer, primary_key=True),
    Column("raw", Text, nullable=False),
    Column("seen_at", String(32), nullable=False),
)
