"""The README's production steps, performed: in a temporary root, without root privileges or systemd.

The shell blocks of "Running it in production" are run as written, with four
rewrites: the system paths (/etc/feeds, /opt/feeds, /var/lib/feeds, …) point
into a temporary root; ``sudo``, ``sudo -u feeds`` and owner options are
dropped (no root here); the virtual environment is this one (creating one
takes too long for the suite: ``python3 -m venv X`` becomes a link to this
``feeds`` and ``pip install .`` checks that the checkout is installable);
``useradd``, ``systemctl`` and ``journalctl`` are not run. Between the steps
the test does what the README asks a person to do (fill in the settings and
the secrets). The unit files are checked with ``systemd-analyze verify``
where it exists and are then started as systemd would start them: their
``Environment``, ``EnvironmentFile``, ``WorkingDirectory`` and ``ExecStart``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import warnings
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from feeds import cli as cli_module
from feeds.settings import read_env_file
from feeds.wiring import SECTIONS

from conftest import BIN, REPO
from processes import STARTED, wait_for
from servers import free_port

README = (REPO / "README.md").read_text(encoding="utf-8")
SYSTEM_PATHS = ("/etc/feeds", "/opt/feeds", "/var/lib/feeds", "/etc/systemd/system", "/etc/nginx")
WEB_TOKEN = "web-token-for-the-production-test"


def section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start)
    return README[start:end if end >= 0 else None]


PRODUCTION = section("### Running it in production")


def shell_blocks(text: str) -> list[str]:
    """The ```sh blocks of ``text``, their list indentation removed."""
    blocks = []
    for match in re.finditer(r"^( *)```sh\n(.*?)^\1```", text, re.M | re.S):
        indent = len(match.group(1))
        blocks.append("".join(line[indent:] + "\n" for line in match.group(2).splitlines()))
    return blocks


def in_root(text: str, root: Path) -> str:
    for path in SYSTEM_PATHS:
        text = re.sub(rf"(?<![\w/]){re.escape(path)}(?=[/\s'\"]|$)", str(root) + path, text, flags=re.M)
    return text


def runnable(line: str, root: Path) -> str:
    """One README line as this test runs it (see the module's docstring)."""
    if re.match(r"sudo (useradd|systemctl)\b|journalctl\b", line):
        return ": " + shlex.quote(line)  # no users or systemd here
    venv = re.fullmatch(r"sudo python3 -m venv (\S+)", line)
    if venv:
        target = in_root(venv.group(1), root)
        return f"mkdir -p {target}/bin && ln -sf {BIN / 'feeds'} {target}/bin/feeds"
    if re.fullmatch(r"sudo \S+/bin/pip install (--upgrade )?(\.|'\.\[postgres\]')", line):
        return "test -f setup.cfg"  # run from the checkout, which pip would install
    line = line.replace("sudo -u feeds ", "").replace("sudo ", "")
    line = re.sub(r" -[og] (root|feeds)\b", "", line)
    return in_root(line, root)


def run_block(block: str, root: Path, aliases: list[str]) -> subprocess.CompletedProcess:
    lines = [runnable(line, root) for line in block.splitlines() if line.strip()]
    aliases.extend(line for line in lines if line.startswith("alias "))
    script = "shopt -s expand_aliases\n" + "\n".join(dict.fromkeys(aliases)) + "\nset -e\n" + "\n".join(lines) + "\n"
    done = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert done.returncode == 0, f"{block}\n---\n{done.stdout}\n{done.stderr}"
    return done


def fill_in_settings(root: Path, hub_url: str) -> None:
    """What step 2 asks a person to do: Hub's address and client, the secrets (and the outbox: nothing leaves)."""
    settings = root / "etc/feeds/feeds.toml"
    text = in_root(settings.read_text(), root)
    text = text.replace('base_url = "https://hub.nuvias-uc.com/api/v1"', f'base_url = "{hub_url}"', 1)
    text = text.replace('client_id = ""', 'client_id = "sandbox"', 1)
    text = text.replace('outbox = ""', f'outbox = "{root}/outbox"', 1)
    text = re.sub(r'(\[sitc\][^\[]*?)host = ""\n([^\[]*?)username = ""', r'\1host = "sftp.sitc.example"\n\2username = "r1"',
                  text, count=1)
    text += '\n[organisations.2]\nclient_id = "reseller"\n'
    settings.write_text(text)
    (root / "etc/feeds/secrets.env").write_text(
        "FEEDS_HUB_CLIENT_SECRET=sandbox-secret\nFEEDS_ORGANISATIONS_2_CLIENT_SECRET=reseller-secret\n"
        f"FEEDS_SMTP_PASSWORD='smtp password'\nFEEDS_WEB_TOKEN={WEB_TOKEN}\n")


def perform_the_steps(root: Path, hub_url: str) -> list[str]:
    """Every shell block of the production section, in order; their outputs."""
    outputs: list[str] = []
    aliases: list[str] = []
    filled_in = False
    (root / "etc/systemd/system").mkdir(parents=True)  # the system's own folder, there before the steps
    for block in shell_blocks(PRODUCTION):
        outputs.append(run_block(block, root, aliases).stdout)
        if not filled_in and (root / "etc/feeds/feeds.toml").exists():
            fill_in_settings(root, hub_url)
            filled_in = True
    return outputs


def test_the_readme_production_steps_work_in_a_temporary_root(tmp_path, hub_server):
    root = tmp_path / "root"
    outputs = perform_the_steps(root, hub_server.base_url)
    everything = "\n".join(outputs)
    assert (root / "etc/feeds").stat().st_mode & 0o777 == 0o750
    assert (root / "etc/feeds/feeds.toml").stat().st_mode & 0o777 == 0o640
    assert (root / "etc/feeds/secrets.env").stat().st_mode & 0o777 == 0o640
    assert (root / "var/lib/feeds").stat().st_mode & 0o777 == 0o700
    # step 3: the commands by hand read the service's settings, secrets and ledger
    assert "feed 4 (Reseller stock by email): valid" in everything and "all 5 tests passed" in everything
    assert "\nsku,name,stock,price,vendor,rrp\n" in everything  # feed 3's file, from the dry run
    assert f"ledger {root}/var/lib/feeds/feeds.db (state.database in {root}/etc/feeds/feeds.toml)" in everything
    assert "sandbox-secret" not in everything and WEB_TOKEN not in everything
    assert (root / "var/lib/feeds/feeds.db").is_file()
    # step 4: the units where systemd would read them
    assert (root / "etc/systemd/system/feeds.service").read_bytes() == (REPO / "sample_configs/feeds.service").read_bytes()
    assert (root / "etc/systemd/system/feeds@.service").is_file()
    # backups: SQLite's own copy of the ledger
    copy = root / "var/lib/feeds/feeds-backup.db"
    tables = subprocess.run(["sqlite3", str(copy), ".tables"], capture_output=True, text=True, timeout=30).stdout
    assert "runs" in tables.split() and "claims" in tables.split()


def test_every_feeds_command_the_readme_shows_exists():
    """Each `feeds …` line of every shell block (and the alias's) parses: the command and its options exist."""
    seen = 0
    for block in shell_blocks(README):
        for line in block.splitlines():
            line = line.removeprefix("$ ").strip()
            alias = re.match(r"alias feeds='(.*)'$", line)
            words = shlex.split(alias.group(1) if alias else line, comments=True)
            words = words[:words.index("|")] if "|" in words else words
            words = words[3:] if words[:3] == ["sudo", "-u", "feeds"] else words
            if not words or not (words[0] == "feeds" or words[0].endswith("/bin/feeds")):
                continue
            args = words[1:]
            if alias:
                args += ["history"]
            with warnings.catch_warnings():  # protected_args: click 9 will put every remaining word in args
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx = cli_module.cli.make_context("feeds", list(args), resilient_parsing=False)
                name, command, rest = cli_module.cli.resolve_command(ctx, [*ctx.protected_args, *ctx.args])
            assert command is not None, line
            command.make_context(name, rest, parent=ctx)  # unknown options and missing values raise here
            seen += 1
    assert seen >= 14  # the sandbox's, the daemon's and the production steps'


def test_the_files_the_readme_names_exist_and_it_sends_nobody_outside_the_repository():
    for name in set(re.findall(r"(?<![\w/-])(?:sample_configs|docs|tests)/[\w@./-]*\w", README)):  # not /tmp/fresh-docs/…
        assert (REPO / name).exists(), name
    headings = {re.sub(r"[^\w -]", "", title.lower()).replace(" ", "-")
                for title in re.findall(r"^#+ (.+)$", README, re.M)}
    for target in re.findall(r"\]\(([^)]+)\)", README):
        if target.startswith("#"):
            assert target[1:] in headings, target  # a section of the README itself
        elif not target.startswith(("http://", "https://")):
            assert not target.startswith(("/", "..")) and (REPO / target).exists(), target
    assert "SPEC" not in README


def test_the_docs_describe_every_setting_and_stand_alone():
    settings = (REPO / "docs/settings.md").read_text()
    for name, section_model in SECTIONS.items():
        assert f"## `[{name}]`" in settings, name
        for key in section_model.model_fields:
            assert f"| `{key}` |" in settings, f"{name}.{key}"
    assert "## `[organisations.<id>]`" in settings
    for page in (REPO / "docs").glob("*.md"):
        text = page.read_text()
        assert "SPEC" not in text, page.name  # no reader is sent to a file outside the repository
        assert "To be reviewed" not in text, page.name  # the guard's and the status page's were reviewed
        for target in re.findall(r"\]\(([^)#]+)", text):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name}: {target}"


# --- the unit files ----------------------------------------------------------------------------------------


def unit(path: Path) -> dict[str, list[str]]:
    """A unit file's [Service] entries (repeated keys kept in order)."""
    entries: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif current == "Service" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            entries.setdefault(key, []).append(value)
    return entries


@pytest.mark.parametrize("name", ["feeds.service", "feeds@.service"])
def test_the_unit_files_pass_systemd_analyze_verify(tmp_path, name):
    root = tmp_path / "root"
    (root / "opt/feeds/.venv/bin").mkdir(parents=True)
    (root / "opt/feeds/.venv/bin/feeds").symlink_to(BIN / "feeds")
    copy = tmp_path / name
    copy.write_text(in_root((REPO / "sample_configs" / name).read_text(), root))
    entries = unit(copy)
    assert entries["User"] == ["feeds"] and entries["EnvironmentFile"] == [f"{root}/etc/feeds/secrets.env"]
    assert entries["Environment"] == [f"FEEDS_CONFIG={root}/etc/feeds/feeds.toml"]
    assert entries["StateDirectory"] == ["feeds"] and entries["KillSignal"] == ["SIGTERM"]
    if shutil.which("systemd-analyze") is None:
        return  # the parse above is what can be checked here
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


class _Started:
    """A process started from a unit, killed by the conftest if the test fails first."""

    def __init__(self, process: subprocess.Popen):
        self.process = process


def start_unit(name: str, root: Path, instance: str, port: int) -> subprocess.Popen:
    """Start a unit's ExecStart as systemd would: its environment, environment file and working folder."""
    entries = unit(REPO / "sample_configs" / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env["FEEDS_DELIVERY_ALLOW_NETWORKS"] = os.environ["FEEDS_DELIVERY_ALLOW_NETWORKS"]  # the test's loopback servers
    env.update(dict(item.split("=", 1) for item in (in_root(e, root) for e in entries["Environment"])))
    env.update(read_env_file(in_root(entries["EnvironmentFile"][0], root)))
    command = in_root(entries["ExecStart"][0], root).replace("%i", instance).replace("$$", "$")
    command = command.replace("9464", str(port - (int(instance) if instance else 0)))
    process = subprocess.Popen(shlex.split(command), cwd=in_root(entries["WorkingDirectory"][0], root), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    STARTED.append(_Started(process))  # type: ignore[arg-type]
    return process


def test_the_units_started_as_systemd_would_serve_side_by_side_and_stop_on_sigterm(tmp_path, hub_server):
    """feeds.service and feeds@2 on one machine: the same settings and ledger, each its own port."""
    root = tmp_path / "root"
    perform_the_steps(root, hub_server.base_url)
    ports = {name: free_port() for name in ("feeds.service", "feeds@.service")}
    processes = {name: start_unit(name, root, "2" if "@" in name else "", port) for name, port in ports.items()}
    for name, port in ports.items():
        health = wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz"), timeout=60, what=f"{name}'s /healthz")
        assert health.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 401  # web.token from the environment file
        page = httpx.get(f"http://127.0.0.1:{port}/", headers={"Authorization": f"Bearer {WEB_TOKEN}"})
        assert page.status_code == 200 and "Email feed" in page.text
    for name, process in processes.items():
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, name
        log = process.stderr.read().decode()
        assert '"message": "feeds daemon stopped' in log  # --log-format json, as in the journal
        assert WEB_TOKEN not in log and "sandbox-secret" not in log


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url)
    except httpx.TransportError:
        return None


def test_the_nginx_example_proxies_the_unit_s_port_with_tls_and_the_token():
    text = (REPO / "sample_configs/feeds.nginx.conf").read_text()
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert body.count("{") == body.count("}")
    for statement in re.split(r"[{}]", body):
        for line in filter(None, (part.strip() for part in statement.split(";"))):
            assert re.match(r"^[a-z_]+(\s|$)", line), line  # every directive is "name args;"
    port = re.search(r"--web-port (\d+)", (REPO / "sample_configs/feeds.service").read_text()).group(1)
    assert re.findall(r"proxy_pass (\S+);", body) == [f"http://127.0.0.1:{port}"] * 2
    assert re.search(r"listen 443 ssl;", body) and "ssl_certificate " in body and "ssl_certificate_key " in body
    assert "include /etc/nginx/feeds-token.conf;" in body and "Authorization" in text
    assert re.search(r"location = /healthz \{\s*auth_basic off;", body)


def test_the_help_names_the_env_file_option():
    result = CliRunner().invoke(cli_module.cli, ["--help"])
    assert "--env-file FILE" in result.output
