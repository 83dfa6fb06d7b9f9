"""The seams of the architecture, walked for real, and the rules that keep them.

The three walks of ``docs/how-to-change-it.md`` are done as real edits on a
copy of the package, then run in a fresh interpreter that imports the copy:

- a delivery method is one new module and one registry line (a method that
  copies the file into a local folder, and an HTTP-PUT-shaped one with a
  secret of its own);
- the retry policy is one file (``retry.py``);
- a column is one field in ``Record`` and its value rule in ``catalog.py``.

The rules below them are measured on the source: settings import no part of
the program, the Hub client loads few modules, no module is too long, few
functions take the whole settings, tenacity lives in ``retry.py`` alone, and
method names are spelled in their own modules only.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from feeds import retry
from feeds.config import COLUMNS, FeedConfig, json_schema
from feeds.deliver import METHODS, settings_sections
from feeds.record import Record
from feeds.wiring import SECTIONS

from conftest import REPO

PACKAGE = REPO / "feeds"
#: the feeds modules that are not the sandbox (a stand-in for Hub, measured apart)
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "sandbox" not in p.parts)


def copy_of_the_package(tmp_path: Path) -> Path:
    """A copy of ``feeds`` (with its templates and samples, as an installed package has them) to edit."""
    root = tmp_path / "edited"
    shutil.copytree(PACKAGE, root / "feeds", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "templates", root / "feeds" / "templates")
    shutil.copytree(REPO / "sample_configs", root / "feeds" / "sample_configs")
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new))


def run_in(root: Path, script: str, *args: str) -> dict:
    """Run ``script`` in a fresh interpreter that imports the edited copy; its JSON output."""
    (root.parent / "walk.py").write_text(script)
    done = subprocess.run([sys.executable, str(root.parent / "walk.py"), *args], capture_output=True, text=True,
                          cwd=root.parent, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def add_method(root: Path, module: str, source: str) -> None:
    """The method walk: one new module, one registry line."""
    (root / "feeds" / "deliver" / f"{module}.py").write_text(source)
    init = root / "feeds" / "deliver" / "__init__.py"
    edit(init, "from . import email, ftp, sitc\n", f"from . import email, ftp, sitc, {module}\n")
    edit(init, "    sitc.METHOD.name: sitc.METHOD,\n", f"    sitc.METHOD.name: sitc.METHOD,\n    {module}.METHOD.name: {module}.METHOD,\n")


# --- the method walk ---------------------------------------------------------------------------------------

FOLDER_METHOD = '''
"""A delivery method that copies the file into a folder on this machine."""
import shutil
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Folder:
    path: Path


class FolderMethod(Method):
    name = "FOLDER"
    fields = {"delivery_folder": FeedField(Annotated[str | None, AfterValidator(rules.folder)],
                                           Field(None, max_length=1024), "a folder under [folder] root")}
    required = ("delivery_folder",)
    settings_sections = {"folder": FolderSettings}

    def destination(self, raw):
        return f"folder {raw.get('delivery_folder') or ''}"

    def target(self, feed, own):
        return Target(self, Folder(Path(own.folder.root) / feed.delivery_folder))

    def describe(self, target, filename=""):
        return f"folder {target.place.path}/{filename}"

    def send(self, job, target, context, own):
        try:
            target.place.path.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(job.path, target.place.path / job.filename)
        except OSError as exc:
            raise DeliveryError(f"copying to {target.place.path}: {exc.strerror}", reason="folder not writable")
        return self.describe(target, job.filename)

    def probe(self, target, context, own):
        return "folder exists" if target.place.path.is_dir() else "folder missing"


METHOD = FolderMethod()
'''

FOLDER_WALK = '''
import json, sys
from feeds import wiring
from feeds.config import HubFeed, check_feed, json_schema
from feeds.hub import open_hub
from feeds.hub.sandbox import Sandbox
from feeds.ledger import Ledger
from feeds.runner import run_feed
from feeds.views import destination_of

root, state = sys.argv[1], sys.argv[2]
feed = {"id": 1, "organisation": 1, "name": "Folder feed", "timeslot": 0, "columns": ["name", "price"],
        "delivery_method": "FOLDER", "delivery_folder": "out", "filename": "stock.csv"}
missing = check_feed({**feed, "delivery_folder": None})
bad = check_feed({**feed, "delivery_folder": "../etc"})
stray = check_feed({**feed, "delivery_email": "a@example.com"})
other = check_feed({**feed, "delivery_method": "EMAIL", "delivery_email": "a@example.com"})
schema = json_schema()
settings = wiring.Settings.model_validate({
    "hub": {"base_url": "sandbox", "client_id": "sandbox", "client_secret": "sandbox-secret"},
    "folder": {"root": root}, "state": {"database": state}})
with open_hub(settings.hub, sandbox=Sandbox(feeds={1: feed})) as hub, Ledger(settings.state.database_url) as ledger:
    result = run_feed(wiring.run_environment(settings), hub, ledger, 1)
print(json.dumps({
    "missing": [str(p) for p in missing.errors],
    "bad": [str(p) for p in bad.errors],
    "stray": [str(p) for p in stray.warnings],
    "other": [str(p) for p in other.warnings],
    "enum": schema["properties"]["delivery_method"]["enum"],
    "then": [rule["then"] for rule in schema["allOf"] if rule["if"]["properties"]["delivery_method"]["const"] == "FOLDER"],
    "sections": sorted(wiring.SECTIONS),
    "destination": destination_of(HubFeed.read(feed)),
    "status": result.status, "error": result.error, "where": result.destination,
}))
'''


def test_a_new_delivery_method_is_one_module_and_one_registry_line(tmp_path):
    root = copy_of_the_package(tmp_path)
    add_method(root, "folder", FOLDER_METHOD)
    out = tmp_path / "root"
    seen = run_in(root, FOLDER_WALK, str(out), str(tmp_path / "state.db"))
    assert seen["missing"] == ["delivery_folder: is required for a FOLDER feed: a folder under [folder] root"]
    assert seen["bad"] and seen["bad"][0].startswith("delivery_folder: contains '..'")
    assert seen["stray"] == ["delivery_email: is ignored by a FOLDER feed (it is for EMAIL delivery)"]
    assert seen["other"] == ["delivery_folder: is ignored by an EMAIL feed (it is for FOLDER delivery)"]
    assert "FOLDER" in seen["enum"] and seen["then"] == [{"required": ["delivery_folder"]}]
    assert "folder" in seen["sections"]  # its settings section, gathered by the wiring
    assert seen["destination"] == "folder out"
    assert seen["status"] == "delivered", seen["error"]
    assert (out / "out" / "stock.csv").read_bytes().startswith(b"sku,name,price\r\n")
    assert seen["where"] == f"folder {out / 'out'}/stock.csv"


PUT_METHOD = '''
"""A delivery method that PUTs the file to a URL the feed names, with a bearer token of its own."""
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from pydantic import Field, SecretStr

from feeds.deliver.base import Target
from feeds.deliver.method import FeedField, Method
from feeds.errors import DeliveryError


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: SecretStr


class PutMethod(Method):
    name = "PUT"
    fields = {
        "delivery_url": FeedField(str | None, Field(None, max_length=2048), "the http(s) URL of the folder"),
        "delivery_token": FeedField(SecretStr | None, Field(None, max_length=1024), "the bearer token"),
    }
    required = ("delivery_url", "delivery_token")

    def destination(self, raw):
        return f"PUT {raw.get('delivery_url') or ''}"

    def target(self, feed, own):
        return Target(self, Endpoint(feed.delivery_url, feed.delivery_token))

    def describe(self, target, filename=""):
        return f"PUT {target.place.url.rstrip('/')}/{filename}"

    def send(self, job, target, context, own):
        url = f"{target.place.url.rstrip('/')}/{job.filename}"
        where = urlsplit(url)
        context.address(where.hostname, where.port or 443, True)  # the egress rule, before any connection
        try:
            answer = httpx.put(url, content=job.path.read_bytes(), timeout=context.timeout,
                               headers={"Authorization": f"Bearer {target.place.token.get_secret_value()}"})
        except httpx.TransportError as exc:
            raise DeliveryError(f"PUT to {url}: {exc}", transient=True) from None
        if answer.status_code >= 400:
            raise DeliveryError(f"PUT to {url}: the server answered {answer.status_code}",
                                transient=answer.status_code >= 500)
        return self.describe(target, job.filename)

    def probe(self, target, context, own):
        return "not probed"


METHOD = PutMethod()
'''

PUT_WALK = '''
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from feeds import wiring
from feeds.config import SECRET_FIELDS, masked
from feeds.hub import open_hub
from feeds.hub.sandbox import Sandbox
from feeds.ledger import Ledger
from feeds.runner import run_feed

received = {}


class Handler(BaseHTTPRequestHandler):
    def do_PUT(self):
        received[self.path] = (self.headers["Authorization"], self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
state = sys.argv[1]
feed = {"id": 1, "organisation": 1, "name": "Put feed", "timeslot": 0, "columns": ["name", "price"],
        "delivery_method": "PUT", "delivery_url": f"http://127.0.0.1:{server.server_address[1]}/in",
        "delivery_token": "put-token-0123", "filename": "stock.csv"}
settings = wiring.Settings.model_validate({
    "hub": {"base_url": "sandbox", "client_id": "sandbox", "client_secret": "sandbox-secret"},
    "delivery": {"allow_networks": ["127.0.0.0/8"]}, "state": {"database": state}})
with open_hub(settings.hub, sandbox=Sandbox(feeds={1: feed})) as hub, Ledger(settings.state.database_url) as ledger:
    result = run_feed(wiring.run_environment(settings), hub, ledger, 1)
    row = ledger.runs.get(result.run_id).to_json()
with wiring.open_hubs(settings) as hubs:
    masked_keys = sorted(hubs.default.secret_keys)
auth, body = received.get("/in/stock.csv", ("", b""))
print(json.dumps({"status": result.status, "error": result.error, "auth": auth, "head": body[:14].decode(),
                  "secret_fields": sorted(SECRET_FIELDS), "masked_keys": masked_keys,
                  "shown": masked(feed)["delivery_token"], "row": json.dumps(row)}))
'''


def test_an_http_put_method_needs_no_field_of_another_method_and_its_secret_is_kept(tmp_path):
    root = copy_of_the_package(tmp_path)
    add_method(root, "put", PUT_METHOD)
    seen = run_in(root, PUT_WALK, str(tmp_path / "state.db"))
    assert seen["status"] == "delivered", seen["error"]
    assert seen["auth"] == "Bearer put-token-0123" and seen["head"] == "sku,name,price"
    assert "delivery_token" in seen["secret_fields"] and "delivery_token" in seen["masked_keys"]
    assert seen["shown"] == "********" and "put-token-0123" not in seen["row"]


# --- the retry walk ----------------------------------------------------------------------------------------

RETRY_WALK = '''
import json, sys
from feeds import wiring
from feeds.deliver.settings import DeliverySettings
from feeds.hub.client import HubClient
from feeds.hub.settings import HubSettings
from feeds.hub.sandbox import Sandbox
from feeds.hub import open_hub
from feeds.ledger import Ledger
from feeds.runner import run_feed

state = sys.argv[1]
client = HubClient(HubSettings())
policy = client._policy
feed = {"id": 1, "organisation": 1, "name": "Down", "timeslot": 0, "columns": ["name"], "delivery_method": "FTP",
        "delivery_procotol": "FTP", "delivery_server": "127.0.0.1", "delivery_port": 9, "delivery_user": "u",
        "delivery_password": "p-0123456"}
settings = wiring.Settings.model_validate({
    "hub": {"base_url": "sandbox", "client_id": "sandbox", "client_secret": "sandbox-secret"},
    "delivery": {"allow_networks": ["127.0.0.0/8"], "retry_wait": 0.0}, "state": {"database": state}})
with open_hub(settings.hub, sandbox=Sandbox(feeds={1: feed})) as hub, Ledger(settings.state.database_url) as ledger:
    result = run_feed(wiring.run_environment(settings), hub, ledger, 1)
print(json.dumps({"hub": [policy.attempts, policy.first_wait, policy.max_wait], "delivery": DeliverySettings().attempts,
                  "attempts": result.attempts, "error": result.error}))
'''


def test_the_retry_policy_is_one_file(tmp_path):
    """"Hub backoff 2 s with a 30 s cap; deliveries 2 attempts": an edit of retry.py alone."""
    root = copy_of_the_package(tmp_path)
    policy = root / "feeds" / "retry.py"
    edit(policy, "HUB = RetryPolicy(attempts=5, first_wait=0.5, max_wait=30.0, jitter=0.5)",
         "HUB = RetryPolicy(attempts=5, first_wait=2.0, max_wait=30.0, jitter=0.5)")
    edit(policy, "DELIVERY = RetryPolicy(attempts=3, first_wait=5.0, max_wait=150.0)",
         "DELIVERY = RetryPolicy(attempts=2, first_wait=5.0, max_wait=150.0)")
    seen = run_in(root, RETRY_WALK, str(tmp_path / "state.db"))
    assert seen["hub"] == [5, 2.0, 30.0]
    assert seen["delivery"] == 2
    assert seen["attempts"] == 2 and "gave up after 2 attempts" in seen["error"]


# --- the column walk ---------------------------------------------------------------------------------------

COLUMN_WALK = '''
import io, json
from feeds.catalog import load_catalogue
from feeds.config import check_feed, json_schema
from feeds.hub import open_hub
from feeds.hub.sandbox import Catalogue, Sandbox
from feeds.hub.settings import HubSettings
from feeds.render import render_feed

feed = {"id": 1, "organisation": 1, "name": "Warranty", "timeslot": 0, "columns": ["name", "warranty"],
        "delivery_method": "EMAIL", "delivery_email": "a@example.com"}
items = [{"id": 1, "product_code": "A1", "name": "Phone", "warranty": "2 years", "vendor": None},
         {"id": 2, "product_code": "B2", "name": "Cable", "vendor": None}]
check = check_feed(feed)
out = io.BytesIO()
settings = HubSettings(base_url="sandbox", client_id="sandbox", client_secret="sandbox-secret")
with open_hub(settings, sandbox=Sandbox(feeds={1: feed}, catalogue=Catalogue(items=items))) as hub:
    render_feed(load_catalogue(hub), check.feed, out)
print(json.dumps({"errors": [str(p) for p in check.errors], "enum": json_schema()["properties"]["columns"]["items"]["enum"],
                  "file": out.getvalue().decode()}))
'''


def test_a_column_is_one_record_field_and_its_value_rule(tmp_path):
    root = copy_of_the_package(tmp_path)
    edit(root / "feeds" / "record.py", "    ean: str\n", "    ean: str\n    warranty: str  #: the warranty text\n")
    catalog = root / "feeds" / "catalog.py"
    text = catalog.read_text()
    rule = re.search(r"^ *# COLUMN RULES END\n", text, re.MULTILINE)
    assert rule, "catalog.py marks where the value rules of the record's fields end"
    edit(catalog, "    subscription_type: Any = None\n", "    subscription_type: Any = None\n    warranty: Any = None\n")
    edit(catalog, rule.group(0), '        warranty = _text(p.warranty, "warranty")\n' + rule.group(0))
    edit(catalog, "name, ean, ", "name, ean, warranty, ")
    seen = run_in(root, COLUMN_WALK)
    assert seen["errors"] == [] and "warranty" in seen["enum"]
    assert seen["file"] == "sku,name,warranty\r\nA1,Phone,2 years\r\nB2,Cable,\r\n"


# --- the rules that keep the seams -------------------------------------------------------------------------


def imports_of(path: Path) -> set[str]:
    """The feeds modules a source file imports, as dotted names relative to the package (``hub.client``)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(PACKAGE).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - node.level + 1] if node.level > 1 else base
                stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("feeds"):
                stem = node.module.removeprefix("feeds").lstrip(".")
            else:
                continue
            found.add(stem)
            found.update(f"{stem}.{alias.name}".lstrip(".") for alias in node.names)
    return found


def test_settings_import_no_part_of_the_program():
    allowed = {"", "redact", "errors", "errors.SettingsError", "sections", "sections.Section", "sections.PATH"}
    assert imports_of(PACKAGE / "settings.py") <= allowed, imports_of(PACKAGE / "settings.py")
    assert imports_of(PACKAGE / "sections.py") == set()


def test_importing_the_hub_client_loads_few_modules():
    done = subprocess.run([sys.executable, "-c", "import sys, feeds.hub.client; "
                           "print(sorted(m for m in sys.modules if m.split('.')[0] == 'feeds'))"],
                          capture_output=True, text=True, timeout=60)
    loaded = json.loads(done.stdout.replace("'", '"'))
    assert len(loaded) <= 15, loaded
    assert not any(m.startswith(("feeds.deliver", "feeds.alerts", "feeds.web", "feeds.ledger")) for m in loaded)


def test_the_settings_load_before_the_ledger_the_daemon_the_page_and_httpx_s_command_line(tmp_path):
    """`feeds run` asks Hub its first questions once the settings are read: what reading them loads comes first."""
    (tmp_path / "feeds.toml").write_text('[hub]\nbase_url = "https://hub.example.com/api/v1"\n')
    done = subprocess.run([sys.executable, "-c", "import sys, json; from feeds import wiring; import httpx; "
                           f"wiring.load_settings({str(tmp_path / 'feeds.toml')!r}, {{}}); "
                           "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
                           "('feeds', 'sqlalchemy', 'rich', 'pygments', 'paramiko', 'jinja2'))))"],
                          capture_output=True, text=True, timeout=60)
    loaded = json.loads(done.stdout)
    assert "feeds.ledger.settings" in loaded and "feeds.daemon.settings" in loaded and "feeds.websettings" in loaded
    heavy = [m for m in loaded if m.split(".")[0] != "feeds" or m in (
        "feeds.ledger.database", "feeds.ledger.ledger", "feeds.daemon.schedule", "feeds.web", "feeds.status")]
    assert heavy == [], heavy  # SQLAlchemy, rich and pygments (httpx's command line), paramiko, jinja2


def test_optional_parts_of_libraries_are_not_loaded():
    """httpx's command line and invoke (paramiko's `Match exec`) cost every process 0.08 s and serve feeds nothing."""
    done = subprocess.run([sys.executable, "-c", "import sys, feeds, httpx, paramiko, paramiko.config; "
                           "print(sorted({m.split('.')[0] for m in sys.modules if sys.modules[m] is not None} "
                           "& {'rich', 'pygments', 'invoke'}), paramiko.config.invoke)"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["[]", "None"], done.stdout + done.stderr


def test_the_command_line_collects_young_objects_seldom_and_spares_its_last_collections():
    done = subprocess.run([sys.executable, "-c", "import atexit, gc; from feeds import cli, collector; "
                           "atexit.register(lambda: print(gc.get_threshold()[0] == collector.YOUNG > 700, "
                           "gc.get_freeze_count() > 0)); cli.main(['--version'])"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "True True"


def test_no_module_is_over_450_lines():
    long = {str(p.relative_to(REPO)): n for p in SOURCES if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


def test_few_functions_take_the_whole_settings():
    takers = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in node.args.args + node.args.kwonlyargs:
                    shown = ast.unparse(arg.annotation) if arg.annotation else ""
                    if shown.strip("'\"") == "Settings":
                        takers.append(f"{path.relative_to(REPO)}:{node.name}")
    assert all(taker.startswith(("feeds/wiring.py", "feeds/cli.py")) for taker in takers), takers
    assert len(takers) <= 12, takers


def test_tenacity_is_imported_by_the_retry_policy_alone():
    users = [str(p.relative_to(REPO)) for p in SOURCES if re.search(r"^\s*(import|from) tenacity", p.read_text(), re.M)]
    assert users == ["feeds/retry.py"]


def test_slot_arithmetic_and_the_loopback_test_are_written_once():
    for name in ("slot_of", "latest_due", "next_due", "is_loopback"):
        homes = [str(p.relative_to(REPO)) for p in SOURCES if re.search(rf"^def {name}\(", p.read_text(), re.M)]
        assert len(homes) == 1, (name, homes)


def test_method_names_are_spelled_in_their_own_modules_only():
    """No "SITC", "EMAIL" or "FTP" literal outside the method's module, its protocols and the registry."""
    homes = {"SITC": {"feeds/deliver/sitc.py"}, "EMAIL": {"feeds/deliver/email.py"},
             "FTP": {"feeds/deliver/ftp.py", "feeds/deliver/protocols/__init__.py", "feeds/deliver/protocols/ftp.py",
                     "feeds/deliver/protocols/server.py"}}
    found = []
    for path in SOURCES:
        where = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in homes and where not in homes[node.value]:
                found.append(f"{where}:{node.lineno} {node.value}")
    assert found == []


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

    slept: list[float] = []
    told: list[int] = []
    assert policy.run(flaky, lambda e: isinstance(e, ConnectionError), sleep=slept.append,
                      on_retry=lambda exc, attempt: told.append(attempt)) == "ok"
    assert slept == [2.0, 4.0] and told == [2, 3]
    with pytest.raises(ValueError):
        policy.run(lambda: int("x"), lambda e: isinstance(e, ConnectionError), sleep=slept.append)
