"""The seams of issue #10: a delivery method, a column and the retry policy each have one home.

The first test does the "add a delivery method" walk for real: one new module
(a method that copies the file into a local folder) and one registry line,
done in a fresh interpreter before anything reads the registry. The
validator, the JSON schema, the settings, ``feeds list``'s destination text,
the outbox and a real run must all pick the method up with no other change.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from feeds import retry
from feeds.config import COLUMNS, FeedConfig, json_schema
from feeds.deliver import METHODS, settings_sections
from feeds.record import Record
from feeds.settings import SECTIONS

FOLDER_METHOD = '''
"""A delivery method that copies the file into a folder on this machine."""
import shutil
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from feeds import rules
from feeds.deliver.base import Target
from feeds.deliver.method import FeedField, Method
from feeds.errors import DeliveryError
from feeds.sections import Section


class FolderSettings(Section):
    root: str = "/tmp"


class FolderMethod(Method):
    name = "FOLDER"
    fields = {"delivery_folder": FeedField(Annotated[str | None, AfterValidator(rules.folder)],
                                           Field(None, max_length=1024), "a folder under [folder] root")}
    required = ("delivery_folder",)
    settings_sections = {"folder": FolderSettings}

    def destination(self, raw):
        return f"folder {raw.get('delivery_folder') or ''}"

    def target(self, feed, settings):
        return Target(method=self, protocol="FOLDER", directory=str(Path(settings.folder.root) / feed.delivery_folder))

    def describe(self, target, filename=""):
        return f"folder {target.directory}/{filename}"

    def send(self, job, target, context, settings):
        try:
            Path(target.directory).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(job.path, Path(target.directory) / job.filename)
        except OSError as exc:
            raise DeliveryError(f"copying to {target.directory}: {exc.strerror}", reason="folder not writable")
        return self.describe(target, job.filename)

    def probe(self, target, context, settings):
        return "folder exists" if Path(target.directory).is_dir() else "folder missing"


METHOD = FolderMethod()
'''

WALK = '''
import json, sys
import folder_method
import feeds.deliver as deliver
deliver.METHODS[folder_method.METHOD.name] = folder_method.METHOD  # the registry line

from feeds.config import check_feed, json_schema
from feeds.hub import open_hub
from feeds.hub.sandbox import Sandbox
from feeds.ledger import Ledger
from feeds.runner import run_feed
from feeds.settings import Settings
from feeds.views import destination_of
from feeds.config import HubFeed

root, state = sys.argv[1], sys.argv[2]
feed = {"id": 1, "organisation": 1, "name": "Folder feed", "timeslot": 0, "columns": ["name", "price"],
        "delivery_method": "FOLDER", "delivery_folder": "out", "filename": "stock.csv"}
missing = check_feed({**feed, "delivery_folder": None})
bad = check_feed({**feed, "delivery_folder": "../etc"})
stray = check_feed({**feed, "delivery_email": "a@example.com"})
other = check_feed({**feed, "delivery_method": "EMAIL", "delivery_email": "a@example.com"})
schema = json_schema()
settings = Settings.model_validate({"hub": {"base_url": "sandbox", "client_id": "sandbox", "client_secret": "sandbox-secret"},
                                    "folder": {"root": root}, "state": {"database": state}})
with open_hub(settings.hub, sandbox=Sandbox(feeds={1: feed})) as hub, Ledger(settings.database_url) as ledger:
    result = run_feed(settings, hub, ledger, 1)
print(json.dumps({
    "missing": [str(p) for p in missing.errors],
    "bad": [str(p) for p in bad.errors],
    "stray": [str(p) for p in stray.warnings],
    "other": [str(p) for p in other.warnings],
    "enum": schema["properties"]["delivery_method"]["enum"],
    "then": [rule["then"] for rule in schema["allOf"] if rule["if"]["properties"]["delivery_method"]["const"] == "FOLDER"],
    "destination": destination_of(HubFeed.read(feed)),
    "status": result.status, "error": result.error, "where": result.destination,
}))
'''


def test_a_new_delivery_method_is_one_module_and_one_registry_line(tmp_path):
    (tmp_path / "folder_method.py").write_text(FOLDER_METHOD)
    (tmp_path / "walk.py").write_text(WALK)
    root = tmp_path / "root"
    done = subprocess.run([sys.executable, str(tmp_path / "walk.py"), str(root), str(tmp_path / "state.db")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    import json

    seen = json.loads(done.stdout)
    assert seen["missing"] == ["delivery_folder: is required for a FOLDER feed: a folder under [folder] root"]
    assert seen["bad"] and seen["bad"][0].startswith("delivery_folder: contains '..'")
    assert seen["stray"] == ["delivery_email: is ignored by a FOLDER feed (it is for EMAIL delivery)"]
    assert seen["other"] == ["delivery_folder: is ignored by a EMAIL feed (it is for FOLDER delivery)"]
    assert "FOLDER" in seen["enum"] and seen["then"] == [{"required": ["delivery_folder"]}]
    assert seen["destination"] == "folder out"
    assert seen["status"] == "delivered", seen["error"]
    written = root / "out" / "stock.csv"
    assert written.read_bytes().startswith(b"sku,name,price\r\n")
    assert seen["where"] == f"folder {root / 'out'}/stock.csv"


def test_the_registry_is_what_the_model_schema_and_settings_read():
    schema = json_schema()
    assert schema["properties"]["delivery_method"]["enum"] == list(METHODS)
    for method in METHODS.values():
        for name in method.fields:
            assert name in FeedConfig.model_fields
        for name in method.settings_sections:
            assert name in SECTIONS
    assert set(settings_sections()) <= set(SECTIONS)


def test_columns_come_from_the_record():
    assert COLUMNS == ("stock", "mpn", "price", "rrp", "vendor", "name", "ean")
    assert set(COLUMNS) < set(Record._fields)
    assert json_schema()["properties"]["columns"]["items"]["enum"] == list(COLUMNS)


def test_one_retry_policy_with_growing_pauses():
    policy = retry.RetryPolicy(attempts=5, first_wait=2.0, max_wait=10.0)
    pauses = policy.pauses()
    assert [next(pauses) for _ in range(5)] == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert retry.FEED_LIST.pause(1) == 15.0 and retry.FEED_LIST.pause(10) == 120.0
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "ok"

    slept = []
    assert policy.retrying(lambda e: isinstance(e, ConnectionError), sleep=slept.append)(flaky) == "ok"
    assert slept == [2.0, 4.0]
    with pytest.raises(ValueError):
        policy.retrying(lambda e: isinstance(e, ConnectionError), sleep=slept.append)(lambda: int("x"))
